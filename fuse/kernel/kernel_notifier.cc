#include "fuse/kernel/kernel_notifier.h"

#include <algorithm>

namespace sopfs {

KernelNotifier::KernelNotifier() : thread_([this] { Loop(); }) {}

KernelNotifier::~KernelNotifier() {
  {
    std::lock_guard lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  thread_.join();
}

void KernelNotifier::SetSession(fuse_session* se) {
  std::lock_guard lock(session_mu_);
  se_ = se;
}

void KernelNotifier::InvalidateInode(uint64_t ino, bool attrs_only) {
  std::shared_lock lock(session_mu_);
  // ENOENT (the kernel does not hold the inode) is the common, harmless answer.
  if (se_ != nullptr) (void)fuse_lowlevel_notify_inval_inode(se_, ino, attrs_only ? -1 : 0, 0);
}

void KernelNotifier::InvalidateRange(uint64_t ino, uint64_t offset, uint64_t length) {
  std::shared_lock lock(session_mu_);
  if (se_ != nullptr) {
    (void)fuse_lowlevel_notify_inval_inode(se_, ino, static_cast<off_t>(offset),
                                           static_cast<off_t>(length));
  }
}

void KernelNotifier::InvalidateEntryLater(uint64_t parent, std::string name) {
  {
    std::lock_guard lock(queue_mu_);
    queue_.emplace_back(parent, std::move(name));
  }
  queue_cv_.notify_one();
}

void KernelNotifier::DirectoryBusy(uint64_t ino) {
  std::lock_guard lock(queue_mu_);
  ++busy_[ino];
}

void KernelNotifier::DirectoryIdle(uint64_t ino) {
  {
    std::lock_guard lock(queue_mu_);
    auto it = busy_.find(ino);
    if (it == busy_.end() || --it->second > 0) return;
    busy_.erase(it);
  }
  queue_cv_.notify_one();
}

void KernelNotifier::Loop() {
  std::unique_lock lock(queue_mu_);
  while (true) {
    // The oldest invalidation whose directory no long request holds.
    auto ready = queue_.end();
    queue_cv_.wait(lock, [&] {
      ready = std::find_if(queue_.begin(), queue_.end(),
                           [&](const auto& entry) { return !busy_.contains(entry.first); });
      return stopping_ || ready != queue_.end();
    });
    if (stopping_) return;
    auto [parent, name] = std::move(*ready);
    queue_.erase(ready);
    lock.unlock();
    {
      std::shared_lock session(session_mu_);
      if (se_ != nullptr) {
        (void)fuse_lowlevel_notify_inval_entry(se_, parent, name.data(), name.size());
      }
    }
    lock.lock();
  }
}

}  // namespace sopfs
