// sopfs bench txn: explicit transactions (.sopfs/txn) against the native file system.
#pragma once

namespace sopfs::tools {

// Mounts a fresh volume and measures small transactions (begin, one 4 KiB file
// rewrite, commit) from 1 and 8 sessions, against the same rewrites with fsync on a
// native folder of the same disk (see bench_txn.cc).
int RunBenchTxn(int argc, char** argv);

}  // namespace sopfs::tools
