// sopfs bench txn. Each "session" is a child process of its own Linux session
// (setsid), as a shell script would be. One transaction: write `begin` to
// .sopfs/txn, rewrite one 4 KiB file (open O_TRUNC, write, close), write `commit`;
// its latency is from begin to the return of commit (durable). The baseline is the
// same rewrite followed by fsync on a native folder of the same disk, timed the same
// way, in the same run. With 8 sessions each rewrites a file of its own (disjoint
// transactions, no conflicts). Prints p50/p99 latency, transactions per second, the
// ratios, and the daemon's peak RSS; --json ends with one JSON object.
#include "tools/bench/bench_txn.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "tools/bench/bench_fs_child.h"
#include "tools/bench/bench_fs_mount.h"
#include "tools/bench/bench_fs_proc.h"
#include "tools/bench/bench_fs_workdir.h"
#include "tools/bench/json_line.h"
#include "tools/cli_args.h"

namespace sopfs::tools {
namespace {

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;
constexpr const char* kName = "sopfs bench txn";

bool WriteAll(int fd, const std::string& bytes) {
  return ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size());
}

bool Control(const std::string& txn_file, const char* command) {
  const int fd = ::open(txn_file.c_str(), O_WRONLY | O_TRUNC);
  if (fd < 0) return false;
  const bool ok = WriteAll(fd, command);
  return ::close(fd) == 0 && ok;
}

// One rewrite of `path`; fsync when native. False on any error.
bool Rewrite(const std::string& path, const std::string& data, bool fsync_it) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return false;
  bool ok = WriteAll(fd, data);
  if (ok && fsync_it) ok = ::fsync(fd) == 0;
  return ::close(fd) == 0 && ok;
}

// Runs `sessions` children, each doing `rounds` transactions on its own file; returns
// every latency (seconds) and the wall time of the whole, or an empty list on error.
struct Run {
  std::vector<double> latencies;
  double wall = 0;
  bool ok = false;
};

Run RunSessions(const std::string& dir, bool transactional, int sessions, int rounds) {
  const std::string data(4096, 'x');
  Run run;
  std::vector<std::pair<pid_t, int>> children;
  const auto start = Clock::now();
  for (int s = 0; s < sessions; ++s) {
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) return run;
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(pipe_fds[0]);
      ::setsid();
      const std::string file = dir + "/file-" + std::to_string(s);
      const std::string txn = dir + "/.sopfs/txn";
      for (int i = 0; i < rounds; ++i) {
        const auto t0 = Clock::now();
        bool ok;
        if (transactional) {
          ok = Control(txn, "begin") && Rewrite(file, data, false) && Control(txn, "commit");
        } else {
          ok = Rewrite(file, data, true);
        }
        const double seconds = ok ? std::chrono::duration<double>(Clock::now() - t0).count() : -1;
        if (::write(pipe_fds[1], &seconds, sizeof seconds) != sizeof seconds || !ok) _exit(1);
      }
      _exit(0);
    }
    ::close(pipe_fds[1]);
    if (pid < 0) return run;
    children.emplace_back(pid, pipe_fds[0]);
  }
  bool ok = true;
  for (auto& [pid, fd] : children) {
    double seconds;
    while (::read(fd, &seconds, sizeof seconds) == sizeof seconds) {
      if (seconds < 0) ok = false;
      run.latencies.push_back(seconds);
    }
    ::close(fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  run.wall = std::chrono::duration<double>(Clock::now() - start).count();
  run.ok = ok && run.latencies.size() == static_cast<size_t>(sessions * rounds);
  return run;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", kName, what.c_str());
  return 1;
}

}  // namespace

