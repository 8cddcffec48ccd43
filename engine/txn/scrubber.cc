#include "engine/txn/scrubber.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

namespace sopfs {

Scrubber::Scrubber(Engine* engine, ScrubOptions options)
    : engine_(engine), options_(std::move(options)) {
  progress_.last_finished_unix = ReadLastFinished();
  if (progress_.last_finished_unix == 0 && options_.every.count() > 0) {
    // Never scrubbed: the schedule counts from now, not from 1970.
    progress_.last_finished_unix = std::time(nullptr);
    WriteLastFinished(progress_.last_finished_unix);
  }
  thread_ = std::thread([this] { Run(); });
}

Scrubber::~Scrubber() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Scrubber::Start(const std::string& reason) {
  {
    std::lock_guard lock(mu_);
    if (requested_.empty()) requested_ = reason;
  }
  cv_.notify_all();
}

ScrubProgress Scrubber::Progress() const {
  std::lock_guard lock(mu_);
  return progress_;
}

void Scrubber::Run() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    std::string reason;
    if (!requested_.empty()) {
      reason = requested_;
    } else if (options_.every.count() > 0 &&
               std::time(nullptr) >= progress_.last_finished_unix + options_.every.count()) {
      reason = "schedule";
    }
    if (reason.empty()) {
      // Wake for a request, when the schedule is due, and every few seconds to look for
      // a replaced drive (a data folder without its mark).
      const int64_t due = progress_.last_finished_unix + options_.every.count() -
                          static_cast<int64_t>(std::time(nullptr));
      const auto wait = options_.every.count() > 0
                            ? std::chrono::seconds(std::clamp<int64_t>(due, 1, kLookEvery))
                            : std::chrono::seconds(kLookEvery);
      cv_.wait_for(lock, wait, [&] { return stopping_ || !requested_.empty(); });
      if (stopping_) break;
      lock.unlock();
      const bool replaced = engine_->FindReplacedFolders();
      // A refill that could not rebuild everything (a repair failed: a full disk, a
      // folder gone meanwhile) is tried again a while later.
      const bool unfinished = !engine_->emptied_folders().empty() &&
                              Clock::now() - last_pass_end_ >= options_.refill_retry;
      lock.lock();
      if ((replaced || unfinished) && requested_.empty()) requested_ = "refill";
      continue;
    }
    lock.unlock();
    Pass(reason);
    lock.lock();
    requested_.clear();
  }
}

void Scrubber::Pass(const std::string& reason) {
  // Folders emptied before the listing: a whole pass refills them.
  const Engine::EmptiedFolders emptied = engine_->emptied();
  Result<std::vector<Engine::LiveBlob>> blobs = engine_->LiveBlobs();
  {
    std::lock_guard lock(mu_);
    progress_.running = true;
    progress_.reason = reason;
    progress_.blobs_done = progress_.bytes_read = 0;
    progress_.shards_repaired = progress_.blobs_lost = 0;
    progress_.blobs_total = blobs.ok() ? blobs->size() : 0;
    progress_.last_error.clear();
  }
  std::string error = blobs.ok() ? "" : "listing the blobs: " + blobs.status().ToString();
  uint64_t failed_repairs = 0;
  const Clock::time_point begin = Clock::now();
  uint64_t bytes = 0;
  if (blobs.ok()) {
    for (const Engine::LiveBlob& blob : *blobs) {
      const Engine::ScrubResult r = engine_->ScrubBlob(blob);
      bytes += r.bytes_read;
      if (r.repair_failed) ++failed_repairs;
      {
        std::lock_guard lock(mu_);
        ++progress_.blobs_done;
        progress_.bytes_read = bytes;
        progress_.shards_repaired += static_cast<uint64_t>(r.rewritten);
        progress_.blobs_lost += r.lost ? 1 : 0;
      }
      if (r.lost) {
        std::fprintf(stderr,
                     "sopfs: scrub: blob %s (id %llu) has lost more shards than "
                     "its parity covers\n",
                     blob.blob.ToHex().c_str(), static_cast<unsigned long long>(blob.id));
      }
      // Paced: the pass may have read `bytes` by now, at the rate asked for.
      const auto due =
          begin + std::chrono::microseconds(bytes * 1000000 /
                                            std::max<uint64_t>(1, options_.bytes_per_second));
      if (!WaitUntil(due)) {
        error = "stopped (unmount)";
        break;
      }
    }
  }
  const int64_t finished = std::time(nullptr);
  // A folder that lost its mark during the pass may have lost shards the pass saw:
  // it is refilled again, and this pass does not count it whole (Refilled).
  const bool lost_again = engine_->FindReplacedFolders();
  bool whole = false;
  {
    std::lock_guard lock(mu_);
    last_pass_end_ = Clock::now();
    if (lost_again && requested_.empty()) requested_ = "refill";
    progress_.running = false;
    progress_.last_error = error;
    if (!error.empty()) return;
    ++progress_.passes;
    progress_.last_finished_unix = finished;
    whole = progress_.blobs_lost == 0 && failed_repairs == 0;
  }
  WriteLastFinished(finished);  // disk I/O: not under the lock Progress() takes
  // Every blob listed after the folders were emptied was verified and repaired: they
  // hold their shards again.
  if (whole) engine_->Refilled(emptied);
}

bool Scrubber::WaitUntil(Clock::time_point when) {
  std::unique_lock lock(mu_);
  cv_.wait_until(lock, when, [&] { return stopping_; });
  return !stopping_;
}

int64_t Scrubber::ReadLastFinished() {
  if (options_.state_file.empty() || options_.env == nullptr) return 0;
  Result<std::vector<uint8_t>> text = options_.env->ReadFile(options_.state_file);
  if (!text.ok()) return 0;
  return std::strtoll(std::string(text->begin(), text->end()).c_str(), nullptr, 10);
}

void Scrubber::WriteLastFinished(int64_t unix_seconds) {
  if (options_.state_file.empty() || options_.env == nullptr) return;
  // Written aside and renamed: a crash leaves the old time or the new one.
  const std::string text = std::to_string(unix_seconds) + "\n";
  const std::string tmp = options_.state_file + ".new";
  Status st = options_.env->WriteFileDurably(
      tmp, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  if (st.ok()) st = options_.env->Rename(tmp, options_.state_file);
  if (!st.ok()) {
    std::fprintf(stderr, "sopfs: scrub: cannot record the pass in %s: %s\n",
                 options_.state_file.c_str(), st.ToString().c_str());
  }
}

}  // namespace sopfs
