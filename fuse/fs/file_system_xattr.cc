// FileSystem: extended attributes (user.* and trusted.* stored in the inode record;
// user.sopfs.* virtual and read-only).
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

#include "fuse/fs/file_system.h"
#include "fuse/fs/fs_txn.h"
#include "fuse/fs/set_id_bits.h"
#include "fuse/fs/volume_layout.h"

namespace sopfs {

namespace {
constexpr std::string_view kVirtualXattrPrefix = "user.sopfs.";
// The one virtual attribute that may be set: on an empty directory, it makes a store.
constexpr std::string_view kStoreXattr = "user.sopfs.store";
}  // namespace

Status FileSystem::SetXattr(uint64_t ino, std::string_view name, std::string_view value, int flags,
                            const Caller& c) {
  if (name == kStoreXattr) {
    SOPFS_RETURN_IF_ERROR(CheckChangesAllowed(c));
    auto lock = Enter(c, true);
    if (!lock.ok()) return lock.status();
    Result<InodePtr> dir = Get(c, ino);
    if (!dir.ok()) return dir.status();
    if (flags & XATTR_CREATE) return Status::Error(EEXIST, "attribute exists");
    return MakeStore(*dir, value, c);
  }
  if (name.starts_with(kVirtualXattrPrefix)) {
    return Status::Error(EPERM, "user.sopfs.* attributes are read-only");
  }
  SOPFS_RETURN_IF_ERROR(engine_->RoomForNewData());
  if (!name.starts_with("user.") && !name.starts_with("trusted.")) {
    return Status::Error(EOPNOTSUPP, "only user.* and trusted.* attributes are stored");
  }
  if (name.size() > 255) return Status::Error(ERANGE, "attribute name longer than 255 bytes");
  auto lock = Enter(c, true);
  if (!lock.ok()) return lock.status();
  Result<InodePtr> inode = Get(c, ino);
  if (!inode.ok()) return inode.status();
  auto& xattrs = (*inode)->rec.xattrs;
  auto it = xattrs.find(std::string(name));
  if ((flags & XATTR_CREATE) && it != xattrs.end())
    return Status::Error(EEXIST, "attribute exists");
  if ((flags & XATTR_REPLACE) && it == xattrs.end()) return Status::Error(ENODATA, "no attribute");
  size_t total = name.size() + value.size();
  for (const auto& [n, v] : xattrs) {
    if (n != name) total += n.size() + v.size();
  }
  if (total > kMaxXattrBytes) return Status::Error(ENOSPC, "extended attributes over 64 KiB");
  xattrs[std::string(name)] = std::string(value);
  if (!c.txn) (*inode)->committed.xattrs = xattrs;
  (*inode)->rec.ctime_ns = NowNs();
  MarkDirty(c, *inode);
  return Status::Ok();
}

Result<std::string> FileSystem::GetXattr(uint64_t ino, std::string_view name, const Caller& c) {
  auto lock = Enter(c, false);
  if (!lock.ok()) return lock.status();
  Result<InodePtr> inode = Get(c, ino);
  if (!inode.ok()) return inode.status();
  if (name.starts_with(kVirtualXattrPrefix)) {
    const InodeRecord& r = (*inode)->rec;
    const std::string_view what = name.substr(kVirtualXattrPrefix.size());
    if (what == "version") return std::to_string(r.version);
    const FsStore& store = StoreOf(r.store);
    if (what == "chunk_size") return std::to_string(store.chunk_size);
    if (what == "chunk_count") return std::to_string(r.stored_chunks);
    if (what == "erasure") {
      return store.layout ? store.layout->ToString()
                          : std::to_string(options_.k) + "+" + std::to_string(options_.m);
    }
    if (what == "store") return StoreText(r.store);
    return Status::Error(ENODATA, "no attribute");
  }
  auto it = (*inode)->rec.xattrs.find(std::string(name));
  if (it == (*inode)->rec.xattrs.end()) return Status::Error(ENODATA, "no attribute");
  return it->second;
}

Result<std::vector<std::string>> FileSystem::ListXattr(uint64_t ino, const Caller& c) {
  auto lock = Enter(c, false);
  if (!lock.ok()) return lock.status();
  Result<InodePtr> inode = Get(c, ino);
  if (!inode.ok()) return inode.status();
  std::vector<std::string> names;
  for (const auto& [n, v] : (*inode)->rec.xattrs) names.push_back(n);
  // The kernel refuses user.* attributes of symlinks and special files: listing ones
  // that cannot be read would only make getfattr -d fail.
  const uint32_t type = (*inode)->rec.mode & S_IFMT;
  if (type != S_IFREG && type != S_IFDIR) return names;
  for (const char* what : {"version", "chunk_size", "chunk_count", "erasure", "store"}) {
    names.push_back(std::string(kVirtualXattrPrefix) + what);
  }
  return names;
}

Status FileSystem::RemoveXattr(uint64_t ino, std::string_view name, const Caller& c) {
  if (name.starts_with(kVirtualXattrPrefix)) {
    return Status::Error(EPERM, "user.sopfs.* attributes are read-only");
  }
  auto lock = Enter(c, true);
  if (!lock.ok()) return lock.status();
  Result<InodePtr> inode = Get(c, ino);
  if (!inode.ok()) return inode.status();
  if ((*inode)->rec.xattrs.erase(std::string(name)) == 0) {
    return Status::Error(ENODATA, "no attribute");
  }
  if (!c.txn) (*inode)->committed.xattrs = (*inode)->rec.xattrs;
  (*inode)->rec.ctime_ns = NowNs();
  MarkDirty(c, *inode);
  return Status::Ok();
}

}  // namespace sopfs
