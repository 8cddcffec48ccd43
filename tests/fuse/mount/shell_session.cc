#include "tests/fuse/mount/shell_session.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace sopfs::fusetest {

using Clock = std::chrono::steady_clock;

ShellSession::ShellSession(const std::string& cwd) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return;
  pid_ = ::fork();
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::setsid();  // a session of its own: its transactions are its own
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    if (::chdir(cwd.c_str()) != 0) _exit(126);
    ::execlp("bash", "bash", "--noprofile", "--norc", "-s", static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  to_shell_ = in[1];
  from_shell_ = out[0];
}

ShellSession::~ShellSession() { Exit(); }

void ShellSession::Exit() {
  if (pid_ <= 0) return;
  if (to_shell_ >= 0) ::close(to_shell_);
  to_shell_ = -1;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  int status;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    ::usleep(10000);
  }
  if (from_shell_ >= 0) ::close(from_shell_);
  from_shell_ = -1;
  pid_ = -1;
}

ShellSession::Result ShellSession::Run(const std::string& command, std::chrono::seconds timeout) {
  Result result;
  if (pid_ <= 0 || to_shell_ < 0) return result;
  const std::string marker = "__sopfs_done_" + std::to_string(++serial_) + "__";
  const std::string line = "{ " + command + "\n} 2>&1; printf '\\n" + marker + " %d\\n' $?\n";
  if (::write(to_shell_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    return result;
  }
  const auto deadline = Clock::now() + timeout;
  std::string got;
  while (true) {
    const size_t at = got.find("\n" + marker + " ");
    if (at != std::string::npos && got.find('\n', at + 1) != std::string::npos) {
      result.finished = true;
      result.output = got.substr(0, at);
      result.exit_code = std::atoi(got.c_str() + at + marker.size() + 2);
      return result;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) break;
    pollfd p{from_shell_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<long>(left, 1000))) <= 0) continue;
    char buf[4096];
    const ssize_t n = ::read(from_shell_, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  result.output = got;
  return result;
}

}  // namespace sopfs::fusetest
