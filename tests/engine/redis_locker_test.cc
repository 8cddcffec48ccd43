// RedisLocker cases the shared Locker tests (locker_test.cc) cannot show: two daemons
// with connections of their own contending on one key, the key layout in Redis, tokens
// across a restart and a FLUSHALL, Lock() polling without spinning, and what a caller
// holds when Redis is down or does not answer in time.
#include "engine/lock/redis_locker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/engine/redis_test_server.h"

namespace sopfs {
namespace {

using namespace std::chrono_literals;
using Keys = std::vector<std::string>;
using testing::RedisTestServer;

// One daemon's view of Redis: its connection and its locker.
struct Daemon {
  std::unique_ptr<RedisConnection> connection;
  std::unique_ptr<RedisLocker> locker;
};

class RedisLockerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = RedisTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }

  Daemon NewDaemon(uint64_t epoch = 0, std::chrono::milliseconds command_timeout = 1s) {
    auto url = RedisUrl::Parse(server_->url());
    EXPECT_TRUE(url.ok()) << url.status().ToString();
    Daemon daemon;
    daemon.connection = std::make_unique<RedisConnection>(
        RedisConnectionOptions{.url = *url, .command_timeout = command_timeout});
    auto locker = RedisLocker::Create(
        daemon.connection.get(), {.key_prefix = RedisLockerKeyPrefix("vol-1"), .epoch = epoch});
    EXPECT_TRUE(locker.ok()) << locker.status().ToString();
    if (locker.ok()) daemon.locker = std::move(*locker);
    return daemon;
  }

  // Calls `attempt` until it returns true or 10 s have passed.
  template <class Attempt>
  static bool Eventually(Attempt attempt) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!attempt()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  std::unique_ptr<RedisTestServer> server_;
};

TEST_F(RedisLockerTest, RedisLockerKeysShareTheClusterHashTagAndExpireWithTheLease) {
  Daemon daemon = NewDaemon();
  ASSERT_NE(daemon.locker, nullptr);
  auto grant = daemon.locker->TryLock(Keys{"tree/7"}, "txn-1", 30s);
  ASSERT_TRUE(grant.ok()) << grant.status().ToString();
  EXPECT_EQ(daemon.locker->RedisKey("tree/7"), "sopfs:{vol-1}:lock:tree/7");
  EXPECT_EQ(*server_->Query({"GET", "sopfs:{vol-1}:lock:tree/7"}), "0:1:txn-1");
  EXPECT_EQ(*server_->Query({"GET", "sopfs:{vol-1}:fence"}), "1");
  const long pttl = std::stol(*server_->Query({"PTTL", "sopfs:{vol-1}:lock:tree/7"}));
  EXPECT_GT(pttl, 0);
  EXPECT_LE(pttl, 30000);

  RedisConnection* connection = daemon.connection.get();
  EXPECT_EQ(RedisLocker::Create(connection, {.key_prefix = "sopfs:vol-1:"}).status().code(),
            EINVAL);
  EXPECT_EQ(RedisLocker::Create(connection, {.key_prefix = "sopfs:{}:"}).status().code(), EINVAL);
  EXPECT_EQ(RedisLocker::Create(connection,
                                {.key_prefix = "sopfs:{v}:", .epoch = RedisLocker::kMaxEpoch + 1})
                .status()
                .code(),
            EINVAL);
}

