// The mount daemon: a volume served through libfuse3's low-level API.
//
// RunDaemon opens the volume's engine (recovery runs there), mounts it at the
// mountpoint, reports readiness through `on_ready`, and serves requests on a
// multi-threaded session loop until the file system is unmounted (fusermount3 -u,
// umount) or the process gets SIGTERM, SIGINT or SIGHUP. Before it returns, every
// pending change is committed and the engine closed (a checkpoint).
//
// Threads: call it once per process; it installs the signal handlers itself.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "engine/status.h"
#include "fuse/volume/volume_config.h"

namespace sopfs {

struct MountSettings {
  std::string mountpoint;
  // Passed to libfuse as -o options (allow_other, default_permissions, ro, fsname=...).
  std::vector<std::string> fuse_options;
  // Namespace changes not yet made durable by an fsync are committed at least this
  // often (SPEC §2: at most 5 s).
  std::chrono::milliseconds commit_interval{1000};
  double attr_timeout = 1.0;  // seconds the kernel may cache attributes and names
  // An explicit transaction idle this long is rolled back (SPEC §3).
  std::chrono::seconds txn_timeout{300};
  // The engine's cache of decoded B-Tree nodes and chunk blobs (EngineOptions).
  uint64_t cache_bytes = uint64_t{96} << 20;
  // Bytes of closed small files' contents held in memory until their commit.
  uint64_t small_file_buffer = uint64_t{16} << 20;
  // Room kept free on each disk of the volume for metadata, so that a full disk still
  // takes deletions (EngineOptions::reserve_bytes). 0: twice small_file_buffer, at
  // least 32M.
  uint64_t reserve_bytes = 0;
  // Serve requests through io_uring where the kernel allows it (uring_transport.h).
  bool io_uring = false;
  // Scrub every blob this often (days; 0: never, only a refill of an emptied data
  // folder), reading at most scrub_mib_s MiB/s (engine/txn/scrubber.h).
  double scrub_days = 7;
  uint64_t scrub_mib_s = 32;
};

// Returns the process exit code: 0 after a clean unmount, 1 when the volume could not
// be opened or mounted (on_ready got the error) or the final commit failed.
// on_ready is called exactly once: Ok once the mount is usable, else the error.
int RunDaemon(const VolumeConfig& volume, const MountSettings& settings,
              const std::function<void(const Status&)>& on_ready);

}  // namespace sopfs
