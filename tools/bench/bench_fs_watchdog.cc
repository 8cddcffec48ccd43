#include "tools/bench/bench_fs_watchdog.h"

#include <signal.h>

#include <chrono>
#include <cstdio>

namespace sopfs::tools {
namespace {

std::atomic<uint64_t> g_beats{0};
volatile sig_atomic_t g_interrupted = 0;

void OnSignal(int) { g_interrupted = 1; }

}  // namespace

void Heartbeat() { g_beats.fetch_add(1, std::memory_order_relaxed); }

bool Interrupted() { return g_interrupted != 0; }

void InstallInterruptHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: a blocked call returns EINTR and the run stops
  for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

Watchdog::Watchdog(pid_t daemon, double stall_seconds)
    : daemon_(daemon), stall_seconds_(stall_seconds), thread_([this] { Run(); }) {}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void Watchdog::SetPhase(const std::string& phase) {
  std::lock_guard<std::mutex> lock(mu_);
  phase_ = phase;
}

void Watchdog::Run() {
  using Clock = std::chrono::steady_clock;
  uint64_t last = g_beats.load();
  auto since = Clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    cv_.wait_for(lock, std::chrono::milliseconds(500));
    const uint64_t now = g_beats.load();
    if (now != last) {
      last = now;
      since = Clock::now();
    } else if (!fired_ &&
               std::chrono::duration<double>(Clock::now() - since).count() >= stall_seconds_) {
      std::fprintf(stderr,
                   "\nsopfs bench fs: no progress for %.0f s during '%s'; the daemon (pid %d) "
                   "seems hung, killing it\n",
                   stall_seconds_, phase_.c_str(), static_cast<int>(daemon_));
      fired_ = true;
      if (daemon_ > 0) kill(daemon_, SIGKILL);
    }
  }
}

}  // namespace sopfs::tools
