// Keeping `sopfs bench fs` stoppable and unhangable.
//
// The workloads call Heartbeat() after every operation and give up with EINTR once
// Interrupted() (SIGINT, SIGTERM or SIGHUP arrived; the handlers are installed by
// InstallInterruptHandlers), so the benchmark can unmount and clean up. A Watchdog
// kills the mount daemon with SIGKILL when no heartbeat came for its stall time: the
// stuck file operations then fail (ENOTCONN) instead of hanging the benchmark.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace sopfs::tools {

void Heartbeat();
bool Interrupted();
void InstallInterruptHandlers();

class Watchdog {
 public:
  Watchdog(pid_t daemon, double stall_seconds);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  // Names the work going on, for the message when the watchdog fires.
  void SetPhase(const std::string& phase);

 private:
  void Run();
  const pid_t daemon_;
  const double stall_seconds_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string phase_;
  bool stop_ = false;
  bool fired_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace sopfs::tools
