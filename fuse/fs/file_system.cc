#include "fuse/fs/file_system.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <utility>

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

bool IsDir(uint32_t mode) { return S_ISDIR(mode); }

// The attribute part of a setattr (mode, owner, times); true when it changed any.
bool ApplyAttrs(const AttrChange& change, InodeRecord& r) {
  const int64_t now = NowNs();
  const uint32_t mode_before = r.mode;
  if (change.mode) r.mode = (r.mode & S_IFMT) | (*change.mode & 07777);
  if (change.drop_set_id && !IsDir(r.mode)) r.mode = ModeAfterContentChange(r.mode);
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

Status NotFound(std::string_view name) {
  return Status::Error(ENOENT, "no entry named '" + std::string(name) + "'");
}

}  // namespace

FileSystem::FileSystem(Engine* engine, FileSystemOptions options)
    : engine_(engine), options_(std::move(options)) {}

Result<std::unique_ptr<FileSystem>> FileSystem::Open(Engine* engine, FileSystemOptions options) {
  std::unique_ptr<FileSystem> fs(new FileSystem(engine, std::move(options)));
  SOPFS_RETURN_IF_ERROR(fs->LoadVolume());
  fs->committer_ = std::thread([f = fs.get()] { f->CommitterLoop(); });
  return fs;
}

FileSystem::~FileSystem() {
  {
    std::lock_guard lock(committer_mu_);
    stopping_ = true;
  }
  committer_cv_.notify_all();
  if (committer_.joinable()) committer_.join();
  read_ahead_.reset();
  // Content transactions still open roll back when their Inode goes.
  std::lock_guard lock(mu_);
  inodes_.clear();
}

Status FileSystem::LoadVolume() {
  Result<VolumeLayout> layout = ReadVolumeLayout(*engine_);
  if (!layout.ok()) return layout.status();
  inode_tree_ = layout->inode_tree;
  names_tree_ = layout->names_tree;
  chunk_tree_ = layout->chunk_tree;
  chunk_size_ = layout->chunk_size;
  auto txn = engine_->Begin(TxnMode::kReader);
  Result<TxnTree*> inodes = txn->Tree(inode_tree_);
  if (!inodes.ok()) return inodes.status();
  Result<std::string> next = (*inodes)->Find(InodeKey(0));
  if (!next.ok()) return next.status();
  next_ino_ = committed_next_ino_ = ReadBigEndian64(*next);
  // A transaction's commit stores inodes numbered past the stored counter (the shared
  // state writes the counter with its next commit): never hand those numbers out again.
  auto last = (*inodes)->NewCursor();
  SOPFS_RETURN_IF_ERROR(last->SeekForPrev(OrphanPrefix()));
  if (last->Valid() && last->key().size() == 8) {
    next_ino_ = std::max(next_ino_, ReadBigEndian64(last->key()) + 1);
  }
  read_ahead_ = std::make_unique<ReadAhead>(engine_, chunk_tree_, chunk_size_);
  SOPFS_RETURN_IF_ERROR(ReplayJournal());
  return DeleteOrphans();
}

void FileSystem::CommitterLoop() {
  std::unique_lock lock(committer_mu_);
  while (!stopping_) {
    committer_cv_.wait_for(lock, options_.commit_interval);
    if (stopping_) break;
    const bool checkpoint = std::exchange(checkpoint_wanted_, false);
    std::vector<uint64_t> stale = std::exchange(to_invalidate_, {});
    lock.unlock();
    if (options_.invalidate) {
      for (uint64_t ino : stale) options_.invalidate(ino);
    }
    (void)CommitNamespace();  // a failure is logged, and retried next time
    if (checkpoint) {
      Status st = engine_->Checkpoint();
      if (!st.ok()) std::fprintf(stderr, "sopfs: checkpoint failed: %s\n", st.ToString().c_str());
    }
    lock.lock();
  }
}

void FileSystem::WantCheckpoint() {
  std::lock_guard lock(committer_mu_);
  checkpoint_wanted_ = true;
}

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
  if (!IsDir((*dir)->rec.mode)) return Status::Error(ENOTDIR, "not a directory");
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
  small_content_.erase(ino);  // deleted: its content goes
}

void FileSystem::DropLink(const Caller& c, const InodePtr& inode) {
  if (inode->rec.nlink > 0) --inode->rec.nlink;
  inode->rec.ctime_ns = NowNs();
  if (IsDir(inode->rec.mode)) inode->rec.nlink = 0;
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
  st.st_blksize = static_cast<blksize_t>(chunk_size_);
  const uint64_t stored =
      std::min<uint64_t>(r.stored_chunks * chunk_size_, (r.size + 4095) / 4096 * 4096);
  st.st_blocks = static_cast<blkcnt_t>(IsDir(r.mode) ? 8 : stored / 512);
  st.st_atim = ToTimespec(r.atime_ns);
  st.st_mtim = ToTimespec(r.mtime_ns);
  st.st_ctim = ToTimespec(r.ctime_ns);
  return st;
}

