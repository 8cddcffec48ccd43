#include "tools/bench/bench_fs_workdir.h"

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "tools/bench/bench_fs_mount.h"

namespace sopfs::tools {

Result<WorkDir> WorkDir::Make(const std::string& parent) {
  char resolved[PATH_MAX];
  if (!realpath(parent.c_str(), resolved)) {
    return Status::Error(errno, "cannot use " + parent + " as the work folder's parent");
  }
  std::string path = std::string(resolved) + "/sopfs-bench-fs-XXXXXX";
  if (!mkdtemp(path.data())) return Status::Error(errno, "cannot make a folder in " + parent);
  return WorkDir(path);
}

WorkDir::~WorkDir() {
  if (path_.empty()) return;
  if (keep_) {
    std::fprintf(stderr, "sopfs bench fs: kept the work folder %s\n", path_.c_str());
    return;
  }
  if (auto mounts = MountsUnder(path_); !mounts.empty()) {
    std::fprintf(stderr, "sopfs bench fs: left %s in place: %s is still mounted\n", path_.c_str(),
                 mounts.front().c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) {
    std::fprintf(stderr, "sopfs bench fs: could not remove %s: %s\n", path_.c_str(),
                 ec.message().c_str());
  }
}

}  // namespace sopfs::tools
