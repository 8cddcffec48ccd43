// sopfs bench fsck: how fast `sopfs fsck` reads a volume, against a raw read of the
// same data folders, in the same run (issue 20's goal: at least 0.7 of it).
//
// A volume is formatted and filled through a mount (big files of 64 MiB up to --size,
// then --files small files), then unmounted. With the page cache dropped before each:
// the raw read reads every file of every data folder, one thread per folder (as fsck
// spreads its reads over the folders); then `sopfs fsck VOLUME --json` and `sopfs fsck
// --quick` run as children, timed from outside, their peak RSS taken from wait4.
// Last, the big files are read through a mount, alone and while a scrub runs at its
// default rate: the foreground must keep at least 0.8 of its speed.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tools/bench/bench_fs_cache.h"
#include "tools/bench/bench_fs_child.h"
#include "tools/bench/bench_fs_mount.h"
#include "tools/bench/bench_fs_workdir.h"
#include "tools/bench/json_line.h"
#include "tools/cli_args.h"
#include "tools/commands.h"

namespace sopfs::tools {
namespace {

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;
constexpr const char* kName = "sopfs bench fsck";
constexpr uint64_t kMiB = uint64_t{1} << 20;

int Fail(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", kName, what.c_str());
  return 1;
}

double Since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Writes `size` bytes of varied data to a new file; false on any error.
bool WriteFile(const std::string& path, uint64_t size, uint64_t seed) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::vector<uint64_t> block(std::min<uint64_t>(size, kMiB) / 8 + 1);
  bool ok = true;
  for (uint64_t done = 0; done < size && ok;) {
    for (uint64_t& w : block) w = (seed += 0x9e3779b97f4a7c15ULL) * 0xbf58476d1ce4e5b9ULL;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(size - done, block.size() * 8 - 8));
    ok = ::write(fd, block.data(), n) == static_cast<ssize_t>(n);
    done += n;
  }
  return ::close(fd) == 0 && ok;
}

