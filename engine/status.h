// Status and Result<T>: the one error type that crosses layer boundaries.
// A Status carries an errno value (0 = ok) and a message naming the object that
// failed; the FUSE layer turns it into -errno in one place. No exceptions cross layers.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace sopfs {

class Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  // `err` is an errno value (EIO, ENOSPC, ENOENT, EINVAL, ...); must not be 0.
  static Status Error(int err, std::string message) { return Status(err, std::move(message)); }

  bool ok() const { return code_ == 0; }
  int code() const { return code_; }
  const std::string& message() const { return message_; }
  // "ENOSPC (No space left on device): <message>"
  std::string ToString() const;

 private:
  Status(int err, std::string message)
      : code_(err == 0 ? EIO : err), message_(std::move(message)) {}
  int code_ = 0;
  std::string message_;
};

// Either a value or a non-ok Status.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {
    if (std::get<Status>(v_).ok()) v_ = Status::Error(EIO, "Result built from an ok Status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  std::variant<T, Status> v_;
};

// Name of an errno value ("EIO"), for messages and logs.
const char* ErrnoName(int err);

}  // namespace sopfs

#define SOPFS_RETURN_IF_ERROR(expr) \
  do {                              \
    ::sopfs::Status _st = (expr);   \
    if (!_st.ok()) return _st;      \
  } while (0)
