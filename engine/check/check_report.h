// CheckReport: what a consistency check (sopfs fsck) found and fixed, by kind of problem,
// and how much it has checked so far (for progress lines).
//
// A problem has a kind (a short stable name such as "shard-corrupt", used as a JSON key
// and in tests), where it is (a blob ID, a path, an inode number) and what is wrong.
// Every problem is counted; the first kMaxListed are kept with their text. A problem
// is either left (found) or fixed (found and repaired).
//
// A blob beyond repair (kind "blob-lost") is counted like any problem but kept apart
// with what it held (LostBlob), so that the file system's check can say which files
// and directories it hit before the listing is printed.
//
// Threads: every method may be called concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/check/lost_blob.h"

namespace sopfs {

struct CheckProblem {
  std::string kind;
  std::string where;
  std::string detail;
  bool fixed = false;
};

class CheckReport {
 public:
  static constexpr size_t kMaxListed = 1000;

  // A problem found and left as it is.
  void Found(const std::string& kind, const std::string& where, const std::string& detail) {
    Add({kind, where, detail, false});
  }
  // A problem found and repaired.
  void Fixed(const std::string& kind, const std::string& where, const std::string& detail) {
    Add({kind, where, detail, true});
  }
  // A blob beyond repair: counted found as "blob-lost" and kept (the first kMaxListed)
  // with its places, to be described (Describe) and listed (lost()).
  void Lost(LostBlob blob) {
    std::lock_guard lock(mu_);
    ++found_["blob-lost"];
    if (lost_.size() < kMaxListed) lost_.push_back(std::move(blob));
  }
  // What the lost blob number `i` (of lost()) held.
  void Describe(size_t i, std::vector<LostHeld> held) {
    std::lock_guard lock(mu_);
    if (i < lost_.size()) lost_[i].held = std::move(held);
  }
  // Progress: `n` more objects of kind `what` ("blobs", "shards", "inodes") checked,
  // and `bytes` more bytes read.
  void Checked(const std::string& what, uint64_t n, uint64_t bytes = 0) {
    std::function<void()> tick;
    {
      std::lock_guard lock(mu_);
      checked_[what] += n;
      bytes_ += bytes;
      tick = on_progress_;
    }
    if (tick) tick();
  }
  // How many objects of kind `what` the check will go through (for an ETA).
  void Expect(const std::string& what, uint64_t n) {
    std::lock_guard lock(mu_);
    expected_[what] = n;
  }
  // Called (from the checking thread) after every Checked.
  void OnProgress(std::function<void()> tick) {
    std::lock_guard lock(mu_);
    on_progress_ = std::move(tick);
  }

  std::map<std::string, uint64_t> found() const { return Copy(found_); }
  std::map<std::string, uint64_t> fixed() const { return Copy(fixed_); }
  std::map<std::string, uint64_t> checked() const { return Copy(checked_); }
  std::map<std::string, uint64_t> expected() const { return Copy(expected_); }
  uint64_t bytes() const {
    std::lock_guard lock(mu_);
    return bytes_;
  }
  std::vector<CheckProblem> listed() const {
    std::lock_guard lock(mu_);
    return listed_;
  }
  std::vector<LostBlob> lost() const {
    std::lock_guard lock(mu_);
    return lost_;
  }
  // Problems found and not fixed; problems fixed.
  uint64_t left() const { return Sum(found_); }
  uint64_t repaired() const { return Sum(fixed_); }

 private:
  void Add(CheckProblem p) {
    std::lock_guard lock(mu_);
    ++(p.fixed ? fixed_ : found_)[p.kind];
    if (listed_.size() < kMaxListed) listed_.push_back(std::move(p));
  }
  std::map<std::string, uint64_t> Copy(const std::map<std::string, uint64_t>& m) const {
    std::lock_guard lock(mu_);
    return m;
  }
  uint64_t Sum(const std::map<std::string, uint64_t>& m) const {
    std::lock_guard lock(mu_);
    uint64_t n = 0;
    for (const auto& [kind, count] : m) n += count;
    return n;
  }

  mutable std::mutex mu_;
  std::map<std::string, uint64_t> found_, fixed_, checked_, expected_;
  uint64_t bytes_ = 0;
  std::vector<CheckProblem> listed_;
  std::vector<LostBlob> lost_;
  std::function<void()> on_progress_;
};

}  // namespace sopfs
