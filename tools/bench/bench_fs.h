// sopfs bench fs: a mounted volume against the native file system on the same disk.
#pragma once

namespace sopfs::tools {

// Formats and mounts a fresh volume, runs the same file workloads on it and on a native
// folder next to it, and reports the figures and their ratios (see bench_fs.cc).
int RunBenchFs(int argc, char** argv);

}  // namespace sopfs::tools
