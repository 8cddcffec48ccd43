// Engine: committing a transaction (see engine.h for the protocol).
#include <algorithm>
#include <cstdio>
#include <utility>

#include "engine/btree/btree.h"
#include "engine/txn/commit_store.h"
#include "engine/txn/engine.h"
#include "engine/txn/node_segment.h"
#include "engine/txn/transaction.h"

namespace sopfs {
namespace {

// A key as a message may show it: printable ASCII kept, the rest as \xNN, cut at 64.
std::string Printable(std::string_view key) {
  std::string out;
  for (size_t i = 0; i < key.size() && i < 64; ++i) {
    const unsigned char c = static_cast<unsigned char>(key[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[5];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (key.size() > 64) out += "...";
  return out;
}

Status Conflict(LogicalId tree, const std::string& what) {
  return Status::Error(kConflictErrno, "conflict in tree " + std::to_string(tree) + ": " + what +
                                           " changed since this transaction began");
}

std::string TreeLockKey(LogicalId root) { return "tree/" + std::to_string(root); }

// Runs `f` when the scope ends.
template <class F>
class ScopeExit {
 public:
  explicit ScopeExit(F f) : f_(std::move(f)) {}
  ~ScopeExit() { f_(); }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;

 private:
  F f_;
};

}  // namespace

Status Engine::Commit(Transaction& txn) {
  bool writes = false;
  std::vector<std::string> keys;
  std::vector<LogicalId> locked_trees;  // parallel to keys
  for (const auto& [root, tree] : txn.trees_) {
    const bool written = tree->created_ || !tree->overlay_.empty();
    writes = writes || written;
    const bool checked = txn.mode_ == TxnMode::kWriter &&
                         (!tree->versions_.empty() || !tree->scanned_nodes_.empty());
    if (written || checked) {
      keys.push_back(TreeLockKey(root));
      locked_trees.push_back(root);
    }
  }
  if (txn.mode_ == TxnMode::kReader || !writes) {
    // A snapshot is consistent by itself: nothing to check, nothing to write.
    txn.Finish(true);
    return Status::Ok();
  }
  // Staged values were written without a flush (StageValue): made durable here, before
  // any record can adopt them, and before the tree locks, which other commits wait for.
  if (Status flushed = FlushStaged(txn); !flushed.ok()) {
    txn.Finish(false);
    return flushed;
  }
  const std::string owner = instance_ + "/" + std::to_string(txn.id_);
  Result<LockGrant> grant = locker_->Lock(keys, owner, options_.lock_lease, options_.lock_timeout);
  Status st;
  if (!grant.ok()) {
    st = grant.status().code() == ETIMEDOUT
             ? Status::Error(kConflictErrno, "commit gave up waiting for its tree locks: " +
                                                 grant.status().message())
             : grant.status();
  } else {
    if (options_.test_hook) options_.test_hook("commit:locked");
    st = CommitLocked(txn, *grant, keys, locked_trees, owner);
    locker_->Unlock(keys, owner, grant->fence);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (st.ok()) ++stats_.commits;
    if (st.code() == kConflictErrno) ++stats_.conflicts;
  }
  txn.Finish(st.ok());
  if (st.ok()) {
    Status cp = MaybeCheckpoint();
    if (!cp.ok()) std::fprintf(stderr, "sopfs: checkpoint failed: %s\n", cp.ToString().c_str());
  }
  return st;
}

Status Engine::FlushStaged(const Transaction& txn) {
  std::vector<BlobId> blobs;
  blobs.reserve(txn.staged_values_.size());
  for (const auto& [id, staged] : txn.staged_values_) blobs.push_back(staged.blob);
  return blobs_->FlushDeferred(blobs);
}

Status Engine::CheckUnchanged(Transaction& txn, CommitStore& store) {
  constexpr uint64_t kLatest = EntryTable::kNoSnapshot;
  for (const auto& [root, tree] : txn.trees_) {
    if (tree->created_) continue;
    Btree latest(&store, root, tree->options_);
    for (const auto& [key, seen] : tree->versions_) {
      Result<BtreeItem> item = latest.FindItem(key);
      if (!item.ok() && item.status().code() != ENOENT) return item.status();
      const uint64_t now = item.ok() ? item->version : 0;
      if (now != seen) {
        txn.conflict_ = Transaction::ConflictSite{root, key};
        return Conflict(root, "key \"" + Printable(key) + "\"");
      }
    }
    for (const auto& [node, seen] : tree->scanned_nodes_) {
      Result<RegistryEntry> entry = entries_->Get(node, kLatest);
      if (!entry.ok() && entry.status().code() != ENOENT) return entry.status();
      if (!entry.ok() || entry->version != seen) {
        txn.conflict_ = Transaction::ConflictSite{root, {}};
        return Conflict(root, "a range read by a cursor (node " + std::to_string(node) + ")");
      }
    }
  }
  return Status::Ok();
}

Status Engine::CommitLocked(Transaction& txn, const LockGrant& grant,
                            const std::vector<std::string>& lock_keys,
                            const std::vector<LogicalId>& locked_trees, const std::string& owner) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!broken_.ok()) return broken_;
    // An older holder of one of these trees whose lease ran out may be between its lease
    // check and the apply of its record: this commit must see that record applied before
    // it checks and re-applies anything, or its own record (later in the log) would undo
    // it. Older holders that have not started recording yet give up instead (below).
    for (LogicalId tree : locked_trees) {
      uint64_t& newest = newest_holder_[tree];
      newest = std::max(newest, grant.fence);
    }
    const bool settled = recorded_cv_.wait_for(lock, options_.lock_timeout, [&] {
      return std::none_of(locked_trees.begin(), locked_trees.end(),
                          [&](LogicalId tree) { return recording_.count(tree) != 0; });
    });
    if (!settled) {
      return Status::Error(kConflictErrno,
                           "commit gave up waiting for an earlier commit of the same tree "
                           "to be recorded");
    }
    if (!broken_.ok()) return broken_;
  }
  constexpr uint64_t kLatest = EntryTable::kNoSnapshot;
  CommitStore store(
      [this](LogicalId id) -> Result<CommitStore::Loaded> {
        CommitStore::Loaded loaded;
        auto node = LoadNode(id, kLatest, &loaded.entry);
        if (!node.ok()) return node.status();
        loaded.node = std::move(*node);
        return loaded;
      },
      [this] { return AllocateId(); });

