// The phases of `sopfs bench fs`, each run on the mount and then on the native folder
// with the same code and sizes:
//   1. sequential write of one big file (1 MiB writes, fsync, close);
//   2. sequential read of it (1 MiB reads), page cache dropped first;
//   3. random 4 KiB reads of it at depth 1 and 16, page cache dropped first;
//   4. one 4 KiB overwrite + fsync in the middle of a chunk in the middle of a file of
//      at least the overwrite size (the big file, or one written for it), its disk
//      bytes counted; then `overwrites` more at random offsets of it, each timed;
//   5. small-file creates, kCreateRounds rounds with the sides taking turns, each round
//      in a folder of its own, each side's median reported (the files stay until the
//      work folder is removed);
//   6. ls -lR of the side's whole tree (page cache and dentries dropped first);
//   7. a copy of the big file within the same file system, and (the mount only) a copy
//      of it out to the native folder;
//   8. floods of small files (flood_files of 4 KiB, then of 64 KiB) written by four
//      writers as fast as they can, the daemon's peak RSS measured for each alone.
// The daemon's disk bytes and memory come from its /proc entries.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/status.h"
#include "tools/bench/bench_fs_report.h"

namespace sopfs::tools {

class Watchdog;

// Rounds of small-file creates per side; odd, so the median is one measured round.
constexpr int kCreateRounds = 5;

struct FsPlan {
  std::string mount_dir;  // empty: native only
  std::string native_dir;
  std::vector<std::string> cache_paths;  // what to fadvise when drop_caches is not allowed
  pid_t daemon = 0;
  Watchdog* watchdog = nullptr;
  uint64_t size = 0;
  uint64_t overwrite_size = 0;
  uint64_t chunk_size = 0;
  size_t files = 0;
  size_t file_size = 1024;
  size_t rand_ops = 0;
  double rand_seconds = 0;
  size_t flood_files = 0;  // 0: no floods
  size_t overwrites = 0;   // durable 4 KiB overwrites at random offsets, per side
};

// Fills `f` with the sides' figures, the daemon's memory and how caches were dropped.
Status RunFsPhases(const FsPlan& plan, FsFigures& f);

}  // namespace sopfs::tools
