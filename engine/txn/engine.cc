#include "engine/txn/engine.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <utility>

#include "engine/btree/btree.h"
#include "engine/lock/in_process_locker.h"
#include "engine/txn/commit_store.h"
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

Status TooLarge(size_t record_bytes) {
  return Status::Error(EFBIG,
                       "the transaction is too large to commit at once (a commit record "
                       "of " +
                           std::to_string(record_bytes) + " bytes; at most " +
                           std::to_string(CommitLog::kMaxRecordBytes) + ")");
}

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

// Memory charged for a cached node: the node as it sits in memory, plus the cache's
// own bookkeeping.
size_t NodeCharge(const BtreeNode& node) { return node.MemoryUsage() + 128; }

}  // namespace

Engine::Engine(Env* env, EngineOptions options)
    : env_(env),
      options_(std::move(options)),
      node_cache_(options_.cache_bytes * 3 / 4),
      value_cache_(options_.cache_bytes / 4) {}

Engine::~Engine() {
  if (!options_.checkpoint_on_close || log_ == nullptr) return;
  Status st = Checkpoint();
  if (!st.ok()) {
    std::fprintf(stderr, "sopfs: checkpoint at close failed (recovery will redo it): %s\n",
                 st.ToString().c_str());
  }
}

Result<std::unique_ptr<Engine>> Engine::Open(Env* env, EngineOptions options) {
  std::unique_ptr<Engine> engine(new Engine(env, std::move(options)));
  SOPFS_RETURN_IF_ERROR(engine->Init());
  return engine;
}

Status Engine::Init() {
  if (options_.data_folders.empty() || options_.registry_a.empty() || options_.registry_b.empty() ||
      options_.log_folder.empty()) {
    return Status::Error(EINVAL,
                         "engine needs data folders, two registry folders and a log folder");
  }
  SOPFS_RETURN_IF_ERROR(options_.layout.Validate(static_cast<int>(options_.data_folders.size())));
  if (options_.checkpoint_commits < 1) {
    return Status::Error(EINVAL, "checkpoint_commits must be at least 1");
  }
  for (const std::string& dir : options_.data_folders) {
    SOPFS_RETURN_IF_ERROR(env_->MkDirsDurably(dir));
  }
  for (const std::string* dir :
       {&options_.registry_a, &options_.registry_b, &options_.log_folder}) {
    SOPFS_RETURN_IF_ERROR(env_->MkDirsDurably(*dir));
  }
  locker_ = options_.locker;
  if (locker_ == nullptr) {
    own_locker_ = std::make_unique<InProcessLocker>();
    locker_ = own_locker_.get();
  }
  instance_ = BlobId::Random().ToHex().substr(0, 16);
  auto blobs = BlobStore::Open(env_, options_.data_folders, options_.blob_options);
  if (!blobs.ok()) return blobs.status();
  blobs_ = std::move(*blobs);
  auto registry = Registry::Open(env_, options_.registry_a, options_.registry_b);
  if (!registry.ok()) return registry.status();
  registry_ = std::move(*registry);
  auto log = CommitLog::Open(env_, options_.log_folder);
  if (!log.ok()) return log.status();
  log_ = std::move(*log);
  entries_ = std::make_unique<EntryTable>(registry_.get());
  return Recover();
}

