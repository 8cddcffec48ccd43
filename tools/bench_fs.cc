// sopfs bench fs: a mounted sopfs volume against the native file system on the same disk.
//
// In one run it formats a fresh volume in a work folder, mounts it with a child
// `sopfs mount -f` (the daemon), and runs the same workloads on the mount and on a
// native folder next to it (see bench_fs_phases.h): sequential write and read of a big
// file, random 4 KiB reads at depth 1 and 16, the disk bytes of one 4 KiB overwrite +
// fsync, small-file creates, and a copy of the big file, with the daemon's peak RSS.
// It reports the figures, their ratios and the goals: sequential write >= 0.6
// and read >= 0.7 of native (write compared in disk bytes/s, parity counted), one
// overwrite writes at most one chunk's shards + 256 KiB, creates >= 0.2 of native, and
// the daemon stays under 512 MiB. The work folder is removed at the end (also on
// failure) unless --keep.
#include "tools/bench_fs.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "tools/bench_fs_mount.h"
#include "tools/bench_fs_phases.h"
#include "tools/bench_fs_report.h"
#include "tools/bench_fs_watchdog.h"
#include "tools/bench_fs_workdir.h"
#include "tools/cli_args.h"
#include "tools/size_arg.h"

namespace sopfs::tools {
namespace {

namespace po = boost::program_options;

constexpr const char* kName = "sopfs bench fs";

int BadArgs(const char* what) {
  std::fprintf(stderr, "%s: %s\n", kName, what);
  return 2;
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "%s: %s\n", kName, what.c_str());
  return 1;
}

// Removes the hidden debugging flag --native-only from argv; returns whether it was there.
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

std::string SelfPath() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "/proc/self/exe";
}

// Bytes the run puts on the disk of `dir`, with a margin for metadata.
double NeededBytes(const FsPlan& plan, const ErasureLayout& layout, bool native_only) {
  const double big = static_cast<double>(plan.size);
  const double extra =
      plan.size < plan.overwrite_size ? static_cast<double>(plan.overwrite_size) : 0.0;
  const double files = static_cast<double>(plan.files) * 4096;
  const double native = 2 * big + extra + files;
  const double coded = static_cast<double>(layout.total()) / static_cast<double>(layout.k);
  const double sopfs = native_only ? 0 : (2 * big + extra) * coded + files * layout.total();
  return (native + sopfs) * 1.1 + 256.0 * 1048576;
}

}  // namespace

