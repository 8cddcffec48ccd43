// The volume: a directory holding sopfs.conf, which names the volume's data folders (one
// per drive), its two registry sides, its log folder, its erasure layout and its chunk
// size. This file reads, validates and writes sopfs.conf and turns it into engine options.
//
// sopfs.conf is an INI file read with Boost.Program_options. Keys (relative paths are
// relative to the volume directory, so a volume can be moved as a whole):
//
//   data = data-0            repeated, one per data folder; k+m of them
//   registry = registry-a    exactly two, the registry's active/passive sides
//   log = log                the commit log folder (default: VOLUME/log)
//   ec = 4+2                 the erasure layout K+M (default 4+2)
//   metadata-ec = 2+4        the layout of B-Tree nodes (names, inodes, small files):
//                            at least ec's M parity shards; default M+2 parity, at
//                            most folders-1 (2+4 for 4+2). Fixed once files are stored.
//   chunk-size = 1M          file chunk size, a power of two, 64K..64M (default 1M)
//   [mount]                  defaults for `sopfs mount` (the command line wins)
//   options = allow_other    -o options
//   commit-interval = 1s     how often pending namespace changes are committed
//   attr-timeout = 1         seconds the kernel may cache attributes
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/blob/erasure_layout.h"
#include "engine/status.h"
#include "engine/txn/engine.h"

namespace sopfs {

struct VolumeConfig {
  std::string dir;                        // the volume directory (holds sopfs.conf), absolute
  std::vector<std::string> data_folders;  // absolute paths, one per drive
  std::string registry_a, registry_b;     // absolute
  std::string log_folder;                 // absolute; default VOLUME/log
  ErasureLayout layout{.k = 4, .m = 2};   // engine/blob/erasure_layout.h
  ErasureLayout metadata_layout{.k = 0, .m = 0};  // k == 0: DefaultMetadataLayout
  uint32_t chunk_size = 1u << 20;
};

inline constexpr uint32_t kMinChunkSize = 64u << 10;
inline constexpr uint32_t kMaxChunkSize = 64u << 20;

// Reads VOLUME/sopfs.conf. ENOENT "no sopfs volume at DIR (no sopfs.conf; run 'sopfs
// format DIR')"; EINVAL with a one-line message naming the bad key and value (unknown
// keys, bad ec, chunk size not a power of two between 64 KiB and 64 MiB, k+m more than
// the number of data folders, ...). The [mount] section is accepted and ignored.
Result<VolumeConfig> ReadVolumeConfig(const std::string& dir);

// Writes VOLUME/sopfs.conf durably (temp file, fsync, rename, fsync of the directory);
// EEXIST if it is present. The volume exists once this returns Ok.
Status WriteVolumeConfig(const VolumeConfig& config);

// $XDG_DATA_HOME/sopfs/default, else $HOME/.local/share/sopfs/default.
std::string DefaultVolumeDir();

// The layout `sopfs format` uses when given no folders: k+m data folders
// DIR/data-0..., registry sides DIR/registry-a and DIR/registry-b, log DIR/log.
VolumeConfig DefaultVolumeConfig(const std::string& dir, ErasureLayout layout = {.k = 4, .m = 2});

// EINVAL when the config cannot describe a volume: a layout out of range or whose k+m is
// not the number of data folders, two folders that are the same, a bad chunk size.
// Messages use sopfs.conf's key names.
Status ValidateVolumeConfig(const VolumeConfig& config);

// The engine options for this volume (data folders, registry sides, log folder, layout).
EngineOptions EngineOptionsFor(const VolumeConfig& config);

// The [mount] section of VOLUME/sopfs.conf, as written: `sopfs mount` interprets it
// exactly as its own command line. Empty strings for keys that are absent.
struct MountDefaults {
  std::string options;          // "allow_other,commit_interval=500"
  std::string commit_interval;  // "1s", "500ms", "500" (milliseconds)
  std::string attr_timeout;     // seconds
};
// Same errors as ReadVolumeConfig for a missing or malformed file.
Result<MountDefaults> ReadMountDefaults(const std::string& dir);

}  // namespace sopfs
