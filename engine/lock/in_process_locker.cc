#include "engine/lock/in_process_locker.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "engine/lock/lock_args.h"

namespace sopfs {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Lock() waiters poll this often at first (a lease running out wakes nobody), then
// back off to the maximum.
constexpr milliseconds kFirstBackoff{1};
constexpr milliseconds kMaxBackoff{64};

int64_t MillisUntil(steady_clock::time_point until, steady_clock::time_point now) {
  return std::chrono::ceil<milliseconds>(until - now).count();
}

}  // namespace

InProcessLocker::InProcessLocker(InProcessLockerOptions options) : options_(std::move(options)) {}

InProcessLocker::TimePoint InProcessLocker::Now() const {
  return options_.clock ? options_.clock() : steady_clock::now();
}

Result<LockGrant> InProcessLocker::TryLock(std::span<const std::string> keys,
                                           const std::string& owner, milliseconds lease) {
  SOPFS_RETURN_IF_ERROR(CheckLockOwnerAndLease(owner, lease));
  std::lock_guard<std::mutex> lock(locks_mu_);
  return TryLockLocked(keys, owner, lease, Now(), nullptr);
}

Result<LockGrant> InProcessLocker::TryLockLocked(std::span<const std::string> keys,
                                                 const std::string& owner, milliseconds lease,
                                                 TimePoint now, Blocker* blocker) {
  // Check every key before taking any, so a refusal leaves the table untouched.
  for (const std::string& key : keys) {
    auto it = locks_.find(key);
    if (it == locks_.end()) continue;
    const Holder& h = it->second;
    if (h.owner == owner || h.expires <= now) continue;
    Status busy = Status::Error(
        EAGAIN, "lock on key " + QuoteLockKey(key) + " wanted by " + QuoteLockKey(owner) +
                    " is held by " + QuoteLockKey(h.owner) + " (fence " + std::to_string(h.fence) +
                    ", lease ends in " + std::to_string(MillisUntil(h.expires, now)) + " ms)");
    if (blocker != nullptr) *blocker = Blocker{busy, h.expires};
    return busy;
  }
  MaybeSweepLocked(now);
  const LockGrant grant{next_fence_.fetch_add(1, std::memory_order_relaxed),
                        LaterOrMax(now, lease)};
  for (const std::string& key : keys) {
    locks_.insert_or_assign(key, Holder{owner, grant.fence, grant.expires});
  }
  return grant;
}

Result<LockGrant> InProcessLocker::Lock(std::span<const std::string> keys, const std::string& owner,
                                        milliseconds lease, milliseconds timeout) {
  SOPFS_RETURN_IF_ERROR(CheckLockOwnerAndLease(owner, lease));
  SOPFS_RETURN_IF_ERROR(CheckLockTimeout(owner, timeout));
  const TimePoint deadline = LaterOrMax(steady_clock::now(), timeout);
  milliseconds backoff = kFirstBackoff;
  std::unique_lock<std::mutex> lock(locks_mu_);
  for (;;) {
    const TimePoint now = Now();
    Blocker blocker;
    Result<LockGrant> grant = TryLockLocked(keys, owner, lease, now, &blocker);
    if (grant.ok() || grant.status().code() != EAGAIN) return grant;

    const TimePoint real_now = steady_clock::now();
    if (real_now >= deadline) {
      return Status::Error(ETIMEDOUT, "gave up after " + std::to_string(timeout.count()) +
                                          " ms: " + blocker.status.message());
    }
    // Releases wake us through the condition variable. A lease running out does not,
    // so look again when the blocker's lease ends, and at least every `backoff` in case
    // the lease clock does not run in real time (tests).
    const milliseconds nap =
        std::min(backoff, std::chrono::ceil<milliseconds>(blocker.expires - now));
    locks_released_.wait_until(lock, std::min(deadline, LaterOrMax(real_now, nap)));
    backoff = std::min(2 * backoff, kMaxBackoff);
  }
}

Result<LockGrant> InProcessLocker::Renew(std::span<const std::string> keys,
                                         const std::string& owner, uint64_t fence,
                                         milliseconds lease) {
  SOPFS_RETURN_IF_ERROR(CheckLockOwnerAndLease(owner, lease));
  std::lock_guard<std::mutex> lock(locks_mu_);
  const TimePoint now = Now();
  for (const std::string& key : keys) {
    auto it = locks_.find(key);
    std::string why;
    if (it == locks_.end()) {
      why = "is not held";
    } else if (it->second.owner != owner) {
      why = "is held by " + QuoteLockKey(it->second.owner);
    } else if (it->second.fence != fence) {
      why = "is held under fence " + std::to_string(it->second.fence);
    } else if (it->second.expires <= now) {
      why = "lease ended " + std::to_string(-MillisUntil(it->second.expires, now)) + " ms ago";
    } else {
      continue;
    }
    return Status::Error(ESTALE, "cannot renew lock on key " + QuoteLockKey(key) + " for " +
                                     QuoteLockKey(owner) + " with fence " + std::to_string(fence) +
                                     ": it " + why);
  }
  const LockGrant grant{fence, LaterOrMax(now, lease)};
  for (const std::string& key : keys) locks_.find(key)->second.expires = grant.expires;
  return grant;
}

Status InProcessLocker::Unlock(std::span<const std::string> keys, const std::string& owner,
                               uint64_t fence) {
  bool released = false;
  {
    std::lock_guard<std::mutex> lock(locks_mu_);
    for (const std::string& key : keys) {
      auto it = locks_.find(key);
      if (it != locks_.end() && it->second.owner == owner && it->second.fence == fence) {
        locks_.erase(it);
        released = true;
      }
    }
  }
  // Every waiter tries again: each wants its own set of keys, and which of them the
  // release unblocked is cheaper to find out by trying than to track.
  if (released) locks_released_.notify_all();
  return Status::Ok();
}

bool InProcessLocker::Holds(std::span<const std::string> keys, const std::string& owner,
                            uint64_t fence) {
  std::lock_guard<std::mutex> lock(locks_mu_);
  const TimePoint now = Now();
  return std::all_of(keys.begin(), keys.end(), [&](const std::string& key) {
    auto it = locks_.find(key);
    return it != locks_.end() && it->second.owner == owner && it->second.fence == fence &&
           it->second.expires > now;
  });
}

size_t InProcessLocker::entries() const {
  std::lock_guard<std::mutex> lock(locks_mu_);
  return locks_.size();
}

void InProcessLocker::MaybeSweepLocked(TimePoint now) {
  // Sweeping only once the table has doubled keeps its cost amortized O(1) per grant
  // while bounding it to about twice the live locks (or kMinSweepEntries).
  if (locks_.size() < sweep_at_) return;
  std::erase_if(locks_, [now](const auto& entry) { return entry.second.expires <= now; });
  sweep_at_ = std::max(kMinSweepEntries, 2 * locks_.size());
}

}  // namespace sopfs
