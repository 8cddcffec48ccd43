// The file workloads of `sopfs bench fs`. The same code runs on the mount and on the
// native folder: plain POSIX calls, every file opened O_CLOEXEC, reads checked against
// FilePattern. Each shows progress on stderr under its label, calls Heartbeat() per
// operation and stops with EINTR once Interrupted().
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/status.h"

namespace sopfs::tools {

struct Timing {
  double seconds = 0;
  uint64_t bytes = 0;  // logical bytes moved
  uint64_t ops = 0;
  double MiBs() const { return seconds > 0 ? static_cast<double>(bytes) / 1048576.0 / seconds : 0; }
  double OpsPerSecond() const { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }
};

// Creates `path` and writes `size` bytes in 1 MiB writes, then fsync and close (all
// timed). `size` is a multiple of 4 KiB.
Result<Timing> WriteFileSequential(const std::string& path, uint64_t size,
                                   const std::string& label);

// Reads `path` from start to end in 1 MiB reads, checking every byte; the file must be
// `size` bytes long.
Result<Timing> ReadFileSequential(const std::string& path, uint64_t size, const std::string& label);

// `count` random 4 KiB-aligned offsets below `file_size`, the same for a given seed.
std::vector<uint64_t> RandomOffsets(uint64_t file_size, size_t count, uint64_t seed);

// 4 KiB preads at `offsets`, from `threads` threads sharing one descriptor (so that up
// to `threads` reads are in flight), until all are done or `max_seconds` passed. The
// file is opened with POSIX_FADV_RANDOM, so that the kernel reads no more than asked.
Result<Timing> ReadRandom(const std::string& path, const std::vector<uint64_t>& offsets,
                          int threads, double max_seconds, const std::string& label);

// What one 4 KiB overwrite cost on disk, as told by `disk_written` (a process's
// write_bytes) sampled around the steps.
struct OverwriteCost {
  uint64_t write_fsync_bytes = 0;  // around pwrite + fsync
  uint64_t close_bytes = 0;        // around the close that follows
  double seconds = 0;              // pwrite + fsync
};
Result<OverwriteCost> OverwriteBlock(const std::string& path, uint64_t offset,
                                     const std::function<uint64_t()>& disk_written);

// `offsets.size()` durable 4 KiB overwrites of `path` (one descriptor: pwrite of the
// file's own pattern bytes at each offset, then fsync), each timed alone, until all are
// done or `max_seconds` passed. Returns the latencies in milliseconds, in order.
Result<std::vector<double>> OverwriteSeries(const std::string& path,
                                            const std::vector<uint64_t>& offsets,
                                            double max_seconds, const std::string& label);

// Walks the tree under `dir` as `ls -lR` does: every directory read, every entry
// lstat'ed. ops = entries seen.
Result<Timing> ListTree(const std::string& dir, const std::string& label);

// Creates `count` files of `file_size` bytes in `dir` (open O_CREAT|O_EXCL, write,
// close; no fsync), timed.
Result<Timing> CreateFiles(const std::string& dir, size_t count, size_t file_size,
                           const std::string& label);

// Creates `count` files of `file_size` bytes in `dir` as fast as `threads` writers can
// (open, one write, close each; file i by writer i % threads).
Result<Timing> FloodFiles(const std::string& dir, size_t count, size_t file_size, int threads,
                          const std::string& label);

// Copies `from` to a new file `to` as cp does without copy_file_range: 1 MiB reads and
// writes, then fsync and close, timed.
Result<Timing> CopyFile(const std::string& from, const std::string& to, const std::string& label);

}  // namespace sopfs::tools
