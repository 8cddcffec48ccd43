// sopfs: the command line. Dispatches to one subcommand per concept.
#include <cstdio>
#include <cstring>
#include <string>

#include "tools/bench/bench_fs.h"
#include "tools/bench/bench_txn.h"
#include "tools/commands.h"

namespace {

constexpr const char* kUsage =
    "usage: sopfs COMMAND [ARGS...]\n"
    "\n"
    "commands:\n"
    "  format VOLUME   make a new volume (data, registry and log folders, sopfs.conf)\n"
    "  fsck VOLUME     check a volume that is not mounted (--repair fixes what it can)\n"
    "  status VOLUME   the volume's health, mounted or not\n"
    "  reinstate VOLUME\n"
    "                  bring a restored registry side up to date from the live one\n"
    "  mount [VOLUME] MOUNTPOINT\n"
    "                  serve a volume through FUSE (the default volume without VOLUME)\n"
    "  bench blob      erasure-coded blob store throughput against plain files\n"
    "  bench btree     transactional B-Tree insert, read and delete against SQLite\n"
    "  bench fs        a mounted volume against the native file system\n"
    "  bench fsck      sopfs fsck against a raw read of the data folders\n"
    "  bench mount     mount time by volume size, clean and after kill -9\n"
    "  bench txn       explicit transactions (.sopfs/txn) against native rewrites + fsync\n"
    "\n"
    "Run 'sopfs COMMAND --help' for the options of a command.\n";

constexpr const char* kBenchUsage =
    "usage: sopfs bench WHAT [OPTIONS]\n"
    "\n"
    "benchmarks:\n"
    "  blob   write and read 1 MiB blobs (4+2) against plain files on the same disk\n"
    "  btree  insert, read and delete 100k items in durable transactions against SQLite\n"
    "  fs     file workloads on a mounted volume against the native file system\n"
    "  fsck   sopfs fsck's read rate against a raw read of the same data folders\n"
    "  mount  mount time at 1M files and a 10 TB registry, clean and after kill -9\n"
    "  txn    small transactions from 1 and 8 sessions against native rewrites + fsync\n"
    "\n"
    "Run 'sopfs bench WHAT --help' for the options of a benchmark.\n";

bool IsHelp(const char* arg) { return !std::strcmp(arg, "--help") || !std::strcmp(arg, "-h"); }

int RunBench(int argc, char** argv) {
  if (argc < 1 || IsHelp(argv[0])) {
    std::fputs(kBenchUsage, argc < 1 ? stderr : stdout);
    return argc < 1 ? 2 : 0;
  }
  const std::string what = argv[0];
  if (what == "blob") return sopfs::tools::RunBenchBlob(argc, argv);
  if (what == "btree") return sopfs::tools::RunBenchBtree(argc, argv);
  if (what == "fs") return sopfs::tools::RunBenchFs(argc, argv);
  if (what == "fsck") return sopfs::tools::RunBenchFsck(argc, argv);
  if (what == "mount") return sopfs::tools::RunBenchMount(argc, argv);
  if (what == "txn") return sopfs::tools::RunBenchTxn(argc, argv);
  std::fprintf(stderr, "sopfs bench: unknown benchmark '%s' (try 'sopfs bench --help')\n",
               what.c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  if (IsHelp(argv[1])) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::puts("sopfs 0.1.0");
    return 0;
  }
  const std::string command = argv[1];
  // Subcommands get argv from their own name on (Boost.Program_options skips argv[0]).
  if (command == "bench") return RunBench(argc - 2, argv + 2);
  if (command == "format") return sopfs::tools::RunFormat(argc - 1, argv + 1);
  if (command == "fsck") return sopfs::tools::RunFsck(argc - 1, argv + 1);
  if (command == "status") return sopfs::tools::RunStatus(argc - 1, argv + 1);
  if (command == "reinstate") return sopfs::tools::RunReinstate(argc - 1, argv + 1);
  if (command == "mount") return sopfs::tools::RunMount(argc - 1, argv + 1);
  std::fprintf(stderr, "sopfs: unknown command '%s' (try 'sopfs --help')\n", command.c_str());
  return 2;
}
