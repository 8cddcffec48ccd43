// FileSystem's commits: the pending namespace changes, alone (every commit_interval,
// at a directory fsync) or with one file's content (its last writable close, fsync).
#include <cstdio>

#include "fuse/fs/file_system.h"
#include "fuse/fs/volume_layout.h"

namespace sopfs {

InodeRecord FileSystem::DurableRecord(const Inode& inode) const {
  InodeRecord r = inode.rec;
  if (content_pending_.count(inode.ino)) {
    r.size = inode.committed.size;
    r.stored_chunks = inode.committed.stored_chunks;
    r.mtime_ns = inode.committed.mtime_ns;
    r.version = inode.committed.version;
  }
  return r;
}

std::unique_ptr<FileSystem::Pending> FileSystem::TakePending(bool with_doomed) {
  auto p = std::make_unique<Pending>();
  p->entries.swap(dirty_entries_);
  for (uint64_t ino : dirty_inodes_) {
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) continue;
    const Inode& inode = *it->second;
    // A removed file nobody holds is deleted, not written (doomed_ or done already).
    if (inode.rec.nlink == 0 && inode.open == 0) continue;
    if (inode.rec.nlink == 0) p->orphans.insert(ino);
    p->records[ino] = DurableRecord(inode).Encode();
    p->dirty[ino] = it->second;
  }
  dirty_inodes_.clear();
  p->small.swap(small_content_);
  p->journal_seq = journal_seq_;
  if (journal_) {
    // Records appended from now on go to a new file; this commit includes every
    // record of the older ones.
    Result<uint64_t> gen = journal_->Rotate();
    if (gen.ok()) p->journal_generation = *gen;
  }
  // The journal's sets stay: a record appended while this commit is in flight must
  // still carry its changes (a crash may come before this commit is durable, and the
  // older journal files go only once it is). FinishPending drops what it made durable.
  if (with_doomed) {
    p->doomed.swap(doomed_);
  } else {
    // Their names go in this commit but their deletion waits for the next namespace
    // commit: if a crash comes first, the next mount deletes them.
    p->orphans.insert(doomed_.begin(), doomed_.end());
  }
  if (next_ino_ != committed_next_ino_) p->next_ino = next_ino_;
  inflight_ = p.get();
  return p;
}

void FileSystem::FinishPending(std::unique_ptr<Pending> p, bool applied) {
  inflight_ = nullptr;
  uint64_t freed = 0;
  for (const auto& [ino, bytes] : p->small) {
    // Applied, or kept back while a newer content of the file is pending.
    if (applied || small_content_.count(ino)) {
      freed += bytes.size();
      small_disk_cost_ -= SmallDiskCost(bytes.size());
    }
  }
  small_bytes_ -= freed;
  if (freed != 0) small_room_cv_.notify_all();
  if (applied) {
    if (journal_ && p->journal_generation != 0) journal_->DropBefore(p->journal_generation);
    if (p->next_ino != 0) committed_next_ino_ = p->next_ino;
    // What this commit made durable leaves the journal's sets, unless changed since.
    for (const auto& [key, entry] : p->entries) {
      if (!dirty_entries_.count(key)) journal_names_.erase(key);
    }
    for (const auto& [ino, inode] : p->dirty) {
      if (!dirty_inodes_.count(ino)) journal_inodes_.erase(ino);
    }
    for (const auto& [ino, bytes] : p->small) {
      if (!small_content_.count(ino)) journal_small_.erase(ino);
    }
    for (uint64_t ino : p->doomed) {
      if (!doomed_.count(ino)) journal_doomed_.erase(ino);
    }
    for (uint64_t ino : p->doomed) {
      if (reserve_) reserve_->Forget(ino);
      auto it = inodes_.find(ino);
      if (it != inodes_.end() && it->second->lookups == 0 && !content_pending_.count(ino)) {
        inodes_.erase(it);
      }
    }
    Sweep();
    return;
  }
  // Newer changes of the same names win; everything else is pending again (and goes
  // into the next journal record too: its files may be dropped by a later commit).
  for (auto& [key, entry] : p->entries) {
    dirty_entries_.emplace(key, entry);
    journal_names_.insert(key);
  }
  for (auto& [ino, inode] : p->dirty) {
    inodes_.emplace(ino, inode);
    dirty_inodes_.insert(ino);
    journal_inodes_.insert(ino);
  }
  for (auto& [ino, bytes] : p->small) {
    if (small_content_.emplace(ino, std::move(bytes)).second) journal_small_.insert(ino);
  }
  doomed_.insert(p->doomed.begin(), p->doomed.end());
  journal_doomed_.insert(p->doomed.begin(), p->doomed.end());
}

