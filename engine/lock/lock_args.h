// Helpers every Locker implementation shares: argument checks with the same EINVAL
// messages, keys quoted for messages, and time arithmetic that saturates instead of
// overflowing (a huge lease or timeout means "forever").
//
// Threads: pure functions, callable from any thread.
#pragma once

#include <chrono>
#include <string>

#include "engine/status.h"

namespace sopfs {

// Keys are byte strings; messages show them printable ('\xNN' escapes), quoted and
// bounded in length.
std::string QuoteLockKey(const std::string& key);

// EINVAL for an empty owner or a lease that is not positive.
Status CheckLockOwnerAndLease(const std::string& owner, std::chrono::milliseconds lease);

// EINVAL for a negative Lock() timeout.
Status CheckLockTimeout(const std::string& owner, std::chrono::milliseconds timeout);

// t + d, or the largest time point if that does not fit.
std::chrono::steady_clock::time_point LaterOrMax(std::chrono::steady_clock::time_point t,
                                                 std::chrono::milliseconds d);

}  // namespace sopfs
