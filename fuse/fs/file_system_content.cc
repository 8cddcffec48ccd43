// FileSystem's file content: opening and closing files, reads (from the file's content
// transaction, the close journal, or a committed snapshot), writes, fsync, fallocate and
// SEEK_DATA/SEEK_HOLE. See fuse/fs/file_system.h for the commit units.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "fuse/fs/file_system.h"
#include "fuse/fs/fs_txn.h"

namespace sopfs {

Status FileSystem::StartContent(Inode& inode) {
  if (inode.content) return Status::Ok();
  auto txn = engine_->Begin(TxnMode::kNoCheck);
  const FsStore& store = StoreOf(inode.rec.store);  // a file's store never changes
  Result<TxnTree*> chunks = ChunksIn(*txn, store);
  if (!chunks.ok()) return chunks.status();
  uint64_t size, stored;
  std::optional<std::string> small;
  {
    std::lock_guard lock(mu_);
    size = inode.rec.size;
    stored = inode.rec.stored_chunks;
    if (const std::string* pending = SmallPending(inode.ino)) small = *pending;
    content_pending_.insert(inode.ino);
  }
  auto content = std::make_unique<BufferedFile>(*chunks, inode.ino, store.chunk_size, size, stored);
  content->SetPatchBudget(patch_budget_);
  ReleasePromisesOnStore(*content, inode.ino);
  // A small file closed through the journal is not in the engine yet: its content
  // starts from those bytes (replacing what the engine holds).
  Status st = small ? content->Replace(*small) : Status::Ok();
  if (!st.ok()) {
    std::lock_guard lock(mu_);
    content_pending_.erase(inode.ino);
    return st;
  }
  inode.content = std::move(content);
  inode.txn = std::move(txn);
  return Status::Ok();
}

Status FileSystem::Open(uint64_t ino, bool writable, const Caller& c) {
  auto lock = Enter(c, writable, /*namespace_op=*/false);
  if (!lock.ok()) return lock.status();
  Result<InodePtr> inode = Get(c, ino);
  if (!inode.ok()) return inode.status();
  if (S_ISDIR((*inode)->rec.mode) && writable) return Status::Error(EISDIR, "is a directory");
  ++(*inode)->open;
  if (writable) ++(*inode)->open_writable;
  return Status::Ok();
}

Status FileSystem::Release(uint64_t ino, bool writable, const Caller& c) {
  if (c.txn) return Status::Ok();  // its changes commit with the transaction
  InodePtr inode;
  bool commit = false, discard = false;
  {
    std::lock_guard lock(mu_);
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) return Status::Ok();
    inode = it->second;
    if (inode->open > 0) --inode->open;
    if (writable && inode->open_writable > 0) --inode->open_writable;
    if (inode->rec.nlink == 0 && inode->open == 0) {
      discard = true;  // the last handle of a removed file: its data goes
    } else {
      commit = writable && inode->open_writable == 0 && content_pending_.count(ino);
    }
  }
  if (discard) {
    std::lock_guard content(inode->content_mu);
    inode->content.reset();
    inode->txn.reset();
    std::lock_guard lock(mu_);
    content_pending_.erase(ino);
    inode->rec.size = inode->committed.size;
    inode->rec.stored_chunks = inode->committed.stored_chunks;
    MarkDoomed(ino);
    return Status::Ok();
  }
  return commit ? CommitFile(inode) : Status::Ok();
}

Status FileSystem::Flush(uint64_t ino, bool writable, const Caller& c) {
  if (c.txn) return Status::Ok();
  InodePtr inode;
  {
    std::lock_guard lock(mu_);
    auto it = inodes_.find(ino);
    if (!writable || it == inodes_.end()) return Status::Ok();
    inode = it->second;
    if (inode->open_writable > 1 || !content_pending_.count(ino)) return Status::Ok();
    if (inode->rec.nlink == 0) return Status::Ok();  // removed: its data goes at release
  }
  Result<bool> journaled = FastClose(inode);
  if (!journaled.ok()) return journaled.status();
  return *journaled ? Status::Ok() : CommitFile(inode);
}

Result<FileSystem::CommittedView> FileSystem::ViewCommitted(uint64_t ino) {
  CommittedView view;
  view.txn = engine_->Begin(TxnMode::kReader);
  Result<TxnTree*> inodes = view.txn->Tree(inode_tree_);
  if (!inodes.ok()) return inodes.status();
  // The size as of the same snapshot as the chunks: a commit between reading one and
  // the other cannot pair a new size with old chunks.
  Result<std::string> bytes = (*inodes)->Find(InodeKey(ino));
  uint32_t store_id = 0;
  if (bytes.ok()) {
    Result<InodeRecord> rec = InodeRecord::Decode(*bytes, ino);
    if (!rec.ok()) return rec.status();
    view.size = rec->size;
    view.stored_chunks = rec->stored_chunks;
    store_id = rec->store;
  } else if (bytes.status().code() != ENOENT) {
    return bytes.status();  // ENOENT: never committed, so nothing stored yet
  }
  const FsStore& store = StoreOf(store_id);
  Result<TxnTree*> chunks = ChunksIn(*view.txn, store);
  if (!chunks.ok()) return chunks.status();
  view.chunks = *chunks;
  view.source = {store.chunk_tree, store.chunk_size};
  return view;
}