void FileSystem::Sweep() {
  // Past inode_table_target, linked inodes only the kernel references go too, leaving
  // their count: the kernel may hold an inode for every file it ever saw.
  const bool park = inodes_.size() > options_.inode_table_target;
  for (auto it = inodes_.begin(); it != inodes_.end();) {
    const Inode& inode = *it->second;
    const bool clean = inode.open == 0 && inode.ino != kRootIno &&
                       !dirty_inodes_.count(inode.ino) && !content_pending_.count(inode.ino) &&
                       !doomed_.count(inode.ino);
    if (clean && inode.lookups != 0 && park && inode.rec.nlink != 0) {
      parked_lookups_[inode.ino] += inode.lookups;
    } else if (!clean || inode.lookups != 0) {
      ++it;
      continue;
    }
    it = inodes_.erase(it);
  }
}

Status FileSystem::WritePending(Transaction& txn, const Pending& p, uint64_t skip_small) {
  Result<TxnTree*> names = txn.Tree(names_tree_);
  if (!names.ok()) return names.status();
  Result<TxnTree*> inodes = txn.Tree(inode_tree_);
  if (!inodes.ok()) return inodes.status();
  for (const auto& [key, entry] : p.entries) {
    SOPFS_RETURN_IF_ERROR(entry ? (*names)->Upsert(key, EncodeNameEntry(*entry))
                                : (*names)->Erase(key));
  }
  for (const auto& [ino, bytes] : p.records) {
    SOPFS_RETURN_IF_ERROR((*inodes)->Upsert(InodeKey(ino), bytes));
  }
  for (uint64_t ino : p.orphans) SOPFS_RETURN_IF_ERROR((*inodes)->Upsert(OrphanKey(ino), ""));
  if (!p.doomed.empty()) {
    for (uint64_t ino : p.doomed) {
      Result<uint32_t> store_id = RecordedStore(**inodes, ino);
      if (!store_id.ok()) return store_id.status();
      const FsStore& store = StoreOf(*store_id);
      Result<TxnTree*> chunks = ChunksIn(txn, store);
      if (!chunks.ok()) return chunks.status();
      ChunkFile file(*chunks, ino, store.chunk_size);
      Result<uint64_t> removed = file.RemoveChunks(0, UINT64_MAX);
      if (!removed.ok()) return removed.status();
      SOPFS_RETURN_IF_ERROR((*inodes)->Erase(InodeKey(ino)));
      SOPFS_RETURN_IF_ERROR((*inodes)->Erase(OrphanKey(ino)));
    }
  }
  if (!p.small.empty()) {
    std::vector<SmallFile> files;
    for (const auto& [ino, bytes] : p.small) {
      if (ino == skip_small || p.doomed.count(ino)) continue;
      // The record is in this commit (or committed before): it says the store.
      Result<uint32_t> store = RecordedStore(**inodes, ino);
      if (!store.ok()) return store.status();
      files.push_back({ino, *store, bytes});
    }
    SOPFS_RETURN_IF_ERROR(WriteSmallContents(txn, files));
  }
  if (p.next_ino != 0) {
    std::string next;
    AppendBigEndian64(next, p.next_ino);
    SOPFS_RETURN_IF_ERROR((*inodes)->Upsert(InodeKey(0), next));
  }
  if (p.journal_seq != 0) {
    Result<TxnTree*> volume = txn.Tree(VolumeLayout::kVolumeTree);
    if (!volume.ok()) return volume.status();
    std::string seq;
    AppendBigEndian64(seq, p.journal_seq);
    SOPFS_RETURN_IF_ERROR((*volume)->Upsert(kJournalAppliedKey, seq));
  }
  return Status::Ok();
}