Status Engine::Recover() {
  std::set<BlobId> prepared, adopted, released;
  std::vector<BlobId> frees;
  std::map<LogicalId, RegistryEntry> updates;
  LogicalId next_id = 1;
  uint64_t stamp = 0;
  for (const CommitRecord& raw : log_->recovered()) {
    Result<TxnRecord> rec = TxnRecord::Decode(raw.payload);
    if (!rec.ok()) {
      return Status::Error(
          EIO, "commit log record " + std::to_string(raw.sequence) + ": " + rec.status().message());
    }
    stamp = std::max(stamp, rec->stamp);
    next_id = std::max(next_id, rec->next_id);
    prepared.insert(rec->blobs.begin(), rec->blobs.end());
    if (rec->kind == TxnRecord::Kind::kCarry)
      frees.insert(frees.end(), rec->frees.begin(), rec->frees.end());
    if (rec->kind != TxnRecord::Kind::kCommit) continue;
    bool stale = false;
    for (LogicalId tree : rec->trees) stale = stale || applied_fence_[tree] > rec->fence;
    if (stale) {
      ++recovery_.commits_refused;
      continue;
    }
    for (LogicalId tree : rec->trees) applied_fence_[tree] = rec->fence;
    released.insert(rec->released.begin(), rec->released.end());
    for (const auto& [id, entry] : rec->updates) {
      updates[id] = entry;
      next_id = std::max(next_id, id + 1);
      if (entry.in_use()) adopted.insert(entry.blob);
    }
    frees.insert(frees.end(), rec->frees.begin(), rec->frees.end());
    ++recovery_.commits_replayed;
  }
  std::vector<std::pair<LogicalId, RegistryEntry>> apply(updates.begin(), updates.end());
  if (!apply.empty()) SOPFS_RETURN_IF_ERROR(registry_->Apply(apply));
  next_id_ = next_id;
  Result<std::unordered_map<BlobId, uint32_t>> refs = CountSegmentRefs();
  if (!refs.ok()) return refs.status();
  segment_refs_ = std::move(*refs);
  std::vector<BlobId> remove;
  for (const BlobId& blob : prepared) {
    if (!adopted.count(blob)) remove.push_back(blob);
  }
  // Segments the replayed commits took references from, and that have none left.
  for (const BlobId& blob : released) {
    if (!segment_refs_.count(blob)) frees.push_back(blob);
  }
  recovery_.orphans_removed = remove.size();
  recovery_.frees_done = frees.size();
  remove.insert(remove.end(), frees.begin(), frees.end());
  if (!remove.empty()) SOPFS_RETURN_IF_ERROR(blobs_->RemoveDurably(remove, options_.layout));
  next_id_ = next_id;
  stamp_ = stamp;
  TxnRecord carry;
  carry.kind = TxnRecord::Kind::kCarry;
  carry.stamp = stamp;
  carry.next_id = next_id;
  SOPFS_RETURN_IF_ERROR(log_->Reset({carry.Encode()}));
  // Fences matter only between records of one log; the log starts empty now.
  applied_fence_.clear();
  sequencer_.Restart(log_->next_sequence());
  return Status::Ok();
}

std::unique_ptr<Transaction> Engine::Begin(TxnMode mode) {
  return std::unique_ptr<Transaction>(new Transaction(this, mode, next_txn_.fetch_add(1)));
}

Result<std::shared_ptr<const BtreeNode>> Engine::LoadNode(LogicalId id, uint64_t snapshot,
                                                          RegistryEntry* entry) {
  Result<RegistryEntry> e = entries_->Get(id, snapshot);
  if (!e.ok()) return e.status();
  if (entry != nullptr) *entry = *e;
  const NodeKey key{e->blob, e->in_segment() ? e->slot : 0};
  if (auto node = node_cache_.Lookup(key)) return node;
  // A segment's bytes stay in the value cache: its other nodes are likely wanted next.
  Result<std::shared_ptr<const std::string>> blob = LoadValueBlob(e->blob);
  if (!blob.ok()) return blob.status();
  std::string_view bytes = **blob;
  if (e->in_segment()) {
    Result<std::vector<NodeSegment::Slot>> slots = NodeSegment::Decode(bytes);
    if (!slots.ok()) return slots.status();
    if (e->slot >= slots->size() || (*slots)[e->slot].id != id) {
      return Status::Error(EIO, "node " + std::to_string(id) + ": slot " + std::to_string(e->slot) +
                                    " of segment " + e->blob.ToHex() + " holds another node");
    }
    bytes = (*slots)[e->slot].bytes;
  }
  Result<BtreeNode> node = BtreeNode::Decode(bytes, id);
  if (!node.ok()) return node.status();
  auto shared = std::make_shared<const BtreeNode>(std::move(*node));
  node_cache_.Insert(key, shared, NodeCharge(*shared));
  return shared;
}

Result<std::shared_ptr<const std::string>> Engine::LoadValue(LogicalId id, uint64_t snapshot) {
  Result<RegistryEntry> e = entries_->Get(id, snapshot);
  if (!e.ok()) return e.status();
  return LoadValueBlob(e->blob);
}

Result<std::shared_ptr<const std::string>> Engine::LoadValueBlob(const BlobId& blob) {
  if (auto value = value_cache_.Lookup(blob)) return value;
  Result<std::vector<uint8_t>> bytes = blobs_->Get(blob, options_.layout);
  if (!bytes.ok()) return bytes.status();
  auto value = std::make_shared<const std::string>(bytes->begin(), bytes->end());
  value_cache_.Insert(blob, value, value->size() + 64);
  return value;
}

Result<size_t> Engine::ReadValueBlob(const BlobId& blob, uint64_t offset, std::span<uint8_t> out) {
  if (auto value = value_cache_.Lookup(blob)) {
    if (offset >= value->size()) return size_t{0};
    const size_t n = std::min<size_t>(out.size(), value->size() - offset);
    std::memcpy(out.data(), value->data() + offset, n);
    return n;
  }
  return blobs_->GetRange(blob, options_.layout, offset, out);
}

