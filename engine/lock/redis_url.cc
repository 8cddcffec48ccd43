#include "engine/lock/redis_url.h"

#include <cctype>
#include <cstring>
#include <fstream>
#include <limits>

namespace sopfs {
namespace {

constexpr std::string_view kScheme = "redis://";

Status BadUrl(const std::string& what) {
  return Status::Error(EINVAL,
                       "bad Redis URL (want redis://[:PASSWORD@]HOST[:PORT][/DB]): " + what);
}

// A decimal number in [min, max], digits only.
bool ParseDecimal(std::string_view text, int64_t min, int64_t max, int64_t* out) {
  if (text.empty() || text.size() > 18) return false;
  int64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  if (value < min || value > max) return false;
  *out = value;
  return true;
}

bool IsHostNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_';
}

std::string Trim(const std::string& text) {
  const char* kSpace = " \t\r\n\v\f";
  const size_t first = text.find_first_not_of(kSpace);
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

}  // namespace

Result<RedisUrl> RedisUrl::Parse(const std::string& text) {
  if (text.compare(0, kScheme.size(), kScheme) != 0) {
    const size_t colon = text.find("://");
    if (colon != std::string::npos) {
      return BadUrl("scheme '" + text.substr(0, colon) + "' is not supported (only redis://)");
    }
    return BadUrl("it must start with redis://");
  }
  RedisUrl url;
  std::string rest = text.substr(kScheme.size());

  // Credentials end at the last '@' (host, port and DB never contain one).
  const size_t at = rest.rfind('@');
  if (at != std::string::npos) {
    const std::string credentials = rest.substr(0, at);
    const size_t colon = credentials.find(':');
    if (colon == std::string::npos) {
      return BadUrl("credentials before '@' must be ':PASSWORD' or 'USER:PASSWORD'");
    }
    url.user = credentials.substr(0, colon);
    url.password = credentials.substr(colon + 1);
    if (url.password.empty()) return BadUrl("the password before '@' is empty");
    rest = rest.substr(at + 1);
  }

  // DB after the first '/'.
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    const std::string db = rest.substr(slash + 1);
    if (!db.empty() && !ParseDecimal(db, 0, std::numeric_limits<int32_t>::max(), &url.db)) {
      return BadUrl("database '" + db + "' is not a number from 0");
    }
    rest = rest.substr(0, slash);
  }

  // HOST, [IPV6] and an optional :PORT.
  std::string port;
  if (!rest.empty() && rest[0] == '[') {
    const size_t close = rest.find(']');
    if (close == std::string::npos) return BadUrl("IPv6 host '" + rest + "' lacks its ']'");
    url.host = rest.substr(1, close - 1);
    if (url.host.empty() ||
        url.host.find_first_not_of("0123456789abcdefABCDEF:.%") != std::string::npos) {
      return BadUrl("IPv6 host '[" + url.host + "]' is not an IPv6 address");
    }
    const std::string after = rest.substr(close + 1);
    if (!after.empty() && after[0] != ':') {
      return BadUrl("unexpected '" + after + "' after IPv6 host");
    }
    if (!after.empty()) port = after.substr(1);
    if (after == ":") port = ":";  // an empty port is an error below
  } else {
    const size_t colon = rest.find(':');
    url.host = rest.substr(0, colon);
    if (colon != std::string::npos) port = rest.substr(colon + 1);
    if (colon != std::string::npos && port.empty()) port = ":";
    if (url.host.empty()) return BadUrl("the host is empty");
    for (char c : url.host) {
      if (!IsHostNameChar(c)) {
        return BadUrl("host '" + url.host + "' has a character not allowed in a host name");
      }
    }
  }
  if (!port.empty()) {
    int64_t value = 0;
    if (!ParseDecimal(port, 1, 65535, &value)) {
      return BadUrl("port '" + (port == ":" ? std::string() : port) +
                    "' is not a number from 1 to 65535");
    }
    url.port = static_cast<int>(value);
  }
  return url;
}

std::string RedisUrl::ToString() const {
  std::string out(kScheme);
  if (!user.empty()) out += user + "@";
  out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return out + ":" + std::to_string(port) + "/" + std::to_string(db);
}

Result<std::string> ReadRedisPasswordFile(const std::string& path) {
  std::ifstream in(path);
  if (!in.is_open()) {
    const int err = errno != 0 ? errno : EIO;
    return Status::Error(err,
                         "cannot open Redis password file " + path + ": " + std::strerror(err));
  }
  std::string line;
  if (!std::getline(in, line) && in.bad()) {
    return Status::Error(EIO, "cannot read Redis password file " + path);
  }
  std::string password = Trim(line);
  if (password.empty()) {
    return Status::Error(EINVAL,
                         "Redis password file " + path + " has no password on its first line");
  }
  return password;
}

}  // namespace sopfs
