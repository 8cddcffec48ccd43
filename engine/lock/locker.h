// Locker: the locks a two-phase commit takes on what its transaction changes.
//
// A lock is held on a set of keys (byte strings the caller chooses, e.g. a store ID
// and an item key) by an owner (a string naming one transaction, unique across every
// daemon that shares the locker) for a lease: a lock whose lease has run out is free
// for anyone, so a holder that dies or hangs never blocks others for longer than
// its lease. Every grant carries a fencing token, larger than every token handed out
// before it. Because a holder cannot know it lost its lock (it paused past its lease;
// for Redis, the server restarted or a reply was lost), the write it then makes must be
// checked against the token durably (in the registry), not against the locker.
//
// Two implementations: InProcessLocker (standalone mode, one daemon per volume) and
// RedisLocker (clustered mode, redis_locker.h) with the same semantics.
//
// Errors (Status codes): EAGAIN (a key is held by another owner), ETIMEDOUT (Lock waited
// too long), ESTALE (Renew of a lock no longer held), EINVAL (bad argument); a remote
// locker adds those of its connection (ECONNREFUSED, ETIMEDOUT, EACCES, EIO). An error
// never leaves the caller holding anything it must release: a remote implementation
// whose request timed out may have taken keys after all, but under a token the caller
// never learned, so nobody writes with it and the keys free themselves at lease end.
//
// Threads: every method may be called from any thread at any time.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>

#include "engine/status.h"

namespace sopfs {

// A fencing token. Grants start at 1, so 0 means "no lock" to callers that keep one.
inline constexpr uint64_t kNoFence = 0;

struct LockGrant {
  // The token every key of the grant is now held with.
  uint64_t fence = kNoFence;
  // When the lease runs out, on the locker's clock. A holder must finish (or Renew)
  // before then; for a remote locker this is a conservative local estimate.
  std::chrono::steady_clock::time_point expires;
};

class Locker {
 public:
  Locker() = default;
  virtual ~Locker() = default;
  Locker(const Locker&) = delete;
  Locker& operator=(const Locker&) = delete;

  // Takes every key for `owner`, all or none, for `lease` (> 0). Keys `owner` holds
  // already are taken again: they move to the new token and their lease restarts, so
  // the old token no longer holds them. On success the token is strictly greater than
  // every token this locker (cluster-wide, for Redis) handed out before. If a key is
  // held by another owner whose lease has not expired: EAGAIN naming the first such key
  // (in `keys` order) and its holder, and nothing is taken. Repeated keys count once;
  // an empty set succeeds (and still draws a token).
  virtual Result<LockGrant> TryLock(std::span<const std::string> keys, const std::string& owner,
                                    std::chrono::milliseconds lease) = 0;

  // TryLock, retried until it succeeds or `timeout` (>= 0, real waiting time) has
  // passed: then ETIMEDOUT naming the last key that blocked. Waits without spinning
  // (woken by releases, polling with backoff for leases running out). No fairness:
  // under contention a waiter may lose to later callers until its timeout.
  virtual Result<LockGrant> Lock(std::span<const std::string> keys, const std::string& owner,
                                 std::chrono::milliseconds lease,
                                 std::chrono::milliseconds timeout) = 0;

  // Restarts the lease (now + `lease`) of every key `owner` holds with `fence`, all or
  // none. ESTALE if any key is no longer held so: released, taken again under a newer
  // token, or its lease ran out (even if nobody took it over yet — a Redis key
  // vanishes at expiry, and the holder cannot tell whether someone came and went).
  // Returns the same token with the new expiry.
  virtual Result<LockGrant> Renew(std::span<const std::string> keys, const std::string& owner,
                                  uint64_t fence, std::chrono::milliseconds lease) = 0;

  // Releases the keys `owner` holds with `fence`. Keys held by others, or by `owner`
  // under another token, are left alone; keys not held are skipped. Fails only when
  // a remote locker cannot be reached (the keys then free themselves at lease end).
  virtual Status Unlock(std::span<const std::string> keys, const std::string& owner,
                        uint64_t fence) = 0;

  // Whether `owner` holds every key with `fence` and an unexpired lease: what a
  // committer checks right before writing. It can turn false right after returning,
  // which is why the durable fence check in the registry is the one that counts.
  virtual bool Holds(std::span<const std::string> keys, const std::string& owner,
                     uint64_t fence) = 0;
};

}  // namespace sopfs
