// Tests of InProcessLocker against the Locker contract: all-or-none grants, re-entry,
// fencing tokens, leases (on a fake clock, no sleeps), waiting, and mutual exclusion
// across threads.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "engine/lock/in_process_locker.h"

namespace sopfs {
namespace {

using namespace std::chrono_literals;
using Keys = std::vector<std::string>;

// A lease clock that moves only when told to; safe to read from any thread.
class FakeClock {
 public:
  std::chrono::steady_clock::time_point Now() const {
    return std::chrono::steady_clock::time_point(std::chrono::nanoseconds(ns_.load()));
  }
  void Advance(std::chrono::nanoseconds d) { ns_ += d.count(); }

 private:
  std::atomic<int64_t> ns_{std::chrono::nanoseconds(1h).count()};
};

class TxnLockTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  InProcessLocker locker_{{.clock = [this] { return clock_.Now(); }}};
};

TEST_F(TxnLockTest, TxnLockTakesAllKeysOrNoneWhenOneIsHeldByAnother) {
  auto b = locker_.TryLock(Keys{"b"}, "owner-b", 10s);
  ASSERT_TRUE(b.ok()) << b.status().ToString();

  auto a = locker_.TryLock(Keys{"a", "b", "c"}, "owner-a", 10s);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), EAGAIN);
  EXPECT_NE(a.status().message().find("'b'"), std::string::npos) << a.status().message();
  EXPECT_NE(a.status().message().find("'owner-b'"), std::string::npos) << a.status().message();

  // Nothing was taken: a third owner gets "a" and "c" at once.
  auto c = locker_.TryLock(Keys{"a", "c"}, "owner-c", 10s);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(locker_.entries(), 3u);
  EXPECT_TRUE(locker_.Holds(Keys{"b"}, "owner-b", b->fence));
}

TEST_F(TxnLockTest, TxnLockSameOwnerRetakesItsKeysWithNewFenceAndRestartedLease) {
  auto first = locker_.TryLock(Keys{"a"}, "owner-a", 100ms);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  clock_.Advance(60ms);

  auto again = locker_.TryLock(Keys{"a", "b", "a"}, "owner-a", 100ms);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_GT(again->fence, first->fence);
  EXPECT_EQ(again->expires, clock_.Now() + 100ms);

  // Past the first lease, inside the second: the keys are held under the new token only.
  clock_.Advance(60ms);
  EXPECT_TRUE(locker_.Holds(Keys{"a", "b"}, "owner-a", again->fence));
  EXPECT_FALSE(locker_.Holds(Keys{"a"}, "owner-a", first->fence));
  auto other = locker_.TryLock(Keys{"a"}, "owner-b", 100ms);
  EXPECT_EQ(other.status().code(), EAGAIN);

  // The repeated "a" made one entry; releasing with the new token frees both keys.
  EXPECT_TRUE(locker_.Unlock(Keys{"a", "b"}, "owner-a", again->fence).ok());
  EXPECT_EQ(locker_.entries(), 0u);
}

TEST_F(TxnLockTest, TxnLockFencesStrictlyIncreaseAcrossGrantsAndOwners) {
  uint64_t last = kNoFence;
  for (int i = 0; i < 50; ++i) {
    const std::string owner = "owner-" + std::to_string(i % 3);
    const std::string key = "k" + std::to_string(i % 4);
    auto grant = locker_.TryLock(Keys{key}, owner, 1s);
    if (!grant.ok()) {
      ASSERT_EQ(grant.status().code(), EAGAIN);
      clock_.Advance(2s);  // let every lease run out, then take the key over
      grant = locker_.TryLock(Keys{key}, owner, 1s);
      ASSERT_TRUE(grant.ok()) << grant.status().ToString();
    }
    EXPECT_GT(grant->fence, last);
    last = grant->fence;
    if (i % 5 == 0) {
      ASSERT_TRUE(locker_.Unlock(Keys{key}, owner, grant->fence).ok());
    }
  }
  // Renewing keeps the token; the next grant still goes above it.
  auto held = locker_.TryLock(Keys{"renewed"}, "owner-r", 1s);
  ASSERT_TRUE(held.ok());
  auto renewed = locker_.Renew(Keys{"renewed"}, "owner-r", held->fence, 1s);
  ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
  EXPECT_EQ(renewed->fence, held->fence);
  auto next = locker_.TryLock(Keys{"other"}, "owner-s", 1s);
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->fence, held->fence);
}

