// FsckProgress: what `sopfs fsck` says while it runs, on stderr.
//
// On a terminal: a line per phase ("sopfs fsck: checking blobs ..."), then one line that
// updates in place ("\r" and erase to the end of the line) with the objects done (of
// how many, when known, and the percentage), the bytes read, the rate and the ETA:
//   "  blobs (every shard read): 120 of 480 blobs (25%), 96 MiB, 240 MiB/s, ETA 1 s"
// It shows at the phase's first object, then at most every 200 ms, and is drawn once
// more with the phase's final numbers before the next phase or the end.
// Otherwise (a pipe, a file, a log): plain lines only, no control characters: the
// phase lines, and the same progress line every 5 seconds on a line of its own.
//
// Threads: the report calls Tick from checking threads; it is serialized here.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/check/check_report.h"

namespace sopfs::tools {

class FsckProgress {
 public:
  FsckProgress(CheckReport* report, bool terminal);
  ~FsckProgress();
  FsckProgress(const FsckProgress&) = delete;
  FsckProgress& operator=(const FsckProgress&) = delete;

  // A new phase begins ("blobs", "file system references"); `counted` are the kinds of
  // objects its progress line shows (CheckReport::checked keys; the first one's total
  // from CheckReport::expected gives the percentage and the ETA).
  void Phase(const std::string& name, std::vector<std::string> counted = {});
  // The check ended: the updating line is finished with a newline.
  void Done();

 private:
  using Clock = std::chrono::steady_clock;
  void Tick();
  // Draws the terminal's line again with the phase's final numbers, then a newline.
  void EndLineLocked();
  std::string LineLocked();

  CheckReport* report_;
  const bool terminal_;
  std::mutex mu_;
  std::string phase_;
  std::vector<std::string> counted_;
  Clock::time_point phase_start_ = Clock::now();
  uint64_t phase_bytes_ = 0;                    // bytes read before the phase
  std::map<std::string, uint64_t> phase_base_;  // objects checked before the phase
  Clock::time_point last_print_{};
  bool ticked_ = false;     // the phase has shown a progress line
  bool line_open_ = false;  // a terminal line waits for its newline
};

}  // namespace sopfs::tools
