// FileSystem: the namespace operations (mknod/mkdir/create, symlink, link, unlink,
// rmdir, rename, readlink, readdir). See fuse/fs/file_system.h for the commit units.
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

Result<struct stat> FileSystem::MakeNode(uint64_t parent, std::string_view name, uint32_t mode,
                                         uint64_t rdev, const Caller& caller) {
  SOPFS_RETURN_IF_ERROR(CheckName(name));
  auto lock = Enter(caller, true);
  if (!lock.ok()) return lock.status();
  Result<InodePtr> dir = GetDir(caller, parent);
  if (!dir.ok()) return dir.status();
  Result<std::optional<NameEntry>> existing = FindEntry(caller, parent, name);
  if (!existing.ok()) return existing.status();
  if (*existing) return Status::Error(EEXIST, "'" + std::string(name) + "' exists");
  Caller owner = caller;
  if ((*dir)->rec.mode & S_ISGID) {
    owner.gid = (*dir)->rec.gid;  // BSD group semantics under a setgid directory
    if (S_ISDIR(mode)) mode |= S_ISGID;
  }
  Result<InodePtr> inode = NewInode(mode, rdev, (*dir)->rec.store, owner);
  if (!inode.ok()) return inode.status();
  SOPFS_RETURN_IF_ERROR(PutEntry(caller, parent, name, NameEntry{(*inode)->ino, mode & S_IFMT}));
  InodeRecord& d = (*dir)->rec;
  if (S_ISDIR(mode)) ++d.nlink;
  d.mtime_ns = d.ctime_ns = NowNs();
  MarkDirty(caller, *dir);
  AddLookup(caller, **inode);
  return StatOf(**inode);
}

Result<struct stat> FileSystem::Symlink(uint64_t parent, std::string_view name,
                                        std::string_view target, const Caller& caller) {
  SOPFS_RETURN_IF_ERROR(CheckName(name));
  if (target.empty() || target.size() >= 4096) {
    return Status::Error(ENAMETOOLONG, "symlink target empty or longer than 4095 bytes");
  }
  auto lock = Enter(caller, true);
  if (!lock.ok()) return lock.status();
  Result<InodePtr> dir = GetDir(caller, parent);
  if (!dir.ok()) return dir.status();
  Result<std::optional<NameEntry>> existing = FindEntry(caller, parent, name);
  if (!existing.ok()) return existing.status();
  if (*existing) return Status::Error(EEXIST, "'" + std::string(name) + "' exists");
  Result<InodePtr> inode = NewInode(S_IFLNK | 0777, 0, (*dir)->rec.store, caller);
  if (!inode.ok()) return inode.status();
  (*inode)->rec.symlink.assign(target);
  (*inode)->committed.symlink.assign(target);
  SOPFS_RETURN_IF_ERROR(PutEntry(caller, parent, name, NameEntry{(*inode)->ino, S_IFLNK}));
  (*dir)->rec.mtime_ns = (*dir)->rec.ctime_ns = NowNs();
  MarkDirty(caller, *dir);
  AddLookup(caller, **inode);
  return StatOf(**inode);
}

Result<struct stat> FileSystem::Link(uint64_t ino, uint64_t new_parent, std::string_view new_name,
                                     const Caller& c) {
  SOPFS_RETURN_IF_ERROR(CheckName(new_name));
  auto lock = Enter(c, true);
  if (!lock.ok()) return lock.status();
  Result<InodePtr> dir = GetDir(c, new_parent);
  if (!dir.ok()) return dir.status();
  Result<InodePtr> inode = Get(c, ino);
  if (!inode.ok()) return inode.status();
  if (S_ISDIR((*inode)->rec.mode)) return Status::Error(EPERM, "hard link to a directory");
  if ((*inode)->rec.nlink == 0) return Status::Error(ENOENT, "file was removed");
  if ((*inode)->rec.nlink >= 65000) return Status::Error(EMLINK, "too many links");
  if ((*inode)->rec.store != (*dir)->rec.store) {
    return Status::Error(EXDEV, "a hard link cannot cross stores (their files are laid out apart)");
  }
  Result<std::optional<NameEntry>> existing = FindEntry(c, new_parent, new_name);
  if (!existing.ok()) return existing.status();
  if (*existing) return Status::Error(EEXIST, "'" + std::string(new_name) + "' exists");
  SOPFS_RETURN_IF_ERROR(
      PutEntry(c, new_parent, new_name, NameEntry{ino, (*inode)->rec.mode & S_IFMT}));
  ++(*inode)->rec.nlink;
  const int64_t now = NowNs();
  (*inode)->rec.ctime_ns = now;
  (*dir)->rec.mtime_ns = (*dir)->rec.ctime_ns = now;
  MarkDirty(c, *inode);
  MarkDirty(c, *dir);
  AddLookup(c, **inode);
  return StatOf(**inode);
}