TEST_F(TxnLockTest, TxnLockFirstFenceIsOneSoZeroMeansNoLock) {
  InProcessLocker fresh;
  auto grant = fresh.TryLock(Keys{"a"}, "owner-a", 1s);
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(grant->fence, 1u);
  EXPECT_FALSE(fresh.Holds(Keys{"a"}, "owner-a", kNoFence));
}

TEST_F(TxnLockTest, TxnLockExpiredLeaseLetsAnotherOwnerTakeOverAndOldOwnerLosesEverything) {
  auto old_grant = locker_.TryLock(Keys{"a", "b"}, "owner-old", 100ms);
  ASSERT_TRUE(old_grant.ok());
  clock_.Advance(99ms);
  EXPECT_TRUE(locker_.Holds(Keys{"a", "b"}, "owner-old", old_grant->fence));
  EXPECT_EQ(locker_.TryLock(Keys{"a"}, "owner-new", 100ms).status().code(), EAGAIN);

  clock_.Advance(1ms);  // exactly at the lease end: expired
  EXPECT_FALSE(locker_.Holds(Keys{"a"}, "owner-old", old_grant->fence));
  auto new_grant = locker_.TryLock(Keys{"a"}, "owner-new", 100ms);
  ASSERT_TRUE(new_grant.ok()) << new_grant.status().ToString();
  EXPECT_GT(new_grant->fence, old_grant->fence);

  EXPECT_FALSE(locker_.Holds(Keys{"a"}, "owner-old", old_grant->fence));
  auto renew = locker_.Renew(Keys{"a", "b"}, "owner-old", old_grant->fence, 100ms);
  ASSERT_FALSE(renew.ok());
  EXPECT_EQ(renew.status().code(), ESTALE);
  EXPECT_NE(renew.status().message().find("'owner-new'"), std::string::npos)
      << renew.status().message();
  EXPECT_TRUE(locker_.Unlock(Keys{"a", "b"}, "owner-old", old_grant->fence).ok());
  EXPECT_TRUE(locker_.Holds(Keys{"a"}, "owner-new", new_grant->fence));
}

TEST_F(TxnLockTest, TxnLockRenewAfterLeaseEndFailsEvenIfNobodyTookOver) {
  auto grant = locker_.TryLock(Keys{"a"}, "owner-a", 100ms);
  ASSERT_TRUE(grant.ok());
  clock_.Advance(150ms);
  auto renew = locker_.Renew(Keys{"a"}, "owner-a", grant->fence, 100ms);
  EXPECT_EQ(renew.status().code(), ESTALE) << renew.status().ToString();
  EXPECT_FALSE(locker_.Holds(Keys{"a"}, "owner-a", grant->fence));
}

TEST_F(TxnLockTest, TxnLockRenewExtendsAllKeysOrNone) {
  auto grant = locker_.TryLock(Keys{"a", "b"}, "owner-a", 100ms);
  ASSERT_TRUE(grant.ok());
  clock_.Advance(80ms);
  auto renewed = locker_.Renew(Keys{"a", "b"}, "owner-a", grant->fence, 100ms);
  ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
  EXPECT_EQ(renewed->expires, clock_.Now() + 100ms);
  clock_.Advance(80ms);  // past the first lease, inside the renewed one
  EXPECT_TRUE(locker_.Holds(Keys{"a", "b"}, "owner-a", grant->fence));

  // "b" released: renewing both fails and does not extend "a" either.
  ASSERT_TRUE(locker_.Unlock(Keys{"b"}, "owner-a", grant->fence).ok());
  EXPECT_EQ(locker_.Renew(Keys{"a", "b"}, "owner-a", grant->fence, 1h).status().code(), ESTALE);
  EXPECT_EQ(locker_.Renew(Keys{"a"}, "owner-a", grant->fence + 1, 1h).status().code(), ESTALE);
  EXPECT_EQ(locker_.Renew(Keys{"a"}, "owner-x", grant->fence, 1h).status().code(), ESTALE);
  clock_.Advance(20ms);  // the renewed lease of "a" ends here, unextended
  EXPECT_FALSE(locker_.Holds(Keys{"a"}, "owner-a", grant->fence));
}

