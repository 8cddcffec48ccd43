// Engine: recovery at open, and checkpoints (registry written, garbage removed, log reset
// carrying what must survive it, node segment counts among them).
#include <algorithm>
#include <cstdio>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>

#include "engine/txn/engine.h"

namespace sopfs {

Status Engine::Recover() {
  // Run again after a failure (a full disk): start over.
  applied_fence_.clear();
  recovery_ = {};
  std::set<BlobId> prepared, adopted, released;
  std::vector<BlobId> frees;
  std::vector<TxnRecord::CarriedBlob> carried_blobs;  // by the commits replayed
  std::map<LogicalId, RegistryEntry> updates;
  LogicalId next_id = 1;
  uint64_t stamp = 0;
  SegmentRefsReplay refs_replay;
  for (const CommitRecord& raw : log_->recovered()) {
    Result<TxnRecord> rec = TxnRecord::Decode(raw.payload);
    if (!rec.ok()) {
      return Status::Error(
          EIO, "commit log record " + std::to_string(raw.sequence) + ": " + rec.status().message());
    }
    // Only a clustered volume's commit sequence holds these; read as a prepare they would
    // be skipped unseen (docs/CLUSTER.md 5).
    if (TxnRecord::ClusterOnly(rec->kind)) {
      return Status::Error(EIO, "commit log record " + std::to_string(raw.sequence) + " is a " +
                                    TxnRecord::KindName(rec->kind) +
                                    " record, which only a clustered volume's commit sequence "
                                    "holds, not a standalone commit log");
    }
    stamp = std::max(stamp, rec->stamp);
    next_id = std::max(next_id, rec->next_id);
    prepared.insert(rec->blobs.begin(), rec->blobs.end());
    if (rec->kind == TxnRecord::Kind::kCarry) {
      frees.insert(frees.end(), rec->frees.begin(), rec->frees.end());
      // Carried on from the log before (committed there): written as a commit's are.
      for (TxnRecord::CarriedBlob& b : rec->carried) carried_blobs.push_back(std::move(b));
    }
    if (rec->kind != TxnRecord::Kind::kCommit) {
      refs_replay.Add(*rec, /*applied=*/false);
      continue;
    }
    bool stale = false;
    for (LogicalId tree : rec->trees) stale = stale || applied_fence_[tree] > rec->fence;
    refs_replay.Add(*rec, /*applied=*/!stale);
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
    for (TxnRecord::CarriedBlob& b : rec->carried) {
      if (Status fits = b.layout.Validate(blobs_->folder_count()); !fits.ok()) {
        return Status::Error(EIO, "commit log record " + std::to_string(raw.sequence) +
                                      " carries blob " + b.id.ToHex() + ": " + fits.message());
      }
      carried_blobs.push_back(std::move(b));
    }
    ++recovery_.commits_replayed;
  }
  std::vector<std::pair<LogicalId, RegistryEntry>> apply(updates.begin(), updates.end());
  if (options_.read_only) {
    // Nothing is written: the replayed commits live in memory, as between checkpoints.
    if (!apply.empty()) entries_->Publish(apply);
    // The blobs the records carry are read from memory.
    for (TxnRecord::CarriedBlob& b : carried_blobs) {
      held_->Hold(b.id, b.layout, std::move(b.bytes), /*logged=*/true);
    }
    // What a writable open would remove (orphans of unfinished commits, frees): a check
    // must not call these leaks.
    recovery_pending_.clear();
    for (const BlobId& blob : prepared) {
      if (!adopted.count(blob)) recovery_pending_.insert(blob);
    }
    recovery_pending_.insert(frees.begin(), frees.end());
    recovery_pending_.insert(released.begin(), released.end());
    next_id_ = next_id;
    stamp_ = stamp;
    return Status::Ok();
  }
  if (!apply.empty()) SOPFS_RETURN_IF_ERROR(registry_->Apply(apply));
  next_id_ = next_id;
  // From the log (the counts the last checkpoint carried, and the replayed commits);
  // only a log without them has the whole registry read.
  std::string why;
  if (std::optional<SegmentRefs> carried = refs_replay.Result(&why)) {
    segment_refs_ = std::move(*carried);
  } else {
    if (!log_->recovered().empty()) {
      std::fprintf(stderr, "sopfs: counting node segment references in the registry (%s)\n",
                   why.c_str());
    }
    Result<SegmentRefs> refs = CountSegmentRefs();
    if (!refs.ok()) return refs.status();
    segment_refs_ = std::move(*refs);
    recovery_.segment_refs_counted = true;
  }
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
  if (!remove.empty()) SOPFS_RETURN_IF_ERROR(blobs_->RemoveDurably(remove, RemovalLayout()));
  // The blobs the replayed records carried, once the garbage made room for them, and
  // not those later records freed: written before the log that carries them is reset.
  const std::set<BlobId> gone(remove.begin(), remove.end());
  std::erase_if(carried_blobs,
                [&](const TxnRecord::CarriedBlob& b) { return gone.count(b.id) != 0; });
  if (!carried_blobs.empty()) SOPFS_RETURN_IF_ERROR(WriteCarried(carried_blobs));
  next_id_ = next_id;
  stamp_ = stamp;
  TxnRecord carry;
  carry.kind = TxnRecord::Kind::kCarry;
  carry.stamp = stamp;
  carry.next_id = next_id;
  std::vector<std::string> first = EncodeSegmentRefs(segment_refs_);
  first.insert(first.begin(), carry.Encode());
  SOPFS_RETURN_IF_ERROR(log_->Reset(first));
  // Fences matter only between records of one log; the log starts empty now.
  applied_fence_.clear();
  sequencer_.Restart(log_->next_sequence());
  return Status::Ok();
}

Status Engine::MaybeCheckpoint() {
  const bool reserve_whole = reserve_->Full();
  {
    std::lock_guard<std::mutex> lock(mu_);
    // While the metadata reserve is in use, every commit checkpoints: the blobs that
    // deletions and replaced node versions freed go back to the disk at once.
    // ... and once the log carries HeldCapacity() (commits stop carrying at twice that;
    // a reset frees its room).
    if (reserve_whole && carried_since_checkpoint_ < HeldCapacity() &&
        commits_since_checkpoint_ < static_cast<uint64_t>(options_.checkpoint_commits) &&
        entries_->DirtyCount() < dirty_entries_at_failure_ + options_.checkpoint_entries) {
      return Status::Ok();
    }
  }
  // Near a full disk (the reserve in use, or a data folder short of room) the commit
  // runs it itself: the room that garbage gives back is then there for the next write.
  if (reserve_whole && !disk_tight_ && options_.background_checkpoint && spiller_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(spill_mu_);
      checkpoint_wanted_ = true;
    }
    spill_cv_.notify_all();
    return Status::Ok();
  }
  return CheckpointOrBackOff();
}

