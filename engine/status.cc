#include "engine/status.h"

#include <cstring>

namespace sopfs {

const char* ErrnoName(int err) {
  switch (err) {
    case 0:
      return "OK";
    case EIO:
      return "EIO";
    case ENOSPC:
      return "ENOSPC";
    case ENOENT:
      return "ENOENT";
    case EEXIST:
      return "EEXIST";
    case EINVAL:
      return "EINVAL";
    case EROFS:
      return "EROFS";
    case EACCES:
      return "EACCES";
    case EPERM:
      return "EPERM";
    case ENOTDIR:
      return "ENOTDIR";
    case EISDIR:
      return "EISDIR";
    case ENOTEMPTY:
      return "ENOTEMPTY";
    case ENAMETOOLONG:
      return "ENAMETOOLONG";
    case EBUSY:
      return "EBUSY";
    case EAGAIN:
      return "EAGAIN";
    case ECANCELED:
      return "ECANCELED";
    case ENOMEM:
      return "ENOMEM";
    case EBADF:
      return "EBADF";
    case EOPNOTSUPP:
      return "EOPNOTSUPP";
    case EDQUOT:
      return "EDQUOT";
    default:
      return "E?";
  }
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
