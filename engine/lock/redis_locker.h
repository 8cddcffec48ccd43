// RedisLocker: the Locker of clustered mode, shared by every daemon of a volume through
// one Redis server (see locker.h for the contract, docs/CLUSTER.md sections 2 and 7).
//
// What lives here: one Lua script per operation (TryLock, Renew, Unlock, Holds), so each
// is atomic in Redis, run over a RedisConnection the caller owns. Redis keys:
//   <prefix>lock:<key>   "<epoch>:<counter>:<owner>" with a PX expiry = the lease, so a
//                        lock vanishes at lease end (why Renew after it is ESTALE);
//   <prefix>fence        the INCR counter tokens are drawn from.
// The prefix must carry a hash tag (`sopfs:{<cluster id>}:`, RedisLockerKeyPrefix) so
// that every key of a volume lands in one Redis Cluster slot, as scripts need.
//
// Fencing tokens are `(epoch << 40) | counter`. A caller that knows Redis lost its data
// raises the epoch (later steps keep it durably on the volume), and its tokens exceed
// every earlier one although the counter restarted. With the epoch unchanged, a FLUSHALL
// or a restart without persistence restarts the counter: tokens of other daemons may
// then repeat, and the durable fence check (locker.h) is what protects data. A locker
// passes the highest counter it has drawn to the script as a floor, so its own tokens
// still go up.
//
// Lock() waits by polling TryLock with backoff (1 ms doubling to 50 ms, capped by the
// blocking lease's remaining time and by the timeout); releases are not published. A
// failure to reach Redis ends Lock() at once with that error (callers decide how long
// to wait for Redis). Leases longer than kMaxLeaseMs are cut to it (about 100 years).
//
// Threads: every method may be called from any thread at any time; calls share the
// connection (serialized by it). The connection must outlive the locker.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/lock/locker.h"
#include "engine/lock/redis_connection.h"

namespace sopfs {

struct RedisLockerOptions {
  // Prepended to every Redis key; must contain a non-empty hash tag "{...}".
  std::string key_prefix;
  // Upper 24 bits of every token; raise it when Redis lost its data.
  uint64_t epoch = 0;
};

// "sopfs:{<cluster_id>}:".
std::string RedisLockerKeyPrefix(const std::string& cluster_id);

class RedisLocker : public Locker {
 public:
  static constexpr int kCounterBits = 40;
  static constexpr uint64_t kMaxEpoch = (uint64_t{1} << (64 - kCounterBits)) - 1;
  static constexpr int64_t kMaxLeaseMs = int64_t{100} * 365 * 24 * 3600 * 1000;

  // EINVAL for a prefix without a hash tag or an epoch above kMaxEpoch.
  static Result<std::unique_ptr<RedisLocker>> Create(RedisConnection* connection,
                                                     RedisLockerOptions options);

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

  // The Redis key a lock key is stored under (for tests and tools).
  std::string RedisKey(const std::string& key) const;

 private:
  using TimePoint = std::chrono::steady_clock::time_point;

  // What blocked a TryLock, for Lock() to report and time its next look.
  struct Blocker {
    Status status;
    std::chrono::milliseconds lease_left{0};
  };

  RedisLocker(RedisConnection* connection, RedisLockerOptions options);

  Result<LockGrant> TryLockOnce(std::span<const std::string> keys, const std::string& owner,
                                std::chrono::milliseconds lease, Blocker* blocker);
  std::vector<std::string> RedisKeys(std::span<const std::string> keys) const;
  // The value a key holds when `owner` holds it with `fence`.
  std::string HolderValue(const std::string& owner, uint64_t fence) const;
  // Splits a lock's value into its owner and token; false if it is malformed.
  static bool ParseHolder(const std::string& value, std::string* owner, uint64_t* fence);
  // "'owner' (fence N)" for a lock's value read from Redis.
  static std::string DescribeHolder(const std::string& value);
  std::string Where() const;

  RedisConnection* const connection_;
  const RedisLockerOptions options_;
  // The highest counter this locker drew: the floor of its next draw.
  std::atomic<uint64_t> counter_floor_{0};
};

}  // namespace sopfs