TEST_F(RedisLockerTest, RedisLockerTwoDaemonsContendOnOneKey) {
  Daemon a = NewDaemon();
  Daemon b = NewDaemon();
  auto held = a.locker->TryLock(Keys{"tree/1"}, "daemon-a/txn-1", 1h);
  ASSERT_TRUE(held.ok()) << held.status().ToString();
  auto refused = b.locker->TryLock(Keys{"tree/2", "tree/1"}, "daemon-b/txn-1", 1h);
  ASSERT_EQ(refused.status().code(), EAGAIN);
  EXPECT_NE(refused.status().message().find("'tree/1'"), std::string::npos);
  EXPECT_NE(refused.status().message().find("'daemon-a/txn-1' (fence " +
                                            std::to_string(held->fence) + ")"),
            std::string::npos)
      << refused.status().message();
  EXPECT_FALSE(b.locker->Holds(Keys{"tree/2"}, "daemon-b/txn-1", held->fence + 1));

  // B waits in Lock() until A releases.
  Result<LockGrant> waited = Status::Error(EIO, "not run");
  std::thread waiter([&] { waited = b.locker->Lock(Keys{"tree/1"}, "daemon-b/txn-1", 1h, 30s); });
  std::this_thread::sleep_for(30ms);
  ASSERT_TRUE(a.locker->Unlock(Keys{"tree/1"}, "daemon-a/txn-1", held->fence).ok());
  waiter.join();
  ASSERT_TRUE(waited.ok()) << waited.status().ToString();
  EXPECT_GT(waited->fence, held->fence);
  EXPECT_TRUE(a.locker->Holds(Keys{"tree/1"}, "daemon-b/txn-1", waited->fence));
  ASSERT_TRUE(b.locker->Unlock(Keys{"tree/1"}, "daemon-b/txn-1", waited->fence).ok());

  // Two threads in each daemon count under the lock of one key.
  constexpr int kIterations = 100;
  long counter = 0;  // guarded by the Redis lock only
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    RedisLocker* locker = (t % 2 == 0 ? a : b).locker.get();
    threads.emplace_back([&, locker, t] {
      const std::string owner = "worker-" + std::to_string(t);
      for (int i = 0; i < kIterations; ++i) {
        auto grant = locker->Lock(Keys{"counter"}, owner, 1min, 1min);
        if (!grant.ok()) {
          ++failures;
          continue;
        }
        ++counter;
        if (!locker->Unlock(Keys{"counter"}, owner, grant->fence).ok()) ++failures;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(counter, 4 * kIterations);
}

TEST_F(RedisLockerTest, RedisLockerLockPollsWithBackoffInsteadOfSpinning) {
  Daemon a = NewDaemon();
  Daemon b = NewDaemon();
  ASSERT_TRUE(a.locker->TryLock(Keys{"k"}, "owner-a", 1h).ok());
  auto before = server_->Query({"INFO", "commandstats"});
  ASSERT_TRUE(before.ok());
  auto waited = b.locker->Lock(Keys{"k"}, "owner-b", 1h, 300ms);
  EXPECT_EQ(waited.status().code(), ETIMEDOUT);
  // Backoff 1, 2, 4, ... 50 ms: about a dozen attempts in 300 ms, not thousands.
  auto after = server_->Query({"INFO", "commandstats"});
  ASSERT_TRUE(after.ok());
  const auto calls = [](const std::string& stats) {
    const size_t at = stats.find("cmdstat_evalsha:calls=");
    return at == std::string::npos ? 0L : std::stol(stats.substr(at + 22));
  };
  EXPECT_LT(calls(*after) - calls(*before), 30) << *after;
  EXPECT_GE(calls(*after) - calls(*before), 2) << *after;

  // A key someone else wrote without expiry and in another format: still polled gently.
  ASSERT_TRUE(server_->Query({"SET", a.locker->RedisKey("foreign"), "not-a-lock"}).ok());
  auto foreign = b.locker->Lock(Keys{"foreign"}, "owner-b", 1h, 300ms);
  EXPECT_EQ(foreign.status().code(), ETIMEDOUT);
  EXPECT_NE(foreign.status().message().find("malformed value 'not-a-lock', no lease end"),
            std::string::npos)
      << foreign.status().message();
  auto last = server_->Query({"INFO", "commandstats"});
  ASSERT_TRUE(last.ok());
  EXPECT_LT(calls(*last) - calls(*after), 30) << *last;
}

TEST_F(RedisLockerTest, RedisLockerTokensGrowAcrossRestartWhenEpochIsRaised) {
  Daemon before = NewDaemon(/*epoch=*/1);
  uint64_t last = kNoFence;
  for (int i = 0; i < 5; ++i) {
    auto grant = before.locker->TryLock(Keys{"k" + std::to_string(i)}, "owner", 1h);
    ASSERT_TRUE(grant.ok()) << grant.status().ToString();
    EXPECT_EQ(grant->fence >> RedisLocker::kCounterBits, 1u);
    EXPECT_GT(grant->fence, last);
    last = grant->fence;
  }
  const std::string old_run_id = before.connection->RunId();
  ASSERT_TRUE(server_->Restart().ok());  // no persistence: the counter is gone

  // The restart is noticed, the old grant is gone, and a raised epoch keeps tokens rising.
  EXPECT_FALSE(before.locker->Holds(Keys{"k4"}, "owner", last));
  EXPECT_NE(before.connection->RunId(), old_run_id);
  EXPECT_EQ(before.connection->stats().restarts_detected, 1u);
  EXPECT_EQ(before.locker->Renew(Keys{"k4"}, "owner", last, 1h).status().code(), ESTALE);
  Daemon after = NewDaemon(/*epoch=*/2);
  auto grant = after.locker->TryLock(Keys{"k0"}, "owner", 1h);
  ASSERT_TRUE(grant.ok()) << grant.status().ToString();
  EXPECT_EQ(grant->fence, (uint64_t{2} << RedisLocker::kCounterBits) | 1);
  EXPECT_GT(grant->fence, last);
}

TEST_F(RedisLockerTest, RedisLockerFlushallWithSameEpochRestartsCounterButNotOwnTokens) {
  Daemon a = NewDaemon();
  uint64_t last = kNoFence;
  for (int i = 0; i < 5; ++i) {
    auto grant = a.locker->TryLock(Keys{"k"}, "owner-a", 1h);
    ASSERT_TRUE(grant.ok());
    last = grant->fence;
  }
  ASSERT_TRUE(server_->FlushAll().ok());
  // The locker that drew tokens before keeps going up (its floor)...
  auto own = a.locker->TryLock(Keys{"k"}, "owner-a", 1h);
  ASSERT_TRUE(own.ok());
  EXPECT_EQ(own->fence, last + 1);
  // ...but with the epoch unchanged, another daemon may get a token drawn before: the
  // durable fence check protects data, a raised epoch restores the order.
  ASSERT_TRUE(server_->FlushAll().ok());
  Daemon b = NewDaemon();
  auto other = b.locker->TryLock(Keys{"k"}, "owner-b", 1h);
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->fence, 1u);
}

TEST_F(RedisLockerTest, RedisLockerServerDownGivesClearErrorsAndNothingHeld) {
  Daemon daemon = NewDaemon();
  auto held = daemon.locker->TryLock(Keys{"k"}, "owner-a", 1h);
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(server_->Kill().ok());

  auto refused = daemon.locker->TryLock(Keys{"j"}, "owner-a", 1h);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), ECONNREFUSED) << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("127.0.0.1:" + std::to_string(server_->port())),
            std::string::npos)
      << refused.status().message();
  EXPECT_FALSE(daemon.locker->Holds(Keys{"k"}, "owner-a", held->fence));
  EXPECT_FALSE(daemon.locker->Renew(Keys{"k"}, "owner-a", held->fence, 1h).ok());
  EXPECT_FALSE(daemon.locker->Unlock(Keys{"k"}, "owner-a", held->fence).ok());
  // Lock() does not wait out its timeout for a server that is down.
  const auto start = std::chrono::steady_clock::now();
  auto waited = daemon.locker->Lock(Keys{"j"}, "owner-a", 1h, 30s);
  EXPECT_FALSE(waited.ok());
  EXPECT_NE(waited.status().code(), ETIMEDOUT);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);

  ASSERT_TRUE(server_->StartAgain().ok());
  Daemon other = NewDaemon();
  Result<LockGrant> taken = Status::Error(EIO, "not run");
  EXPECT_TRUE(Eventually([&] {
    taken = daemon.locker->TryLock(Keys{"j"}, "owner-b", 1h);
    return taken.ok();
  })) << taken.status().ToString();
  EXPECT_TRUE(other.locker->Holds(Keys{"j"}, "owner-b", taken->fence));
}

TEST_F(RedisLockerTest, RedisLockerTimedOutGrantIsNeverHeldByTheCallerAndFreesItself) {
  Daemon daemon = NewDaemon(0, /*command_timeout=*/200ms);
  ASSERT_TRUE(daemon.connection->Connect().ok());
  server_->Pause();
  auto lost = daemon.locker->TryLock(Keys{"k"}, "owner-a", 300ms);
  server_->Resume();
  ASSERT_FALSE(lost.ok());
  EXPECT_EQ(lost.status().code(), ETIMEDOUT) << lost.status().ToString();

  // Redis may have run the script once it went on: "k" is then held under a token the
  // caller never learned, so nobody writes with it, and it frees itself at lease end.
  Daemon other = NewDaemon();
  auto taken = other.locker->Lock(Keys{"k"}, "owner-b", 1h, 10s);
  ASSERT_TRUE(taken.ok()) << taken.status().ToString();
  EXPECT_TRUE(other.locker->Holds(Keys{"k"}, "owner-b", taken->fence));
  for (uint64_t fence = 1; fence < taken->fence; ++fence) {
    EXPECT_FALSE(daemon.locker->Holds(Keys{"k"}, "owner-a", fence));
  }
}

}  // namespace
}  // namespace sopfs