Result<bool> FileSystem::DirEmpty(const Caller& c, uint64_t ino) {
  Result<std::vector<ListedEntry>> entries = ListDirLocked(c, ino, 1);
  if (!entries.ok()) return entries.status();
  return entries->empty();
}

Status FileSystem::Unlink(uint64_t parent, std::string_view name, const Caller& c) {
  auto lock = Enter(c, true);
  if (!lock.ok()) return lock.status();
  Result<Child> child = FindChild(c, parent, name);
  if (!child.ok()) return child.status();
  if (S_ISDIR(child->inode->rec.mode)) return Status::Error(EISDIR, "is a directory");
  SOPFS_RETURN_IF_ERROR(DropEntry(c, parent, name));
  DropLink(c, child->inode);
  child->dir->rec.mtime_ns = child->dir->rec.ctime_ns = NowNs();
  MarkDirty(c, child->dir);
  return Status::Ok();
}

Status FileSystem::Rmdir(uint64_t parent, std::string_view name, const Caller& c) {
  if (name == ".") return Status::Error(EINVAL, "rmdir of '.'");
  auto lock = Enter(c, true);
  if (!lock.ok()) return lock.status();
  Result<Child> child = FindChild(c, parent, name);
  if (!child.ok()) return child.status();
  if (!S_ISDIR(child->inode->rec.mode)) return Status::Error(ENOTDIR, "not a directory");
  Result<bool> empty = DirEmpty(c, child->inode->ino);
  if (!empty.ok()) return empty.status();
  if (!*empty) return Status::Error(ENOTEMPTY, "directory not empty");
  SOPFS_RETURN_IF_ERROR(DropEntry(c, parent, name));
  DropLink(c, child->inode);
  InodeRecord& d = child->dir->rec;
  if (d.nlink > 2) --d.nlink;
  d.mtime_ns = d.ctime_ns = NowNs();
  MarkDirty(c, child->dir);
  return Status::Ok();
}

Status FileSystem::Rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                          std::string_view new_name, unsigned flags, const Caller& c) {
  SOPFS_RETURN_IF_ERROR(CheckName(new_name));
  if (name.size() > kMaxNameLength)
    return Status::Error(ENAMETOOLONG, "name longer than 255 bytes");
  if ((flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) != 0 ||
      (flags & RENAME_NOREPLACE && flags & RENAME_EXCHANGE)) {
    return Status::Error(EINVAL, "unsupported rename flags");
  }
  auto lock = Enter(c, true);
  if (!lock.ok()) return lock.status();
  Result<InodePtr> from_dir = GetDir(c, parent);
  if (!from_dir.ok()) return from_dir.status();
  Result<InodePtr> to_dir = GetDir(c, new_parent);
  if (!to_dir.ok()) return to_dir.status();
  Result<std::optional<NameEntry>> src = FindEntry(c, parent, name);
  if (!src.ok()) return src.status();
  if (!*src) return NotFound(name);
  Result<std::optional<NameEntry>> dst = FindEntry(c, new_parent, new_name);
  if (!dst.ok()) return dst.status();
  if (parent == new_parent && name == new_name) return Status::Ok();
  // Files keep their chunks in their store's tree and layout: moving between stores is
  // a copy, as between file systems (mv copies and removes on EXDEV).
  if ((*from_dir)->rec.store != (*to_dir)->rec.store) {
    return Status::Error(EXDEV, "rename across stores (mv copies the file into the other store)");
  }
  if (*dst && (*dst)->ino == (*src)->ino && !(flags & RENAME_EXCHANGE)) {
    if (flags & RENAME_NOREPLACE) return Status::Error(EEXIST, "target exists");
    return Status::Ok();  // two names of one file: POSIX says do nothing
  }
  Result<InodePtr> moving = Get(c, (*src)->ino);
  if (!moving.ok()) return moving.status();
  const bool moving_dir = S_ISDIR((*moving)->rec.mode);
  const int64_t now = NowNs();
  if (flags & RENAME_EXCHANGE) {
    if (!*dst) return NotFound(new_name);
    Result<InodePtr> other = Get(c, (*dst)->ino);
    if (!other.ok()) return other.status();
    const bool other_dir = S_ISDIR((*other)->rec.mode);
    SOPFS_RETURN_IF_ERROR(PutEntry(c, new_parent, new_name, **src));
    SOPFS_RETURN_IF_ERROR(PutEntry(c, parent, name, **dst));
    if (parent != new_parent && moving_dir != other_dir) {
      // A directory changed parents: move its ".." link count with it.
      InodeRecord& gains = moving_dir ? (*to_dir)->rec : (*from_dir)->rec;
      InodeRecord& loses = moving_dir ? (*from_dir)->rec : (*to_dir)->rec;
      ++gains.nlink;
      if (loses.nlink > 2) --loses.nlink;
    }
    (*moving)->rec.ctime_ns = (*other)->rec.ctime_ns = now;
    MarkDirty(c, *moving);
    MarkDirty(c, *other);
  } else {
    if (*dst) {
      if (flags & RENAME_NOREPLACE) return Status::Error(EEXIST, "target exists");
      Result<InodePtr> victim = Get(c, (*dst)->ino);
      if (!victim.ok()) return victim.status();
      const bool victim_dir = S_ISDIR((*victim)->rec.mode);
      if (moving_dir && !victim_dir) return Status::Error(ENOTDIR, "target is not a directory");
      if (!moving_dir && victim_dir) return Status::Error(EISDIR, "target is a directory");
      if (victim_dir) {
        Result<bool> empty = DirEmpty(c, (*dst)->ino);
        if (!empty.ok()) return empty.status();
        if (!*empty) return Status::Error(ENOTEMPTY, "target directory not empty");
        if ((*to_dir)->rec.nlink > 2) --(*to_dir)->rec.nlink;
      }
      DropLink(c, *victim);
    }
    SOPFS_RETURN_IF_ERROR(PutEntry(c, new_parent, new_name, **src));
    SOPFS_RETURN_IF_ERROR(DropEntry(c, parent, name));
    if (moving_dir && parent != new_parent) {
      ++(*to_dir)->rec.nlink;
      if ((*from_dir)->rec.nlink > 2) --(*from_dir)->rec.nlink;
    }
    (*moving)->rec.ctime_ns = now;
    MarkDirty(c, *moving);
  }
  for (InodePtr* d : {&*from_dir, &*to_dir}) {
    (*d)->rec.mtime_ns = (*d)->rec.ctime_ns = now;
    MarkDirty(c, *d);
  }
  return Status::Ok();
}

