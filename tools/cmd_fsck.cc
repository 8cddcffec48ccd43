// sopfs fsck VOLUME [--repair] [--quick] [--json]: checks (and repairs) a volume that no
// daemon serves. Takes the volume lock, so a mount cannot start meanwhile, and refuses a
// mounted volume (a check beside a live daemon would race its commits and deletions).
//
// What it checks, in order: both registry sides block by block; every blob a registry
// entry points to, all k+m shards of each read and verified (--quick: only that the
// shard files are there); shard files nothing points to (orphans); every B-Tree's
// invariants and registry IDs no tree reaches; then the file system's references
// (names, inodes, link counts, chunks; fuse/fs/fs_check.h). A blob beyond repair (more
// than m shards bad) is listed by what it held: a file's chunk by every path of the
// file, the chunk's index and byte range; a B-Tree node by its tree and key range
// (fuse/fs/fs_check_lost.h). --json lists them ("lost", and "lost_paths").
//
// A check opens the engine read-only: nothing on the volume changes (a commit log
// left by a crash is replayed in memory only; what its recovery would remove is not
// called a problem). --repair opens it as a mount would (recovery runs first).
//
// Exit codes, as e2fsck's: 0 clean, 1 problems found and all fixed, 4 problems left,
// 8 the check could not run (bad volume, mounted, unreadable beyond a problem count).
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "engine/check/check_report.h"
#include "engine/io/posix_env.h"
#include "engine/registry/registry_check.h"
#include "engine/txn/engine.h"
#include "fuse/control/json_text.h"
#include "fuse/fs/fs_check.h"
#include "fuse/fs/fs_check_lost.h"
#include "fuse/fs/volume_layout.h"
#include "fuse/volume/volume_config.h"
#include "tools/cli_args.h"
#include "tools/commands.h"
#include "tools/fsck_progress.h"
#include "tools/volume_lock.h"

