#include "tools/bench/bench_fs_phases.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>

#include "tools/bench/bench_fs_cache.h"
#include "tools/bench/bench_fs_proc.h"
#include "tools/bench/bench_fs_watchdog.h"
#include "tools/bench/bench_fs_workload.h"

namespace sopfs::tools {
namespace {

constexpr double kMiB = 1048576.0;

// One file system under test: the mount (its disk work is done by the daemon) or the
// native folder (done by this process).
struct Side {
  const char* name;
  std::string dir;
  pid_t pid;  // whose /proc/PID/io counts the disk bytes; 0 for this process
  SideFigures* out;
  std::string operator/(const std::string& file) const { return dir + "/" + file; }
};

class PhaseRunner {
 public:
  PhaseRunner(const FsPlan& plan, FsFigures& f) : plan_(plan), f_(f) {
    if (!plan.mount_dir.empty()) sides_.push_back({"sopfs", plan.mount_dir, plan.daemon, &f.sopfs});
    sides_.push_back({"native", plan.native_dir, 0, &f.native});
  }

  Status Run() {
    SOPFS_RETURN_IF_ERROR(Each("sequential write", [&](const Side& s) { return SeqWrite(s); }));
    SOPFS_RETURN_IF_ERROR(Each("sequential read", [&](const Side& s) { return SeqRead(s); }));
    SOPFS_RETURN_IF_ERROR(
        Each("random reads QD1", [&](const Side& s) { return RandomReads(s, 1); }));
    SOPFS_RETURN_IF_ERROR(
        Each("random reads QD16", [&](const Side& s) { return RandomReads(s, 16); }));
    SOPFS_RETURN_IF_ERROR(Each("4 KiB overwrite", [&](const Side& s) { return Overwrite(s); }));
    if (plan_.overwrites > 0) {
      SOPFS_RETURN_IF_ERROR(
          Each("4 KiB overwrites + fsync", [&](const Side& s) { return OverwriteSeries(s); }));
    }
    SOPFS_RETURN_IF_ERROR(CreateRounds());
    SOPFS_RETURN_IF_ERROR(Each("ls -lR", [&](const Side& s) { return ListAll(s); }));
    SOPFS_RETURN_IF_ERROR(Each("copy", [&](const Side& s) { return Copy(s); }));
    SOPFS_RETURN_IF_ERROR(Each("copy out", [&](const Side& s) { return CopyOut(s); }));
    if (plan_.daemon > 0) f_.daemon_peak_rss_mib = PeakMiB(plan_.daemon);
    if (plan_.flood_files > 0) SOPFS_RETURN_IF_ERROR(Floods());
    return Status::Ok();
  }

 private:
  Status Each(const std::string& phase, const std::function<Status(const Side&)>& run) {
    for (const Side& s : sides_) {
      if (plan_.watchdog) plan_.watchdog->SetPhase(phase + " on " + s.name);
      Status st = run(s);
      if (!st.ok()) {
        return Status::Error(st.code(), phase + " on " + s.name + ": " + st.message());
      }
      if (s.pid > 0) ReportDaemonMemory(s.pid, phase);
    }
    return Status::Ok();
  }

  static void ReportDaemonMemory(pid_t pid, const std::string& phase) {
    if (auto mem = ReadProcMemory(pid); mem.ok()) {
      std::fprintf(stderr, "daemon RSS after the %s: %.0f MiB, peak %.0f MiB\n", phase.c_str(),
                   static_cast<double>(mem->rss_bytes) / kMiB,
                   static_cast<double>(mem->peak_bytes) / kMiB);
    }
  }

  std::string Label(const Side& s, const char* what) const {
    return std::string(what) + " (" + s.name + ")";
  }

  Result<ProcIo> Io(const Side& s) const { return ReadProcIo(s.pid); }

  static double PeakMiB(pid_t pid) {
    auto mem = ReadProcMemory(pid);
    return mem.ok() ? static_cast<double>(mem->peak_bytes) / kMiB : 0;
  }

  void DropCaches() {
    const CacheDrop how = DropPageCache(plan_.cache_paths);
    f_.cache_drop = DescribeCacheDrop(how);
    f_.cache_dropped_fully = how == CacheDrop::kDropCaches;
  }

  // Lets write-back of earlier phases (ours and the daemon's) finish first.
  void Settle(const Side& s) {
    sync();
    if (s.pid > 0) (void)WaitForQuietWrites(s.pid, 0.5, 30);
  }

  Status SeqWrite(const Side& s) {
    Settle(s);
    auto before = Io(s);
    if (!before.ok()) return before.status();
    auto t = WriteFileSequential(s / "big", plan_.size, Label(s, "sequential write"));
    if (!t.ok()) return t.status();
    auto after = Io(s);
    if (!after.ok()) return after.status();
    s.out->seq_write_mib_s = t->MiBs();
    const double disk = s.pid > 0 ? static_cast<double>(after->write_bytes - before->write_bytes)
                                  : static_cast<double>(t->bytes);
    s.out->seq_write_disk_mib_s = disk / kMiB / t->seconds;
    if (s.pid > 0) f_.daemon_rss_after_write_mib = PeakMiB(s.pid);
    return Status::Ok();
  }

