#include "engine/txn/repair_queue.h"

namespace sopfs {

RepairQueue::RepairQueue(RepairFn repair) : repair_(std::move(repair)) {
  thread_ = std::thread([this] { Run(); });
}

bool RepairQueue::Add(const BlobId& blob, ErasureLayout layout) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queued_.size() >= kMaxQueued || !queued_.insert(blob).second) return false;
    queue_.emplace_back(blob, layout);
  }
  cv_.notify_one();
  return true;
}

void RepairQueue::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void RepairQueue::Run() {
  std::unique_lock lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    const auto [blob, layout] = queue_.front();
    queue_.pop_front();
    lock.unlock();
    repair_(blob, layout);
    lock.lock();
    queued_.erase(blob);
  }
}

}  // namespace sopfs
