// FileSystem: the inode table (inodes loaded on demand, lookup references, dirty and
// doomed inodes), names in directories, and the attribute calls (Lookup, Forget, GetAttr,
// SetAttr). See fuse/fs/file_system.h for the layout and the commit units.
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

struct timespec ToTimespec(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    ts.tv_sec -= 1;
  }
  return ts;
}

// The attribute part of a setattr (mode, owner, times); true when it changed any.
bool ApplyAttrs(const AttrChange& change, InodeRecord& r) {
  const int64_t now = NowNs();
  const uint32_t mode_before = r.mode;
  if (change.mode) r.mode = (r.mode & S_IFMT) | (*change.mode & 07777);
  if (change.drop_set_id) {
    r.mode =
        change.uid || change.gid ? ModeAfterOwnerChange(r.mode) : ModeAfterContentChange(r.mode);
  }
  if (change.uid) r.uid = *change.uid;
  if (change.gid) r.gid = *change.gid;
  if (change.atime_ns) r.atime_ns = *change.atime_ns == AttrChange::kNow ? now : *change.atime_ns;
  if (change.mtime_ns) r.mtime_ns = *change.mtime_ns == AttrChange::kNow ? now : *change.mtime_ns;
  if (r.mode == mode_before && !change.uid && !change.gid && !change.atime_ns && !change.mtime_ns &&
      !change.mode) {
    return false;
  }
  r.ctime_ns = now;
  return true;
}

}  // namespace

Result<FileSystem::InodePtr> FileSystem::GetUnlocked(uint64_t ino) {
  std::lock_guard lock(mu_);
  return Get(ino);
}

// ---- inodes and names ----

Status FileSystem::CheckChangesAllowed(const Caller& c) {
  if (!c.changes_refused) return Status::Ok();
  return Status::Error(ESTALE,
                       "the session's transaction was rolled back; write rollback or begin to "
                       ".sopfs/txn first");
}

Result<std::unique_lock<std::mutex>> FileSystem::Enter(const Caller& c, bool write,
                                                       bool namespace_op) {
  if (write) SOPFS_RETURN_IF_ERROR(CheckChangesAllowed(c));
  if (c.txn == nullptr) return std::unique_lock<std::mutex>(mu_);
  std::unique_lock<std::mutex> lock(c.txn->mu);
  if (c.txn->ended) return Status::Error(ESTALE, "the transaction of this request has ended");
  if (write && c.txn->readonly) {
    return Status::Error(EROFS, "the session's transaction is read-only");
  }
  c.txn->Touch();
  if (write && namespace_op) ++c.txn->namespace_ops;
  return lock;
}

Result<FileSystem::InodePtr> FileSystem::Get(const Caller& c, uint64_t ino) {
  return c.txn ? TxnGet(*c.txn, ino) : Get(ino);
}

// mu_ held.
Result<FileSystem::InodePtr> FileSystem::Get(uint64_t ino) {
  auto it = inodes_.find(ino);
  if (it != inodes_.end()) return it->second;
  if (ino == 0) return Status::Error(ENOENT, "inode 0");
  auto txn = engine_->Begin(TxnMode::kReader);
  Result<TxnTree*> tree = txn->Tree(inode_tree_);
  if (!tree.ok()) return tree.status();
  Result<std::string> bytes = (*tree)->Find(InodeKey(ino));
  if (!bytes.ok()) {
    if (bytes.status().code() == ENOENT) {
      return Status::Error(ENOENT, "inode " + std::to_string(ino) + " does not exist");
    }
    std::fprintf(stderr, "sopfs: inode %llu: %s\n", static_cast<unsigned long long>(ino),
                 bytes.status().ToString().c_str());
    return bytes.status();
  }
  Result<InodeRecord> rec = InodeRecord::Decode(*bytes, ino);
  if (!rec.ok()) {
    std::fprintf(stderr, "sopfs: %s\n", rec.status().ToString().c_str());
    return rec.status();
  }
  auto inode = std::make_shared<Inode>();
  inode->ino = ino;
  inode->rec = std::move(*rec);
  inode->committed = inode->rec;
  if (auto parked = parked_lookups_.find(ino); parked != parked_lookups_.end()) {
    inode->lookups = parked->second;
    parked_lookups_.erase(parked);
  }
  inodes_[ino] = inode;
  return inode;
}

