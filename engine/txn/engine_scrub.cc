// Engine: what a scrub needs (scrubber.h walks them at its own pace).
#include <algorithm>
#include <cstdio>
#include <set>

#include "engine/blob/folder_mark.h"
#include "engine/txn/engine.h"

namespace sopfs {

Result<std::vector<Engine::LiveBlob>> Engine::LiveBlobs() {
  std::vector<LiveBlob> out;
  std::set<BlobId> seen;
  const LogicalId end = next_id_.load();
  for (LogicalId id = 1; id < end; ++id) {
    Result<RegistryEntry> entry = entries_->Get(id, EntryTable::kNoSnapshot);
    if (!entry.ok()) {
      if (entry.status().code() == ENOENT) continue;
      return entry.status();
    }
    if (seen.insert(entry->blob).second) out.push_back({id, entry->blob, LayoutOf(*entry)});
  }
  return out;
}

bool Engine::FindReplacedFolders() {
  if (options_.read_only) return false;
  bool found = false;
  for (size_t i = 0; i < options_.data_folders.size(); ++i) {
    const std::string& dir = options_.data_folders[i];
    if (!env_->Exists(dir) || ReadFolderMark(env_, dir)) continue;
    // Marked again whenever its mark is gone (even if counted emptied already: the mark
    // may have vanished again while the drive was being filled), counted emptied once.
    Status marked = WriteFolderMark(env_, dir, static_cast<int>(i),
                                    static_cast<int>(options_.data_folders.size()));
    if (!marked.ok()) {
      std::fprintf(stderr, "sopfs: cannot mark data folder %s: %s\n", dir.c_str(),
                   marked.ToString().c_str());
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++folder_losses_;
      if (std::find(emptied_folders_.begin(), emptied_folders_.end(), dir) !=
          emptied_folders_.end()) {
        // Lost again. A folder that cannot be marked is not asked to be refilled at
        // every look: the scrubber's retry of an unfinished refill covers it.
        found = found || marked.ok();
        continue;
      }
      emptied_folders_.push_back(dir);
    }
    found = true;
    std::fprintf(stderr,
                 "sopfs: data folder %s lost its mark while mounted (a new, empty drive?): "
                 "blobs that had a shard there rely on parity until a scrub refills it\n",
                 dir.c_str());
  }
  return found;
}

Engine::ScrubResult Engine::ScrubBlob(const LiveBlob& live) {
  ScrubResult result;
  std::shared_lock<std::shared_mutex> no_garbage_removal(garbage_gate_);
  std::shared_lock<std::shared_mutex> gate(gate_);
  // Live still? Its ID may point elsewhere now; a segment stays live while any entry
  // points into it. Blobs freed since are removed only by a checkpoint, which the two
  // gates keep out, so a live blob cannot vanish under the reads below.
  Result<RegistryEntry> entry = entries_->Get(live.id, EntryTable::kNoSnapshot);
  bool is_live = entry.ok() && entry->blob == live.blob;
  if (!is_live) {
    std::lock_guard<std::mutex> lock(mu_);
    auto refs = segment_refs_.find(live.blob);
    is_live = refs != segment_refs_.end() && refs->second > 0;
  }
  // Held in memory (a commit record carries it): it has no shards yet. A spill that is
  // writing it right now (into a folder being replaced, maybe) is waited for, and what
  // it wrote is checked like any other blob: a refill must not count it whole unseen.
  bool held = is_live && held_->Contains(live.blob);
  if (held) {
    std::lock_guard<std::mutex> no_spill_meanwhile(writing_logged_mu_);
    held = held_->Contains(live.blob);
  }
  if (!is_live || held) {
    result.skipped = true;
    return result;
  }
  Result<BlobRepairReport> inspected = blobs_->Inspect(live.blob, live.layout);
  if (!inspected.ok()) {
    result.lost = true;
    return result;
  }
  result.bytes_read = inspected->bytes_read;
  result.bad_shards = static_cast<int>(inspected->bad_shards.size());
  if (result.bad_shards == 0) return result;
  if (result.bad_shards > live.layout.m) {
    result.lost = true;
    return result;
  }
  if (Status room = RoomForNewData(); !room.ok()) {
    // A full disk: the room deletions free goes back to the metadata reserve first.
    result.repair_failed = true;
    return result;
  }
  Result<BlobRepairReport> repaired = [&] {
    std::lock_guard<std::mutex> one_at_a_time(repair_mu_);
    return blobs_->Repair(live.blob, live.layout);
  }();
  if (repaired.ok()) {
    // Fewer than found: a read repair got there first.
    result.rewritten = static_cast<int>(repaired->rewritten.size());
    // A shard that could not be read for an I/O error is left as is (its folder is
    // failing): the blob is not whole, and a refill that met it is not done.
    result.repair_failed = repaired->rewritten.size() < repaired->bad_shards.size();
  } else {
    result.repair_failed = true;
    std::fprintf(stderr, "sopfs: scrub: repair of blob %s failed: %s\n", live.blob.ToHex().c_str(),
                 repaired.status().ToString().c_str());
  }
  return result;
}

}  // namespace sopfs
