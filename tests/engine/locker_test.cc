// Tests of the Locker contract, run against InProcessLocker (leases on a fake clock, no
// sleeps) and RedisLocker (a real redis-server, real leases of a few hundred ms, waits
// with deadlines): all-or-none grants, re-entry, fencing tokens, leases, waiting, and
// mutual exclusion across threads. TxnLockInProcessTest has what only the in-process
// locker can show (exact lease ends on the fake clock, its table's size).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "engine/lock/in_process_locker.h"
#include "engine/lock/redis_locker.h"
#include "tests/engine/redis_test_server.h"

namespace sopfs {
namespace {

using namespace std::chrono_literals;
using Keys = std::vector<std::string>;
using TimePoint = std::chrono::steady_clock::time_point;

// A lease clock that moves only when told to; safe to read from any thread.
class FakeClock {
 public:
  TimePoint Now() const { return TimePoint(std::chrono::nanoseconds(ns_.load())); }
  void Advance(std::chrono::nanoseconds d) { ns_ += d.count(); }
  void AdvanceTo(TimePoint t) {
    if (t > Now()) Advance(t - Now());
  }

 private:
  std::atomic<int64_t> ns_{std::chrono::nanoseconds(1h).count()};
};

enum class LockerKind { kInProcess, kRedis };

// Runs each test against one kind of locker. `lease_` is a lease the test lets run out:
// on the fake clock that costs nothing, with Redis it is real waiting.
class TxnLockTest : public ::testing::TestWithParam<LockerKind> {
 protected:
  void SetUp() override {
    if (GetParam() == LockerKind::kInProcess) {
      in_process_ = std::make_unique<InProcessLocker>(
          InProcessLockerOptions{.clock = [this] { return clock_.Now(); }});
      real_clock_in_process_ = std::make_unique<InProcessLocker>();
      lease_ = 100ms;
      return;
    }
    auto server = testing::RedisTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
    auto url = RedisUrl::Parse(server_->url());
    ASSERT_TRUE(url.ok()) << url.status().ToString();
    connection_ = std::make_unique<RedisConnection>(RedisConnectionOptions{.url = *url});
    auto locker = RedisLocker::Create(connection_.get(), {.key_prefix = "sopfs:{test}:"});
    ASSERT_TRUE(locker.ok()) << locker.status().ToString();
    redis_ = std::move(*locker);
    lease_ = 250ms;
  }

  bool fake_clock() const { return GetParam() == LockerKind::kInProcess; }
  Locker& locker() { return fake_clock() ? static_cast<Locker&>(*in_process_) : *redis_; }
  // A locker whose leases run on the real clock (for tests that wait in real time).
  Locker& real_clock_locker() {
    return fake_clock() ? static_cast<Locker&>(*real_clock_in_process_) : *redis_;
  }
  TimePoint Now() const { return fake_clock() ? clock_.Now() : std::chrono::steady_clock::now(); }

  // Lets lease time pass until `t`: moves the fake clock, or sleeps.
  void PassUntil(TimePoint t) {
    if (fake_clock()) {
      clock_.AdvanceTo(t);
    } else {
      std::this_thread::sleep_until(t);
    }
  }

  // Whether `owner` stops holding `keys` with `fence` within 10 s. A Redis lease ends on
  // the server's clock, a little after the grant's (conservative) `expires`.
  bool EventuallyNotHeld(const Keys& keys, const std::string& owner, uint64_t fence) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (locker().Holds(keys, owner, fence)) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }

  // The grant's lease end is `lease` after some moment between `before` and `after`.
  static void ExpectLeaseEnd(const LockGrant& grant, TimePoint before, TimePoint after,
                             std::chrono::milliseconds lease) {
    EXPECT_GE(grant.expires, before + lease);
    EXPECT_LE(grant.expires, after + lease);
  }

  FakeClock clock_;
  std::chrono::milliseconds lease_{100};
  std::unique_ptr<InProcessLocker> in_process_;
  std::unique_ptr<InProcessLocker> real_clock_in_process_;
  std::unique_ptr<testing::RedisTestServer> server_;
  std::unique_ptr<RedisConnection> connection_;
  std::unique_ptr<RedisLocker> redis_;
};

TEST_P(TxnLockTest, TxnLockTakesAllKeysOrNoneWhenOneIsHeldByAnother) {
  auto b = locker().TryLock(Keys{"b"}, "owner-b", 10s);
  ASSERT_TRUE(b.ok()) << b.status().ToString();

  auto a = locker().TryLock(Keys{"a", "b", "c"}, "owner-a", 10s);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), EAGAIN);
  EXPECT_NE(a.status().message().find("'b'"), std::string::npos) << a.status().message();
  EXPECT_NE(a.status().message().find("'owner-b'"), std::string::npos) << a.status().message();
  EXPECT_FALSE(locker().Holds(Keys{"a"}, "owner-a", b->fence + 1));

  // Nothing was taken: a third owner gets "a" and "c" at once.
  auto c = locker().TryLock(Keys{"a", "c"}, "owner-c", 10s);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(locker().Holds(Keys{"a", "c"}, "owner-c", c->fence));
  EXPECT_TRUE(locker().Holds(Keys{"b"}, "owner-b", b->fence));
}