Result<std::optional<NameEntry>> FileSystem::FindEntry(const Caller& c, uint64_t parent,
                                                       std::string_view name) {
  const std::string key = DirEntryKey(parent, name);
  Result<std::string> bytes = std::string();
  if (c.txn) {
    bytes = c.txn->names->Find(key);
  } else {
    auto dirty = dirty_entries_.find(key);
    if (dirty != dirty_entries_.end()) return dirty->second;
    if (inflight_) {
      auto flying = inflight_->entries.find(key);
      if (flying != inflight_->entries.end()) return flying->second;
    }
    auto txn = engine_->Begin(TxnMode::kReader);
    Result<TxnTree*> tree = txn->Tree(names_tree_);
    if (!tree.ok()) return tree.status();
    bytes = (*tree)->Find(key);
  }
  if (!bytes.ok()) {
    if (bytes.status().code() == ENOENT) return std::optional<NameEntry>();
    return bytes.status();
  }
  std::optional<NameEntry> entry = DecodeNameEntry(*bytes);
  if (!entry) {
    std::fprintf(stderr, "sopfs: directory %llu: entry '%.*s' is damaged\n",
                 static_cast<unsigned long long>(parent), static_cast<int>(name.size()),
                 name.data());
    return Status::Error(EIO, "damaged directory entry");
  }
  if (c.txn) c.txn->found_at.try_emplace(entry->ino, parent, std::string(name));
  return entry;
}

Result<FileSystem::InodePtr> FileSystem::GetDir(const Caller& c, uint64_t ino) {
  Result<InodePtr> dir = Get(c, ino);
  if (!dir.ok()) return dir.status();
  if (!S_ISDIR((*dir)->rec.mode)) return Status::Error(ENOTDIR, "not a directory");
  if ((*dir)->rec.nlink == 0) return Status::Error(ENOENT, "directory was removed");
  return dir;
}

Status FileSystem::PutEntry(const Caller& c, uint64_t parent, std::string_view name,
                            const NameEntry& entry) {
  std::string key = DirEntryKey(parent, name);
  if (c.txn) {
    c.txn->names_written.emplace(parent, std::string(name));
    c.txn->found_at[entry.ino] = {parent, std::string(name)};
    return c.txn->names->Upsert(key, EncodeNameEntry(entry));
  }
  journal_names_.insert(key);
  dirty_entries_[std::move(key)] = entry;
  return Status::Ok();
}

Status FileSystem::DropEntry(const Caller& c, uint64_t parent, std::string_view name) {
  std::string key = DirEntryKey(parent, name);
  if (c.txn) {
    c.txn->names_written.emplace(parent, std::string(name));
    return c.txn->names->Remove(key);
  }
  journal_names_.insert(key);
  dirty_entries_[std::move(key)] = std::nullopt;
  return Status::Ok();
}

void FileSystem::MarkDirty(const Caller& c, const InodePtr& inode) {
  if (c.txn) {
    c.txn->dirty.insert(inode->ino);
    return;
  }
  MarkDirty(inode);
}

void FileSystem::MarkDirty(const InodePtr& inode) {
  dirty_inodes_.insert(inode->ino);
  journal_inodes_.insert(inode->ino);
}

void FileSystem::MarkDoomed(uint64_t ino) {
  doomed_.insert(ino);
  journal_doomed_.insert(ino);
  DropSmall(ino);  // deleted: its content goes
  // Its room comes back at once, not a commit interval later (the committer then
  // checkpoints, which removes the blobs): as on a local file system.
  CommitSoon();
}

