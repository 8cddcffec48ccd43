#include "engine/status.h"

#include <cstring>

namespace sopfs {

const char* ErrnoName(int err) {
  if (err == 0) return "OK";
  const char* name = strerrorname_np(err);
  return name ? name : "E?";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s = ErrnoName(code_);
  s += " (";
  s += std::strerror(code_);
  s += ")";
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

}  // namespace sopfs
