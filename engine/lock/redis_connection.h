// RedisConnection: one connection to Redis (hiredis, synchronous), shared by every thread
// of a daemon that talks to Redis, with reconnection, Lua scripts and restart detection.
//
// What lives here: the hiredis context behind one mutex (a call holds it for its whole
// round trip, so calls are serialized); RedisReply, an owned copy of a reply; RedisScript,
// a Lua script run with EVALSHA and loaded again when Redis answers NOSCRIPT (it
// restarted, or SCRIPT FLUSH ran).
//
// Connecting: on first use, not in the constructor. Every (re)connect runs AUTH (if the
// URL has a password), SELECT (if DB is not 0) and `INFO server` to learn the server's
// `run_id` (RunId(); a new one means Redis restarted, or failed over, and lost what it
// did not persist). A call that fails on the socket drops the connection; the next call
// connects again at once. A failed connect waits a backoff (first_backoff, doubling up to
// max_backoff) during which calls fail fast with the last error instead of blocking.
//
// Errors: ECONNREFUSED (nobody listens), ETIMEDOUT (connect or reply took longer than
// its timeout), EACCES (AUTH refused), EIO (connection lost, host unknown, a protocol
// error, or an error reply); messages name the URL without its password. A call that
// failed on the socket may have run on the server anyway: callers must only retry what is
// safe to run twice (RedisRetry::kOnceIfConnectionLost does that for them).
//
// Threads: every method may be called from any thread at any time. A RedisScript may be
// run on several connections at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "engine/lock/redis_url.h"
#include "engine/status.h"

struct redisContext;

namespace sopfs {

struct RedisConnectionOptions {
  RedisUrl url;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds command_timeout{1000};
  // After a failed connect, no new attempt for this long, doubling up to max_backoff.
  std::chrono::milliseconds first_backoff{50};
  std::chrono::milliseconds max_backoff{2000};
};

// A Redis reply, owned. Error replies inside an array come as kError elements; an error
// reply to the command itself comes as a failed Status instead.
struct RedisReply {
  enum class Type { kNil, kInteger, kString, kArray, kStatus, kError };

  Type type = Type::kNil;
  int64_t integer = 0;            // kInteger
  std::string text;               // kString, kStatus, kError
  std::vector<RedisReply> array;  // kArray

  bool is_nil() const { return type == Type::kNil; }
};

// What a call may do after the connection broke under it (server restarted, connection
// reset): kOnceIfConnectionLost reconnects and sends the command a second time, which is
// right only for commands that do no harm when they ran twice. Timeouts are never retried.
enum class RedisRetry { kNo, kOnceIfConnectionLost };

// A Lua script. Its SHA1 comes from SCRIPT LOAD on first use and is kept (it depends on
// the source only); a NOSCRIPT reply makes the connection load it again and retry.
class RedisScript {
 public:
  explicit RedisScript(std::string source) : source_(std::move(source)) {}
  RedisScript(const RedisScript&) = delete;
  RedisScript& operator=(const RedisScript&) = delete;

  const std::string& source() const { return source_; }

 private:
  friend class RedisConnection;
  std::string Sha1() const;
  void SetSha1(std::string sha1) const;

  const std::string source_;
  mutable std::mutex sha1_mu_;
  mutable std::string sha1_;  // guarded by sha1_mu_; empty until loaded
};

struct RedisConnectionStats {
  uint64_t errors = 0;             // calls that returned an error
  uint64_t reconnects = 0;         // successful connects after the first
  uint64_t restarts_detected = 0;  // reconnects that found a new run_id
};

class RedisConnection {
 public:
  explicit RedisConnection(RedisConnectionOptions options);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Connects now if not connected (subject to the backoff); Ok if connected.
  Status Connect();

  // Sends one command, e.g. {"SET", "k", "v"}; arguments are binary-safe.
  Result<RedisReply> Command(std::span<const std::string> args, RedisRetry retry = RedisRetry::kNo);

  // EVALSHA of `script` with `keys` (KEYS[1..]) and `args` (ARGV[1..]).
  Result<RedisReply> Run(const RedisScript& script, std::span<const std::string> keys,
                         std::span<const std::string> args, RedisRetry retry = RedisRetry::kNo);

  // The server's run_id as of the last connect ("" before the first one).
  std::string RunId() const;
  bool connected() const;
  RedisConnectionStats stats() const;
  // The URL without its password, for messages.
  const std::string& name() const { return name_; }

 private:
  using Clock = std::chrono::steady_clock;
  struct ContextDeleter {
    void operator()(redisContext* context) const;
  };
  using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;

  Status ConnectLocked();
  Status OpenLocked(ContextPtr* out, std::string* run_id);
  // One round trip on the open context; drops it on a socket failure (*lost tells
  // whether the connection broke, as opposed to timing out or answering an error).
  Result<RedisReply> RoundTripLocked(std::span<const std::string> args, bool* lost);
  Result<RedisReply> RunOnceLocked(const RedisScript& script, std::span<const std::string> keys,
                                   std::span<const std::string> args, bool* lost);
  Result<RedisReply> CountError(Result<RedisReply> reply);

  const RedisConnectionOptions options_;
  const std::string name_;

  mutable std::mutex mu_;
  ContextPtr context_;                    // guarded by mu_; null while disconnected
  std::string run_id_;                    // guarded by mu_
  Status last_connect_error_;             // guarded by mu_
  Clock::time_point next_connect_;        // guarded by mu_
  std::chrono::milliseconds backoff_{0};  // guarded by mu_
  bool ever_connected_ = false;           // guarded by mu_
  RedisConnectionStats stats_;            // guarded by mu_
};

}  // namespace sopfs