void FileSystem::DropLink(const Caller& c, const InodePtr& inode) {
  if (inode->rec.nlink > 0) --inode->rec.nlink;
  inode->rec.ctime_ns = NowNs();
  if (S_ISDIR(inode->rec.mode)) inode->rec.nlink = 0;
  MarkDirty(c, inode);
  if (inode->rec.nlink != 0) return;
  if (c.txn) {
    c.txn->removed.insert(inode->ino);  // deleted by the shared state after the commit
  } else if (inode->open == 0) {
    MarkDoomed(inode->ino);
  }
}

void FileSystem::AddLookup(const Caller& c, Inode& inode) {
  if (!c.txn) ++inode.lookups;
}

Status FileSystem::NotFound(std::string_view name) {
  return Status::Error(ENOENT, "no entry named '" + std::string(name) + "'");
}

Status FileSystem::CheckName(std::string_view name) {
  if (name.size() > kMaxNameLength) {
    return Status::Error(ENAMETOOLONG, "name longer than 255 bytes");
  }
  if (name.empty() || name.find('/') != std::string_view::npos || name == "." || name == "..") {
    return Status::Error(EINVAL, "invalid name");
  }
  return Status::Ok();
}

struct stat FileSystem::StatOf(Inode& inode) {
  struct stat st {};
  const InodeRecord& r = inode.rec;
  st.st_ino = inode.ino;
  st.st_mode = r.mode;
  st.st_nlink = r.nlink;
  st.st_uid = r.uid;
  st.st_gid = r.gid;
  st.st_rdev = r.rdev;
  st.st_size = static_cast<off_t>(S_ISLNK(r.mode) ? r.symlink.size() : r.size);
  const uint64_t chunk_size = StoreOf(r.store).chunk_size;
  st.st_blksize = static_cast<blksize_t>(chunk_size);
  const uint64_t stored =
      std::min<uint64_t>(r.stored_chunks * chunk_size, (r.size + 4095) / 4096 * 4096);
  st.st_blocks = static_cast<blkcnt_t>(S_ISDIR(r.mode) ? 8 : stored / 512);
  st.st_atim = ToTimespec(r.atime_ns);
  st.st_mtim = ToTimespec(r.mtime_ns);
  st.st_ctim = ToTimespec(r.ctime_ns);
  return st;
}

// The caller's lock is held (mu_, or the transaction's).
Result<FileSystem::InodePtr> FileSystem::NewInode(uint32_t mode, uint64_t rdev, uint32_t store,
                                                  const Caller& caller) {
  // A full disk refuses new files, as new data; deletions still go through.
  SOPFS_RETURN_IF_ERROR(engine_->RoomForNewData());
  auto inode = std::make_shared<Inode>();
  if (caller.txn) {
    std::lock_guard lock(mu_);  // numbers come from the shared counter: never reused
    inode->ino = next_ino_++;
  } else {
    inode->ino = next_ino_++;
  }
  const int64_t now = NowNs();
  InodeRecord& r = inode->rec;
  r.mode = mode;
  r.uid = caller.uid;
  r.gid = caller.gid;
  r.nlink = S_ISDIR(mode) ? 2 : 1;
  r.rdev = rdev;
  r.store = store;
  r.atime_ns = r.mtime_ns = r.ctime_ns = now;
  inode->committed = r;
  if (caller.txn) {
    caller.txn->table[inode->ino] = inode;
    caller.txn->created.insert(inode->ino);
  } else {
    inodes_[inode->ino] = inode;
  }
  MarkDirty(caller, inode);
  return inode;
}

// ---- namespace operations ----

Result<FileSystem::Child> FileSystem::FindChild(const Caller& c, uint64_t parent,
                                                std::string_view name) {
  if (name.size() > kMaxNameLength) {
    return Status::Error(ENAMETOOLONG, "name longer than 255 bytes");
  }
  Result<InodePtr> dir = GetDir(c, parent);
  if (!dir.ok()) return dir.status();
  Result<std::optional<NameEntry>> entry = FindEntry(c, parent, name);
  if (!entry.ok()) return entry.status();
  if (!*entry) return NotFound(name);
  Result<InodePtr> inode = Get(c, (*entry)->ino);
  if (!inode.ok()) return inode.status();
  return Child{*dir, *inode};
}

