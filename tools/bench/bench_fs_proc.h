// Figures of one process read from /proc, for `sopfs bench fs`.
//
// Disk bytes come from /proc/PID/io (summed over the process's threads, io_uring
// workers included): write_bytes counts a buffered write when the page is dirtied and
// a direct write when it is submitted, so a write+fsync is counted in full once fsync
// returns; read_bytes counts what was read from the device (not page-cache hits).
// Work the kernel does elsewhere on the process's behalf (ext4 journal and metadata
// writeback by kernel threads) is not counted. Memory comes from /proc/PID/status.
#pragma once

#include <sys/types.h>

#include <cstdint>

#include "engine/status.h"

namespace sopfs::tools {

struct ProcIo {
  uint64_t read_bytes = 0;
  uint64_t write_bytes = 0;
  uint64_t cancelled_write_bytes = 0;
};

struct ProcMemory {
  uint64_t peak_bytes = 0;  // VmHWM: the most resident memory so far
  uint64_t rss_bytes = 0;   // VmRSS: resident now
};

// pid 0 means this process.
Result<ProcIo> ReadProcIo(pid_t pid);
Result<ProcMemory> ReadProcMemory(pid_t pid);
// Starts VmHWM over from the current RSS (/proc/PID/clear_refs), to measure one phase.
Status ResetPeakMemory(pid_t pid);

// Waits until `pid` has written nothing for `stable_seconds` (background flushes of
// earlier work finished), at most `max_seconds`. Returns whether it went quiet.
bool WaitForQuietWrites(pid_t pid, double stable_seconds, double max_seconds);

}  // namespace sopfs::tools