Status Engine::WritePrepared(std::span<const BlobStore::Write> writes) {
  if (writes.empty()) return Status::Ok();
  TxnRecord prepare;
  prepare.kind = TxnRecord::Kind::kPrepare;
  for (const BlobStore::Write& w : writes) prepare.blobs.push_back(w.id);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!broken_.ok()) return broken_;
    in_flight_.insert(prepare.blobs.begin(), prepare.blobs.end());
  }
  std::string payload = prepare.Encode();
  if (payload.size() > CommitLog::kMaxRecordBytes) {
    Discard(prepare.blobs);
    return TooLarge(payload.size());
  }
  Result<uint64_t> seq = log_->Append(std::move(payload));
  if (!seq.ok()) {
    Discard(prepare.blobs);
    std::lock_guard<std::mutex> lock(mu_);
    broken_ =
        Status::Error(EIO, "the commit log failed; reopen the volume: " + seq.status().ToString());
    return broken_;
  }
  sequencer_.Done(*seq);
  Status st = blobs_->Put(writes);
  if (!st.ok()) Discard(prepare.blobs);
  return st;
}

Result<BlobId> Engine::StageValue(std::string_view bytes) {
  std::shared_lock<std::shared_mutex> gate(gate_);
  BlobStore::Write write{BlobId::Random(),
                         options_.layout,
                         {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}};
  SOPFS_RETURN_IF_ERROR(WritePrepared({&write, 1}));
  return write.id;
}

void Engine::Discard(std::span<const BlobId> blobs) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const BlobId& blob : blobs) {
    in_flight_.erase(blob);
    pending_frees_.emplace_back(0, blob);
  }
}

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

  // Check: nothing this transaction read or wrote changed since its snapshot. The
  // trees are locked, so the latest state of each cannot move under us.
  if (txn.mode_ == TxnMode::kWriter) {
    for (const auto& [root, tree] : txn.trees_) {
      if (tree->created_) continue;
      Btree latest(&store, root, tree->options_);
      for (const auto& [key, seen] : tree->versions_) {
        Result<BtreeItem> item = latest.FindItem(key);
        if (!item.ok() && item.status().code() != ENOENT) return item.status();
        const uint64_t now = item.ok() ? item->version : 0;
        if (now != seen) return Conflict(root, "key \"" + Printable(key) + "\"");
      }
      for (const auto& [node, seen] : tree->scanned_nodes_) {
        Result<RegistryEntry> entry = entries_->Get(node, kLatest);
        if (!entry.ok() && entry.status().code() != ENOENT) return entry.status();
        if (!entry.ok() || entry->version != seen) {
          return Conflict(root, "a range read by a cursor (node " + std::to_string(node) + ")");
        }
      }
    }
  }

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
          const BlobId blob = txn.staged_values_.at(entry.value_blob);
          rec.updates.emplace_back(entry.value_blob, RegistryEntry{blob, 1, RegistryEntry::kInUse});
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
  auto replaced = [&](const RegistryEntry& old) {
    if (old.in_segment()) {
      rec.released.push_back(old.blob);
    } else {
      rec.frees.push_back(old.blob);
    }
  };
  {
    const BlobId anchor = BlobId::Random();
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
      writes.push_back(
          {blob, options_.layout, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}});
      for (uint32_t slot = 0; slot < pack.size(); ++slot) {
        const LogicalId id = pack[slot].first;
        const RegistryEntry* base = store.base(id);
        rec.updates.emplace_back(
            id, RegistryEntry{blob, base ? base->version + 1 : 1,
                              RegistryEntry::kInUse | RegistryEntry::kInSegment, slot});
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

  std::shared_lock<std::shared_mutex> gate(gate_);
  SOPFS_RETURN_IF_ERROR(WritePrepared(writes));
  std::vector<BlobId> written;
  for (const BlobStore::Write& w : writes) written.push_back(w.id);
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
  Result<uint64_t> seq = log_->Append(std::move(payload));
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
  }
  sequencer_.Done(*seq);
  // The new versions are in memory already: the next reader need not fetch them.
  for (const auto& [key, node] : new_nodes) node_cache_.Insert(key, node, NodeCharge(*node));
  // Values the transaction staged but replaced before committing.
  std::vector<BlobId> unused;
  for (const auto& [id, blob] : txn.staged_values_) {
    if (std::find(adopted_values.begin(), adopted_values.end(), blob) == adopted_values.end()) {
      unused.push_back(blob);
    }
  }
  Discard(unused);
  return Status::Ok();
}