TEST_F(TxnLockTest, TxnLockHoldsNeedsEveryKeyWithSameOwnerAndFence) {
  auto grant = locker_.TryLock(Keys{"a", "b"}, "owner-a", 1s);
  ASSERT_TRUE(grant.ok());
  EXPECT_TRUE(locker_.Holds(Keys{"a", "b"}, "owner-a", grant->fence));
  EXPECT_FALSE(locker_.Holds(Keys{"a", "b", "c"}, "owner-a", grant->fence));
  EXPECT_FALSE(locker_.Holds(Keys{"a"}, "owner-b", grant->fence));
  EXPECT_FALSE(locker_.Holds(Keys{"a"}, "owner-a", grant->fence + 1));
}

TEST_F(TxnLockTest, TxnLockUnlockWithStaleFenceLeavesNewHoldersLock) {
  // Taken over after expiry by another owner.
  auto old_grant = locker_.TryLock(Keys{"a"}, "owner-a", 100ms);
  ASSERT_TRUE(old_grant.ok());
  clock_.Advance(200ms);
  auto new_grant = locker_.TryLock(Keys{"a"}, "owner-b", 1s);
  ASSERT_TRUE(new_grant.ok());
  EXPECT_TRUE(locker_.Unlock(Keys{"a"}, "owner-a", old_grant->fence).ok());
  EXPECT_TRUE(locker_.Holds(Keys{"a"}, "owner-b", new_grant->fence));
  EXPECT_EQ(locker_.TryLock(Keys{"a"}, "owner-c", 1s).status().code(), EAGAIN);

  // Right token, wrong owner: left alone too.
  EXPECT_TRUE(locker_.Unlock(Keys{"a"}, "owner-c", new_grant->fence).ok());
  EXPECT_TRUE(locker_.Holds(Keys{"a"}, "owner-b", new_grant->fence));

  // Retaken by the same owner: the older token no longer releases it.
  auto retaken = locker_.TryLock(Keys{"a"}, "owner-b", 1s);
  ASSERT_TRUE(retaken.ok());
  EXPECT_TRUE(locker_.Unlock(Keys{"a"}, "owner-b", new_grant->fence).ok());
  EXPECT_TRUE(locker_.Holds(Keys{"a"}, "owner-b", retaken->fence));

  // Keys never held: no error.
  EXPECT_TRUE(locker_.Unlock(Keys{"never"}, "owner-b", retaken->fence).ok());
}

TEST_F(TxnLockTest, TxnLockRejectsEmptyOwnerNonPositiveLeaseAndNegativeTimeout) {
  EXPECT_EQ(locker_.TryLock(Keys{"a"}, "", 1s).status().code(), EINVAL);
  EXPECT_EQ(locker_.TryLock(Keys{"a"}, "owner-a", 0ms).status().code(), EINVAL);
  EXPECT_EQ(locker_.Lock(Keys{"a"}, "owner-a", 1s, -1ms).status().code(), EINVAL);
  EXPECT_EQ(locker_.Renew(Keys{"a"}, "owner-a", 1, -5ms).status().code(), EINVAL);
  EXPECT_EQ(locker_.entries(), 0u);
}

TEST_F(TxnLockTest, TxnLockHugeLeaseMeansForeverNotOverflow) {
  auto grant = locker_.TryLock(Keys{"a"}, "owner-a", std::chrono::milliseconds::max());
  ASSERT_TRUE(grant.ok());
  clock_.Advance(24h * 365 * 100);
  EXPECT_TRUE(locker_.Holds(Keys{"a"}, "owner-a", grant->fence));
}

TEST_F(TxnLockTest, TxnLockExpiredEntriesAreSweptSoTheTableStaysBounded) {
  // Holders that never unlock: each lease has run out before the next grant.
  for (int i = 0; i < 20000; ++i) {
    ASSERT_TRUE(locker_.TryLock(Keys{"abandoned-" + std::to_string(i)}, "owner", 1ms).ok());
    clock_.Advance(2ms);
    ASSERT_LE(locker_.entries(), InProcessLocker::kMinSweepEntries + 1);
  }
  // Live locks are never swept.
  auto live = locker_.TryLock(Keys{"live"}, "owner-live", 1h);
  ASSERT_TRUE(live.ok());
  for (int i = 0; i < 2000; ++i) {
    ASSERT_TRUE(locker_.TryLock(Keys{"more-" + std::to_string(i)}, "owner", 1ms).ok());
    clock_.Advance(2ms);
  }
  EXPECT_TRUE(locker_.Holds(Keys{"live"}, "owner-live", live->fence));
}

