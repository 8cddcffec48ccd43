// RedisUrl: where a clustered daemon finds Redis, parsed from
// `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]` (PORT 6379 and DB 0 by default; HOST an
// IPv4 address, a host name or a bracketed IPv6 address), and the password file that
// keeps a password out of `ps` (`redis_password_file`).
//
// The password is taken literally (no %-decoding): it runs from after the first ':' of
// the user part to the last '@'. ToString() never shows it, so a URL can go into logs,
// messages and `.sopfs/health` as it is.
//
// Threads: plain values and pure functions, callable from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "engine/status.h"

namespace sopfs {

struct RedisUrl {
  static constexpr int kDefaultPort = 6379;

  std::string host;  // without brackets for IPv6
  int port = kDefaultPort;
  int64_t db = 0;
  std::string user;      // empty: the default user (AUTH with the password only)
  std::string password;  // empty: no AUTH

  // EINVAL with a message naming the bad part (the password is never repeated).
  static Result<RedisUrl> Parse(const std::string& text);

  // "redis://HOST:PORT/DB" with brackets around an IPv6 host, and "USER@" when a user is
  // set: never the password.
  std::string ToString() const;
};

// The first line of `path`, trimmed of white space at both ends. Errors name the path:
// the errno of a failed open or read, EINVAL if the line is empty.
Result<std::string> ReadRedisPasswordFile(const std::string& path);

}  // namespace sopfs
