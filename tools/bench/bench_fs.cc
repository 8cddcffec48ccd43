// sopfs bench fs: a mounted sopfs volume against the native file system on the same disk.
//
// In one run it formats a fresh volume in a work folder, mounts it with a child
// `sopfs mount -f` (the daemon), and runs the same workloads on the mount and on a
// native folder next to it (see bench_fs_phases.h): sequential write and read of a big
// file, random 4 KiB reads at depth 1 and 16, the disk bytes of one 4 KiB overwrite +
// fsync and the latency of a series of them at random offsets, small-file creates,
// ls -lR of the tree, a copy of the big file (and out of the mount), and floods of 4 KiB and 64 KiB
// files, with the daemon's peak RSS (for each flood alone too) and the final unmount's
// time.
// It reports the figures, their ratios and the goals (see bench_fs_report.cc). The
// work folder is removed at the end (also on failure) unless --keep.
#include "tools/bench/bench_fs.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fuse/volume/layout_arg.h"
#include "fuse/volume/size_arg.h"
#include "tools/bench/bench_fs_child.h"
#include "tools/bench/bench_fs_mount.h"
#include "tools/bench/bench_fs_phases.h"
#include "tools/bench/bench_fs_report.h"
#include "tools/bench/bench_fs_watchdog.h"
#include "tools/bench/bench_fs_workdir.h"
#include "tools/cli_args.h"

