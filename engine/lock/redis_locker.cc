#include "engine/lock/redis_locker.h"

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <utility>

#include "engine/lock/lock_args.h"

namespace sopfs {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr milliseconds kFirstBackoff{1};
constexpr milliseconds kMaxBackoff{50};
constexpr uint64_t kCounterMask = (uint64_t{1} << RedisLocker::kCounterBits) - 1;

// KEYS[1] the fence counter, KEYS[2..] the locks. ARGV: owner, lease ms, epoch, floor.
// Returns {1, counter} or, when a lock is held by another owner, {0, index of its key
// among the locks, its value, its PTTL}.
const RedisScript& TryLockScript() {
  static const RedisScript script(R"lua(
local owner = ARGV[1]
for i = 2, #KEYS do
  local held = redis.call('GET', KEYS[i])
  if held and string.match(held, '^%d+:%d+:(.*)$') ~= owner then
    return {0, i - 1, held, redis.call('PTTL', KEYS[i])}
  end
end
local counter = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[4])
if counter <= floor then
  counter = floor + 1
  redis.call('SET', KEYS[1], string.format('%d', counter))
end
if counter >= 1099511627776 then
  return redis.error_reply('fence counter ' .. KEYS[1] .. ' is exhausted (2^40 grants)')
end
local value = ARGV[3] .. ':' .. string.format('%d', counter) .. ':' .. owner
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], value, 'PX', ARGV[2])
end
return {1, counter}
)lua");
  return script;
}

// KEYS the locks. ARGV: the value they must hold, lease ms. Returns {1}, or {0, index
// of the first key not holding the value, its value or nil}.
const RedisScript& RenewScript() {
  static const RedisScript script(R"lua(
for i = 1, #KEYS do
  local held = redis.call('GET', KEYS[i])
  if held ~= ARGV[1] then return {0, i, held} end
end
for i = 1, #KEYS do
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return {1}
)lua");
  return script;
}

// KEYS the locks. ARGV: the value a lock must hold to be deleted. Returns how many were.
const RedisScript& UnlockScript() {
  static const RedisScript script(R"lua(
local released = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    released = released + redis.call('DEL', KEYS[i])
  end
end
return released
)lua");
  return script;
}

// KEYS the locks. ARGV: the value every one must hold. Returns 1 if they all do.
const RedisScript& HoldsScript() {
  static const RedisScript script(R"lua(
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) ~= ARGV[1] then return 0 end
end
return 1
)lua");
  return script;
}

bool HasHashTag(const std::string& prefix) {
  const size_t open = prefix.find('{');
  if (open == std::string::npos) return false;
  const size_t close = prefix.find('}', open + 1);
  return close != std::string::npos && close > open + 1;
}

milliseconds CappedLease(milliseconds lease) {
  return std::min(lease, milliseconds(RedisLocker::kMaxLeaseMs));
}

bool IsArrayOf(const Result<RedisReply>& reply, size_t min_size) {
  return reply.ok() && reply->type == RedisReply::Type::kArray && reply->array.size() >= min_size &&
         reply->array[0].type == RedisReply::Type::kInteger;
}

}  // namespace

std::string RedisLockerKeyPrefix(const std::string& cluster_id) {
  return "sopfs:{" + cluster_id + "}:";
}

Result<std::unique_ptr<RedisLocker>> RedisLocker::Create(RedisConnection* connection,
                                                         RedisLockerOptions options) {
  if (connection == nullptr) return Status::Error(EINVAL, "RedisLocker needs a connection");
  if (!HasHashTag(options.key_prefix)) {
    return Status::Error(EINVAL, "Redis key prefix '" + options.key_prefix +
                                     "' has no hash tag {...}: a volume's keys must share one "
                                     "Redis Cluster slot");
  }
  if (options.epoch > kMaxEpoch) {
    return Status::Error(EINVAL, "lock epoch " + std::to_string(options.epoch) +
                                     " is above the largest, " + std::to_string(kMaxEpoch));
  }
  return std::unique_ptr<RedisLocker>(new RedisLocker(connection, std::move(options)));
}

RedisLocker::RedisLocker(RedisConnection* connection, RedisLockerOptions options)
    : connection_(connection), options_(std::move(options)) {}