Result<std::string> FileSystem::ReadLink(uint64_t ino, const Caller& c) {
  auto lock = Enter(c, false);
  if (!lock.ok()) return lock.status();
  Result<InodePtr> inode = Get(c, ino);
  if (!inode.ok()) return inode.status();
  if (!S_ISLNK((*inode)->rec.mode)) return Status::Error(EINVAL, "not a symbolic link");
  return (*inode)->rec.symlink;
}

Result<std::vector<ListedEntry>> FileSystem::ListDir(uint64_t ino, const Caller& c) {
  auto lock = Enter(c, false);
  if (!lock.ok()) return lock.status();
  Result<InodePtr> dir = GetDir(c, ino);
  if (!dir.ok()) return dir.status();
  return ListDirLocked(c, ino, SIZE_MAX);
}

Result<std::vector<ListedEntry>> FileSystem::ListDirLocked(const Caller& c, uint64_t ino,
                                                           size_t limit) {
  const std::string prefix = DirPrefix(ino);
  std::vector<ListedEntry> out;
  if (c.txn) {
    // The transaction's own tree view: its entries over its snapshot, in key order.
    c.txn->listed.insert(ino);
    auto cursor = c.txn->names->NewCursor();
    SOPFS_RETURN_IF_ERROR(cursor->Seek(prefix));
    while (cursor->Valid() && cursor->key().compare(0, prefix.size(), prefix) == 0 &&
           out.size() < limit) {
      Result<std::string> value = cursor->value();
      if (!value.ok()) return value.status();
      std::optional<NameEntry> entry = DecodeNameEntry(*value);
      if (entry) {
        out.push_back(
            ListedEntry{std::string(cursor->key().substr(prefix.size())), entry->ino, entry->type});
      }
      SOPFS_RETURN_IF_ERROR(cursor->Next());
    }
    return out;
  }
  // Committed entries, then what is in flight and pending on top (by key order).
  std::map<std::string, std::optional<NameEntry>> merged;
  auto overlay = [&](const std::map<std::string, std::optional<NameEntry>>& changes) {
    for (auto it = changes.lower_bound(prefix);
         it != changes.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      merged[it->first] = it->second;
    }
  };
  {
    auto txn = engine_->Begin(TxnMode::kReader);
    Result<TxnTree*> tree = txn->Tree(names_tree_);
    if (!tree.ok()) return tree.status();
    auto cursor = (*tree)->NewCursor();
    SOPFS_RETURN_IF_ERROR(cursor->Seek(prefix));
    // With a limit (emptiness checks) a few more than asked cover pending removals.
    const size_t removals =
        limit == SIZE_MAX ? 0 : dirty_entries_.size() + (inflight_ ? inflight_->entries.size() : 0);
    while (cursor->Valid() && cursor->key().compare(0, prefix.size(), prefix) == 0 &&
           (limit == SIZE_MAX || merged.size() < limit + removals)) {
      Result<std::string> value = cursor->value();
      if (!value.ok()) return value.status();
      merged[std::string(cursor->key())] = DecodeNameEntry(*value);
      SOPFS_RETURN_IF_ERROR(cursor->Next());
    }
  }
  if (inflight_) overlay(inflight_->entries);
  overlay(dirty_entries_);
  for (auto& [key, entry] : merged) {
    if (!entry) continue;
    out.push_back(ListedEntry{key.substr(prefix.size()), entry->ino, entry->type});
    if (out.size() >= limit) break;
  }
  return out;
}

}  // namespace sopfs