// Reads every file below each folder, one thread per folder; returns the bytes read.
uint64_t ReadFolders(const std::vector<std::string>& folders) {
  std::atomic<uint64_t> total{0};
  std::vector<std::thread> threads;
  for (const std::string& folder : folders) {
    threads.emplace_back([&total, folder] {
      std::vector<char> buf(kMiB);
      std::error_code ec;
      for (auto it = std::filesystem::recursive_directory_iterator(folder, ec);
           it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (ec || !it->is_regular_file()) continue;
        const int fd = ::open(it->path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) total += n;
        ::close(fd);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  return total.load();
}

struct FsckRun {
  double seconds = 0;
  double peak_rss_mib = 0;
  uint64_t bytes_read = 0;
  std::string json;  // its last line
};

// Runs `sopfs fsck VOLUME --json [extra]` and expects exit 0 (a clean volume).
Result<FsckRun> RunFsck(const std::string& volume, const std::string& extra,
                        const std::string& log) {
  std::vector<std::string> argv = {SelfPath(), "fsck", volume, "--json"};
  if (!extra.empty()) argv.push_back(extra);
  const std::string out = log + ".out";
  std::filesystem::remove(out);
  const Clock::time_point start = Clock::now();
  Result<pid_t> pid = SpawnChild(argv, out);
  if (!pid.ok()) return pid.status();
  struct rusage usage {};
  std::optional<int> status = WaitForChild(*pid, 3600, &usage);
  FsckRun run;
  run.seconds = Since(start);
  if (!status) {
    KillChild(*pid);
    return Status::Error(ETIMEDOUT, "fsck ran over an hour");
  }
  const std::string tail = FileTail(out, 4096);
  if (*status != 0) {
    return Status::Error(EIO,
                         "fsck " + DescribeWaitStatus(*status) + " on a clean volume: " + tail);
  }
  run.peak_rss_mib = static_cast<double>(usage.ru_maxrss) / 1024;
  std::string text = tail;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  run.json = text.substr(text.rfind('\n') + 1);
  const size_t at = run.json.find("\"bytes_read\":");
  if (at != std::string::npos) run.bytes_read = std::stoull(run.json.substr(at + 13));
  return run;
}

// Mounts `volume` with `options`, optionally waits until its scrub runs, drops the page
// cache and reads every big file through the mount; returns MiB/s.
Result<double> ReadThroughMount(const std::string& volume, const std::string& mountpoint,
                                const std::string& options, bool wait_for_scrub,
                                const std::string& log) {
  auto mount = BenchMount::Start({.sopfs = SelfPath(),
                                  .volume = volume,
                                  .mountpoint = mountpoint,
                                  .format_args = {},
                                  .mount_options = options,
                                  .log = log,
                                  .format = false});
  if (!mount.ok()) return mount.status();
  const auto health = [&] {
    std::ifstream in(mountpoint + "/.sopfs/health");
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(30);
  while (wait_for_scrub && health().find("\"state\":\"running\"") == std::string::npos) {
    if (Clock::now() > deadline) {
      (void)(*mount)->Unmount();
      return Status::Error(ETIMEDOUT, "the scrub did not start: " + health());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  DropPageCache({volume});
  const Clock::time_point start = Clock::now();
  uint64_t bytes = 0;
  std::vector<char> buf(kMiB);
  for (int i = 0;; ++i) {
    const int fd = ::open((mountpoint + "/big" + std::to_string(i)).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) break;
    for (ssize_t n; (n = ::read(fd, buf.data(), buf.size())) > 0;) bytes += n;
    ::close(fd);
  }
  const double seconds = Since(start);
  const bool still_running = health().find("\"state\":\"running\"") != std::string::npos;
  SOPFS_RETURN_IF_ERROR((*mount)->Unmount());
  if (wait_for_scrub && !still_running) {
    return Status::Error(EAGAIN, "the scrub ended before the read did: raise --size");
  }
  return static_cast<double>(bytes) / kMiB / seconds;
}

}  // namespace

int RunBenchFsck(int argc, char** argv) {
  po::options_description opts("usage: sopfs bench fsck [OPTIONS]\n\noptions");
  opts.add_options()("help,h", "show this help")(
      "json", "print the figures as one JSON object on the last line")(
      "dir", po::value<std::string>()->default_value("/var/tmp"),
      "work in a fresh folder inside DIR; removed afterwards")(
      "size", po::value<uint64_t>()->default_value(1024), "MiB of big files (64 MiB each)")(
      "files", po::value<int>()->default_value(10000), "small files (100 B to 3 KiB)");
  po::variables_map vm;
  if (auto done = ParseCommandLine(kName, opts, argc, argv, vm)) return *done;
  const bool json = vm.count("json") > 0;
  const uint64_t size_mib = vm["size"].as<uint64_t>();
  const int files = vm["files"].as<int>();
  if (size_mib < 1 || size_mib > (uint64_t{1} << 20) || files < 0 || files > 10000000) {
    std::fprintf(stderr, "%s: --size takes 1 to 1048576 MiB, --files 0 to 10000000\n", kName);
    return 2;
  }
  auto work = WorkDir::Make(vm["dir"].as<std::string>());
  if (!work.ok()) {
    std::fprintf(stderr, "%s: --dir: %s\n", kName, work.status().ToString().c_str());
    return 2;
  }
  if (mkdir((*work / "mnt").c_str(), 0755) != 0) return Fail("cannot make " + (*work / "mnt"));
  const std::string volume = *work / "volume";
  std::fprintf(stderr, "filling a volume in %s: %llu MiB of big files, %d small files\n",
               work->path().c_str(), static_cast<unsigned long long>(size_mib), files);
  {
    auto mount = BenchMount::Start({.sopfs = SelfPath(),
                                    .volume = volume,
                                    .mountpoint = *work / "mnt",
                                    .format_args = {},
                                    .mount_options = "",
                                    .log = *work / "daemon.log"});
    if (!mount.ok()) return Fail(mount.status().ToString());
    bool ok = true;
    for (uint64_t done = 0, i = 0; done < size_mib && ok; done += 64, ++i) {
      ok = WriteFile(*work / ("mnt/big" + std::to_string(i)),
                     std::min<uint64_t>(64, size_mib - done) * kMiB, i);
    }
    ok = ok && mkdir((*work / "mnt/small").c_str(), 0755) == 0;
    for (int i = 0; i < files && ok; ++i) {
      ok = WriteFile(*work / ("mnt/small/f" + std::to_string(i)), 100 + i % 3000, i);
    }
    if (!ok) {
      (void)(*mount)->Unmount();
      return Fail("writing the files failed; daemon log: " + (*mount)->LogTail());
    }
    if (Status st = (*mount)->Unmount(); !st.ok()) return Fail(st.ToString());
  }
  std::vector<std::string> folders;
  for (int i = 0; i < 6; ++i) folders.push_back(volume + "/data-" + std::to_string(i));

  DropPageCache({volume});
  Clock::time_point start = Clock::now();
  const uint64_t raw_bytes = ReadFolders(folders);
  const double raw_seconds = Since(start);
  DropPageCache({volume});
  Result<FsckRun> full = RunFsck(volume, "", *work / "fsck");
  if (!full.ok()) return Fail(full.status().ToString());
  DropPageCache({volume});
  Result<FsckRun> quick = RunFsck(volume, "--quick", *work / "fsck-quick");
  if (!quick.ok()) return Fail(quick.status().ToString());

  // Foreground reads alone, then with a scrub running at its default rate.
  Result<double> alone =
      ReadThroughMount(volume, *work / "mnt", "scrub=0", false, *work / "daemon.log");
  if (!alone.ok()) return Fail(alone.status().ToString());
  Result<double> scrubbed =
      ReadThroughMount(volume, *work / "mnt", "scrub=0.00001", true, *work / "daemon.log");
  if (!scrubbed.ok()) return Fail(scrubbed.status().ToString());

  const double raw_mib_s = static_cast<double>(raw_bytes) / kMiB / raw_seconds;
  const double fsck_mib_s = static_cast<double>(full->bytes_read) / kMiB / full->seconds;
  std::printf("%-34s %10s %10s %10s\n", "", "MiB", "seconds", "MiB/s");
  std::printf("%-34s %10.0f %10.2f %10.0f\n", "raw read of the data folders",
              static_cast<double>(raw_bytes) / kMiB, raw_seconds, raw_mib_s);
  std::printf("%-34s %10.0f %10.2f %10.0f\n", "sopfs fsck (every shard verified)",
              static_cast<double>(full->bytes_read) / kMiB, full->seconds, fsck_mib_s);
  std::printf("%-34s %10s %10.2f %10s\n", "sopfs fsck --quick", "-", quick->seconds, "-");
  std::printf("%-34s %10s %10s %10.0f\n", "reads through the mount", "-", "-", *alone);
  std::printf("%-34s %10s %10s %10.0f\n", "the same during a scrub (32 MiB/s)", "-", "-",
              *scrubbed);
  std::printf("foreground during a scrub / alone: %.2f (goal 0.8: %s)\n", *scrubbed / *alone,
              *scrubbed / *alone >= 0.8 ? "ok" : "MISSED");
  std::printf("ratio fsck / raw read: %.2f (goal 0.7: %s); fsck peak RSS %.0f MiB (quick %.0f)\n",
              fsck_mib_s / raw_mib_s, fsck_mib_s / raw_mib_s >= 0.7 ? "ok" : "MISSED",
              full->peak_rss_mib, quick->peak_rss_mib);
  if (json) {
    JsonLine j;
    j.Add("raw_read_mib_s", raw_mib_s)
        .Add("fsck_mib_s", fsck_mib_s)
        .Add("fsck_ratio", fsck_mib_s / raw_mib_s)
        .Add("goal_fsck_ratio", 0.7)
        .Add("fsck_seconds", full->seconds)
        .Add("fsck_quick_seconds", quick->seconds)
        .Add("raw_read_mib", static_cast<double>(raw_bytes) / kMiB)
        .Add("fsck_read_mib", static_cast<double>(full->bytes_read) / kMiB)
        .Add("fsck_peak_rss_mib", full->peak_rss_mib)
        .Add("fsck_quick_peak_rss_mib", quick->peak_rss_mib)
        .Add("small_files", static_cast<long long>(files))
        .Add("foreground_mib_s", *alone)
        .Add("foreground_scrub_mib_s", *scrubbed)
        .Add("foreground_scrub_ratio", *scrubbed / *alone)
        .Add("goal_foreground_scrub_ratio", 0.8);
    std::printf("%s\n", j.str().c_str());
  }
  return 0;
}

}  // namespace sopfs::tools
