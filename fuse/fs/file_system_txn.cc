// FileSystem's explicit transactions (SPEC §3): begin, a transaction's view of inodes
// and content, and the commit that applies everything it did in one engine
// transaction. See fuse/fs/fs_txn.h for what a transaction holds.
//
// Conflicts. The engine transaction runs in writer mode: every key it read or wrote
// (directory entries looked up, inode records, chunks) is checked at commit, so a
// transaction that read something another commit changed fails with EBUSY and applies
// nothing. Directory records are the exception: every create or unlink changes its
// directory's times and link count, so checking them would make two transactions that
// add files to one directory conflict. A transaction's changes to a directory record
// are merged instead, at commit, into the directory's latest shared record (field by
// field; the link count by difference), under the file system's lock. Changes made
// outside any transaction and not committed yet (a file open for writing, a namespace
// change in the current commit interval) are committed, or found, before the check:
// an overlap with them is a conflict too.
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include "fuse/fs/file_system.h"
#include "fuse/fs/fs_txn.h"

namespace sopfs {
namespace {

// A directory record: the transaction's changes (mine against base) over `shared`.
InodeRecord MergeDirectory(const InodeRecord& shared, const InodeRecord& base,
                           const InodeRecord& mine) {
  InodeRecord out = shared;
  if (mine.mode != base.mode) out.mode = mine.mode;
  if (mine.uid != base.uid) out.uid = mine.uid;
  if (mine.gid != base.gid) out.gid = mine.gid;
  if (mine.xattrs != base.xattrs) out.xattrs = mine.xattrs;
  if (mine.atime_ns != base.atime_ns) out.atime_ns = std::max(shared.atime_ns, mine.atime_ns);
  out.mtime_ns = std::max(shared.mtime_ns, mine.mtime_ns);
  out.ctime_ns = std::max(shared.ctime_ns, mine.ctime_ns);
  if (mine.nlink == 0) {
    out.nlink = 0;  // removed by the transaction
  } else {
    const int64_t links = int64_t{shared.nlink} + int64_t{mine.nlink} - int64_t{base.nlink};
    out.nlink = static_cast<uint32_t>(std::max<int64_t>(links, 2));
  }
  return out;
}

Status Conflict(FsTxn& txn, const std::string& path, const std::string& why) {
  txn.conflict = path;
  return Status::Error(kConflictErrno, path + " " + why);
}

}  // namespace

Result<FileSystem::InodePtr> FileSystem::TxnGet(FsTxn& txn, uint64_t ino) {
  auto it = txn.table.find(ino);
  if (it != txn.table.end()) return it->second;
  if (ino == 0) return Status::Error(ENOENT, "inode 0");
  const std::string key = InodeKey(ino);
  Result<std::string> bytes = txn.inodes->Find(key);
  if (!bytes.ok()) {
    if (bytes.status().code() == ENOENT) {
      return Status::Error(
          ENOENT, "inode " + std::to_string(ino) + " does not exist in the transaction's snapshot");
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
  if (S_ISDIR(rec->mode)) {
    txn.inodes->Unwatch(key);  // merged at commit, not checked (see above)
    txn.dirs_loaded[ino] = *rec;
  }
  auto inode = std::make_shared<Inode>();
  inode->ino = ino;
  inode->rec = std::move(*rec);
  inode->committed = inode->rec;
  txn.table[ino] = inode;
  return inode;
}

Status FileSystem::TxnStartContent(FsTxn& txn, Inode& inode) {
  if (inode.content) return Status::Ok();
  const FsStore& store = StoreOf(inode.rec.store);
  Result<TxnTree*> chunks = ChunksIn(*txn.txn, store);
  if (!chunks.ok()) return chunks.status();
  inode.content = std::make_unique<BufferedFile>(*chunks, inode.ino, store.chunk_size,
                                                 inode.rec.size, inode.rec.stored_chunks);
  inode.content->SetPatchBudget(patch_budget_);
  ReleasePromisesOnStore(*inode.content, inode.ino);
  return Status::Ok();
}

Result<size_t> FileSystem::TxnRead(FsTxn& txn, Inode& inode, uint64_t offset,
                                   std::span<uint8_t> out) {
  const FsStore& store = StoreOf(inode.rec.store);
  Result<TxnTree*> chunks = ChunksIn(*txn.txn, store);
  Result<size_t> got =
      inode.content ? inode.content->Read(offset, out)
      : chunks.ok()
          ? ChunkFile(*chunks, inode.ino, store.chunk_size).ReadAt(inode.rec.size, offset, out)
          : Result<size_t>(chunks.status());
  if (!got.ok()) {
    std::fprintf(stderr, "sopfs: transaction %llu: read of inode %llu at %llu: %s\n",
                 static_cast<unsigned long long>(txn.id),
                 static_cast<unsigned long long>(inode.ino),
                 static_cast<unsigned long long>(offset), got.status().ToString().c_str());
    return got;
  }
  ++txn.reads;
  txn.bytes_read += *got;
  return got;
}

Result<std::shared_ptr<FsTxn>> FileSystem::BeginTxn(bool readonly) {
  // The snapshot holds everything closed before the begin.
  SOPFS_RETURN_IF_ERROR(CommitNamespace());
  auto txn = std::make_shared<FsTxn>();
  txn->id = ++last_txn_id_;
  txn->readonly = readonly;
  txn->txn = engine_->Begin(readonly ? TxnMode::kReader : TxnMode::kWriter);
  Result<TxnTree*> inodes = txn->txn->Tree(inode_tree_);
  if (!inodes.ok()) return inodes.status();
  Result<TxnTree*> names = txn->txn->Tree(names_tree_);
  if (!names.ok()) return names.status();
  txn->inodes = *inodes;
  txn->names = *names;
  txn->Touch();
  return txn;
}

std::string FileSystem::TxnPath(const FsTxn& txn, uint64_t ino) const {
  std::vector<std::string> parts;
  uint64_t at = ino;
  while (at != kRootIno && parts.size() < 256) {
    auto it = txn.found_at.find(at);
    std::optional<std::pair<uint64_t, std::string>> where;
    if (it != txn.found_at.end()) {
      where = it->second;
    } else {
      // Reached without a lookup (the kernel had the name cached): find its entry.
      where = FindName(at);
    }
    if (!where) {
      parts.push_back("<inode " + std::to_string(at) + ">");
      break;
    }
    parts.push_back(where->second);
    at = where->first;
  }
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) path += "/" + *it;
  return path.empty() ? "/" : path;
}

std::optional<std::pair<uint64_t, std::string>> FileSystem::FindName(uint64_t ino) const {
  // Only for messages: a bounded scan of the committed namespace.
  constexpr int kMaxEntries = 1 << 20;
  auto txn = engine_->Begin(TxnMode::kReader);
  Result<TxnTree*> names = txn->Tree(names_tree_);
  if (!names.ok()) return std::nullopt;
  auto cursor = (*names)->NewCursor();
  if (!cursor->First().ok()) return std::nullopt;
  for (int i = 0; cursor->Valid() && i < kMaxEntries; ++i) {
    Result<std::string> value = cursor->value();
    if (!value.ok()) return std::nullopt;
    std::optional<NameEntry> entry = DecodeNameEntry(*value);
    if (entry && entry->ino == ino && cursor->key().size() > 8) {
      return std::make_pair(ReadBigEndian64(cursor->key().substr(0, 8)),
                            std::string(cursor->key().substr(8)));
    }
    if (!cursor->Next().ok()) return std::nullopt;
  }
  return std::nullopt;
}

std::string FileSystem::ConflictPath(const FsTxn& txn,
                                     const Transaction::ConflictSite& site) const {
  if (site.key.size() < 8) {
    // A range it scanned changed: one of the directories it listed (the engine knows
    // the node, not the directory).
    std::string dirs;
    int shown = 0;
    for (uint64_t dir : txn.listed) {
      if (shown++ == 3) {
        dirs += ", ...";
        break;
      }
      dirs += (dirs.empty() ? "" : ", ") + TxnPath(txn, dir);
    }
    if (txn.listed.size() == 1) return dirs;
    return "one of the directories the transaction listed (" + dirs + ")";
  }
  const uint64_t ino = ReadBigEndian64(site.key.substr(0, 8));
  if (site.tree == names_tree_) {
    const std::string dir = TxnPath(txn, ino);
    return (dir == "/" ? "" : dir) + "/" + site.key.substr(8);
  }
  return TxnPath(txn, ino);
}

Status FileSystem::WriteTxnRecords(FsTxn& txn) {
  for (uint64_t ino : txn.dirty) {
    const InodePtr& inode = txn.table.at(ino);
    InodeRecord rec = inode->rec;
    const std::string key = InodeKey(ino);
    auto base = txn.dirs_loaded.find(ino);
    if (base != txn.dirs_loaded.end()) {
      Result<InodePtr> shared = Get(ino);
      if (!shared.ok() || (*shared)->rec.nlink == 0) {
        return Conflict(txn, TxnPath(txn, ino), "was removed outside the transaction");
      }
      rec = MergeDirectory((*shared)->rec, base->second, rec);
      SOPFS_RETURN_IF_ERROR(txn.inodes->Upsert(key, rec.Encode()));
      txn.inodes->Unwatch(key);
      inode->rec = rec;
    } else {
      if (inode->content) rec.version = inode->committed.version + 1;
      inode->rec = rec;
      SOPFS_RETURN_IF_ERROR(txn.inodes->Upsert(key, rec.Encode()));
    }
    // A file or directory removed: deleted by the shared state once nobody holds it,
    // and by the next mount if a crash comes first.
    if (rec.nlink == 0) SOPFS_RETURN_IF_ERROR(txn.inodes->Upsert(OrphanKey(ino), ""));
  }
  return Status::Ok();
}

void FileSystem::AdoptTxn(FsTxn& txn) {
  for (uint64_t ino : txn.dirty) {
    const InodeRecord& rec = txn.table.at(ino)->rec;
    auto it = inodes_.find(ino);
    if (it != inodes_.end()) {
      it->second->rec = rec;
      it->second->committed = rec;
    }
    if (rec.nlink == 0 && (it == inodes_.end() || it->second->open == 0)) MarkDoomed(ino);
    read_ahead_->Forget(ino);
  }
}

FileSystem::TxnChanges FileSystem::EndTxn(FsTxn& txn) {
  TxnChanges changes;
  changes.inodes.assign(txn.dirty.begin(), txn.dirty.end());
  changes.names.assign(txn.names_written.begin(), txn.names_written.end());
  // Contents first: a BufferedFile adopts its chunks in flight into the open transaction.
  for (auto& [ino, inode] : txn.table) {
    inode->content.reset();
    if (reserve_) reserve_->Settle(ino);  // its commit's metadata share, if fallocated
  }
  txn.txn->Rollback();  // nothing if it committed
  txn.table.clear();
  txn.ended = true;
  return changes;
}

FileSystem::TxnChanges FileSystem::RollbackTxn(FsTxn& txn) {
  std::lock_guard lock(txn.mu);
  if (txn.ended) return {};
  if (txn.bytes_written > 0) WantCheckpoint();  // the blobs it staged come back soon
  return EndTxn(txn);
}

Status FileSystem::CommitTxn(FsTxn& txn, TxnChanges* touched) {
  std::lock_guard txn_lock(txn.mu);
  if (txn.ended) return Status::Error(EINVAL, "the transaction has ended");
  txn.conflict.clear();
  if (txn.readonly) {
    *touched = EndTxn(txn);
    return Status::Ok();
  }
  // Contents: small files whose bytes are all in memory go in one batch of blobs, the
  // others flush their last chunks.
  Status st;
  std::vector<std::string> small_bytes;
  std::vector<SmallFile> small;
  small_bytes.reserve(txn.dirty.size());
  for (uint64_t ino : txn.dirty) {
    Inode& inode = *txn.table.at(ino);
    if (!inode.content) continue;
    if (std::optional<std::string> bytes = inode.content->SmallContent(kSmallFileBytes)) {
      small_bytes.push_back(std::move(*bytes));
      small.push_back({ino, inode.rec.store, small_bytes.back()});
      inode.rec.size = small_bytes.back().size();
      inode.rec.stored_chunks = small_bytes.back().empty() ? 0 : 1;
      continue;
    }
    st = inode.content->Flush();
    inode.rec.size = inode.content->size();
    inode.rec.stored_chunks = inode.content->stored_chunks();
    if (!st.ok()) break;
  }
  if (st.ok() && !small.empty()) st = WriteSmallContents(*txn.txn, small);
  if (st.ok()) {
    std::lock_guard commit(commit_mu_);
    // What the shared state changed so far becomes a commit the check below can see.
    st = CommitNamespaceLocked();
    std::lock_guard lock(mu_);
    for (uint64_t ino : txn.dirty) {
      if (!st.ok()) break;
      if (txn.dirs_loaded.count(ino) || txn.created.count(ino)) continue;
      if (content_pending_.count(ino) || dirty_inodes_.count(ino) || small_content_.count(ino)) {
        st = Conflict(txn, TxnPath(txn, ino), "is being changed outside the transaction");
      }
    }
    for (const auto& [parent, name] : txn.names_written) {
      if (!st.ok()) break;
      if (dirty_entries_.count(DirEntryKey(parent, name))) {
        const std::string dir = TxnPath(txn, parent);
        st = Conflict(txn, (dir == "/" ? "" : dir) + "/" + name,
                      "is being changed outside the transaction");
      }
    }
    if (st.ok()) st = WriteTxnRecords(txn);
    if (st.ok()) {
      st = txn.txn->Commit();
      if (st.code() == kConflictErrno && txn.txn->conflict()) {
        const std::string path = ConflictPath(txn, *txn.txn->conflict());
        st = Conflict(txn, path, "changed since the transaction began");
      }
    }
    if (st.ok()) AdoptTxn(txn);
  }
  if (!st.ok()) {
    std::fprintf(stderr, "sopfs: transaction %llu rolled back: %s\n",
                 static_cast<unsigned long long>(txn.id), st.ToString().c_str());
    WantCheckpoint();  // the blobs it staged come back
    *touched = EndTxn(txn);
    return st;
  }
  *touched = EndTxn(txn);
  return Status::Ok();
}

}  // namespace sopfs