  if (txn.mode_ == TxnMode::kWriter) SOPFS_RETURN_IF_ERROR(CheckUnchanged(txn, store));

  // Re-apply the transaction's key states to the latest trees.
  const uint64_t stamp = ++stamp_;
  TxnRecord rec;
  rec.kind = TxnRecord::Kind::kCommit;
  rec.stamp = stamp;
  rec.fence = grant.fence;
  std::vector<BlobId> adopted_values;
  for (const auto& [root, tree] : txn.trees_) {
    if (!tree->created_ && tree->overlay_.empty()) continue;
    rec.trees.push_back(root);
    if (tree->created_) {
      auto empty = std::make_shared<BtreeNode>();
      empty->id = root;
      store.StageNew(std::move(empty));
    }
    Btree btree(&store, root, tree->options_);
    btree.set_write_version(stamp);
    for (const auto& [key, entry] : tree->overlay_) {
      if (entry.present) {
        Result<bool> put = btree.UpsertStaged(key, entry.value, entry.value_blob);
        if (!put.ok()) return put.status();
        if (entry.value_blob != 0) {
          const Transaction::StagedValue& staged = txn.staged_values_.at(entry.value_blob);
          const BlobId blob = staged.blob;
          rec.updates.emplace_back(
              entry.value_blob,
              RegistryEntry{blob, 1,
                            RegistryEntry::kInUse | RegistryEntry::LayoutFlags(staged.layout)});
          adopted_values.push_back(blob);
        }
      } else {
        Status removed = btree.Remove(key);
        if (!removed.ok() && removed.code() != ENOENT) return removed;
      }
    }
  }

