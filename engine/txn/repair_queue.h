// RepairQueue: blobs a read found damaged (a shard missing, corrupt or unreadable),
// repaired one at a time on a thread of their own, so the read that found the damage
// returns at once (it decoded the bytes from parity) and the next one finds the blob
// whole again.
//
// A blob is queued once however many reads find it; the queue holds at most kMaxQueued
// blobs (more damage than that waits for the next read, or for fsck/scrub). Stop (or
// the destructor) waits for the repair under way and drops the rest.
//
// Threads: Add may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "engine/blob/blob_id.h"
#include "engine/blob/erasure_layout.h"

namespace sopfs {

class RepairQueue {
 public:
  static constexpr size_t kMaxQueued = 4096;
  using RepairFn = std::function<void(const BlobId&, ErasureLayout)>;

  explicit RepairQueue(RepairFn repair);
  ~RepairQueue() { Stop(); }
  RepairQueue(const RepairQueue&) = delete;
  RepairQueue& operator=(const RepairQueue&) = delete;

  // False when the blob was queued already or the queue is full.
  bool Add(const BlobId& blob, ErasureLayout layout);
  void Stop();
  // Blobs queued or being repaired now.
  size_t pending() {
    std::lock_guard lock(mu_);
    return queued_.size();
  }

 private:
  void Run();

  RepairFn repair_;
  std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  std::deque<std::pair<BlobId, ErasureLayout>> queue_;
  std::set<BlobId> queued_;  // in queue_ or being repaired
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sopfs