namespace sopfs::tools {
namespace {

constexpr const char* kName = "sopfs bench fs";

namespace po = boost::program_options;

// The command line, checked.
struct FsOptions {
  bool json = false;
  bool keep = false;
  bool native_only = false;  // hidden --native-only, for debugging the native half
  std::string dir;
  uint64_t size = 0;
  uint64_t overwrite_size = 0;
  size_t files = 0;
  size_t flood_files = 0;
  size_t rand_ops = 0;
  size_t overwrites = 0;
  double rand_seconds = 0;
  double stall_seconds = 0;
  ErasureLayout layout{.k = 4, .m = 2};  // what `sopfs format` uses unless told
  uint64_t chunk_size = 1 << 20;
  std::vector<std::string> format_args;  // --ec and --chunk-size, when given
  std::string mount_options;
};

// How the daemon takes requests, as its .sopfs/stats says ("transport").
std::string TransportOf(const std::string& mount_dir) {
  std::ifstream stats(mount_dir + "/.sopfs/stats");
  std::stringstream text;
  text << stats.rdbuf();
  const std::string s = text.str(), tag = "\"transport\":\"";
  const size_t at = s.find(tag);
  if (at == std::string::npos) return "unknown";
  const size_t from = at + tag.size();
  return s.substr(from, s.find('"', from) - from);
}

int BadArgs(const char* what) {
  std::fprintf(stderr, "%s: %s\n", kName, what);
  return 2;
}

// Removes the hidden flag --native-only from argv; returns whether it was there.
bool TakeNativeOnly(int& argc, char** argv) {
  bool found = false;
  int out = 0;
  for (int i = 0; i < argc; ++i) {
    if (i > 0 && !std::strcmp(argv[i], "--native-only")) {
      found = true;
    } else {
      argv[out++] = argv[i];
    }
  }
  argc = out;
  return found;
}

std::optional<uint64_t> FileSize(const po::variables_map& vm, const char* key) {
  auto size = ParseSize(vm[key].as<std::string>());
  if (!size || *size < (1 << 20) || *size % 4096) return std::nullopt;
  return size;
}

// Fills `o` from argv (argv[0] is "fs"). Returns the exit code when the command is done
// already: 0 after --help, 2 after a one-line error on stderr; nullopt to go on.
std::optional<int> ParseFsOptions(int argc, char** argv, FsOptions& o) {
  o.native_only = TakeNativeOnly(argc, argv);
  po::options_description opts("usage: sopfs bench fs [OPTIONS]\n\noptions");
  opts.add_options()("help,h", "show this help")(
      "json", "print the figures as one JSON object on the last line")(
      "dir", po::value<std::string>()->default_value("/var/tmp"),
      "work in a fresh folder inside DIR (volume, mount point and native folder on the same "
      "disk); removed afterwards")(
      "size", po::value<std::string>()->default_value("4G"),
      "size of the big file written, read, read at random and copied (K, M, G suffixes)")(
      "files", po::value<size_t>()->default_value(10000),
      "small files (1 KiB) to create per round (five rounds a side)")(
      "flood-files", po::value<size_t>()->default_value(100000),
      "files per flood of small files (one of 4 KiB, one of 64 KiB files; 0: none)")(
      "rand-ops", po::value<size_t>()->default_value(20000),
      "random 4 KiB reads at each queue depth (1 and 16)")(
      "rand-seconds", po::value<double>()->default_value(30),
      "stop the random reads of one depth after this many seconds")(
      "overwrites", po::value<size_t>()->default_value(1000),
      "durable 4 KiB overwrites (pwrite + fsync) at random offsets, timed one by one; "
      "each side stops after 4 times --rand-seconds (0: none)")(
      "overwrite-size", po::value<std::string>()->default_value("1G"),
      "size of the file the 4 KiB overwrite goes into (the big file when it is as large)")(
      "ec", po::value<std::string>(), "erasure layout K+M for the volume (default: format's, 4+2)")(
      "chunk-size", po::value<std::string>(), "chunk size for the volume (default: format's, 1M)")(
      "stall-seconds", po::value<double>()->default_value(180),
      "kill the daemon if no file operation completes for this long (a hang)")(
      "mount-options", po::value<std::string>()->default_value("io_uring"),
      "-o options for the mount (see sopfs mount --help); the default takes requests "
      "through io_uring where the kernel offers it")(
      "keep", "leave the work folder in place, for debugging");
  po::variables_map vm;
  if (auto done = ParseCommandLine(kName, opts, argc, argv, vm)) return done;

  o.json = vm.count("json") > 0;
  o.keep = vm.count("keep") > 0;
  o.dir = vm["dir"].as<std::string>();
  o.mount_options = vm["mount-options"].as<std::string>();
  auto size = FileSize(vm, "size");
  if (!size) return BadArgs("--size needs a size of at least 1M, a multiple of 4K");
  o.size = *size;
  auto overwrite_size = FileSize(vm, "overwrite-size");
  if (!overwrite_size) {
    return BadArgs("--overwrite-size needs a size of at least 1M, a multiple of 4K");
  }
  o.overwrite_size = *overwrite_size;
  if (vm.count("ec")) {
    auto l = ParseLayout(vm["ec"].as<std::string>());
    if (!l || !l->Validate(l->total()).ok()) {
      return BadArgs("--ec needs K+M with 1<=K<=32, 0<=M<=16");
    }
    o.layout = *l;
    o.format_args.insert(o.format_args.end(), {"--ec", vm["ec"].as<std::string>()});
  }
  if (vm.count("chunk-size")) {
    auto c = ParseSize(vm["chunk-size"].as<std::string>());
    if (!c || *c < (64 << 10) || *c > (64 << 20) || (*c & (*c - 1))) {
      return BadArgs("--chunk-size needs a power of two from 64K to 64M");
    }
    o.chunk_size = *c;
    o.format_args.insert(o.format_args.end(), {"--chunk-size", vm["chunk-size"].as<std::string>()});
  }
  o.files = vm["files"].as<size_t>();
  o.flood_files = vm["flood-files"].as<size_t>();
  o.rand_ops = vm["rand-ops"].as<size_t>();
  o.overwrites = vm["overwrites"].as<size_t>();
  o.rand_seconds = vm["rand-seconds"].as<double>();
  o.stall_seconds = vm["stall-seconds"].as<double>();
  if (o.files < 1) return BadArgs("--files must be at least 1");
  if (o.rand_ops < 1) return BadArgs("--rand-ops must be at least 1");
  if (!(o.rand_seconds > 0) || !(o.stall_seconds > 0)) {
    return BadArgs("--rand-seconds and --stall-seconds must be positive");
  }
  return std::nullopt;
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", kName, what.c_str());
  return 1;
}

// Ok when the disk under `dir` holds what the run writes: the big file and its copy
// (and the overwrite file) natively and erasure coded, the small files, and a margin.
Status CheckFreeSpace(const std::string& dir, const FsOptions& o) {
  const double big = static_cast<double>(o.size);
  const double extra = o.size < o.overwrite_size ? static_cast<double>(o.overwrite_size) : 0.0;
  const double creates = static_cast<double>(o.files) * kCreateRounds;
  const double flood = static_cast<double>(o.flood_files);
  const double files = creates * 4096 + flood * (4096 + 65536);
  const double coded = static_cast<double>(o.layout.total()) / static_cast<double>(o.layout.k);
  const double native = 2 * big + extra + files;
  // A small file's shards take a block each; a 64 KiB one also its coded bytes.
  const double small_files =
      (creates + 2 * flood) * o.layout.total() * 4096 + flood * 65536 * coded;
  const double sopfs = o.native_only ? 0 : (2 * big + extra) * coded + small_files;
  const double need = (native + sopfs) * 1.1 + 256.0 * 1048576;
  struct statvfs vfs {};
  if (statvfs(dir.c_str(), &vfs) != 0) return Status::Error(errno, "statvfs " + dir);
  const double free_bytes = static_cast<double>(vfs.f_bavail) * static_cast<double>(vfs.f_frsize);
  if (free_bytes >= need) return Status::Ok();
  char msg[256];
  std::snprintf(msg, sizeof msg, "the disk of %s has %.1f GiB free, the run needs %.1f GiB",
                dir.c_str(), free_bytes / 1073741824, need / 1073741824);
  return Status::Error(ENOSPC, msg);
}

FsPlan PlanFor(const FsOptions& o, const WorkDir& work) {
  FsPlan plan;
  plan.native_dir = work / "native";
  plan.cache_paths = {work / "volume", work / "native"};
  plan.size = o.size;
  plan.overwrite_size = o.overwrite_size;
  plan.chunk_size = o.chunk_size;
  plan.files = o.files;
  plan.rand_ops = o.rand_ops;
  plan.rand_seconds = o.rand_seconds;
  plan.flood_files = o.flood_files;
  plan.overwrites = o.overwrites;
  return plan;
}

}  // namespace

int RunBenchFs(int argc, char** argv) {
  FsOptions o;
  if (auto done = ParseFsOptions(argc, argv, o)) return *done;
  InstallInterruptHandlers();
  auto work = WorkDir::Make(o.dir);
  if (!work.ok()) {
    std::fprintf(stderr, "%s: --dir: %s\n", kName, work.status().ToString().c_str());
    return 2;
  }
  if (o.keep) work->Keep();
  if (Status st = CheckFreeSpace(work->path(), o); !st.ok()) return Fail(st.ToString());
  for (const char* sub : {"native", "mnt"}) {
    if (mkdir((*work / sub).c_str(), 0755) != 0) return Fail("cannot make " + (*work / sub));
  }

  FsPlan plan = PlanFor(o, *work);
  std::unique_ptr<BenchMount> mount;
  if (!o.native_only) {
    std::fprintf(stderr, "formatting and mounting a volume in %s\n", work->path().c_str());
    auto started = BenchMount::Start({.sopfs = SelfPath(),
                                      .volume = *work / "volume",
                                      .mountpoint = *work / "mnt",
                                      .format_args = o.format_args,
                                      .mount_options = o.mount_options,
                                      .log = *work / "daemon.log"});
    if (!started.ok()) return Fail(started.status().ToString());
    mount = std::move(*started);
    mount->ReadLayout(o.layout, o.chunk_size);
    plan.chunk_size = o.chunk_size;
    plan.mount_dir = *work / "mnt";
    plan.daemon = mount->pid();
    plan.cache_paths.push_back(plan.mount_dir + "/big");
  }

  FsFigures f;
  f.native_only = o.native_only;
  f.size_bytes = o.size;
  f.chunk_size = o.chunk_size;
  f.k = o.layout.k;
  f.m = o.layout.m;
  f.files = o.files;
  f.rand_ops = o.rand_ops;
  f.flood_files = o.flood_files;
  Status ran;
  {
    Watchdog watchdog(plan.daemon, o.stall_seconds);
    plan.watchdog = &watchdog;
    ran = RunFsPhases(plan, f);
  }
  f.mount_options = o.mount_options;
  if (mount) f.transport = TransportOf(plan.mount_dir);
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  f.bench_peak_rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
  const auto unmount_start = std::chrono::steady_clock::now();
  const Status unmounted = mount ? mount->Unmount() : Status::Ok();
  f.unmount_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - unmount_start).count();
  if (!ran.ok()) {
    std::fputc('\n', stderr);  // after a progress line
    if (!unmounted.ok()) {
      std::fprintf(stderr, "%s: unmount: %s\n", kName, unmounted.ToString().c_str());
    } else if (mount) {
      std::fprintf(stderr, "daemon log (end):\n%s\n", mount->LogTail().c_str());
    }
    return Fail(ran.ToString());
  }
  PrintFsTable(f);
  if (o.json) std::printf("%s\n", FsJsonLine(f).c_str());
  std::fflush(stdout);
  if (!unmounted.ok()) return Fail("unmount: " + unmounted.ToString());
  return 0;
}

}  // namespace sopfs::tools
