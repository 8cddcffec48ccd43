// Sequencer: lets commits take effect in memory in the order their records sit in the
// commit log, so what a running engine shows is exactly what recovery would rebuild
// from the log (including which of two racing commits a fence check refuses).
//
// Every log sequence number handed out must be marked Done by its owner; a commit
// waits for its turn (all earlier numbers done), applies itself, then marks it done.
//
// Threads: every method may be called concurrently.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <set>

namespace sopfs {

class Sequencer {
 public:
  // Starts over at `next` (after the log was reset or reopened).
  void Restart(uint64_t next) {
    std::lock_guard<std::mutex> lock(mu_);
    next_ = next;
    done_.clear();
  }
  // Blocks until every number before `sequence` is done.
  void WaitTurn(uint64_t sequence) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return next_ >= sequence; });
  }
  void Done(uint64_t sequence) {
    std::lock_guard<std::mutex> lock(mu_);
    done_.insert(sequence);
    while (!done_.empty() && *done_.begin() <= next_) {
      if (*done_.begin() == next_) ++next_;
      done_.erase(done_.begin());
    }
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_ = 1;        // the first number not yet done
  std::set<uint64_t> done_;  // done, but after a gap
};

}  // namespace sopfs