  Status SeqRead(const Side& s) {
    DropCaches();
    auto before = Io(s);
    if (!before.ok()) return before.status();
    auto t = ReadFileSequential(s / "big", plan_.size, Label(s, "sequential read"));
    if (!t.ok()) return t.status();
    auto after = Io(s);
    if (!after.ok()) return after.status();
    s.out->seq_read_mib_s = t->MiBs();
    s.out->seq_read_disk_mib_s =
        static_cast<double>(after->read_bytes - before->read_bytes) / kMiB / t->seconds;
    return Status::Ok();
  }

  Status RandomReads(const Side& s, int depth) {
    DropCaches();
    const auto offsets = RandomOffsets(plan_.size, plan_.rand_ops, 4242 + depth);
    auto t = ReadRandom(s / "big", offsets, depth, plan_.rand_seconds,
                        Label(s, depth == 1 ? "random reads QD1" : "random reads QD16"));
    if (!t.ok()) return t.status();
    (depth == 1 ? s.out->rand_qd1_iops : s.out->rand_qd16_iops) = t->OpsPerSecond();
    return Status::Ok();
  }

  // The file the overwrites go into, and its size.
  std::pair<std::string, uint64_t> OverwriteFile(const Side& s) const {
    if (plan_.size < plan_.overwrite_size) return {s / "overwrite", plan_.overwrite_size};
    return {s / "big", plan_.size};
  }

  Status Overwrite(const Side& s) {
    const auto [file, file_size] = OverwriteFile(s);
    if (plan_.size < plan_.overwrite_size) {
      auto t = WriteFileSequential(file, file_size, Label(s, "file for the overwrite"));
      if (!t.ok()) return t.status();
    }
    f_.overwrite_file_bytes = file_size;
    // The middle of the chunk in the middle of the file, 4 KiB aligned: one chunk only.
    const uint64_t chunk = plan_.chunk_size;
    uint64_t offset = (file_size / 2 / chunk) * chunk + chunk / 2;
    offset = std::min(offset, file_size - 4096) / 4096 * 4096;
    Settle(s);
    const pid_t pid = s.pid;
    auto cost = OverwriteBlock(file, offset, [pid] {
      auto io = ReadProcIo(pid);
      return io.ok() ? io->write_bytes : 0;
    });
    if (!cost.ok()) return cost.status();
    s.out->overwrite_disk_bytes = cost->write_fsync_bytes;
    s.out->overwrite_close_disk_bytes = cost->close_bytes;
    s.out->overwrite_ms = cost->seconds * 1000;
    std::fprintf(stderr, "4 KiB overwrite at offset %llu (%s): %llu bytes written, %.2f ms\n",
                 static_cast<unsigned long long>(offset), s.name,
                 static_cast<unsigned long long>(cost->write_fsync_bytes), cost->seconds * 1000);
    return Status::Ok();
  }

  // A database's commit, an editor's save: 4 KiB overwrites at random places, each made
  // durable at once. The pattern's own bytes, so the file stays checkable.
  Status OverwriteSeries(const Side& s) {
    const auto [file, file_size] = OverwriteFile(s);
    Settle(s);
    const auto offsets = RandomOffsets(file_size, plan_.overwrites, 777);
    auto ms = tools::OverwriteSeries(file, offsets, plan_.rand_seconds * 4,
                                     Label(s, "4 KiB overwrites + fsync"));
    if (!ms.ok()) return ms.status();
    if (ms->empty()) return Status::Error(ETIMEDOUT, "not one overwrite in time");
    std::sort(ms->begin(), ms->end());
    s.out->overwrite_fsync_count = ms->size();
    s.out->overwrite_fsync_p50_ms = (*ms)[ms->size() / 2];
    s.out->overwrite_fsync_p99_ms = (*ms)[std::min(ms->size() - 1, ms->size() * 99 / 100)];
    return Status::Ok();
  }

  // What ls -lR, find and backup tools pay: every entry of the side's tree, cold.
  Status ListAll(const Side& s) {
    DropCaches();
    auto t = ListTree(s.dir, Label(s, "ls -lR"));
    if (!t.ok()) return t.status();
    s.out->lsr_entries_s = t->OpsPerSecond();
    return Status::Ok();
  }

