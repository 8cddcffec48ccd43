// The figures of `sopfs bench fs`, the goals for them, and their two forms:
// a human table and the one-line JSON object (flat; the keys are listed in the .cc).
#pragma once

#include <cstdint>
#include <string>

namespace sopfs::tools {

// One file system's figures: the mount's, or the native folder's.
struct SideFigures {
  double seq_write_mib_s = 0;       // logical bytes / time (1 MiB writes, fsync, close)
  double seq_write_disk_mib_s = 0;  // sopfs: daemon write_bytes / time; native: logical
  double seq_read_mib_s = 0;
  double seq_read_disk_mib_s = 0;  // read_bytes of the daemon / of this process, / time
  double rand_qd1_iops = 0;
  double rand_qd16_iops = 0;
  uint64_t overwrite_disk_bytes = 0;        // around one 4 KiB pwrite + fsync
  uint64_t overwrite_close_disk_bytes = 0;  // around the close after it
  double overwrite_ms = 0;
  // Durable 4 KiB overwrites at random offsets (pwrite + fsync each): their latencies.
  double overwrite_fsync_p50_ms = 0;
  double overwrite_fsync_p99_ms = 0;
  uint64_t overwrite_fsync_count = 0;
  double creates_per_s = 0;
  double copy_mib_s = 0;
  double copy_out_mib_s = 0;        // the big file copied to the native folder (native: = copy)
  double lsr_entries_s = 0;         // ls -lR of the side's whole tree, caches dropped first
  double flood_4k_files_per_s = 0;  // four writers, as fast as they can
  double flood_64k_files_per_s = 0;
};

struct FsFigures {
  SideFigures sopfs, native;
  bool native_only = false;
  uint64_t size_bytes = 0;
  uint64_t chunk_size = 0;
  int k = 0, m = 0;
  uint64_t overwrite_file_bytes = 0;
  uint64_t files = 0;
  uint64_t rand_ops = 0;
  double daemon_rss_after_write_mib = 0;  // VmHWM after the sequential write
  double daemon_peak_rss_mib = 0;         // VmHWM at the end, after the copy
  double bench_peak_rss_mib = 0;
  uint64_t flood_files = 0;                 // per flood; 0: none ran
  double flood_4k_daemon_peak_rss_mib = 0;  // VmHWM from the flood's start
  double flood_64k_daemon_peak_rss_mib = 0;
  double unmount_seconds = 0;        // the final unmount, after the floods
  std::string cache_drop;            // how the page cache was dropped, for the table
  std::string mount_options;         // -o given to the mount ("" for none)
  std::string transport;             // how the daemon took requests (.sopfs/stats)
  bool cache_dropped_fully = false;  // with /proc/sys/vm/drop_caches

  // One chunk's shards plus 256 KiB: chunk_size * (k + m) / k + 256 KiB.
  uint64_t OverwriteGoalBytes() const;
};

void PrintFsTable(const FsFigures& f);
std::string FsJsonLine(const FsFigures& f);

}  // namespace sopfs::tools
