#include "tools/bench/bench_fs_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

namespace sopfs::tools {
namespace {

void DropFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return;
  (void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

bool WriteDropCaches() {
  const int fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = write(fd, "3", 1) == 1;
  close(fd);
  return ok;
}

}  // namespace

CacheDrop DropPageCache(const std::vector<std::string>& paths) {
  sync();
  if (WriteDropCaches()) return CacheDrop::kDropCaches;
  namespace fs = std::filesystem;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (!fs::is_directory(path, ec)) {
      DropFile(path);
      continue;
    }
    for (auto it = fs::recursive_directory_iterator(path, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it->is_regular_file(ec)) DropFile(it->path().string());
    }
  }
  return CacheDrop::kPerFile;
}

const char* DescribeCacheDrop(CacheDrop how) {
  return how == CacheDrop::kDropCaches ? "/proc/sys/vm/drop_caches"
                                       : "fadvise(DONTNEED) per file (not allowed to write "
                                         "/proc/sys/vm/drop_caches)";
}

}  // namespace sopfs::tools