  // A create takes tens of microseconds, so a few seconds of a busy neighbour (on a
  // shared machine native creates/s was seen to swing 20-fold) decide one run. The
  // sides take turns, kCreateRounds times, first one then the other, and each side's
  // figure is the median of its rounds. Every round creates in a folder of its own and
  // the files stay until the work folder goes: an ext4 without a journal (this
  // project's machine) skips inodes deleted in the last minute when it allocates,
  // reading inode tables to find them, which made native creates 10 times slower in
  // the rounds after a removal, and would slow whatever creates files next (the
  // daemon's shard files in the copy).
  Status CreateRounds() {
    std::vector<std::vector<double>> rates(sides_.size());
    for (int round = 0; round < kCreateRounds; ++round) {
      for (size_t k = 0; k < sides_.size(); ++k) {
        const size_t at = round % 2 == 0 ? k : sides_.size() - 1 - k;
        const Side& s = sides_[at];
        const std::string phase = "small-file creates, round " + std::to_string(round + 1);
        if (plan_.watchdog) plan_.watchdog->SetPhase(phase + " on " + s.name);
        auto rate = Creates(s, round);
        if (!rate.ok()) {
          return Status::Error(rate.status().code(),
                               phase + " on " + s.name + ": " + rate.status().message());
        }
        rates[at].push_back(*rate);
      }
    }
    if (plan_.daemon > 0) ReportDaemonMemory(plan_.daemon, "small-file creates");
    for (size_t k = 0; k < sides_.size(); ++k) {
      sides_[k].out->creates_per_s = Median(rates[k]);
      std::string each;
      for (double r : rates[k]) each += " " + std::to_string(static_cast<long>(r));
      std::fprintf(stderr, "small-file creates/s (%s), %d rounds:%s; median %.0f\n", sides_[k].name,
                   kCreateRounds, each.c_str(), sides_[k].out->creates_per_s);
    }
    return Status::Ok();
  }

  static std::string SmallDir(const Side& s, int round) {
    return s / ("small-" + std::to_string(round));
  }

  Result<double> Creates(const Side& s, int round) {
    const std::string dir = SmallDir(s, round);
    if (mkdir(dir.c_str(), 0755) != 0) return Status::Error(errno, "mkdir " + dir);
    Settle(s);
    auto t = CreateFiles(dir, plan_.files, plan_.file_size, Label(s, "small-file creates"));
    if (!t.ok()) return t.status();
    return t->OpsPerSecond();
  }

  static double Median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }

  // Small files closed faster than they can be committed wait in the daemon's memory up
  // to a bound; each flood's peak RSS is measured from its start (VmHWM reset).
  Status Floods() {
    constexpr int kWriters = 4;
    for (const size_t size : {size_t{4096}, size_t{65536}}) {
      const bool small = size == 4096;
      const std::string what = small ? "flood of 4 KiB files" : "flood of 64 KiB files";
      for (const Side& s : sides_) {
        if (plan_.watchdog) plan_.watchdog->SetPhase(what + " on " + s.name);
        const std::string dir = s / (small ? "flood-4k" : "flood-64k");
        if (mkdir(dir.c_str(), 0755) != 0) return Status::Error(errno, "mkdir " + dir);
        Settle(s);
        if (s.pid > 0) SOPFS_RETURN_IF_ERROR(ResetPeakMemory(s.pid));
        auto t = FloodFiles(dir, plan_.flood_files, size, kWriters, Label(s, what.c_str()));
        if (!t.ok()) {
          return Status::Error(t.status().code(),
                               what + " on " + s.name + ": " + t.status().message());
        }
        (small ? s.out->flood_4k_files_per_s : s.out->flood_64k_files_per_s) = t->OpsPerSecond();
        if (s.pid > 0) {
          (small ? f_.flood_4k_daemon_peak_rss_mib : f_.flood_64k_daemon_peak_rss_mib) =
              PeakMiB(s.pid);
          ReportDaemonMemory(s.pid, what);
        }
      }
    }
    return Status::Ok();
  }

  Status Copy(const Side& s) {
    Settle(s);
    auto t = CopyFile(s / "big", s / "big.copy", Label(s, "copy"));
    if (!t.ok()) return t.status();
    s.out->copy_mib_s = t->MiBs();
    return Status::Ok();
  }

  // The mount's big file copied out to the native folder, cold; the native side's
  // figure is its own copy (native to native).
  Status CopyOut(const Side& s) {
    if (s.pid == 0) {
      s.out->copy_out_mib_s = s.out->copy_mib_s;
      return Status::Ok();
    }
    Settle(s);
    DropCaches();
    const std::string to = plan_.native_dir + "/big.out";
    auto t = CopyFile(s / "big", to, Label(s, "copy out"));
    if (!t.ok()) return t.status();
    s.out->copy_out_mib_s = t->MiBs();
    return unlink(to.c_str()) == 0 ? Status::Ok() : Status::Error(errno, "unlink " + to);
  }

  const FsPlan& plan_;
  FsFigures& f_;
  std::vector<Side> sides_;
};

}  // namespace

Status RunFsPhases(const FsPlan& plan, FsFigures& f) { return PhaseRunner(plan, f).Run(); }

}  // namespace sopfs::tools