Status Engine::MaybeCheckpoint() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (commits_since_checkpoint_ < static_cast<uint64_t>(options_.checkpoint_commits)) {
      return Status::Ok();
    }
  }
  Status st = Checkpoint();
  if (!st.ok()) {
    // Try again after as many commits again, not at every commit.
    std::lock_guard<std::mutex> lock(mu_);
    commits_since_checkpoint_ = 0;
  }
  return st;
}

Status Engine::Checkpoint() {
  std::unique_lock<std::shared_mutex> gate(gate_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!broken_.ok()) return broken_;
  }
  std::vector<std::pair<LogicalId, RegistryEntry>> dirty = entries_->Dirty();
  if (!dirty.empty()) SOPFS_RETURN_IF_ERROR(registry_->Apply(dirty));
  const uint64_t oldest = entries_->OldestSnapshot();
  std::vector<BlobId> now;
  std::vector<std::pair<uint64_t, BlobId>> later;
  // Discard needs no gate (a transaction may roll back meanwhile): what it adds from
  // here on sits at pending_frees_[split...], neither removed now nor in flight any more.
  size_t split = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    split = pending_frees_.size();
    for (const auto& [seq, blob] : pending_frees_) {
      // Garbage from publish `seq` is invisible to every snapshot taken at seq or later.
      if (seq == 0 || oldest == EntryTable::kNoSnapshot || seq <= oldest) {
        now.push_back(blob);
      } else {
        later.emplace_back(seq, blob);
      }
    }
  }
  Status removed = blobs_->RemoveDurably(now, options_.layout);
  TxnRecord carry;
  carry.kind = TxnRecord::Kind::kCarry;
  carry.stamp = stamp_.load();
  carry.next_id = next_id_.load();
  {
    std::lock_guard<std::mutex> lock(mu_);
    carry.blobs.assign(in_flight_.begin(), in_flight_.end());
    for (const auto& [seq, blob] : later) carry.frees.push_back(blob);
    for (size_t i = split; i < pending_frees_.size(); ++i) {
      carry.frees.push_back(pending_frees_[i].second);
    }
    // Frees that failed stay pending (and in the log) for the next checkpoint.
    if (!removed.ok()) carry.frees.insert(carry.frees.end(), now.begin(), now.end());
  }
  Status reset = log_->Reset({carry.Encode()});
  std::lock_guard<std::mutex> lock(mu_);
  if (!reset.ok()) {
    broken_ = Status::Error(
        EIO, "the commit log could not be reset; reopen the volume: " + reset.ToString());
    return broken_;
  }
  sequencer_.Restart(log_->next_sequence());
  entries_->Checkpointed();
  // Frees added since the split above (by Discard: the gate keeps commits out) stay
  // pending.
  later.insert(later.end(), pending_frees_.begin() + static_cast<std::ptrdiff_t>(split),
               pending_frees_.end());
  pending_frees_ = std::move(later);
  if (!removed.ok()) {
    for (const BlobId& blob : now) pending_frees_.emplace_back(0, blob);
  }
  commits_since_checkpoint_ = 0;
  ++stats_.checkpoints;
  return removed;
}

EngineStats Engine::Stats() const {
  EngineStats s;
  {
    std::lock_guard<std::mutex> lock(mu_);
    s = stats_;
  }
  s.log_flushes = log_->flushes();
  s.log_records = log_->appended();
  CacheStats cache = node_cache_.Stats();
  s.node_cache_hits = cache.hits;
  s.node_cache_misses = cache.misses;
  s.cache_bytes = cache.charge + value_cache_.Stats().charge;
  s.blob_bytes_read = blobs_->counters().bytes_read.load();
  return s;
}

Result<std::unordered_map<BlobId, uint32_t>> Engine::CountSegmentRefs() {
  std::unordered_map<BlobId, uint32_t> refs;
  const LogicalId end = next_id_.load();
  for (LogicalId id = 1; id < end; ++id) {
    Result<RegistryEntry> entry = registry_->Get(id);
    if (entry.ok()) {
      if (entry->in_segment()) ++refs[entry->blob];
    } else if (entry.status().code() != ENOENT) {
      return entry.status();
    }
  }
  return refs;
}

Status Engine::ReinstateRegistry() {
  // No checkpoint may write the registry meanwhile.
  std::unique_lock<std::shared_mutex> gate(gate_);
  return registry_->Reinstate();
}

Result<std::set<BlobId>> Engine::ReferencedBlobs() {
  std::set<BlobId> out;
  const LogicalId end = next_id_.load();
  for (LogicalId id = 1; id < end; ++id) {
    Result<RegistryEntry> entry = entries_->Get(id, EntryTable::kNoSnapshot);
    if (entry.ok()) {
      out.insert(entry->blob);
    } else if (entry.status().code() != ENOENT) {
      return entry.status();
    }
  }
  return out;
}

}  // namespace sopfs