TEST_P(TxnLockTest, TxnLockSameOwnerRetakesItsKeysWithNewFenceAndRestartedLease) {
  auto first = locker().TryLock(Keys{"a"}, "owner-a", lease_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  PassUntil(Now() + lease_ / 2);

  const TimePoint before = Now();
  auto again = locker().TryLock(Keys{"a", "b", "a"}, "owner-a", 1h);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_GT(again->fence, first->fence);
  ExpectLeaseEnd(*again, before, Now(), 1h);

  // Past the first lease, inside the second: the keys are held under the new token only.
  PassUntil(first->expires + 1ms);
  EXPECT_TRUE(locker().Holds(Keys{"a", "b"}, "owner-a", again->fence));
  EXPECT_FALSE(locker().Holds(Keys{"a"}, "owner-a", first->fence));
  auto other = locker().TryLock(Keys{"a"}, "owner-b", lease_);
  EXPECT_EQ(other.status().code(), EAGAIN);

  // The repeated "a" made one lock; releasing with the new token frees both keys.
  EXPECT_TRUE(locker().Unlock(Keys{"a", "b"}, "owner-a", again->fence).ok());
  EXPECT_TRUE(locker().TryLock(Keys{"a", "b"}, "owner-b", lease_).ok());
}

TEST_P(TxnLockTest, TxnLockFencesStrictlyIncreaseAcrossGrantsAndOwners) {
  struct Holder {
    std::string owner;
    uint64_t fence;
  };
  std::map<std::string, Holder> holders;
  uint64_t last = kNoFence;
  for (int i = 0; i < 50; ++i) {
    const std::string owner = "owner-" + std::to_string(i % 3);
    const std::string key = "k" + std::to_string(i % 4);
    auto grant = locker().TryLock(Keys{key}, owner, 1h);
    if (!grant.ok()) {
      ASSERT_EQ(grant.status().code(), EAGAIN);
      const Holder& holder = holders.at(key);  // release it, then take the key over
      ASSERT_TRUE(locker().Unlock(Keys{key}, holder.owner, holder.fence).ok());
      grant = locker().TryLock(Keys{key}, owner, 1h);
      ASSERT_TRUE(grant.ok()) << grant.status().ToString();
    }
    EXPECT_GT(grant->fence, last);
    last = grant->fence;
    holders[key] = Holder{owner, grant->fence};
    if (i % 5 == 0) {
      ASSERT_TRUE(locker().Unlock(Keys{key}, owner, grant->fence).ok());
      holders.erase(key);
    }
  }
  // Renewing keeps the token; the next grant still goes above it.
  auto held = locker().TryLock(Keys{"renewed"}, "owner-r", 1h);
  ASSERT_TRUE(held.ok());
  auto renewed = locker().Renew(Keys{"renewed"}, "owner-r", held->fence, 1h);
  ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
  EXPECT_EQ(renewed->fence, held->fence);
  auto next = locker().TryLock(Keys{"other"}, "owner-s", 1h);
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->fence, held->fence);
}

TEST_P(TxnLockTest, TxnLockFirstFenceIsOneSoZeroMeansNoLock) {
  auto grant = locker().TryLock(Keys{"a"}, "owner-a", 1h);
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(grant->fence, 1u);
  EXPECT_FALSE(locker().Holds(Keys{"a"}, "owner-a", kNoFence));
}

TEST_P(TxnLockTest, TxnLockEmptyKeySetSucceedsAndDrawsAToken) {
  auto first = locker().TryLock(Keys{}, "owner-a", lease_);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto second = locker().TryLock(Keys{}, "owner-a", lease_);
  ASSERT_TRUE(second.ok());
  EXPECT_GT(second->fence, first->fence);
  EXPECT_TRUE(locker().Holds(Keys{}, "owner-a", second->fence));
  EXPECT_TRUE(locker().Renew(Keys{}, "owner-a", second->fence, lease_).ok());
  EXPECT_TRUE(locker().Unlock(Keys{}, "owner-a", second->fence).ok());
}