Status Engine::CheckpointOrBackOff() {
  Status st = Checkpoint();
  if (!st.ok()) {
    // Try again after as many commits again, not at every commit.
    std::lock_guard<std::mutex> lock(mu_);
    commits_since_checkpoint_ = 0;
    carried_since_checkpoint_ = 0;  // commits carry again, as much again, then it retries
    dirty_entries_at_failure_ = entries_->DirtyCount();
  }
  return st;
}

Status Engine::Checkpoint() {
  Status st = CheckpointOnce();
  // The registry and the new log are metadata: a full disk lends them the reserve.
  if (st.code() == ENOSPC && reserve_->Release()) st = CheckpointOnce();
  // The blobs it removed may be the room the reserve waits for (a no-op when whole).
  reserve_->Full();
  return st;
}

Status Engine::CheckpointOnce() {
  // One checkpoint at a time: between the split below and the end, only checkpoints
  // take entries out of pending_frees_ (commits and Discard append).
  std::lock_guard<std::mutex> one_at_a_time(checkpoint_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!broken_.ok()) return broken_;
  }
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
  // Garbage first: at a full disk its room is what the blobs below need. (The log
  // still holds the records that freed it, so a crash from here on replays them.)
  // It goes while commits go on: no snapshot sees it, no later one will, and no commit
  // refers to it again. (Removing thousands of blobs durably takes seconds; under the
  // exclusive gate it stopped every commit that long.) Carried garbage is forgotten
  // first, so that no spill writes it; a failed spill may have left part of it, so it is
  // removed too. The garbage gate keeps out the scrub and read repair, which could
  // otherwise rewrite shards of a blob that turned garbage under them (it is taken
  // before the gate, as they take it).
  // Near a full disk (a data folder short of room, or the metadata reserve in use) the
  // room the garbage gives back must go to the writes that wait for it, not to one that
  // comes first with the reserve still lent out: there commits and stagings wait for the
  // whole checkpoint, as they always did.
  LookAtRoom();
  const bool tight = disk_tight_ || !reserve_->Full();
  std::unique_lock<std::shared_mutex> rewriters_out(garbage_gate_);
  std::unique_lock<std::shared_mutex> gate(gate_, std::defer_lock);
  if (tight) gate.lock();
  DropHeldGarbage(now);
  if (options_.test_hook) options_.test_hook("checkpoint:removing-garbage");
  Status removed = blobs_->RemoveDurably(now, RemovalLayout());
  rewriters_out.unlock();
  if (!gate.owns_lock()) {
    // Most blobs the log carries go to the data folders while commits go on, too (a
    // spiller that fell behind left them); what commits add meanwhile is written below.
    {
      std::shared_lock<std::shared_mutex> shared(gate_);
      (void)WriteLogged(std::numeric_limits<size_t>::max());  // its failure: below
    }
    gate.lock();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!broken_.ok()) return broken_;
  }
  // The blobs the log carries go to the data folders; those that cannot (a full disk,
  // failing folders) the new log carries on.
  if (Status written = WriteLogged(std::numeric_limits<size_t>::max()); !written.ok()) {
    std::fprintf(stderr, "sopfs: checkpoint: blobs the commit log carries stay in it: %s\n",
                 written.ToString().c_str());
  }
  std::vector<std::pair<LogicalId, RegistryEntry>> dirty = entries_->Dirty();
  if (!dirty.empty()) SOPFS_RETURN_IF_ERROR(registry_->Apply(dirty));
  TxnRecord carry;
  carry.kind = TxnRecord::Kind::kCarry;
  carry.stamp = stamp_.load();
  carry.next_id = next_id_.load();
  std::vector<std::string> first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The gate keeps commits out: the counts are those of the registry just written.
    first = EncodeSegmentRefs(segment_refs_);
    carry.blobs.assign(in_flight_.begin(), in_flight_.end());
    // Blobs the old log carried that could not be written: the new log carries them on
    // (the gate keeps the spiller out).
    for (const HeldBlobs::Blob& b : held_->Logged(std::numeric_limits<size_t>::max())) {
      carry.carried.push_back({b.id, b.layout, *b.bytes});
    }
    for (const auto& [seq, blob] : later) carry.frees.push_back(blob);
    for (size_t i = split; i < pending_frees_.size(); ++i) {
      carry.frees.push_back(pending_frees_[i].second);
    }
    // Frees that failed stay pending (and in the log) for the next checkpoint.
    if (!removed.ok()) carry.frees.insert(carry.frees.end(), now.begin(), now.end());
  }
  first.insert(first.begin(), carry.Encode());
  Status reset = log_->Reset(first);
  std::lock_guard<std::mutex> lock(mu_);
  if (!reset.ok() && !log_->broken()) {
    // The new log could not be written aside (no room, say): the old one stays whole,
    // with every record; the next checkpoint tries again.
    return Status::Error(reset.code(),
                         "the commit log could not be reset (it keeps its "
                         "records): " +
                             reset.message());
  }
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
  held_frees_seq_ = 0;
  for (const auto& [seq, blob] : later) held_frees_seq_ = std::max(held_frees_seq_, seq);
  pending_frees_ = std::move(later);
  if (!removed.ok()) {
    for (const BlobId& blob : now) pending_frees_.emplace_back(0, blob);
  }
  commits_since_checkpoint_ = 0;
  dirty_entries_at_failure_ = 0;
  carried_since_checkpoint_ = 0;
  for (const TxnRecord::CarriedBlob& b : carry.carried) carried_since_checkpoint_ += b.bytes.size();
  ++stats_.checkpoints;
  return removed;
}

