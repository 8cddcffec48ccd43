#include "engine/lock/redis_connection.h"

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstring>
#include <utility>

namespace sopfs {
namespace {

using std::chrono::milliseconds;

timeval ToTimeval(milliseconds d) {
  const int64_t ms = std::max<int64_t>(d.count(), 1);
  return timeval{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
}

RedisReply CopyReply(const redisReply& reply) {
  RedisReply out;
  switch (reply.type) {
    case REDIS_REPLY_INTEGER:
      out.type = RedisReply::Type::kInteger;
      out.integer = reply.integer;
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      out.type = reply.type == REDIS_REPLY_STRING   ? RedisReply::Type::kString
                 : reply.type == REDIS_REPLY_STATUS ? RedisReply::Type::kStatus
                                                    : RedisReply::Type::kError;
      out.text.assign(reply.str, reply.len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = RedisReply::Type::kArray;
      out.array.reserve(reply.elements);
      for (size_t i = 0; i < reply.elements; ++i) out.array.push_back(CopyReply(*reply.element[i]));
      break;
    default:
      out.type = RedisReply::Type::kNil;
  }
  return out;
}

// The errno a failed hiredis call stands for: `saved_errno` was read right after it.
int SocketErrno(const redisContext& context, int saved_errno) {
  const auto is = [&](int err) {
    return saved_errno == err || std::strcmp(context.errstr, std::strerror(err)) == 0;
  };
  if (context.err == REDIS_ERR_EOF) return ECONNRESET;
  if (context.err != REDIS_ERR_IO) return EIO;
  if (is(EAGAIN) || is(ETIMEDOUT) || is(EINPROGRESS)) return ETIMEDOUT;
  if (is(ECONNREFUSED)) return ECONNREFUSED;
  if (is(ECONNRESET) || is(EPIPE)) return ECONNRESET;
  return EIO;
}

std::string ParseRunId(const std::string& info) {
  constexpr std::string_view kField = "run_id:";
  size_t at = info.find(kField);
  if (at == std::string::npos) return "";
  at += kField.size();
  const size_t end = info.find_first_of("\r\n", at);
  return info.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

}  // namespace

std::string RedisScript::Sha1() const {
  std::lock_guard<std::mutex> lock(sha1_mu_);
  return sha1_;
}

void RedisScript::SetSha1(std::string sha1) const {
  std::lock_guard<std::mutex> lock(sha1_mu_);
  sha1_ = std::move(sha1);
}

void RedisConnection::ContextDeleter::operator()(redisContext* context) const {
  redisFree(context);
}

RedisConnection::RedisConnection(RedisConnectionOptions options)
    : options_(std::move(options)),
      name_(options_.url.ToString()),
      backoff_(options_.first_backoff) {}

RedisConnection::~RedisConnection() = default;

Status RedisConnection::Connect() {
  std::lock_guard<std::mutex> lock(mu_);
  Status status = ConnectLocked();
  if (!status.ok()) ++stats_.errors;
  return status;
}

Status RedisConnection::ConnectLocked() {
  if (context_ != nullptr) return Status::Ok();
  const Clock::time_point now = Clock::now();
  if (now < next_connect_) {
    const auto wait = std::chrono::ceil<milliseconds>(next_connect_ - now).count();
    return Status::Error(last_connect_error_.code(),
                         last_connect_error_.message() + " (next attempt in " +
                             std::to_string(wait) + " ms; failing fast until then)");
  }
  ContextPtr context;
  std::string run_id;
  Status status = OpenLocked(&context, &run_id);
  if (!status.ok()) {
    last_connect_error_ = status;
    next_connect_ = Clock::now() + backoff_;
    backoff_ = std::min(2 * backoff_, std::max(options_.max_backoff, options_.first_backoff));
    return status;
  }
  context_ = std::move(context);
  backoff_ = options_.first_backoff;
  if (ever_connected_) {
    ++stats_.reconnects;
    if (run_id != run_id_) ++stats_.restarts_detected;
  }
  ever_connected_ = true;
  run_id_ = std::move(run_id);
  return Status::Ok();
}

Status RedisConnection::OpenLocked(ContextPtr* out, std::string* run_id) {
  const RedisUrl& url = options_.url;
  errno = 0;
  ContextPtr context(
      redisConnectWithTimeout(url.host.c_str(), url.port, ToTimeval(options_.connect_timeout)));
  const int saved_errno = errno;
  if (context == nullptr) return Status::Error(ENOMEM, "redis " + name_ + ": out of memory");
  if (context->err != 0) {
    int err = SocketErrno(*context, saved_errno);
    if (err == ECONNRESET) err = EIO;
    return Status::Error(err, "redis " + name_ + ": cannot connect: " + context->errstr);
  }
  if (redisSetTimeout(context.get(), ToTimeval(options_.command_timeout)) != REDIS_OK) {
    return Status::Error(EIO, "redis " + name_ + ": cannot set the command timeout");
  }
  context_ = std::move(context);  // RoundTripLocked works on context_
  const auto fail = [&](Status status) {
    context_.reset();
    return status;
  };
  bool lost = false;
  if (!url.password.empty()) {
    std::vector<std::string> auth = {"AUTH"};
    if (!url.user.empty()) auth.push_back(url.user);
    auth.push_back(url.password);
    Result<RedisReply> reply = RoundTripLocked(auth, &lost);
    if (!reply.ok()) return fail(reply.status());
    if (reply->type == RedisReply::Type::kError) {
      return fail(Status::Error(EACCES, "redis " + name_ + ": AUTH refused: " + reply->text));
    }
  }
  if (url.db != 0) {
    Result<RedisReply> reply =
        RoundTripLocked(std::vector<std::string>{"SELECT", std::to_string(url.db)}, &lost);
    if (!reply.ok()) return fail(reply.status());
    if (reply->type == RedisReply::Type::kError) {
      return fail(Status::Error(EIO, "redis " + name_ + ": SELECT refused: " + reply->text));
    }
  }
  Result<RedisReply> info = RoundTripLocked(std::vector<std::string>{"INFO", "server"}, &lost);
  if (!info.ok()) return fail(info.status());
  if (info->type != RedisReply::Type::kString || ParseRunId(info->text).empty()) {
    return fail(Status::Error(
        EIO, "redis " + name_ + ": INFO server has no run_id: " + info->text.substr(0, 200)));
  }
  *run_id = ParseRunId(info->text);
  *out = std::move(context_);
  return Status::Ok();
}

Result<RedisReply> RedisConnection::RoundTripLocked(std::span<const std::string> args, bool* lost) {
  *lost = false;
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const std::string& arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  errno = 0;
  void* raw =
      redisCommandArgv(context_.get(), static_cast<int>(args.size()), argv.data(), lengths.data());
  const int saved_errno = errno;
  if (raw == nullptr) {
    const int err = SocketErrno(*context_, saved_errno);
    const std::string what = args.empty() ? std::string("command") : args[0];
    Status status =
        err == ETIMEDOUT
            ? Status::Error(ETIMEDOUT, "redis " + name_ + ": no reply to " + what + " within " +
                                           std::to_string(options_.command_timeout.count()) + " ms")
            : Status::Error(EIO, "redis " + name_ + ": connection lost during " + what + ": " +
                                     context_->errstr);
    *lost = err == ECONNRESET;
    // hiredis cannot use a context after an error: the next call connects again, at once.
    context_.reset();
    next_connect_ = Clock::time_point();
    return status;
  }
  std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw),
                                                     freeReplyObject);
  return CopyReply(*reply);
}

Result<RedisReply> RedisConnection::CountError(Result<RedisReply> reply) {
  if (reply.ok() && reply->type == RedisReply::Type::kError) {
    reply = Status::Error(EIO, "redis " + name_ + ": " + reply->text);
  }
  if (!reply.ok()) ++stats_.errors;
  return reply;
}

Result<RedisReply> RedisConnection::Command(std::span<const std::string> args, RedisRetry retry) {
  if (args.empty()) return Status::Error(EINVAL, "redis " + name_ + ": empty command");
  std::lock_guard<std::mutex> lock(mu_);
  for (int attempt = 0;; ++attempt) {
    Status connected = ConnectLocked();
    if (!connected.ok()) return CountError(connected);
    bool lost = false;
    Result<RedisReply> reply = RoundTripLocked(args, &lost);
    if (lost && retry == RedisRetry::kOnceIfConnectionLost && attempt == 0) continue;
    return CountError(std::move(reply));
  }
}

Result<RedisReply> RedisConnection::RunOnceLocked(const RedisScript& script,
                                                  std::span<const std::string> keys,
                                                  std::span<const std::string> args, bool* lost) {
  for (int load = 0;; ++load) {
    std::string sha1 = script.Sha1();
    if (sha1.empty()) {
      Result<RedisReply> loaded =
          RoundTripLocked(std::vector<std::string>{"SCRIPT", "LOAD", script.source()}, lost);
      if (!loaded.ok() || loaded->type == RedisReply::Type::kError) return loaded;
      if (loaded->type != RedisReply::Type::kString) {
        return Status::Error(EIO, "redis " + name_ + ": SCRIPT LOAD returned no SHA1");
      }
      sha1 = loaded->text;
      script.SetSha1(sha1);
    }
    std::vector<std::string> command = {"EVALSHA", sha1, std::to_string(keys.size())};
    command.insert(command.end(), keys.begin(), keys.end());
    command.insert(command.end(), args.begin(), args.end());
    Result<RedisReply> reply = RoundTripLocked(command, lost);
    // NOSCRIPT: the server lost its script cache (restart, SCRIPT FLUSH); load it again.
    if (reply.ok() && reply->type == RedisReply::Type::kError &&
        reply->text.starts_with("NOSCRIPT") && load == 0) {
      script.SetSha1("");
      continue;
    }
    return reply;
  }
}

Result<RedisReply> RedisConnection::Run(const RedisScript& script,
                                        std::span<const std::string> keys,
                                        std::span<const std::string> args, RedisRetry retry) {
  std::lock_guard<std::mutex> lock(mu_);
  for (int attempt = 0;; ++attempt) {
    Status connected = ConnectLocked();
    if (!connected.ok()) return CountError(connected);
    bool lost = false;
    Result<RedisReply> reply = RunOnceLocked(script, keys, args, &lost);
    if (lost && retry == RedisRetry::kOnceIfConnectionLost && attempt == 0) continue;
    return CountError(std::move(reply));
  }
}

std::string RedisConnection::RunId() const {
  std::lock_guard<std::mutex> lock(mu_);
  return run_id_;
}

bool RedisConnection::connected() const {
  std::lock_guard<std::mutex> lock(mu_);
  return context_ != nullptr;
}

RedisConnectionStats RedisConnection::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace sopfs