namespace sopfs::tools {
namespace {

namespace po = boost::program_options;

constexpr const char* kCommand = "sopfs fsck";
constexpr int kExitClean = 0, kExitFixed = 1, kExitLeft = 4, kExitCannotRun = 8;

int CannotRun(const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", kCommand, message.c_str());
  return kExitCannotRun;
}

std::string CountsJson(const std::map<std::string, uint64_t>& counts) {
  JsonText j;
  for (const auto& [kind, n] : counts) j.Add(kind, n);
  return j.str();
}

// Runs every check; an error means it could not go on.
Status RunChecks(const VolumeConfig& config, bool repair, bool quick, CheckReport* report,
                 FsckProgress* progress) {
  PosixEnv env;
  progress->Phase("registry sides");
  SOPFS_RETURN_IF_ERROR(
      CheckRegistrySides(&env, config.registry_a, config.registry_b, repair, report));
  EngineOptions options = EngineOptionsFor(config);
  options.read_only = !repair;
  options.checkpoint_on_close = repair;
  options.read_repair = false;  // the check repairs what it finds itself
  Result<std::unique_ptr<Engine>> engine = Engine::Open(&env, options);
  if (!engine.ok()) {
    return Status::Error(engine.status().code(),
                         "cannot open the volume's engine: " + engine.status().message());
  }
  Result<VolumeLayout> layout = ReadVolumeLayout(**engine);
  if (!layout.ok()) return layout.status();
  EngineCheckOptions check;
  check.quick = quick;
  check.repair = repair;
  check.trees = VolumeTrees(*layout);
  check.threads = std::max<int>(8, 2 * static_cast<int>(config.data_folders.size()));
  progress->Phase(quick ? "blobs (quick: shard files present)" : "blobs (every shard read)",
                  {"blobs"});
  SOPFS_RETURN_IF_ERROR((*engine)->Check(check, report));
  progress->Phase("file system references", {"inodes", "names", "chunks"});
  FsCheckOptions fs_options;
  fs_options.repair = repair;
  Status checked = CheckFileSystem(**engine, fs_options, report);
  // Blobs beyond repair are named by what they held (after a repair's /lost+found).
  if (!report->lost().empty()) {
    progress->Phase("what the lost blobs held");
    Status named = DescribeLostBlobs(**engine, report);
    if (!named.ok()) {
      std::fprintf(stderr, "%s: lost blobs are listed by ID: %s\n", kCommand,
                   named.ToString().c_str());
    }
  }
  return checked;
}

// The lost blobs for --json: [{"blob", "detail", "held": [{"what", "paths"}]}].
std::string LostJson(const std::vector<LostBlob>& lost) {
  auto strings = [](const std::vector<std::string>& v) {
    std::string out = "[";
    for (const std::string& s : v) out += (out.size() > 1 ? "," : "") + JsonText::Quote(s);
    return out + "]";
  };
  std::string out = "[";
  for (const LostBlob& b : lost) {
    std::string held = "[";
    for (const LostHeld& h : b.held) {
      JsonText one;
      one.Add("what", h.what);
      one.Raw("paths", strings(h.paths));
      held += (held.size() > 1 ? "," : "") + one.str();
    }
    JsonText j;
    j.Add("blob", b.blob);
    j.Add("detail", b.detail);
    j.Add("segment", b.segment);
    j.Raw("held", held + "]");
    out += (out.size() > 1 ? "," : "") + j.str();
  }
  return out + "]";
}

// Every path a lost blob hit, once each, sorted.
std::vector<std::string> LostPaths(const std::vector<LostBlob>& lost) {
  std::set<std::string> paths;
  for (const LostBlob& b : lost) {
    for (const LostHeld& h : b.held) paths.insert(h.paths.begin(), h.paths.end());
  }
  return {paths.begin(), paths.end()};
}

}  // namespace

int RunFsck(int argc, char** argv) {
  po::options_description opts(
      "usage: sopfs fsck VOLUME [--repair] [--quick] [--json]\n\n"
      "Checks a volume that is not mounted: registry sides, every blob's shards and\n"
      "checksums, orphan blobs, B-Trees, and the file system's names, inodes, link\n"
      "counts and chunks. Exit 0 clean, 1 problems fixed, 4 problems left, 8 could not "
      "run.\n\noptions");
  opts.add_options()("help,h", "print this help")(
      "repair",
      "rebuild bad shards from parity, rewrite a bad registry side from the good "
      "one, remove orphan blobs, fix link counts and stray chunks, put unreachable "
      "files into /lost+found")("quick",
                                "skip payload checksums: check that every shard "
                                "file is there, and all metadata")(
      "json", "end with one JSON object: counts per kind of problem, found and fixed");
  po::variables_map vm;
  if (auto done = ParseVolumeCommandLine(kCommand, opts, argc, argv, vm)) return *done;
  const std::string volume = vm["volume"].as<std::string>();
  const bool repair = vm.count("repair") > 0, quick = vm.count("quick") > 0;
  const bool json = vm.count("json") > 0;

  Result<VolumeConfig> config = ReadVolumeConfig(volume);
  if (!config.ok()) return CannotRun(config.status().message());
  Result<int> lock = LockVolume(volume);
  if (!lock.ok()) {
    const bool mounted = lock.status().code() == EBUSY;
    return CannotRun(lock.status().message() +
                     (mounted ? "; unmount it first (fsck does not run beside a daemon)" : ""));
  }

  CheckReport report;
  FsckProgress progress(&report, isatty(STDERR_FILENO) == 1);
  const auto start = std::chrono::steady_clock::now();
  Status ran = RunChecks(*config, repair, quick, &report, &progress);
  progress.Done();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ::close(*lock);

  for (const CheckProblem& p : report.listed()) {
    std::printf("%s %s %s: %s\n", p.fixed ? "fixed" : "FOUND", p.kind.c_str(), p.where.c_str(),
                p.detail.c_str());
  }
  const std::vector<LostBlob> lost = report.lost();
  for (const LostBlob& b : lost) {
    std::printf("FOUND blob-lost %s: %s (blob %s)\n", b.Where().c_str(), b.detail.c_str(),
                b.blob.c_str());
  }
  const uint64_t left = report.left(), fixed = report.repaired();
  const uint64_t listed = report.listed().size() + lost.size();
  if (left + fixed > listed) {
    std::printf("(%llu more problems not listed)\n",
                static_cast<unsigned long long>(left + fixed - listed));
  }
  int code = left > 0 ? kExitLeft : fixed > 0 ? kExitFixed : kExitClean;
  if (!ran.ok()) {
    std::fprintf(stderr, "%s: could not finish: %s\n", kCommand, ran.ToString().c_str());
    code = kExitCannotRun;
  }
  const double mib = static_cast<double>(report.bytes()) / (1 << 20);
  std::printf("%s: %s: %llu problems left, %llu fixed; %.0f MiB read in %.1f s (%.0f MiB/s)\n",
              kCommand, volume.c_str(), static_cast<unsigned long long>(left),
              static_cast<unsigned long long>(fixed), mib, seconds,
              seconds > 0 ? mib / seconds : 0.0);
  if (json) {
    JsonText j;
    j.Add("volume", volume);
    j.Add("exit_code", code);
    j.Add("clean", code == kExitClean);
    j.Add("problems_left", left);
    j.Add("problems_fixed", fixed);
    j.Raw("found", CountsJson(report.found()));
    j.Raw("fixed", CountsJson(report.fixed()));
    j.Raw("checked", CountsJson(report.checked()));
    j.Raw("lost", LostJson(lost));
    std::string paths = "[";
    for (const std::string& p : LostPaths(lost)) {
      paths += (paths.size() > 1 ? "," : "") + JsonText::Quote(p);
    }
    j.Raw("lost_paths", paths + "]");
    j.Add("bytes_read", report.bytes());
    j.Add("seconds", seconds);
    j.Add("mib_s", seconds > 0 ? mib / seconds : 0.0);
    if (!ran.ok()) j.Add("error", ran.ToString());
    std::printf("%s\n", j.str().c_str());
  }
  return code;
}

}  // namespace sopfs::tools