Status FileSystem::WriteSmallContents(Transaction& txn, std::span<const SmallFile> files) {
  // Store by store: each store's chunks are in its own tree and layout.
  std::map<uint32_t, std::vector<std::pair<uint64_t, std::string_view>>> by_store;
  for (const SmallFile& f : files) by_store[f.store].emplace_back(f.ino, f.bytes);
  for (const auto& [id, store_files] : by_store) {
    const FsStore& store = StoreOf(id);
    Result<TxnTree*> chunks = ChunksIn(txn, store);
    if (!chunks.ok()) return chunks.status();
    SOPFS_RETURN_IF_ERROR(WriteSmallContentsOfStore(**chunks, store.chunk_size, store_files));
  }
  return Status::Ok();
}

Status FileSystem::WriteSmallContentsOfStore(
    TxnTree& chunks, uint32_t chunk_size,
    std::span<const std::pair<uint64_t, std::string_view>> files) {
  // Whole contents, replacing whatever the files stored before. The smallest go into
  // the chunk tree's nodes; the blobs of the others are written in one batch.
  std::vector<uint64_t> inos;
  std::vector<std::string_view> contents;
  for (const auto& [ino, bytes] : files) {
    ChunkFile file(&chunks, ino, chunk_size);
    Result<uint64_t> removed = file.RemoveChunks(0, UINT64_MAX);
    if (!removed.ok()) return removed.status();
    if (bytes.empty()) continue;
    if (bytes.size() <= ChunkFile::kInNodeBytes) {
      SOPFS_RETURN_IF_ERROR(file.WriteChunk(0, bytes));
      continue;
    }
    inos.push_back(ino);
    contents.push_back(bytes);
  }
  if (inos.empty()) return Status::Ok();
  // Closed through the journal already (acknowledged): they may use the reserve.
  Result<std::vector<BlobId>> blobs = chunks.StageBlobs(contents, Room::kMayUseReserve);
  if (!blobs.ok()) return blobs.status();
  for (size_t i = 0; i < inos.size(); ++i) {
    Status adopted = ChunkFile(&chunks, inos[i], chunk_size).AdoptChunk(0, (*blobs)[i]);
    if (!adopted.ok()) {
      // The ones not adopted yet belong to nobody: give them back.
      for (size_t j = i + 1; j < inos.size(); ++j) {
        (void)ChunkFile(&chunks, inos[j], chunk_size).AdoptChunk(0, (*blobs)[j]);
      }
      return adopted;
    }
  }
  return Status::Ok();
}

Status FileSystem::DeleteOrphans() {
  std::set<uint64_t> orphans;
  {
    auto txn = engine_->Begin(TxnMode::kReader);
    Result<TxnTree*> inodes = txn->Tree(inode_tree_);
    if (!inodes.ok()) return inodes.status();
    auto cursor = (*inodes)->NewCursor();
    SOPFS_RETURN_IF_ERROR(cursor->Seek(OrphanPrefix()));
    while (cursor->Valid()) {
      if (cursor->key().size() == 16) orphans.insert(ReadBigEndian64(cursor->key().substr(8)));
      SOPFS_RETURN_IF_ERROR(cursor->Next());
    }
  }
  if (orphans.empty()) return Status::Ok();
  std::fprintf(stderr, "sopfs: deleting %zu file(s) removed while open before a crash\n",
               orphans.size());
  Pending p;
  p.doomed = std::move(orphans);
  auto txn = engine_->Begin(TxnMode::kNoCheck);
  SOPFS_RETURN_IF_ERROR(WritePending(*txn, p));
  return txn->Commit();
}

Status FileSystem::CommitNamespace() {
  std::lock_guard commit(commit_mu_);
  return CommitNamespaceLocked();
}

Status FileSystem::CommitNamespaceLocked() {
  std::unique_ptr<Pending> p;
  {
    std::lock_guard lock(mu_);
    if (dirty_entries_.empty() && dirty_inodes_.empty() && doomed_.empty() &&
        small_content_.empty() && next_ino_ == committed_next_ino_) {
      Sweep();
      return Status::Ok();
    }
    p = TakePending(/*with_doomed=*/true);
  }
  if (options_.after_taking_pending) options_.after_taking_pending();
  // Begun now, after every earlier commit: it sees every chunk a deletion must remove.
  auto txn = engine_->Begin(TxnMode::kNoCheck);
  Status st = WritePending(*txn, *p);
  if (st.ok()) st = txn->Commit();
  if (!st.ok()) {
    txn->Rollback();
    std::fprintf(stderr, "sopfs: namespace commit failed (will retry): %s\n",
                 st.ToString().c_str());
  }
  if (!st.ok() || !p->doomed.empty()) WantCheckpoint();
  std::lock_guard lock(mu_);
  FinishPending(std::move(p), st.ok());
  return st;
}

