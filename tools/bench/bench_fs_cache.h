// Emptying the page cache between the write and the read phases of `sopfs bench fs`,
// so that reads come from the disk.
//
// With root: `sync; echo 3 > /proc/sys/vm/drop_caches`, which drops every clean page,
// the mount's and the daemon's shard files' alike. Without it: sync, then
// posix_fadvise(DONTNEED) on every file under the given paths (pass the volume's
// folders and the files the benchmark reads). Either way, caches inside the daemon's
// own memory stay: they are part of what is measured.
#pragma once

#include <string>
#include <vector>

namespace sopfs::tools {

enum class CacheDrop { kDropCaches, kPerFile };

CacheDrop DropPageCache(const std::vector<std::string>& paths);

// "/proc/sys/vm/drop_caches" or "fadvise(DONTNEED) per file", for the report.
const char* DescribeCacheDrop(CacheDrop how);

}  // namespace sopfs::tools