std::string RedisLocker::RedisKey(const std::string& key) const {
  return options_.key_prefix + "lock:" + key;
}

std::vector<std::string> RedisLocker::RedisKeys(std::span<const std::string> keys) const {
  std::vector<std::string> out;
  out.reserve(keys.size());
  for (const std::string& key : keys) out.push_back(RedisKey(key));
  return out;
}

std::string RedisLocker::HolderValue(const std::string& owner, uint64_t fence) const {
  return std::to_string(fence >> kCounterBits) + ":" + std::to_string(fence & kCounterMask) + ":" +
         owner;
}

bool RedisLocker::ParseHolder(const std::string& value, std::string* owner, uint64_t* fence) {
  const size_t first = value.find(':');
  const size_t second = first == std::string::npos ? first : value.find(':', first + 1);
  if (second == std::string::npos) return false;
  const uint64_t epoch = std::strtoull(value.substr(0, first).c_str(), nullptr, 10);
  const uint64_t counter = std::strtoull(value.substr(first + 1).c_str(), nullptr, 10);
  *owner = value.substr(second + 1);
  *fence = (epoch << kCounterBits) | counter;
  return true;
}

std::string RedisLocker::DescribeHolder(const std::string& value) {
  std::string owner;
  uint64_t fence = kNoFence;
  if (!ParseHolder(value, &owner, &fence)) return "a malformed value " + QuoteLockKey(value);
  return QuoteLockKey(owner) + " (fence " + std::to_string(fence) + ")";
}

std::string RedisLocker::Where() const { return " in redis " + connection_->name(); }

Result<LockGrant> RedisLocker::TryLock(std::span<const std::string> keys, const std::string& owner,
                                       milliseconds lease) {
  SOPFS_RETURN_IF_ERROR(CheckLockOwnerAndLease(owner, lease));
  return TryLockOnce(keys, owner, lease, nullptr);
}

Result<LockGrant> RedisLocker::TryLockOnce(std::span<const std::string> keys,
                                           const std::string& owner, milliseconds lease,
                                           Blocker* blocker) {
  const milliseconds capped = CappedLease(lease);
  std::vector<std::string> redis_keys = {options_.key_prefix + "fence"};
  for (const std::string& key : keys) redis_keys.push_back(RedisKey(key));
  const std::vector<std::string> args = {owner, std::to_string(capped.count()),
                                         std::to_string(options_.epoch),
                                         std::to_string(counter_floor_.load())};
  // The lease starts when Redis runs the script, after this: a conservative estimate.
  const TimePoint sent = steady_clock::now();
  // Safe to send twice: a second run by the same owner takes the keys again.
  Result<RedisReply> reply =
      connection_->Run(TryLockScript(), redis_keys, args, RedisRetry::kOnceIfConnectionLost);
  if (!reply.ok()) return reply.status();
  if (!IsArrayOf(reply, 2) || reply->array[1].type != RedisReply::Type::kInteger) {
    return Status::Error(EIO, "lock script gave an unexpected reply" + Where());
  }
  const std::vector<RedisReply>& fields = reply->array;
  if (fields[0].integer == 1) {
    const auto counter = static_cast<uint64_t>(fields[1].integer);
    uint64_t floor = counter_floor_.load();
    while (floor < counter && !counter_floor_.compare_exchange_weak(floor, counter)) {
    }
    return LockGrant{(options_.epoch << kCounterBits) | counter, LaterOrMax(sent, capped)};
  }
  const auto index = static_cast<size_t>(fields[1].integer);
  if (fields.size() < 4 || index < 1 || index > keys.size()) {
    return Status::Error(EIO, "lock script gave an unexpected reply" + Where());
  }
  const int64_t pttl = fields[3].integer;
  std::string lease_text =
      pttl >= 0 ? "lease ends in " + std::to_string(pttl) + " ms" : std::string("no lease end");
  Status busy = Status::Error(
      EAGAIN, "lock on key " + QuoteLockKey(keys[index - 1]) + " wanted by " + QuoteLockKey(owner) +
                  " is held by " + DescribeHolder(fields[2].text) + ", " + lease_text + Where());
  // A key without expiry (PTTL -1; not one of ours) gets polled like a long lease.
  if (blocker != nullptr) *blocker = Blocker{busy, pttl >= 0 ? milliseconds(pttl) : kMaxBackoff};
  return busy;
}