Result<size_t> FileSystem::Read(uint64_t ino, uint64_t offset, std::span<uint8_t> out,
                                const Caller& c) {
  if (c.txn) {
    auto lock = Enter(c, false);
    if (!lock.ok()) return lock.status();
    Result<InodePtr> inode = Get(c, ino);
    if (!inode.ok()) return inode.status();
    return TxnRead(*c.txn, **inode, offset, out);
  }
  Result<InodePtr> found = GetUnlocked(ino);
  if (!found.ok()) return found.status();
  InodePtr inode = *found;
  {
    std::lock_guard content(inode->content_mu);
    if (inode->content) return inode->content->Read(offset, out);
  }
  {
    std::lock_guard lock(mu_);
    if (const std::string* small = SmallPending(ino)) {
      if (offset >= small->size()) return size_t{0};
      const size_t n = std::min<size_t>(out.size(), small->size() - offset);
      std::memcpy(out.data(), small->data() + offset, n);
      return n;
    }
  }
  // Nothing pending: read the committed chunks from a snapshot, without locks.
  Result<CommittedView> view = ViewCommitted(ino);
  Result<size_t> got =
      view.ok()
          ? ChunkFile(view->chunks, ino, view->source.chunk_size).ReadAt(view->size, offset, out)
          : Result<size_t>(view.status());
  if (got.ok()) {
    read_ahead_->Note(ino, view->source, offset, *got, view->size);
  } else {
    std::fprintf(stderr, "sopfs: read of inode %llu at %llu: %s\n",
                 static_cast<unsigned long long>(ino), static_cast<unsigned long long>(offset),
                 got.status().ToString().c_str());
  }
  return got;
}

Result<size_t> FileSystem::Write(uint64_t ino, uint64_t offset, std::span<const uint8_t> data,
                                 const Caller& c, uint64_t* written_at) {
  SOPFS_RETURN_IF_ERROR(CheckChangesAllowed(c));
  SOPFS_RETURN_IF_ERROR(engine_->RoomForNewData());
  if (c.txn) {
    auto lock = Enter(c, true, /*namespace_op=*/false);
    if (!lock.ok()) return lock.status();
    Result<InodePtr> found = Get(c, ino);
    if (!found.ok()) return found.status();
    Inode& inode = **found;
    SOPFS_RETURN_IF_ERROR(TxnStartContent(*c.txn, inode));
    const uint64_t at = offset == kAppend ? inode.content->size() : offset;
    if (written_at != nullptr) *written_at = at;
    Status st = inode.content->Write(at, data);
    inode.rec.size = inode.content->size();
    inode.rec.stored_chunks = inode.content->stored_chunks();
    if (!st.ok()) return st;
    inode.rec.mtime_ns = inode.rec.ctime_ns = NowNs();
    MarkDirty(c, *found);
    ++c.txn->writes;
    c.txn->bytes_written += data.size();
    return data.size();
  }
  Result<InodePtr> found = GetUnlocked(ino);
  if (!found.ok()) return found.status();
  InodePtr inode = *found;
  std::lock_guard content(inode->content_mu);
  SOPFS_RETURN_IF_ERROR(StartContent(*inode));
  const uint64_t at = offset == kAppend ? inode->content->size() : offset;
  if (written_at != nullptr) *written_at = at;
  Status st = inode->content->Write(at, data);
  std::lock_guard lock(mu_);
  // Even a failed write may have grown the buffers: the size follows the content.
  inode->rec.size = inode->content->size();
  inode->rec.stored_chunks = inode->content->stored_chunks();
  if (!st.ok()) return st;
  inode->rec.mtime_ns = inode->rec.ctime_ns = NowNs();
  return data.size();
}

Status FileSystem::Fsync(uint64_t ino, const Caller& c) {
  if (c.txn) {
    // Nothing of a transaction is durable before its commit, which is.
    auto lock = Enter(c, false);
    return lock.ok() ? Status::Ok() : lock.status();
  }
  InodePtr inode;
  {
    std::lock_guard lock(mu_);
    Result<InodePtr> got = Get(ino);
    if (!got.ok()) return got.status();
    inode = *got;
    if (!content_pending_.count(ino)) inode.reset();
  }
  // A file changed only by a few writes: its bytes go to the intent log, one flush.
  if (inode) return LogIntent(inode) ? Status::Ok() : CommitFile(inode);
  return CommitNamespace();
}

bool FileSystem::FallocateModeSupported(int mode) {
  return mode == (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) ||
         (mode & ~FALLOC_FL_KEEP_SIZE) == FALLOC_FL_ZERO_RANGE ||
         (mode & ~FALLOC_FL_KEEP_SIZE) == 0;
}