int RunBenchTxn(int argc, char** argv) {
  po::options_description opts("usage: sopfs bench txn [OPTIONS]\n\noptions");
  opts.add_options()("help,h", "show this help")(
      "json", "print the figures as one JSON object on the last line")(
      "dir", po::value<std::string>()->default_value("/var/tmp"),
      "work in a fresh folder inside DIR (volume, mount point and native folder on the same "
      "disk); removed afterwards")("rounds", po::value<int>()->default_value(200),
                                   "transactions per measurement (split among the sessions)");
  po::variables_map vm;
  if (auto done = ParseCommandLine(kName, opts, argc, argv, vm)) return *done;
  const bool json = vm.count("json") > 0;
  const int rounds = vm["rounds"].as<int>();
  if (rounds < 8 || rounds > 1000000) {
    std::fprintf(stderr, "%s: --rounds needs a number from 8 to 1000000\n", kName);
    return 2;
  }
  auto work = WorkDir::Make(vm["dir"].as<std::string>());
  if (!work.ok()) {
    std::fprintf(stderr, "%s: --dir: %s\n", kName, work.status().ToString().c_str());
    return 2;
  }
  for (const char* sub : {"native", "mnt"}) {
    if (mkdir((*work / sub).c_str(), 0755) != 0) return Fail("cannot make " + (*work / sub));
  }
  std::fprintf(stderr, "formatting and mounting a volume in %s\n", work->path().c_str());
  auto mount = BenchMount::Start({.sopfs = SelfPath(),
                                  .volume = *work / "volume",
                                  .mountpoint = *work / "mnt",
                                  .format_args = {},
                                  .mount_options = "",
                                  .log = *work / "daemon.log"});
  if (!mount.ok()) return Fail(mount.status().ToString());

  struct Measure {
    const char* name;
    bool transactional;
    int sessions;
    Run run;
  };
  std::vector<Measure> measures = {{"sopfs, 1 session", true, 1, {}},
                                   {"native, 1 process", false, 1, {}},
                                   {"sopfs, 8 sessions", true, 8, {}},
                                   {"native, 8 processes", false, 8, {}}};
  for (Measure& m : measures) {
    std::fprintf(stderr, "running %s (%d transactions)\n", m.name, rounds);
    const std::string dir = m.transactional ? *work / "mnt" : *work / "native";
    m.run = RunSessions(dir, m.transactional, m.sessions, rounds / m.sessions);
    if (!m.run.ok) {
      (void)(*mount)->Unmount();
      return Fail(std::string(m.name) +
                  ": a transaction or rewrite failed; daemon log: " + (*mount)->LogTail());
    }
  }
  Result<ProcMemory> memory = ReadProcMemory((*mount)->pid());
  const double rss_mib = memory.ok() ? static_cast<double>(memory->peak_bytes) / 1048576 : 0;
  if (Status st = (*mount)->Unmount(); !st.ok()) return Fail(st.ToString());

  auto per_s = [](const Run& r) { return static_cast<double>(r.latencies.size()) / r.wall; };
  const Run& s1 = measures[0].run;
  const Run& n1 = measures[1].run;
  const Run& s8 = measures[2].run;
  const Run& n8 = measures[3].run;
  std::printf("%-22s %10s %10s %12s\n", "", "p50 ms", "p99 ms", "per second");
  for (const Measure& m : measures) {
    std::printf("%-22s %10.2f %10.2f %12.0f\n", m.name, Percentile(m.run.latencies, 0.5) * 1e3,
                Percentile(m.run.latencies, 0.99) * 1e3, per_s(m.run));
  }
  std::printf("ratio (sopfs / native): 1 session %.2f, 8 sessions %.2f; daemon peak RSS %.0f MiB\n",
              per_s(s1) / per_s(n1), per_s(s8) / per_s(n8), rss_mib);
  if (json) {
    JsonLine j;
    j.Add("commit_p50_ms", Percentile(s1.latencies, 0.5) * 1e3)
        .Add("commit_p99_ms", Percentile(s1.latencies, 0.99) * 1e3)
        .Add("native_p50_ms", Percentile(n1.latencies, 0.5) * 1e3)
        .Add("native_p99_ms", Percentile(n1.latencies, 0.99) * 1e3)
        .Add("txn_per_s_1", per_s(s1))
        .Add("txn_per_s_8", per_s(s8))
        .Add("native_per_s_1", per_s(n1))
        .Add("native_per_s_8", per_s(n8))
        .Add("ratio_1", per_s(s1) / per_s(n1))
        .Add("ratio_8", per_s(s8) / per_s(n8))
        .Add("daemon_peak_rss_mib", rss_mib);
    std::printf("%s\n", j.str().c_str());
  }
  return 0;
}

}  // namespace sopfs::tools
