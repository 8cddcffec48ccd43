// Engine: blobs held in memory (held_blobs.h). Small staged values wait for their
// commit; blobs a commit record carried are written to the data folders by the
// spiller soon after, by a checkpoint before it resets the log, or by recovery.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>

#include "engine/txn/engine.h"

namespace sopfs {
namespace {

constexpr size_t kSpillBatchBytes = 8u << 20;
// Between two spills: the blobs of commits that came meanwhile go in one batch.
constexpr auto kSpillPause = std::chrono::milliseconds(20);
constexpr auto kSpillRetry = std::chrono::seconds(1);

}  // namespace

std::optional<Result<std::vector<BlobId>>> Engine::HoldValues(
    std::span<const std::string_view> values, ErasureLayout layout, FolderSpan span, Room room) {
  if (options_.carry_bytes == 0 || options_.held_bytes == 0 || options_.read_only) {
    return std::nullopt;
  }
  size_t total = 0;
  for (std::string_view v : values) {
    if (v.size() > kHeldValueBytes) return std::nullopt;
    total += v.size();
  }
  // At a full disk (the metadata reserve in use) values are written, or refused, at once.
  if (total > options_.carry_bytes || !held_->HasRoom(total) || spill_failing_ || disk_tight_ ||
      !reserve_->Full()) {
    return std::nullopt;
  }
  // As a write would: no new data while the disk is full.
  if (room == Room::kNewData) {
    if (Status st = RoomForNewData(); !st.ok()) return Result<std::vector<BlobId>>(st);
  }
  std::vector<BlobId> ids;
  ids.reserve(values.size());
  for (std::string_view v : values) {
    const BlobId id = NewBlobId(span, layout.total());
    if (!held_->Hold(id, layout, std::string(v), /*logged=*/false, room == Room::kNewData)) {
      // Others took the room meanwhile: these are written as usual.
      for (const BlobId& held : ids) held_->DropStaged(held);
      return std::nullopt;
    }
    ids.push_back(id);
  }
  return Result<std::vector<BlobId>>(std::move(ids));
}

Status Engine::WriteLogged(size_t max_bytes) {
  std::lock_guard<std::mutex> one_writer(writing_logged_mu_);
  const bool all = max_bytes == std::numeric_limits<size_t>::max();
  bool reserve_used = false;
  for (;;) {
    std::vector<HeldBlobs::Blob> batch = held_->Logged(all ? kSpillBatchBytes : max_bytes);
    if (batch.empty()) return Status::Ok();
    std::vector<BlobStore::Write> writes;
    writes.reserve(batch.size());
    for (const HeldBlobs::Blob& b : batch) {
      writes.push_back(
          {b.id, b.layout, {reinterpret_cast<const uint8_t*>(b.bytes->data()), b.bytes->size()}});
    }
    std::vector<BlobWriteReport> reports;
    Status st = blobs_->Put(writes, &reports);
    uint64_t done = 0;
    for (size_t i = 0; i < batch.size() && i < reports.size(); ++i) {
      if (!reports[i].written) continue;
      held_->Drop(batch[i].id);
      ++done;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.carried_blobs_written += done;
    }
    // Committed bytes: at a full disk they may take the metadata reserve's room.
    if (st.code() == ENOSPC && !reserve_used && reserve_->Release()) {
      reserve_used = true;
      continue;
    }
    spill_failing_ = !st.ok();
    if (!st.ok()) return st;
    if (!all) return Status::Ok();
  }
}

void Engine::DropHeldGarbage(const std::vector<BlobId>& garbage) {
  std::lock_guard<std::mutex> no_writer(writing_logged_mu_);
  for (const BlobId& blob : garbage) held_->Drop(blob);
}

Status Engine::WriteCarried(const std::vector<TxnRecord::CarriedBlob>& carried) {
  // A spill before the crash may have written some of them, whole or in part. One whole
  // and sound stays; what is left of another goes (a put never overwrites; the put
  // flushes the directories), and the log's bytes are written again.
  std::vector<BlobStore::Write> writes;
  writes.reserve(carried.size());
  for (const TxnRecord::CarriedBlob& b : carried) {
    Result<BlobRepairReport> there = blobs_->Inspect(b.id, b.layout);
    if (there.ok() && there->bad_shards.empty()) continue;
    (void)blobs_->Remove(b.id, b.layout);
    writes.push_back(
        {b.id, b.layout, {reinterpret_cast<const uint8_t*>(b.bytes.data()), b.bytes.size()}});
  }
  for (size_t at = 0; at < writes.size();) {
    size_t bytes = 0, end = at;
    while (end < writes.size() &&
           (end == at || bytes + writes[end].data.size() <= kSpillBatchBytes)) {
      bytes += writes[end++].data.size();
    }
    SOPFS_RETURN_IF_ERROR(blobs_->Put(std::span(writes).subspan(at, end - at)));
    at = end;
  }
  recovery_.carried_written = writes.size();
  return Status::Ok();
}

void Engine::LookAtRoom() {
  const uint64_t want = std::max<uint64_t>(kCarryMinFreeBytes, 2 * options_.reserve_bytes);
  bool tight = false;
  for (const std::string& dir : options_.data_folders) {
    Result<FsStats> st = env_->StatFs(dir);
    tight = tight || !st.ok() || st->free_bytes < want;
  }
  disk_tight_ = tight;
}

void Engine::SpillLoop() {
  std::unique_lock<std::mutex> lock(spill_mu_);
  while (!spill_stop_) {
    spill_cv_.wait(lock,
                   [&] { return spill_stop_ || checkpoint_wanted_ || held_->logged_count() > 0; });
    if (spill_stop_) break;
    if (checkpoint_wanted_) {
      lock.unlock();
      Status st = CheckpointOrBackOff();
      if (!st.ok()) std::fprintf(stderr, "sopfs: checkpoint failed: %s\n", st.ToString().c_str());
      lock.lock();
      // Commits that asked meanwhile are in this checkpoint.
      checkpoint_wanted_ = false;
      continue;
    }
    lock.unlock();
    Status st;
    {
      std::shared_lock<std::shared_mutex> gate(gate_);
      st = WriteLogged(kSpillBatchBytes);
    }
    LookAtRoom();
    if (!st.ok()) {
      std::fprintf(stderr,
                   "sopfs: writing blobs the commit log carries failed (tried again in 1 s; "
                   "the log keeps them): %s\n",
                   st.ToString().c_str());
    }
    lock.lock();
    spill_cv_.wait_for(lock,
                       st.ok() ? std::chrono::duration_cast<std::chrono::milliseconds>(kSpillPause)
                               : std::chrono::duration_cast<std::chrono::milliseconds>(kSpillRetry),
                       [&] { return spill_stop_; });
  }
}

void Engine::StopSpiller() {
  if (!spiller_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(spill_mu_);
    spill_stop_ = true;
  }
  spill_cv_.notify_all();
  spiller_.join();
}

}  // namespace sopfs
