#include "tools/fsck_progress.h"

#include <cstdio>

namespace sopfs::tools {

FsckProgress::FsckProgress(CheckReport* report, bool terminal)
    : report_(report), terminal_(terminal) {
  report_->OnProgress([this] { Tick(); });
}

FsckProgress::~FsckProgress() { report_->OnProgress(nullptr); }

void FsckProgress::Phase(const std::string& name) {
  std::lock_guard lock(mu_);
  phase_ = name;
  if (line_open_) std::fputc('\n', stderr);
  line_open_ = false;
  std::fprintf(stderr, "sopfs fsck: checking %s\n", name.c_str());
  last_print_ = Clock::now();
}

void FsckProgress::Done() {
  std::lock_guard lock(mu_);
  if (line_open_) std::fputc('\n', stderr);
  line_open_ = false;
}

void FsckProgress::Tick() {
  std::lock_guard lock(mu_);
  const Clock::time_point now = Clock::now();
  const auto every = terminal_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000);
  if (now - last_print_ < every) return;
  last_print_ = now;
  if (terminal_) {
    std::fprintf(stderr, "\r\033[K%s", LineLocked().c_str());
    line_open_ = true;
  } else {
    std::fprintf(stderr, "%s\n", LineLocked().c_str());
  }
}

std::string FsckProgress::LineLocked() {
  const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
  const double mib = static_cast<double>(report_->bytes()) / (1 << 20);
  const uint64_t done = report_->checked()["blobs"];
  const uint64_t total = report_->expected()["blobs"];
  char line[256];
  int n = std::snprintf(line, sizeof line, "  %s: %llu", phase_.c_str(),
                        static_cast<unsigned long long>(done));
  if (total > 0) {
    n += std::snprintf(line + n, sizeof line - n, " of %llu blobs (%.0f%%)",
                       static_cast<unsigned long long>(total), 100.0 * done / total);
  }
  const double rate = seconds > 0 ? mib / seconds : 0;
  n += std::snprintf(line + n, sizeof line - n, ", %.0f MiB, %.0f MiB/s", mib, rate);
  if (total > done && done > 0) {
    const double eta = seconds * static_cast<double>(total - done) / static_cast<double>(done);
    std::snprintf(line + n, sizeof line - n, ", ETA %.0f s", eta);
  }
  return line;
}

}  // namespace sopfs::tools