Status FileSystem::Fallocate(uint64_t ino, int mode, uint64_t offset, uint64_t length,
                             const Caller& c) {
  if (!FallocateModeSupported(mode)) {
    // Collapse, insert and unshare ranges would move data between chunks.
    return Status::Error(EOPNOTSUPP, "fallocate mode not supported");
  }
  const bool zero = (mode & ~FALLOC_FL_KEEP_SIZE) == FALLOC_FL_ZERO_RANGE;
  const bool reserve = (mode & ~FALLOC_FL_KEEP_SIZE) == 0;
  if (reserve) SOPFS_RETURN_IF_ERROR(engine_->RoomForNewData());
  // One change of the content: room promised and the size grown, or a range zeroed.
  auto change = [&](uint64_t ino, uint32_t store, BufferedFile& content) {
    // The room a promise holds is counted in the root store's chunks and layout.
    if (reserve && store != 0) {
      return Status::Error(EOPNOTSUPP, "room is promised only outside stores");
    }
    return reserve ? Preallocate(ino, content, mode, offset, length)
                   : content.ZeroRange(offset, length, zero && !(mode & FALLOC_FL_KEEP_SIZE));
  };
  SOPFS_RETURN_IF_ERROR(CheckChangesAllowed(c));
  if (c.txn) {
    auto lock = Enter(c, true, /*namespace_op=*/false);
    if (!lock.ok()) return lock.status();
    Result<InodePtr> found = Get(c, ino);
    if (!found.ok()) return found.status();
    Inode& inode = **found;
    if (!S_ISREG(inode.rec.mode)) return Status::Error(ENODEV, "not a regular file");
    SOPFS_RETURN_IF_ERROR(TxnStartContent(*c.txn, inode));
    const uint64_t before = inode.content->size();
    Status st = change(ino, inode.rec.store, *inode.content);
    inode.rec.size = inode.content->size();
    inode.rec.stored_chunks = inode.content->stored_chunks();
    if (st.ok() && (!reserve || inode.rec.size != before)) {
      inode.rec.mtime_ns = inode.rec.ctime_ns = NowNs();
    }
    MarkDirty(c, *found);
    return st;
  }
  Result<InodePtr> found = GetUnlocked(ino);
  if (!found.ok()) return found.status();
  InodePtr inode = *found;
  if (!S_ISREG(inode->rec.mode)) return Status::Error(ENODEV, "not a regular file");
  std::lock_guard content(inode->content_mu);
  SOPFS_RETURN_IF_ERROR(StartContent(*inode));
  const uint64_t before = inode->content->size();
  Status st = change(ino, inode->rec.store, *inode->content);
  std::lock_guard lock(mu_);
  inode->rec.size = inode->content->size();
  inode->rec.stored_chunks = inode->content->stored_chunks();
  if (st.ok() && (!reserve || inode->rec.size != before)) {
    inode->rec.mtime_ns = inode->rec.ctime_ns = NowNs();
  }
  return st;
}

Result<uint64_t> FileSystem::Lseek(uint64_t ino, uint64_t offset, int whence, const Caller& c) {
  if (whence != SEEK_DATA && whence != SEEK_HOLE) return Status::Error(EINVAL, "bad whence");
  if (c.txn) {
    auto lock = Enter(c, false);
    if (!lock.ok()) return lock.status();
    Result<InodePtr> found = Get(c, ino);
    if (!found.ok()) return found.status();
    Inode& inode = **found;
    if (inode.content) return inode.content->Seek(offset, whence == SEEK_DATA);
    const FsStore& store = StoreOf(inode.rec.store);
    Result<TxnTree*> chunks = ChunksIn(*c.txn->txn, store);
    if (!chunks.ok()) return chunks.status();
    BufferedFile file(*chunks, ino, store.chunk_size, inode.rec.size, inode.rec.stored_chunks);
    return file.Seek(offset, whence == SEEK_DATA);
  }
  Result<InodePtr> found = GetUnlocked(ino);
  if (!found.ok()) return found.status();
  InodePtr inode = *found;
  {
    std::lock_guard content(inode->content_mu);
    if (inode->content) return inode->content->Seek(offset, whence == SEEK_DATA);
  }
  {
    std::lock_guard lock(mu_);
    if (const std::string* small = SmallPending(ino)) {
      if (offset >= small->size()) return Status::Error(ENXIO, "offset past the end");
      return whence == SEEK_DATA ? offset : small->size();
    }
  }
  // Nothing pending: look at the committed chunks (a reader, so nothing stays open).
  Result<CommittedView> view = ViewCommitted(ino);
  if (!view.ok()) return view.status();
  BufferedFile file(view->chunks, ino, view->source.chunk_size, view->size, view->stored_chunks);
  return file.Seek(offset, whence == SEEK_DATA);
}

}  // namespace sopfs
