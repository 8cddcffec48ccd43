// InProcessLocker: the Locker of standalone mode, where one daemon owns the volume.
//
// What lives here: a table from key to its holder (owner, fencing token, lease end),
// one mutex guarding it, and a condition variable that Lock() waiters sleep on and
// every release wakes. A key is free when it has no entry or its lease has run out;
// expired entries are overwritten when someone takes the key, and swept from the whole
// table whenever it has doubled since the last sweep, so holders that vanish without
// unlocking cannot make it grow without bound. Tokens come from a counter starting at
// 1 and only go up, so they are unique for the life of the locker (the registry's
// durable check compares them across restarts; see locker.h).
//
// Leases are measured on the clock given in the options (tests pass a fake one);
// Lock()'s timeout is real waiting time on std::chrono::steady_clock, so a frozen fake
// clock cannot make a waiter hang.
//
// Threads: every method may run concurrently with every other, from any thread. The
// locker must outlive every call into it (no Lock() may be waiting when it is
// destroyed).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include "engine/lock/locker.h"

namespace sopfs {

struct InProcessLockerOptions {
  // Returns "now" for leases; std::chrono::steady_clock::now when empty. Called from
  // any thread with the locker's mutex held, so it must not call into the locker.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

class InProcessLocker : public Locker {
 public:
  // The table is not swept while it has fewer entries than this, so small tables are
  // never scanned.
  static constexpr size_t kMinSweepEntries = 256;

  explicit InProcessLocker(InProcessLockerOptions options = {});

  Result<LockGrant> TryLock(std::span<const std::string> keys, const std::string& owner,
                            std::chrono::milliseconds lease) override;
  Result<LockGrant> Lock(std::span<const std::string> keys, const std::string& owner,
                         std::chrono::milliseconds lease,
                         std::chrono::milliseconds timeout) override;
  Result<LockGrant> Renew(std::span<const std::string> keys, const std::string& owner,
                          uint64_t fence, std::chrono::milliseconds lease) override;
  Status Unlock(std::span<const std::string> keys, const std::string& owner,
                uint64_t fence) override;
  bool Holds(std::span<const std::string> keys, const std::string& owner, uint64_t fence) override;

  // Entries in the table, live or expired (for tests and statistics).
  size_t entries() const;

 private:
  using TimePoint = std::chrono::steady_clock::time_point;

  struct Holder {
    std::string owner;
    uint64_t fence = kNoFence;
    TimePoint expires;
  };

  // What a failed attempt ran into, so Lock() can report it and time its next look.
  struct Blocker {
    Status status;
    TimePoint expires;  // of the blocking holder's lease
  };

  TimePoint Now() const;
  // TryLock with locks_mu_ held. On EAGAIN fills *blocker when it is not null.
  Result<LockGrant> TryLockLocked(std::span<const std::string> keys, const std::string& owner,
                                  std::chrono::milliseconds lease, TimePoint now, Blocker* blocker);
  // Drops expired entries if the table has doubled since the last sweep.
  void MaybeSweepLocked(TimePoint now);

  const InProcessLockerOptions options_;
  // Drawn only with locks_mu_ held, so tokens rise in the order grants are made; atomic
  // so that this stays true should a grant path ever run outside the mutex.
  std::atomic<uint64_t> next_fence_{1};

  mutable std::mutex locks_mu_;
  // Signalled whenever Unlock releases a key, so Lock() waiters try again.
  std::condition_variable locks_released_;
  std::unordered_map<std::string, Holder> locks_;  // guarded by locks_mu_
  size_t sweep_at_ = kMinSweepEntries;             // guarded by locks_mu_
};

}  // namespace sopfs