int RunBenchFs(int argc, char** argv) {
  const bool native_only = TakeNativeOnly(argc, argv);
  po::options_description opts("usage: sopfs bench fs [OPTIONS]\n\noptions");
  opts.add_options()("help,h", "show this help")(
      "json", "print the figures as one JSON object on the last line")(
      "dir", po::value<std::string>()->default_value("/var/tmp"),
      "work in a fresh folder inside DIR (volume, mount point and native folder on the same "
      "disk); removed afterwards")(
      "size", po::value<std::string>()->default_value("4G"),
      "size of the big file written, read, read at random and copied (K, M, G suffixes)")(
      "files", po::value<size_t>()->default_value(10000), "small files (1 KiB) to create")(
      "rand-ops", po::value<size_t>()->default_value(20000),
      "random 4 KiB reads at each queue depth (1 and 16)")(
      "rand-seconds", po::value<double>()->default_value(30),
      "stop the random reads of one depth after this many seconds")(
      "overwrite-size", po::value<std::string>()->default_value("1G"),
      "size of the file the 4 KiB overwrite goes into (the big file when it is as large)")(
      "ec", po::value<std::string>(), "erasure layout K+M for the volume (default: format's, 4+2)")(
      "chunk-size", po::value<std::string>(), "chunk size for the volume (default: format's, 1M)")(
      "stall-seconds", po::value<double>()->default_value(180),
      "kill the daemon if no file operation completes for this long (a hang)")(
      "keep", "leave the work folder in place, for debugging");
  po::variables_map vm;
  if (auto done = ParseCommandLine(kName, opts, argc, argv, vm)) return *done;

  const bool json = vm.count("json") > 0;
  auto size = ParseSize(vm["size"].as<std::string>());
  auto overwrite_size = ParseSize(vm["overwrite-size"].as<std::string>());
  if (!size || *size < (1 << 20) || *size % 4096) {
    return BadArgs("--size needs a size of at least 1M, a multiple of 4K");
  }
  if (!overwrite_size || *overwrite_size < (1 << 20) || *overwrite_size % 4096) {
    return BadArgs("--overwrite-size needs a size of at least 1M, a multiple of 4K");
  }
  ErasureLayout layout{4, 2};
  uint64_t chunk_size = 1 << 20;
  std::vector<std::string> format_args;
  if (vm.count("ec")) {
    auto l = ParseLayout(vm["ec"].as<std::string>());
    if (!l || !l->Validate(ErasureLayout::kMaxData + ErasureLayout::kMaxParity).ok()) {
      return BadArgs("--ec needs K+M with 1<=K<=32, 0<=M<=16");
    }
    layout = *l;
    format_args.insert(format_args.end(), {"--ec", vm["ec"].as<std::string>()});
  }
  if (vm.count("chunk-size")) {
    auto c = ParseSize(vm["chunk-size"].as<std::string>());
    if (!c || *c < 4096) return BadArgs("--chunk-size needs a size of at least 4K");
    chunk_size = *c;
    format_args.insert(format_args.end(), {"--chunk-size", vm["chunk-size"].as<std::string>()});
  }
  if (vm["files"].as<size_t>() < 1) return BadArgs("--files must be at least 1");
  if (vm["rand-ops"].as<size_t>() < 1) return BadArgs("--rand-ops must be at least 1");
  if (!(vm["rand-seconds"].as<double>() > 0) || !(vm["stall-seconds"].as<double>() > 0)) {
    return BadArgs("--rand-seconds and --stall-seconds must be positive");
  }

  InstallInterruptHandlers();
  auto work = WorkDir::Make(vm["dir"].as<std::string>());
  if (!work.ok()) return BadArgs(work.status().ToString().c_str());
  if (vm.count("keep")) work->Keep();

  FsPlan plan;
  plan.size = *size;
  plan.overwrite_size = *overwrite_size;
  plan.chunk_size = chunk_size;
  plan.files = vm["files"].as<size_t>();
  plan.rand_ops = vm["rand-ops"].as<size_t>();
  plan.rand_seconds = vm["rand-seconds"].as<double>();
  plan.native_dir = *work / "native";
  plan.cache_paths = {*work / "volume", *work / "native"};
  struct statvfs vfs {};
  if (statvfs(work->path().c_str(), &vfs) == 0) {
    const double free_bytes = static_cast<double>(vfs.f_bavail) * vfs.f_frsize;
    const double need = NeededBytes(plan, layout, native_only);
    if (free_bytes < need) {
      return Fail("the disk of " + work->path() + " has " +
                  std::to_string(free_bytes / 1073741824) + " GiB free, the run needs " +
                  std::to_string(need / 1073741824) + " GiB");
    }
  }
  for (const char* sub : {"native", "mnt"}) {
    if (mkdir((*work / sub).c_str(), 0755) != 0) return Fail("cannot make " + (*work / sub));
  }

  std::unique_ptr<BenchMount> mount;
  if (!native_only) {
    std::fprintf(stderr, "formatting and mounting a volume in %s\n", work->path().c_str());
    auto started = BenchMount::Start({.sopfs = SelfPath(),
                                      .volume = *work / "volume",
                                      .mountpoint = *work / "mnt",
                                      .format_args = format_args,
                                      .log = *work / "daemon.log"});
    if (!started.ok()) return Fail(started.status().ToString());
    mount = std::move(*started);
    mount->ReadLayout(layout, chunk_size);
    plan.chunk_size = chunk_size;
    plan.mount_dir = *work / "mnt";
    plan.daemon = mount->pid();
    plan.cache_paths.push_back(plan.mount_dir + "/big");
  }

  FsFigures f;
  f.native_only = native_only;
  f.size_bytes = plan.size;
  f.chunk_size = chunk_size;
  f.k = layout.k;
  f.m = layout.m;
  f.files = plan.files;
  f.rand_ops = plan.rand_ops;
  Status ran;
  {
    Watchdog watchdog(plan.daemon, vm["stall-seconds"].as<double>());
    plan.watchdog = &watchdog;
    ran = RunFsPhases(plan, f);
  }
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  f.bench_peak_rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
  const Status unmounted = mount ? mount->Unmount() : Status::Ok();
  if (!ran.ok()) {
    if (mount) std::fprintf(stderr, "daemon log (end):\n%s\n", mount->LogTail().c_str());
    if (!unmounted.ok())
      std::fprintf(stderr, "%s: unmount: %s\n", kName, unmounted.ToString().c_str());
    return Fail(ran.ToString());
  }
  PrintFsTable(f);
  if (json) std::printf("%s\n", FsJsonLine(f).c_str());
  std::fflush(stdout);
  if (!unmounted.ok()) return Fail("unmount: " + unmounted.ToString());
  return 0;
}

}  // namespace sopfs::tools
