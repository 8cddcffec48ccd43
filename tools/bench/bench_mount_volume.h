// The volumes of `sopfs bench mount`, made in this process through the engine and the
// file system's own API (not file by file through FUSE), and opened here as the daemon
// opens them.
//
// - FillFiles: N empty regular files, 1,000 per folder (d0000/f0000000, ...), made with
//   FileSystem::MakeNode and committed in batches, as `touch` through a mount would.
// - GrowRegistry: registry entries written straight into both registry sides until
//   the registry holds N logical IDs, as a volume of N one-MiB chunks (10 TB: about
//   10.5 million) would. They are value entries (file chunks) whose blobs are not
//   written: opening the volume meets a registry of that size on disk, reading a file
//   never meets them (no tree points at them). The commit log's carry record is
//   rewritten with the new high-water mark, so the engine never hands those IDs out.
//   Only on a volume nothing has open.
//
// Threads: one caller at a time per volume.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "engine/io/posix_env.h"
#include "engine/txn/engine.h"
#include "fuse/fs/file_system.h"

namespace sopfs::tools {

// A volume open in this process: the engine, then the file system over it (closed in
// the opposite order: the file system commits what is pending first).
struct OpenVolume {
  PosixEnv env;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<FileSystem> fs;
  // How long each open took.
  std::chrono::duration<double> engine_open{};
  std::chrono::duration<double> fs_open{};

  ~OpenVolume();
};

// Opens VOLUME (made by `sopfs format` or CreateVolume) with the daemon's options.
// `checkpoint_on_close` false: closing leaves the log as a crash would.
Result<std::unique_ptr<OpenVolume>> OpenVolumeHere(const std::string& dir,
                                                   bool checkpoint_on_close = true);

// Makes `files` more empty files (see the file comment) in a volume nothing has open;
// `progress` gets the number made so far now and then.
Status FillFiles(const std::string& dir, uint64_t files,
                 const std::function<void(uint64_t)>& progress);

// Grows the registry of a volume nothing has open to `ids` logical IDs in use or
// handed out (a no-op if it has as many); returns how many it now has.
Result<uint64_t> GrowRegistry(const std::string& dir, uint64_t ids,
                              const std::function<void(uint64_t)>& progress);

// What the last checkpoint of a volume nothing has open carried in its log: the node
// segments counted, and the bytes of those records (each checkpoint writes them anew).
struct CarriedCounts {
  uint64_t segments = 0;
  uint64_t bytes = 0;
};
Result<CarriedCounts> ReadCarriedCounts(const std::string& dir);

}  // namespace sopfs::tools