uint64_t Engine::held_frees_seq() const {
  std::lock_guard<std::mutex> lock(mu_);
  return held_frees_seq_;
}

bool Engine::frees_removable(uint64_t seq) const {
  const uint64_t oldest = entries_->OldestSnapshot();
  return oldest == EntryTable::kNoSnapshot || seq <= oldest;
}

Result<SegmentRefs> Engine::CountSegmentRefs() {
  SegmentRefs refs;
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

Status Engine::VerifySegmentRefs() {
  if (options_.read_only) return Status::Error(EROFS, "a read-only engine keeps no counts");
  // Exclusive: no commit is between its record and its apply, which changes the counts.
  std::unique_lock<std::shared_mutex> gate(gate_);
  SegmentRefs counted;
  const LogicalId end = next_id_.load();
  for (LogicalId id = 1; id < end; ++id) {
    Result<RegistryEntry> entry = entries_->Get(id, EntryTable::kNoSnapshot);
    if (entry.ok()) {
      if (entry->in_segment()) ++counted[entry->blob];
    } else if (entry.status().code() != ENOENT) {
      return entry.status();
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [blob, count] : counted) {
    auto it = segment_refs_.find(blob);
    const uint32_t kept = it == segment_refs_.end() ? 0 : it->second;
    if (kept != count) {
      return Status::Error(EIO, "segment " + blob.ToHex() + ": " + std::to_string(count) +
                                    " registry entries point into it, the engine counts " +
                                    std::to_string(kept));
    }
  }
  for (const auto& [blob, count] : segment_refs_) {
    if (!counted.count(blob)) {
      return Status::Error(EIO, "segment " + blob.ToHex() +
                                    ": no registry entry points into it, "
                                    "the engine counts " +
                                    std::to_string(count));
    }
  }
  return Status::Ok();
}

}  // namespace sopfs