TEST_P(TxnLockTest, TxnLockExpiredLeaseLetsAnotherOwnerTakeOverAndOldOwnerLosesEverything) {
  // A long lease first, so that the checks below cannot race its end; then a short one.
  auto old_grant = locker().TryLock(Keys{"a", "b"}, "owner-old", 1h);
  ASSERT_TRUE(old_grant.ok());
  EXPECT_TRUE(locker().Holds(Keys{"a", "b"}, "owner-old", old_grant->fence));
  EXPECT_EQ(locker().TryLock(Keys{"a"}, "owner-new", lease_).status().code(), EAGAIN);
  auto shortened = locker().Renew(Keys{"a", "b"}, "owner-old", old_grant->fence, lease_);
  ASSERT_TRUE(shortened.ok()) << shortened.status().ToString();

  PassUntil(shortened->expires);
  ASSERT_TRUE(EventuallyNotHeld(Keys{"a"}, "owner-old", old_grant->fence));
  auto new_grant = locker().TryLock(Keys{"a"}, "owner-new", 1h);
  ASSERT_TRUE(new_grant.ok()) << new_grant.status().ToString();
  EXPECT_GT(new_grant->fence, old_grant->fence);

  EXPECT_FALSE(locker().Holds(Keys{"a"}, "owner-old", old_grant->fence));
  auto renew = locker().Renew(Keys{"a", "b"}, "owner-old", old_grant->fence, lease_);
  ASSERT_FALSE(renew.ok());
  EXPECT_EQ(renew.status().code(), ESTALE);
  EXPECT_NE(renew.status().message().find("'owner-new'"), std::string::npos)
      << renew.status().message();
  EXPECT_TRUE(locker().Unlock(Keys{"a", "b"}, "owner-old", old_grant->fence).ok());
  EXPECT_TRUE(locker().Holds(Keys{"a"}, "owner-new", new_grant->fence));
}

TEST_P(TxnLockTest, TxnLockRenewAfterLeaseEndFailsEvenIfNobodyTookOver) {
  auto grant = locker().TryLock(Keys{"a"}, "owner-a", lease_);
  ASSERT_TRUE(grant.ok());
  PassUntil(grant->expires + lease_ / 2);
  ASSERT_TRUE(EventuallyNotHeld(Keys{"a"}, "owner-a", grant->fence));
  auto renew = locker().Renew(Keys{"a"}, "owner-a", grant->fence, lease_);
  EXPECT_EQ(renew.status().code(), ESTALE) << renew.status().ToString();
  EXPECT_FALSE(locker().Holds(Keys{"a"}, "owner-a", grant->fence));
}

TEST_P(TxnLockTest, TxnLockRenewExtendsAllKeysOrNone) {
  auto grant = locker().TryLock(Keys{"a", "b"}, "owner-a", lease_);
  ASSERT_TRUE(grant.ok());
  // Renewed for long enough that a loaded machine still checks inside the renewed lease.
  const std::chrono::milliseconds renewed_lease = 6 * lease_;
  const TimePoint before = Now();
  auto renewed = locker().Renew(Keys{"a", "b"}, "owner-a", grant->fence, renewed_lease);
  ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
  EXPECT_EQ(renewed->fence, grant->fence);
  ExpectLeaseEnd(*renewed, before, Now(), renewed_lease);
  PassUntil(grant->expires + 1ms);  // past the first lease, inside the renewed one
  EXPECT_TRUE(locker().Holds(Keys{"a", "b"}, "owner-a", grant->fence));

  // "b" released: renewing both fails and does not extend "a" either.
  ASSERT_TRUE(locker().Unlock(Keys{"b"}, "owner-a", grant->fence).ok());
  auto both = locker().Renew(Keys{"a", "b"}, "owner-a", grant->fence, 1h);
  EXPECT_EQ(both.status().code(), ESTALE);
  EXPECT_NE(both.status().message().find("'b'"), std::string::npos) << both.status().message();
  auto newer = locker().Renew(Keys{"a"}, "owner-a", grant->fence + 1, 1h);
  EXPECT_EQ(newer.status().code(), ESTALE);
  EXPECT_NE(newer.status().message().find("fence " + std::to_string(grant->fence)),
            std::string::npos)
      << newer.status().message();
  EXPECT_EQ(locker().Renew(Keys{"a"}, "owner-x", grant->fence, 1h).status().code(), ESTALE);
  PassUntil(renewed->expires);  // the renewed lease of "a" ends here, unextended
  EXPECT_TRUE(EventuallyNotHeld(Keys{"a"}, "owner-a", grant->fence));
}