TEST_F(TxnLockTest, TxnLockWaitsUntilAnotherThreadUnlocksAndThenReturns) {
  InProcessLocker locker;  // real clock: the lease must not end while we wait
  auto held = locker.TryLock(Keys{"a", "b"}, "owner-a", 1h);
  ASSERT_TRUE(held.ok());

  std::atomic<bool> released{false};
  std::atomic<bool> returned{false};
  bool returned_after_release = false;
  Result<LockGrant> waited = Status::Error(EIO, "not run");
  std::thread waiter([&] {
    waited = locker.Lock(Keys{"b", "c"}, "owner-b", 1h, 30s);
    returned_after_release = released.load();
    returned = true;
  });
  std::this_thread::sleep_for(50ms);
  EXPECT_FALSE(returned.load());
  released = true;
  ASSERT_TRUE(locker.Unlock(Keys{"a", "b"}, "owner-a", held->fence).ok());
  const auto unlocked_at = std::chrono::steady_clock::now();
  waiter.join();

  ASSERT_TRUE(waited.ok()) << waited.status().ToString();
  EXPECT_TRUE(returned_after_release);
  EXPECT_GT(waited->fence, held->fence);
  EXPECT_TRUE(locker.Holds(Keys{"b", "c"}, "owner-b", waited->fence));
  // Woken by the release, not by a timeout (generous bound for loaded machines).
  EXPECT_LT(std::chrono::steady_clock::now() - unlocked_at, 5s);
}

TEST_F(TxnLockTest, TxnLockWaiterTakesOverWhenBlockingLeaseRunsOut) {
  auto held = locker_.TryLock(Keys{"a"}, "owner-a", 1s);
  ASSERT_TRUE(held.ok());
  Result<LockGrant> waited = Status::Error(EIO, "not run");
  // Nobody unlocks: only the fake clock moving past the lease can let the waiter in.
  std::thread waiter([&] { waited = locker_.Lock(Keys{"a"}, "owner-b", 1s, 30s); });
  // Give the waiter time to find "a" held and go to sleep, so that it is its polling,
  // not its first attempt, that sees the lease end (it passes either way).
  std::this_thread::sleep_for(20ms);
  clock_.Advance(2s);
  waiter.join();
  ASSERT_TRUE(waited.ok()) << waited.status().ToString();
  EXPECT_GT(waited->fence, held->fence);
  EXPECT_FALSE(locker_.Holds(Keys{"a"}, "owner-a", held->fence));
}

TEST_F(TxnLockTest, TxnLockTimesOutWithEtimedoutAndTakesNothing) {
  InProcessLocker locker;
  auto held = locker.TryLock(Keys{"b"}, "owner-a", 1h);
  ASSERT_TRUE(held.ok());

  const auto start = std::chrono::steady_clock::now();
  auto waited = locker.Lock(Keys{"a", "b"}, "owner-b", 1h, 50ms);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(waited.ok());
  EXPECT_EQ(waited.status().code(), ETIMEDOUT);
  EXPECT_NE(waited.status().message().find("'b'"), std::string::npos) << waited.status().message();
  EXPECT_GE(elapsed, 50ms);
  EXPECT_LT(elapsed, 5s);
  EXPECT_EQ(locker.entries(), 1u);  // "a" was not taken

  // A zero timeout is one attempt.
  EXPECT_EQ(locker.Lock(Keys{"b"}, "owner-b", 1h, 0ms).status().code(), ETIMEDOUT);
}

TEST_F(TxnLockTest, TxnLockEightThreadsCountExactlyUnderLockOfOneKey) {
  constexpr int kThreads = 8;
  constexpr int kIterations = 500;
  InProcessLocker locker;
  long counter = 0;  // deliberately not atomic: the locker is the only guard
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string owner = "worker-" + std::to_string(t);
      for (int i = 0; i < kIterations; ++i) {
        auto grant = locker.Lock(Keys{"counter"}, owner, 1min, 1min);
        if (!grant.ok()) {
          ++failures;
          continue;
        }
        ++counter;
        if (!locker.Unlock(Keys{"counter"}, owner, grant->fence).ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(counter, kThreads * kIterations);
  EXPECT_EQ(locker.entries(), 0u);
}

}  // namespace
}  // namespace sopfs