  // New node versions are packed into segments; the versions they replace become
  // garbage (standalone blobs at once, segments when their last slot is replaced).
  std::vector<std::string> segments;
  std::vector<BlobStore::Write> writes;
  std::vector<std::pair<NodeKey, std::shared_ptr<const BtreeNode>>> new_nodes;
  std::vector<NodeKey> replaced_nodes;  // cached versions nobody reads once this is published
  auto replaced = [&](const RegistryEntry& old) {
    replaced_nodes.push_back(NodeKey{old.blob, old.in_segment() ? old.slot : 0});
    if (old.in_segment()) {
      rec.released.push_back(old.blob);
    } else {
      rec.frees.push_back(old.blob);
    }
  };
  {
    const BlobId anchor = NewBlobId();
    std::vector<std::string> encoded;
    std::vector<std::pair<LogicalId, std::string_view>> pack;
    std::vector<const std::shared_ptr<const BtreeNode>*> packed;
    size_t pack_bytes = 0;
    encoded.reserve(store.staged().size());
    segments.reserve(store.staged().size());
    auto flush = [&] {
      if (pack.empty()) return;
      segments.push_back(NodeSegment::Encode(pack));
      const BlobId blob = BlobId::RandomNear(anchor);
      const std::string& bytes = segments.back();
      writes.push_back({blob,
                        options_.metadata_layout,
                        {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}});
      for (uint32_t slot = 0; slot < pack.size(); ++slot) {
        const LogicalId id = pack[slot].first;
        const RegistryEntry* base = store.base(id);
        rec.updates.emplace_back(id,
                                 RegistryEntry{blob, base ? base->version + 1 : 1,
                                               RegistryEntry::kInUse | RegistryEntry::kInSegment |
                                                   RegistryEntry::kMetadataLayout,
                                               slot});
        if (base) replaced(*base);
        new_nodes.emplace_back(NodeKey{blob, slot}, *packed[slot]);
      }
      pack.clear();
      packed.clear();
      pack_bytes = 0;
    };
    for (const auto& [id, node] : store.staged()) {
      encoded.push_back(node->Encode());
      pack.emplace_back(id, encoded.back());
      packed.push_back(&node);
      pack_bytes += encoded.back().size();
      if (pack_bytes >= NodeSegment::kTargetBytes) flush();
    }
    flush();
  }
  for (LogicalId id : store.freed()) {
    const RegistryEntry* base = store.base(id);
    if (base == nullptr) continue;
    rec.updates.emplace_back(id, RegistryEntry{BlobId{}, base->version + 1, 0});
    replaced(*base);
  }
  for (LogicalId id : store.freed_values()) {
    Result<RegistryEntry> entry = entries_->Get(id, kLatest);
    if (!entry.ok()) {
      if (entry.status().code() == ENOENT) continue;
      return entry.status();
    }
    rec.updates.emplace_back(id, RegistryEntry{BlobId{}, entry->version + 1, 0});
    rec.frees.push_back(entry->blob);
  }

