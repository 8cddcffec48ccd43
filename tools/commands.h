// The sopfs subcommands. Each parses its own options (Boost.Program_options) and
// returns the process exit code: 0 on success, 1 when the work failed, 2 for a bad
// command line (with a one-line message on stderr).
#pragma once

namespace sopfs::tools {

// sopfs bench blob: blob store throughput against plain files on the same disk.
int RunBenchBlob(int argc, char** argv);
// sopfs bench btree: transactional B-Tree insert, read and delete against SQLite.
int RunBenchBtree(int argc, char** argv);

}  // namespace sopfs::tools
