// A fresh sopfs volume for `sopfs bench fs`, formatted and mounted by child processes:
// `SOPFS format VOLUME [ARGS...]`, then `SOPFS mount VOLUME MOUNTPOINT -f`, which keeps
// running as the daemon (its pid is kept, for its /proc figures).
//
// Ready means statfs(MOUNTPOINT) reports FUSE (0x65735546), polled (every 20 ms unless
// told) for at most 20 s.
// Unmount: `fusermount3 -u`, then a bounded wait for the daemon; if it does not end,
// SIGKILL and `fusermount3 -u -z`. The destructor unmounts if that was not done yet.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/blob/erasure_layout.h"
#include "engine/status.h"

namespace sopfs::tools {

struct MountSpec {
  std::string sopfs;                     // the sopfs binary
  std::string volume;                    // made by `sopfs format`
  std::string mountpoint;                // an existing empty folder
  std::vector<std::string> format_args;  // e.g. --ec 4+2 --chunk-size 1M
  std::string mount_options;             // -o for the mount; empty: none
  std::string log;                       // stdout and stderr of the children
  bool format = true;                    // false: mount the volume as it is
  double ready_seconds = 20;
  double exit_seconds = 60;
  double poll_seconds = 0.02;  // how often Start looks whether the mount is ready
};

class BenchMount {
 public:
  static Result<std::unique_ptr<BenchMount>> Start(const MountSpec& spec);
  ~BenchMount();
  BenchMount(const BenchMount&) = delete;
  BenchMount& operator=(const BenchMount&) = delete;

  pid_t pid() const { return pid_; }
  // Ok when the file system went away and the daemon exited with 0; otherwise an
  // error that quotes the end of the daemon's log. Runs once; later calls return Ok.
  Status Unmount();
  // The erasure layout and chunk size `sopfs format` wrote into VOLUME/sopfs.conf (the
  // top-level `ec` and `chunk-size` keys); keys it left out keep the values passed in.
  void ReadLayout(ErasureLayout& layout, uint64_t& chunk_size) const;
  // The last `max_bytes` of what the children printed.
  std::string LogTail(size_t max_bytes = 4096) const;

 private:
  BenchMount(MountSpec spec, pid_t pid) : spec_(std::move(spec)), pid_(pid) {}
  MountSpec spec_;
  pid_t pid_;
  bool mounted_ = true;
};

// Whether `path` is the root of a FUSE file system that answers (statfs works).
bool IsFuseMount(const std::string& path);
// The mount points at or below `path` (an absolute path without symlinks), from
// /proc/self/mountinfo; a dead FUSE mount is listed there too.
std::vector<std::string> MountsUnder(const std::string& path);

}  // namespace sopfs::tools