  // Values staged small and held in memory (held_blobs.h) that this commit adopts.
  std::vector<HeldBlobs::Blob> held_values;
  size_t carried_bytes = 0;
  for (const BlobId& blob : adopted_values) {
    if (std::optional<HeldBlobs::Blob> held = held_->FindStaged(blob)) {
      carried_bytes += held->bytes->size();
      held_values.push_back(std::move(*held));
    }
  }
  size_t segment_bytes = 0;
  for (const BlobStore::Write& w : writes) segment_bytes += w.data.size();
  carried_bytes += segment_bytes;
  // A small commit carries its new blobs in its record: one log flush, no prepare
  // record and no erasure-coded write before it (the spiller writes them after).
  // Not at or near a full disk (the metadata reserve in use, or little room left), nor
  // while writing carried blobs fails: the log would hold the bytes until the data
  // folders take them, taking room later, and the commit must meet the error itself.
  bool carry = options_.carry_bytes > 0 && carried_bytes <= options_.carry_bytes &&
               held_->HasRoom(segment_bytes) && !spill_failing_ && !disk_tight_ && reserve_->Full();
  if (carry) {
    // The log carries at most twice HeldCapacity() between two resets (a checkpoint is
    // due from once).
    std::lock_guard<std::mutex> lock(mu_);
    carry = carried_since_checkpoint_ + carried_bytes <= 2 * HeldCapacity();
  }
  std::shared_lock<std::shared_mutex> gate(gate_);
  std::vector<BlobId> written;
  if (carry) {
    for (const BlobStore::Write& w : writes) {
      rec.carried.push_back(
          {w.id, w.layout,
           std::string(reinterpret_cast<const char*>(w.data.data()), w.data.size())});
    }
    for (const HeldBlobs::Blob& h : held_values) rec.carried.push_back({h.id, h.layout, *h.bytes});
  } else {
    // The held values go with the node versions: one prepare record, one batch. New
    // data among them must not take the metadata reserve's room.
    for (const HeldBlobs::Blob& h : held_values) {
      if (h.new_data) {
        SOPFS_RETURN_IF_ERROR(RoomForNewData());
        break;
      }
    }
    for (const HeldBlobs::Blob& h : held_values) {
      writes.push_back(
          {h.id, h.layout, {reinterpret_cast<const uint8_t*>(h.bytes->data()), h.bytes->size()}});
    }
    // Node versions are metadata: a commit that deletes must get through a full disk.
    SOPFS_RETURN_IF_ERROR(WritePrepared(writes, Room::kMayUseReserve));
    for (const HeldBlobs::Blob& h : held_values) held_->DropStaged(h.id);  // on disk now
    for (const BlobStore::Write& w : writes) written.push_back(w.id);
  }
  if (options_.test_hook) options_.test_hook("commit:before-record");
  if (!locker_->Holds(lock_keys, owner, grant.fence)) {
    Discard(written);
    return Status::Error(ESTALE, "the commit's tree locks expired before it could be recorded");
  }
  if (options_.test_hook) options_.test_hook("commit:lease-checked");
  bool superseded = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    superseded = std::any_of(locked_trees.begin(), locked_trees.end(),
                             [&](LogicalId tree) { return newest_holder_[tree] > grant.fence; });
    if (!superseded) {
      for (LogicalId tree : locked_trees) ++recording_[tree];
    }
  }
  if (superseded) {
    Discard(written);
    return Status::Error(ESTALE,
                         "the commit's tree locks went to a newer holder before it could be "
                         "recorded");
  }
  // Until the record is applied (or refused), newer holders of these trees wait.
  ScopeExit recorded([&] {
    std::lock_guard<std::mutex> lock(mu_);
    for (LogicalId tree : locked_trees) {
      auto it = recording_.find(tree);
      if (--it->second == 0) recording_.erase(it);
    }
    recorded_cv_.notify_all();
  });
  std::string payload = rec.Encode();
  if (payload.size() > CommitLog::kMaxRecordBytes) {
    Discard(written);
    return TooLarge(payload.size());
  }
  Result<uint64_t> seq = AppendUsingReserve(rec, std::move(payload));
  if (!seq.ok() && !log_->broken()) {
    // No room for the record: it is not in the log, so the commit did not happen.
    Discard(written);
    return seq.status();
  }
  if (!seq.ok()) {
    // The record may or may not be durable: only recovery can tell.
    std::lock_guard<std::mutex> lock(mu_);
    broken_ = Status::Error(EIO,
                            "the commit log failed a flush; the outcome of the last commit "
                            "is known after the volume is reopened: " +
                                seq.status().ToString());
    return broken_;
  }
  if (options_.test_hook) options_.test_hook("commit:before-apply");
  sequencer_.WaitTurn(*seq);
  bool stale = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (LogicalId tree : rec.trees) stale = stale || applied_fence_[tree] > rec.fence;
    if (!stale) {
      for (LogicalId tree : rec.trees) applied_fence_[tree] = rec.fence;
    }
  }
  if (stale) {
    sequencer_.Done(*seq);
    Discard(written);
    return Status::Error(ESTALE, "a newer lock holder committed to the same tree first");
  }
  if (!rec.carried.empty()) {
    // Readers find them here until the spiller has written them.
    // The record is encoded already: its copies of the node segments (its first
    // entries, in the order of `writes`) move here.
    held_->MarkLogged(held_values);
    for (size_t i = 0; i < writes.size(); ++i) {
      TxnRecord::CarriedBlob& b = rec.carried[i];
      held_->Hold(b.id, b.layout, std::move(b.bytes), /*logged=*/true);
    }
  }
  const uint64_t published = entries_->Publish(rec.updates);
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const BlobId& blob : rec.frees) pending_frees_.emplace_back(published, blob);
    for (const auto& [key, node] : new_nodes) ++segment_refs_[key.blob];
    for (const BlobId& blob : rec.released) {
      auto it = segment_refs_.find(blob);
      if (it != segment_refs_.end() && --it->second == 0) {
        segment_refs_.erase(it);
        pending_frees_.emplace_back(published, blob);
      }
    }
    for (const BlobId& blob : written) in_flight_.erase(blob);
    for (const BlobId& blob : adopted_values) in_flight_.erase(blob);
    ++commits_since_checkpoint_;
    if (!rec.carried.empty()) {
      ++stats_.carrying_commits;
      carried_since_checkpoint_ += carried_bytes;
    }
  }
  sequencer_.Done(*seq);
  if (!rec.carried.empty()) {
    { std::lock_guard<std::mutex> wake(spill_mu_); }  // the spiller is waiting, or sees them
    spill_cv_.notify_one();
  }
  // The new versions are in memory already: the next reader need not fetch them. The
  // versions they replace leave the cache (a reader of an older snapshot loads its own),
  // so that it holds live nodes, not the history of every commit.
  for (const NodeKey& key : replaced_nodes) node_cache_.Erase(key);
  for (const auto& [key, node] : new_nodes) node_cache_.Insert(key, node, NodeCharge(*node));
  // Values the transaction staged but replaced before committing.
  std::vector<BlobId> unused;
  for (const auto& [id, staged] : txn.staged_values_) {
    if (std::find(adopted_values.begin(), adopted_values.end(), staged.blob) ==
        adopted_values.end()) {
      unused.push_back(staged.blob);
    }
  }
  Discard(unused);
  return Status::Ok();
}

}  // namespace sopfs
