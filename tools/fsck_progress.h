// FsckProgress: what `sopfs fsck` says while it runs, on stderr. On a terminal, one line
// that updates in place (phase, blobs done of how many, bytes, rate, ETA); otherwise a
// plain line at each phase and every 5 seconds.
//
// Threads: the report calls Tick from checking threads; it is serialized here.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "engine/check/check_report.h"

namespace sopfs::tools {

class FsckProgress {
 public:
  FsckProgress(CheckReport* report, bool terminal);
  ~FsckProgress();
  FsckProgress(const FsckProgress&) = delete;
  FsckProgress& operator=(const FsckProgress&) = delete;

  // A new phase begins ("blobs", "file system references").
  void Phase(const std::string& name);
  // The check ended: the updating line is finished with a newline.
  void Done();

 private:
  using Clock = std::chrono::steady_clock;
  void Tick();
  std::string LineLocked();

  CheckReport* report_;
  const bool terminal_;
  std::mutex mu_;
  std::string phase_;
  const Clock::time_point start_ = Clock::now();
  Clock::time_point last_print_{};
  bool line_open_ = false;  // a terminal line waits for its newline
};

}  // namespace sopfs::tools
