// Scrubber: walks every blob of the volume in the background at a bounded rate, reads
// and verifies all of its shards, and rewrites the bad ones from parity (Engine::
// ScrubBlob), so that damage nobody reads (a rotten parity shard, a cold file) is found
// and fixed before more of it piles up.
//
// A pass runs when the schedule says (`every` after the end of the last whole pass,
// which a small state file remembers across mounts; a volume never scrubbed counts
// from its first mount), or at once when asked (Start: a data folder that came back
// empty, a replaced drive, is refilled this way). A pass that began after the open and
// left no blob damaged tells the engine its emptied folders are whole again (Refilled).
// Between passes it looks every few seconds for a data folder replaced while mounted
// (Engine::FindReplacedFolders) and refills it at once; it looks again at the end of
// each pass, and a refill that left a folder not whole runs again a minute later.
// Reads are paced to `bytes_per_second` so that foreground work keeps its speed.
//
// Threads: one thread of its own; Progress and Start may be called from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "engine/txn/engine.h"

namespace sopfs {

struct ScrubOptions {
  std::chrono::seconds every{std::chrono::hours(24 * 7)};  // 0: only when asked
  uint64_t bytes_per_second = uint64_t{32} << 20;
  Env* env = nullptr;      // writes the state file
  std::string state_file;  // when the last whole pass ended; "" or no env: not kept
  // A refill pass that left an emptied folder not whole runs again after this long.
  std::chrono::seconds refill_retry{60};
};

struct ScrubProgress {
  bool running = false;
  std::string reason;  // of the pass running or last run: "schedule", "refill", ...
  uint64_t blobs_done = 0, blobs_total = 0, bytes_read = 0;
  uint64_t shards_repaired = 0, blobs_lost = 0;  // in the pass running or last run
  uint64_t passes = 0;                           // whole passes since the mount
  int64_t last_finished_unix = 0;                // 0: never
  std::string last_error;                        // why the last pass stopped early
};

class Scrubber {
 public:
  static constexpr int64_t kLookEvery = 5;  // seconds between looks for a replaced drive
  // A refill pass that left an emptied folder not whole runs again after this long.

  Scrubber(Engine* engine, ScrubOptions options);
  ~Scrubber();
  Scrubber(const Scrubber&) = delete;
  Scrubber& operator=(const Scrubber&) = delete;

  // A pass now (unless one runs), saying why.
  void Start(const std::string& reason);
  ScrubProgress Progress() const;
  const ScrubOptions& options() const { return options_; }

 private:
  using Clock = std::chrono::steady_clock;
  void Run();
  void Pass(const std::string& reason);
  // Sleeps until `when` or Stop; false once stopping.
  bool WaitUntil(Clock::time_point when);
  int64_t ReadLastFinished();
  void WriteLastFinished(int64_t unix_seconds);

  Engine* engine_;
  const ScrubOptions options_;
  mutable std::mutex mu_;  // guards everything below
  std::condition_variable cv_;
  bool stopping_ = false;
  std::string requested_;  // reason of a pass asked for, "" none
  ScrubProgress progress_;
  Clock::time_point last_pass_end_{};  // of the last pass, whole or not
  std::thread thread_;
};

}  // namespace sopfs