Result<LockGrant> RedisLocker::Lock(std::span<const std::string> keys, const std::string& owner,
                                    milliseconds lease, milliseconds timeout) {
  SOPFS_RETURN_IF_ERROR(CheckLockOwnerAndLease(owner, lease));
  SOPFS_RETURN_IF_ERROR(CheckLockTimeout(owner, timeout));
  const TimePoint deadline = LaterOrMax(steady_clock::now(), timeout);
  milliseconds backoff = kFirstBackoff;
  for (;;) {
    Blocker blocker;
    Result<LockGrant> grant = TryLockOnce(keys, owner, lease, &blocker);
    if (grant.ok() || grant.status().code() != EAGAIN) return grant;
    const TimePoint now = steady_clock::now();
    if (now >= deadline) {
      return Status::Error(ETIMEDOUT, "gave up after " + std::to_string(timeout.count()) +
                                          " ms: " + blocker.status.message());
    }
    // Nobody tells us of releases: look again soon, backing off, and when the blocking
    // lease ends.
    const milliseconds nap = std::max(milliseconds(1), std::min(backoff, blocker.lease_left));
    std::this_thread::sleep_until(std::min(deadline, now + nap));
    backoff = std::min(2 * backoff, kMaxBackoff);
  }
}

Result<LockGrant> RedisLocker::Renew(std::span<const std::string> keys, const std::string& owner,
                                     uint64_t fence, milliseconds lease) {
  SOPFS_RETURN_IF_ERROR(CheckLockOwnerAndLease(owner, lease));
  const milliseconds capped = CappedLease(lease);
  const TimePoint sent = steady_clock::now();
  // Safe to send twice: a second run sets the same expiries again.
  Result<RedisReply> reply = connection_->Run(
      RenewScript(), RedisKeys(keys),
      std::vector<std::string>{HolderValue(owner, fence), std::to_string(capped.count())},
      RedisRetry::kOnceIfConnectionLost);
  if (!reply.ok()) return reply.status();
  if (!IsArrayOf(reply, 1)) {
    return Status::Error(EIO, "renew script gave an unexpected reply" + Where());
  }
  const std::vector<RedisReply>& fields = reply->array;
  if (fields[0].integer == 1) return LockGrant{fence, LaterOrMax(sent, capped)};
  const size_t index = fields.size() >= 2 ? static_cast<size_t>(fields[1].integer) : 0;
  if (fields.size() < 3 || index < 1 || index > keys.size()) {
    return Status::Error(EIO, "renew script gave an unexpected reply" + Where());
  }
  std::string why = "is not held (released, or its lease ran out)";
  std::string holder;
  uint64_t holder_fence = kNoFence;
  if (!fields[2].is_nil()) {
    const bool parsed = ParseHolder(fields[2].text, &holder, &holder_fence);
    why = parsed && holder == owner ? "is held under fence " + std::to_string(holder_fence)
                                    : "is held by " + DescribeHolder(fields[2].text);
  }
  return Status::Error(ESTALE, "cannot renew lock on key " + QuoteLockKey(keys[index - 1]) +
                                   " for " + QuoteLockKey(owner) + " with fence " +
                                   std::to_string(fence) + ": it " + why + Where());
}

Status RedisLocker::Unlock(std::span<const std::string> keys, const std::string& owner,
                           uint64_t fence) {
  // Safe to send twice: the second run finds nothing more to delete.
  Result<RedisReply> reply = connection_->Run(UnlockScript(), RedisKeys(keys),
                                              std::vector<std::string>{HolderValue(owner, fence)},
                                              RedisRetry::kOnceIfConnectionLost);
  return reply.ok() ? Status::Ok() : reply.status();
}

bool RedisLocker::Holds(std::span<const std::string> keys, const std::string& owner,
                        uint64_t fence) {
  Result<RedisReply> reply = connection_->Run(HoldsScript(), RedisKeys(keys),
                                              std::vector<std::string>{HolderValue(owner, fence)},
                                              RedisRetry::kOnceIfConnectionLost);
  return reply.ok() && reply->type == RedisReply::Type::kInteger && reply->integer == 1;
}

}  // namespace sopfs
