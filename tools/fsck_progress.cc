// FsckProgress (see tools/fsck_progress.h).
#include "tools/fsck_progress.h"

#include <cstdio>

namespace sopfs::tools {
namespace {

// "42 s", "3 min 5 s", "2 h 10 min".
std::string Duration(double seconds) {
  const auto s = static_cast<unsigned long long>(seconds + 0.5);
  char text[64];
  if (s < 60) {
    std::snprintf(text, sizeof text, "%llu s", s);
  } else if (s < 3600) {
    std::snprintf(text, sizeof text, "%llu min %llu s", s / 60, s % 60);
  } else {
    std::snprintf(text, sizeof text, "%llu h %llu min", s / 3600, s % 3600 / 60);
  }
  return text;
}

}  // namespace

FsckProgress::FsckProgress(CheckReport* report, bool terminal)
    : report_(report), terminal_(terminal) {
  report_->OnProgress([this] { Tick(); });
}

FsckProgress::~FsckProgress() { report_->OnProgress(nullptr); }

void FsckProgress::Phase(const std::string& name, std::vector<std::string> counted) {
  std::lock_guard lock(mu_);
  EndLineLocked();
  phase_ = name;
  counted_ = std::move(counted);
  phase_start_ = Clock::now();
  phase_bytes_ = report_->bytes();
  phase_base_ = report_->checked();
  ticked_ = false;
  std::fprintf(stderr, "sopfs fsck: checking %s\n", name.c_str());
  last_print_ = phase_start_;
}

void FsckProgress::Done() {
  std::lock_guard lock(mu_);
  EndLineLocked();
}

void FsckProgress::EndLineLocked() {
  if (terminal_ && ticked_ && !counted_.empty()) {
    std::fprintf(stderr, "\r\033[K%s", LineLocked().c_str());
    line_open_ = true;
  }
  if (line_open_) std::fputc('\n', stderr);
  line_open_ = false;
  ticked_ = false;
}

void FsckProgress::Tick() {
  std::lock_guard lock(mu_);
  if (counted_.empty()) return;
  const Clock::time_point now = Clock::now();
  const auto every = terminal_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000);
  // A terminal shows the phase's first object at once (not the counts of the phase's
  // preliminaries, such as registry IDs before the first blob).
  if (terminal_ && !ticked_) {
    auto done = report_->checked()[counted_.front()];
    auto base = phase_base_.find(counted_.front());
    if (done == (base == phase_base_.end() ? 0 : base->second)) return;
  } else if (now - last_print_ < every) {
    return;
  }
  last_print_ = now;
  ticked_ = true;
  if (terminal_) {
    std::fprintf(stderr, "\r\033[K%s", LineLocked().c_str());
    line_open_ = true;
  } else {
    std::fprintf(stderr, "%s\n", LineLocked().c_str());
  }
  std::fflush(stderr);
}

std::string FsckProgress::LineLocked() {
  const double seconds = std::chrono::duration<double>(Clock::now() - phase_start_).count();
  const std::map<std::string, uint64_t> checked = report_->checked();
  const std::map<std::string, uint64_t> expected = report_->expected();
  auto done_of = [&](const std::string& what) {
    auto it = checked.find(what);
    auto base = phase_base_.find(what);
    return (it == checked.end() ? 0 : it->second) - (base == phase_base_.end() ? 0 : base->second);
  };
  std::string line = "  " + phase_ + ":";
  uint64_t objects = 0;
  for (size_t i = 0; i < counted_.size(); ++i) {
    const uint64_t done = done_of(counted_[i]);
    objects += done;
    line += (i == 0 ? " " : ", ") + std::to_string(done);
    auto total = expected.find(counted_[i]);
    if (i == 0 && total != expected.end() && total->second > 0) {
      char part[96];
      std::snprintf(part, sizeof part, " of %llu %s (%.0f%%)",
                    static_cast<unsigned long long>(total->second), counted_[i].c_str(),
                    100.0 * static_cast<double>(done) / static_cast<double>(total->second));
      line += part;
    } else {
      line += " " + counted_[i];
    }
  }
  const double mib = static_cast<double>(report_->bytes() - phase_bytes_) / (1 << 20);
  char part[128];
  if (mib > 0) {
    std::snprintf(part, sizeof part, ", %.0f MiB, %.0f MiB/s", mib,
                  seconds > 0 ? mib / seconds : 0);
  } else {
    std::snprintf(part, sizeof part, ", %.0f/s",
                  seconds > 0 ? static_cast<double>(objects) / seconds : 0.0);
  }
  line += part;
  auto total = expected.find(counted_.front());
  const uint64_t done = done_of(counted_.front());
  if (total != expected.end() && total->second > done && done > 0) {
    line += ", ETA " + Duration(seconds * static_cast<double>(total->second - done) /
                                static_cast<double>(done));
  }
  return line;
}

}  // namespace sopfs::tools