Status FileSystem::CommitFile(const InodePtr& inode) {
  std::lock_guard commit(commit_mu_);
  std::unique_lock content(inode->content_mu);
  bool deletions;
  {
    std::lock_guard lock(mu_);
    deletions = !doomed_.empty();
  }
  if (!inode->content || deletions) {
    Status st = CommitNamespaceLocked();
    if (!inode->content || !st.ok()) return st;
  }
  bool doomed;
  {
    std::lock_guard lock(mu_);
    doomed = doomed_.count(inode->ino) != 0 || (inode->rec.nlink == 0 && inode->open == 0);
  }
  if (doomed) {
    // Removed and closed meanwhile: its content goes with it, nothing to commit.
    inode->content.reset();
    inode->txn.reset();
    std::lock_guard lock(mu_);
    content_pending_.erase(inode->ino);
    return Status::Ok();
  }
  Status st = inode->content->Flush();
  std::unique_ptr<Pending> p;
  InodeRecord live;
  {
    std::lock_guard lock(mu_);
    inode->rec.size = inode->content->size();
    inode->rec.stored_chunks = inode->content->stored_chunks();
    p = TakePending(/*with_doomed=*/false);
    committing_.insert(inode->ino);
    live = inode->rec;
    live.version = inode->committed.version + 1;
    // Every logged write is in this content (a reloaded inode knows its number from
    // its record only).
    live.intent_seq = std::max(inode->intent_appended, inode->committed.intent_seq);
  }
  if (st.ok()) st = WritePending(*inode->txn, *p, inode->ino);
  if (st.ok()) {
    Result<TxnTree*> inodes = inode->txn->Tree(inode_tree_);
    st = inodes.ok() ? (*inodes)->Upsert(InodeKey(inode->ino), live.Encode()) : inodes.status();
  }
  if (st.ok()) st = inode->txn->Commit();
  if (!st.ok()) {
    std::fprintf(stderr,
                 "sopfs: commit of inode %llu failed, its content is back to the last "
                 "commit: %s\n",
                 static_cast<unsigned long long>(inode->ino), st.ToString().c_str());
  }
  inode->content.reset();
  inode->txn.reset();  // rolls back what did not commit
  if (!st.ok()) {
    std::lock_guard lock(committer_mu_);
    checkpoint_wanted_ = true;
    to_invalidate_.push_back(inode->ino);
    committer_cv_.notify_all();
  }
  {
    std::lock_guard lock(mu_);
    content_pending_.erase(inode->ino);
    read_ahead_->Forget(inode->ino);  // new chunks: what was loaded ahead is not them
    if (st.ok()) {
      if (reserve_) reserve_->Settle(inode->ino);
      inode->committed.size = live.size;
      inode->committed.stored_chunks = live.stored_chunks;
      inode->committed.mtime_ns = live.mtime_ns;
      inode->committed.version = inode->rec.version = live.version;
      inode->committed.intent_seq = inode->rec.intent_seq = live.intent_seq;
    } else {
      inode->rec.size = inode->committed.size;
      inode->rec.stored_chunks = inode->committed.stored_chunks;
    }
    FinishPending(std::move(p), st.ok());
    committing_.erase(inode->ino);
    committed_cv_.notify_all();
  }
  // Writes an fsync acknowledged through the intent log are not given up with the rest.
  if (!st.ok()) ReapplyIntents(*inode);
  return st;
}

Status FileSystem::Sync() {
  if (options_.read_only) return Status::Ok();  // nothing can have changed
  std::vector<InodePtr> files;
  {
    std::lock_guard lock(mu_);
    for (uint64_t ino : content_pending_) {
      auto it = inodes_.find(ino);
      if (it != inodes_.end()) files.push_back(it->second);
    }
  }
  Status first;
  for (const InodePtr& inode : files) {
    Status st = CommitFile(inode);
    if (!st.ok() && first.ok()) first = st;
  }
  Status st = CommitNamespace();
  // Every file is committed: the intent log's files go (its numbers stored first).
  if (st.ok()) st = FoldIntents(/*force=*/true);
  return first.ok() ? st : first;
}

}  // namespace sopfs
