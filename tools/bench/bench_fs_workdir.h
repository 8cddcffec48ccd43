// The work folder of `sopfs bench fs`: a fresh mkdtemp folder inside the folder the
// user names, removed with everything in it when the benchmark ends (also on failure),
// unless it is kept for debugging. It is never removed while anything is still mounted
// below it: then it is left, and a line on stderr says so.
#pragma once

#include <string>

#include "engine/status.h"

namespace sopfs::tools {

class WorkDir {
 public:
  // Makes PARENT/sopfs-bench-fs-XXXXXX (PARENT made absolute and free of symlinks).
  static Result<WorkDir> Make(const std::string& parent);
  WorkDir(WorkDir&& other) noexcept : path_(std::move(other.path_)), keep_(other.keep_) {
    other.path_.clear();
  }
  WorkDir& operator=(WorkDir&&) = delete;
  ~WorkDir();

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  void Keep() { keep_ = true; }

 private:
  explicit WorkDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
  bool keep_ = false;
};

}  // namespace sopfs::tools