Result<struct stat> FileSystem::Lookup(uint64_t parent, std::string_view name, const Caller& c) {
  auto lock = Enter(c, false);
  if (!lock.ok()) return lock.status();
  Result<Child> child = FindChild(c, parent, name);
  if (!child.ok()) return child.status();
  AddLookup(c, *child->inode);
  return StatOf(*child->inode);
}

void FileSystem::Forget(uint64_t ino, uint64_t count) {
  std::lock_guard lock(mu_);
  auto it = inodes_.find(ino);
  if (it != inodes_.end()) {
    it->second->lookups -= std::min(count, it->second->lookups);
    return;
  }
  auto parked = parked_lookups_.find(ino);
  if (parked == parked_lookups_.end()) return;
  parked->second -= std::min(count, parked->second);
  if (parked->second == 0) parked_lookups_.erase(parked);
}

Result<struct stat> FileSystem::GetAttr(uint64_t ino, const Caller& c) {
  auto lock = Enter(c, false);
  if (!lock.ok()) return lock.status();
  Result<InodePtr> inode = Get(c, ino);
  if (!inode.ok()) return inode.status();
  return StatOf(**inode);
}

Result<struct stat> FileSystem::SetAttr(uint64_t ino, const AttrChange& change,
                                        const Caller& caller) {
  // Permission checks are the kernel's (default_permissions).
  SOPFS_RETURN_IF_ERROR(CheckChangesAllowed(caller));
  if (caller.txn) {
    auto lock = Enter(caller, true);
    if (!lock.ok()) return lock.status();
    Result<InodePtr> found = Get(caller, ino);
    if (!found.ok()) return found.status();
    InodePtr inode = *found;
    InodeRecord& r = inode->rec;
    if (change.size) {
      if (!S_ISREG(r.mode)) return Status::Error(EINVAL, "truncate of a non-regular file");
      SOPFS_RETURN_IF_ERROR(TxnStartContent(*caller.txn, *inode));
      const uint64_t before = inode->content->size();
      Status st = inode->content->Truncate(*change.size);
      r.size = inode->content->size();
      r.stored_chunks = inode->content->stored_chunks();
      if (!st.ok()) return st;
      ReleasePromisesOnCut(ino, before, *change.size);
      r.mtime_ns = r.ctime_ns = NowNs();
    }
    ApplyAttrs(change, r);
    MarkDirty(caller, inode);
    return StatOf(*inode);
  }
  Result<InodePtr> found = GetUnlocked(ino);
  if (!found.ok()) return found.status();
  InodePtr inode = *found;
  if (change.size) {
    if (!S_ISREG(inode->rec.mode)) return Status::Error(EINVAL, "truncate of a non-regular file");
    std::unique_lock content(inode->content_mu);
    SOPFS_RETURN_IF_ERROR(StartContent(*inode));
    const uint64_t before = inode->content->size();
    SOPFS_RETURN_IF_ERROR(inode->content->Truncate(*change.size));
    ReleasePromisesOnCut(ino, before, *change.size);
    bool commit_now;
    {
      std::lock_guard lock(mu_);
      inode->rec.size = inode->content->size();
      inode->rec.stored_chunks = inode->content->stored_chunks();
      inode->rec.mtime_ns = inode->rec.ctime_ns = NowNs();
      ++inode->rec.version;
      // Truncate by path is a namespace operation (SPEC §2): it commits now, in order,
      // with whatever else of the file is pending. Through a writable handle it is one
      // of that handle's changes, committed at its close or fsync.
      commit_now = !change.via_handle || inode->open_writable == 0;
    }
    content.unlock();
    if (commit_now) SOPFS_RETURN_IF_ERROR(CommitFile(inode));
  }
  std::lock_guard lock(mu_);
  InodeRecord& r = inode->rec;
  if (ApplyAttrs(change, r)) {
    if (change.mtime_ns) inode->committed.mtime_ns = r.mtime_ns;
    MarkDirty(inode);
  }
  return StatOf(*inode);
}

}  // namespace sopfs
