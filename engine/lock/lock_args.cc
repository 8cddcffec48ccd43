#include "engine/lock/lock_args.h"

#include <cstdio>

namespace sopfs {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

std::string QuoteLockKey(const std::string& key) {
  constexpr size_t kMaxShown = 64;
  std::string out = "'";
  for (size_t i = 0; i < key.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    }
  }
  if (key.size() > kMaxShown) out += "...";
  return out + "'";
}

Status CheckLockOwnerAndLease(const std::string& owner, milliseconds lease) {
  if (owner.empty()) return Status::Error(EINVAL, "lock owner is empty");
  if (lease <= milliseconds::zero()) {
    return Status::Error(EINVAL, "lock lease must be positive, got " +
                                     std::to_string(lease.count()) + " ms for " +
                                     QuoteLockKey(owner));
  }
  return Status::Ok();
}

Status CheckLockTimeout(const std::string& owner, milliseconds timeout) {
  if (timeout < milliseconds::zero()) {
    return Status::Error(EINVAL, "lock timeout must not be negative, got " +
                                     std::to_string(timeout.count()) + " ms for " +
                                     QuoteLockKey(owner));
  }
  return Status::Ok();
}

steady_clock::time_point LaterOrMax(steady_clock::time_point t, milliseconds d) {
  const auto room = std::chrono::duration_cast<milliseconds>(steady_clock::time_point::max() - t);
  return d >= room ? steady_clock::time_point::max() : t + d;
}

}  // namespace sopfs