TEST_P(TxnLockTest, TxnLockHoldsNeedsEveryKeyWithSameOwnerAndFence) {
  auto grant = locker().TryLock(Keys{"a", "b"}, "owner-a", 1h);
  ASSERT_TRUE(grant.ok());
  EXPECT_TRUE(locker().Holds(Keys{"a", "b"}, "owner-a", grant->fence));
  EXPECT_FALSE(locker().Holds(Keys{"a", "b", "c"}, "owner-a", grant->fence));
  EXPECT_FALSE(locker().Holds(Keys{"a"}, "owner-b", grant->fence));
  EXPECT_FALSE(locker().Holds(Keys{"a"}, "owner-a", grant->fence + 1));
}

TEST_P(TxnLockTest, TxnLockUnlockWithStaleFenceLeavesNewHoldersLock) {
  // Taken over after expiry by another owner (Lock waits for the lease to run out).
  auto old_grant = locker().TryLock(Keys{"a"}, "owner-a", lease_);
  ASSERT_TRUE(old_grant.ok());
  PassUntil(old_grant->expires + 1ms);
  auto new_grant = locker().Lock(Keys{"a"}, "owner-b", 1h, 10s);
  ASSERT_TRUE(new_grant.ok()) << new_grant.status().ToString();
  EXPECT_TRUE(locker().Unlock(Keys{"a"}, "owner-a", old_grant->fence).ok());
  EXPECT_TRUE(locker().Holds(Keys{"a"}, "owner-b", new_grant->fence));
  EXPECT_EQ(locker().TryLock(Keys{"a"}, "owner-c", 1h).status().code(), EAGAIN);

  // Right token, wrong owner: left alone too.
  EXPECT_TRUE(locker().Unlock(Keys{"a"}, "owner-c", new_grant->fence).ok());
  EXPECT_TRUE(locker().Holds(Keys{"a"}, "owner-b", new_grant->fence));

  // Retaken by the same owner: the older token no longer releases it.
  auto retaken = locker().TryLock(Keys{"a"}, "owner-b", 1h);
  ASSERT_TRUE(retaken.ok());
  EXPECT_TRUE(locker().Unlock(Keys{"a"}, "owner-b", new_grant->fence).ok());
  EXPECT_TRUE(locker().Holds(Keys{"a"}, "owner-b", retaken->fence));

  // Keys never held: no error.
  EXPECT_TRUE(locker().Unlock(Keys{"never"}, "owner-b", retaken->fence).ok());
}

TEST_P(TxnLockTest, TxnLockRejectsEmptyOwnerNonPositiveLeaseAndNegativeTimeout) {
  EXPECT_EQ(locker().TryLock(Keys{"a"}, "", 1s).status().code(), EINVAL);
  EXPECT_EQ(locker().TryLock(Keys{"a"}, "owner-a", 0ms).status().code(), EINVAL);
  EXPECT_EQ(locker().Lock(Keys{"a"}, "owner-a", 1s, -1ms).status().code(), EINVAL);
  EXPECT_EQ(locker().Lock(Keys{"a"}, "", 1s, 1s).status().code(), EINVAL);
  EXPECT_EQ(locker().Renew(Keys{"a"}, "owner-a", 1, -5ms).status().code(), EINVAL);
  EXPECT_EQ(locker().Renew(Keys{"a"}, "", 1, 1s).status().code(), EINVAL);
  // Nothing was taken.
  EXPECT_TRUE(locker().TryLock(Keys{"a"}, "owner-b", 1s).ok());
}

TEST_P(TxnLockTest, TxnLockHugeLeaseMeansForeverNotOverflow) {
  auto grant = locker().TryLock(Keys{"a"}, "owner-a", std::chrono::milliseconds::max());
  ASSERT_TRUE(grant.ok()) << grant.status().ToString();
  EXPECT_GT(grant->expires, Now() + 24h * 365 * 50);
  if (fake_clock()) clock_.Advance(24h * 365 * 100);
  EXPECT_TRUE(locker().Holds(Keys{"a"}, "owner-a", grant->fence));
  auto renewed =
      locker().Renew(Keys{"a"}, "owner-a", grant->fence, std::chrono::milliseconds::max());
  ASSERT_TRUE(renewed.ok()) << renewed.status().ToString();
  EXPECT_TRUE(locker().Holds(Keys{"a"}, "owner-a", grant->fence));
}

