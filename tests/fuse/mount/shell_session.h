// ShellSession: a bash of its own Linux session (setsid), kept running so that a test
// can drive an explicit transaction step by step: begin in it, look from elsewhere,
// commit in it. Every command runs in the same shell (variables and the working
// directory persist); each Run waits, with a bound, for that command's exit status.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

namespace sopfs::fusetest {

class ShellSession {
 public:
  struct Result {
    bool finished = false;  // false: timed out or the shell died
    int exit_code = -1;
    std::string output;  // stdout and stderr together
  };

  explicit ShellSession(const std::string& cwd);
  ~ShellSession();  // ends the shell (SIGKILL of its session if it does not exit)
  ShellSession(const ShellSession&) = delete;
  ShellSession& operator=(const ShellSession&) = delete;

  Result Run(const std::string& command, std::chrono::seconds timeout = std::chrono::seconds(60));
  // Ends the shell now; the session's last process is gone afterwards.
  void Exit();
  pid_t sid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int to_shell_ = -1;
  int from_shell_ = -1;
  int serial_ = 0;
};

}  // namespace sopfs::fusetest