// The caller's lock is held (mu_, or the transaction's).
Result<FileSystem::InodePtr> FileSystem::NewInode(uint32_t mode, uint64_t rdev,
                                                  const Caller& caller) {
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
  r.nlink = IsDir(mode) ? 2 : 1;
  r.rdev = rdev;
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
  if (it == inodes_.end()) return;
  it->second->lookups -= std::min(count, it->second->lookups);
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
      Status st = inode->content->Truncate(*change.size);
      r.size = inode->content->size();
      r.stored_chunks = inode->content->stored_chunks();
      if (!st.ok()) return st;
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
    SOPFS_RETURN_IF_ERROR(inode->content->Truncate(*change.size));
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
    if (IsDir(mode)) mode |= S_ISGID;
  }
  Result<InodePtr> inode = NewInode(mode, rdev, owner);
  if (!inode.ok()) return inode.status();
  SOPFS_RETURN_IF_ERROR(PutEntry(caller, parent, name, NameEntry{(*inode)->ino, mode & S_IFMT}));
  InodeRecord& d = (*dir)->rec;
  if (IsDir(mode)) ++d.nlink;
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
  Result<InodePtr> inode = NewInode(S_IFLNK | 0777, 0, caller);
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
  if (IsDir((*inode)->rec.mode)) return Status::Error(EPERM, "hard link to a directory");
  if ((*inode)->rec.nlink == 0) return Status::Error(ENOENT, "file was removed");
  if ((*inode)->rec.nlink >= 65000) return Status::Error(EMLINK, "too many links");
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
  if (IsDir(child->inode->rec.mode)) return Status::Error(EISDIR, "is a directory");
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
  if (!IsDir(child->inode->rec.mode)) return Status::Error(ENOTDIR, "not a directory");
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
  if (*dst && (*dst)->ino == (*src)->ino && !(flags & RENAME_EXCHANGE)) {
    if (flags & RENAME_NOREPLACE) return Status::Error(EEXIST, "target exists");
    return Status::Ok();  // two names of one file: POSIX says do nothing
  }
  Result<InodePtr> moving = Get(c, (*src)->ino);
  if (!moving.ok()) return moving.status();
  const bool moving_dir = IsDir((*moving)->rec.mode);
  const int64_t now = NowNs();
  if (flags & RENAME_EXCHANGE) {
    if (!*dst) return NotFound(new_name);
    Result<InodePtr> other = Get(c, (*dst)->ino);
    if (!other.ok()) return other.status();
    const bool other_dir = IsDir((*other)->rec.mode);
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
      const bool victim_dir = IsDir((*victim)->rec.mode);
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

// ---- extended attributes ----

namespace {
constexpr std::string_view kVirtualXattrPrefix = "user.sopfs.";
}

Status FileSystem::SetXattr(uint64_t ino, std::string_view name, std::string_view value, int flags,
                            const Caller& c) {
  if (name.starts_with(kVirtualXattrPrefix)) {
    return Status::Error(EPERM, "user.sopfs.* attributes are read-only");
  }
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
    if (what == "chunk_size") return std::to_string(chunk_size_);
    if (what == "chunk_count") return std::to_string(r.stored_chunks);
    if (what == "erasure") {
      return std::to_string(options_.k) + "+" + std::to_string(options_.m);
    }
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
  for (const char* what : {"version", "chunk_size", "chunk_count", "erasure"}) {
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

Result<struct statvfs> FileSystem::StatFs() {
  // Every blob puts one shard (1/k of it) in each data folder, so a device holding n of
  // the folders fills n shards per blob: it has room for free * k / n bytes of files.
  // Folders on one device (all of them on one disk, say) are counted together.
  struct Device {
    uint64_t total = 0, free = 0, avail = 0;
    int folders = 0;
  };
  std::map<dev_t, Device> devices;
  for (const std::string& folder : options_.data_folders) {
    struct statvfs st;
    struct stat where;
    if (statvfs(folder.c_str(), &st) != 0 || stat(folder.c_str(), &where) != 0) {
      continue;  // a lost folder: redundancy covers it
    }
    Device& d = devices[where.st_dev];
    d.total = uint64_t{st.f_blocks} * st.f_frsize;
    d.free = uint64_t{st.f_bfree} * st.f_frsize;
    d.avail = uint64_t{st.f_bavail} * st.f_frsize;
    ++d.folders;
  }
  if (devices.empty()) return Status::Error(EIO, "no data folder is reachable");
  uint64_t total = UINT64_MAX, free = UINT64_MAX, avail = UINT64_MAX;
  const uint64_t k = static_cast<uint64_t>(options_.k);
  for (const auto& [dev, d] : devices) {
    total = std::min(total, d.total / d.folders * k);
    free = std::min(free, d.free / d.folders * k);
    avail = std::min(avail, d.avail / d.folders * k);
  }
  struct statvfs out {};
  const uint64_t block = 4096;
  out.f_bsize = out.f_frsize = block;
  out.f_blocks = total / block;
  out.f_bfree = free / block;
  out.f_bavail = avail / block;
  out.f_files = UINT32_MAX;
  {
    std::lock_guard lock(mu_);
    out.f_ffree = UINT32_MAX - std::min<uint64_t>(UINT32_MAX, next_ino_);
  }
  out.f_favail = out.f_ffree;
  out.f_namemax = kMaxNameLength;
  return out;
}

}  // namespace sopfs