TEST_P(TxnLockTest, TxnLockWaitsUntilAnotherThreadUnlocksAndThenReturns) {
  Locker& locker = real_clock_locker();  // the lease must not end while we wait
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
  // Woken by the release (or a poll soon after it), not by a timeout (generous bound for
  // loaded machines).
  EXPECT_LT(std::chrono::steady_clock::now() - unlocked_at, 5s);
}

TEST_P(TxnLockTest, TxnLockWaiterTakesOverWhenBlockingLeaseRunsOut) {
  auto held = locker().TryLock(Keys{"a"}, "owner-a", lease_);
  ASSERT_TRUE(held.ok());
  Result<LockGrant> waited = Status::Error(EIO, "not run");
  // Nobody unlocks: only the lease running out can let the waiter in.
  std::thread waiter([&] { waited = locker().Lock(Keys{"a"}, "owner-b", 1h, 30s); });
  // Give the waiter time to find "a" held and go to sleep, so that it is its polling,
  // not its first attempt, that sees the lease end (it passes either way).
  std::this_thread::sleep_for(20ms);
  PassUntil(held->expires + 1ms);
  waiter.join();
  ASSERT_TRUE(waited.ok()) << waited.status().ToString();
  EXPECT_GT(waited->fence, held->fence);
  EXPECT_FALSE(locker().Holds(Keys{"a"}, "owner-a", held->fence));
}

TEST_P(TxnLockTest, TxnLockTimesOutWithEtimedoutAndTakesNothing) {
  Locker& locker = real_clock_locker();
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

  // A zero timeout is one attempt.
  EXPECT_EQ(locker.Lock(Keys{"b"}, "owner-b", 1h, 0ms).status().code(), ETIMEDOUT);
  // "a" was not taken.
  EXPECT_TRUE(locker.TryLock(Keys{"a"}, "owner-c", 1h).ok());
}

TEST_P(TxnLockTest, TxnLockEightThreadsCountExactlyUnderLockOfOneKey) {
  constexpr int kThreads = 8;
  // Redis serves every call with a round trip; fewer rounds keep the test quick.
  const int iterations = fake_clock() ? 500 : 100;
  Locker& locker = real_clock_locker();
  long counter = 0;  // deliberately not atomic: the locker is the only guard
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string owner = "worker-" + std::to_string(t);
      for (int i = 0; i < iterations; ++i) {
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
  EXPECT_EQ(counter, kThreads * iterations);
  EXPECT_TRUE(locker.TryLock(Keys{"counter"}, "owner-last", 1min).ok());
}

INSTANTIATE_TEST_SUITE_P(Lockers, TxnLockTest,
                         ::testing::Values(LockerKind::kInProcess, LockerKind::kRedis),
                         [](const ::testing::TestParamInfo<LockerKind>& info) {
                           return info.param == LockerKind::kInProcess ? "InProcess" : "Redis";
                         });

// What only the in-process locker shows: exact lease ends on the fake clock and the size
// of its table.
class TxnLockInProcessTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  InProcessLocker locker_{{.clock = [this] { return clock_.Now(); }}};
};

TEST_F(TxnLockInProcessTest, TxnLockLeaseEndsExactlyAtItsEndAndEntriesAreErased) {
  auto grant = locker_.TryLock(Keys{"a", "b"}, "owner-a", 100ms);
  ASSERT_TRUE(grant.ok());
  EXPECT_EQ(grant->expires, clock_.Now() + 100ms);
  clock_.Advance(99ms);
  EXPECT_TRUE(locker_.Holds(Keys{"a", "b"}, "owner-a", grant->fence));
  EXPECT_EQ(locker_.TryLock(Keys{"a"}, "owner-b", 100ms).status().code(), EAGAIN);
  clock_.Advance(1ms);  // exactly at the lease end: expired
  EXPECT_FALSE(locker_.Holds(Keys{"a"}, "owner-a", grant->fence));
  auto taken = locker_.TryLock(Keys{"a"}, "owner-b", 100ms);
  ASSERT_TRUE(taken.ok());
  EXPECT_EQ(locker_.entries(), 2u);
  EXPECT_TRUE(locker_.Unlock(Keys{"a"}, "owner-b", taken->fence).ok());
  EXPECT_EQ(locker_.entries(), 1u);
  EXPECT_EQ(locker_.TryLock(Keys{"x"}, "", 1s).status().code(), EINVAL);
  EXPECT_EQ(locker_.entries(), 1u);
}

TEST_F(TxnLockInProcessTest, TxnLockExpiredEntriesAreSweptSoTheTableStaysBounded) {
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

}  // namespace
}  // namespace sopfs
