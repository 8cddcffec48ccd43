#include "tools/bench/bench_fs_child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace sopfs::tools {

Result<pid_t> SpawnChild(const std::vector<std::string>& argv, const std::string& log_path) {
  if (argv.empty()) return Status::Error(EINVAL, "no command to run");
  const int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log < 0) return Status::Error(errno, "cannot open " + log_path);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    const int null = open("/dev/null", O_RDONLY);
    if (null < 0 || dup2(null, 0) < 0 || dup2(log, 1) < 0 || dup2(log, 2) < 0) _exit(127);
    execvp(args[0], args.data());
    const char msg[] = "sopfs bench fs: exec failed\n";
    (void)!write(2, msg, sizeof msg - 1);
    _exit(127);
  }
  const int err = errno;
  close(log);
  if (pid < 0) return Status::Error(err, "cannot fork for " + argv[0]);
  return pid;
}

std::optional<int> WaitForChild(pid_t pid, double seconds, struct rusage* usage) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  for (;;) {
    int status = 0;
    struct rusage ignored {};
    const pid_t got = wait4(pid, &status, WNOHANG, usage != nullptr ? usage : &ignored);
    if (got == pid) return status;
    if (got < 0 && errno != EINTR) return 0;  // not our child (any more): nothing to wait for
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void KillChild(pid_t pid) {
  kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

Status RunChild(const std::vector<std::string>& argv, const std::string& log_path, double seconds) {
  std::string line;
  for (const std::string& a : argv) line += (line.empty() ? "" : " ") + a;
  auto pid = SpawnChild(argv, log_path);
  if (!pid.ok()) return pid.status();
  const std::optional<int> status = WaitForChild(*pid, seconds);
  if (!status) {
    KillChild(*pid);
    return Status::Error(ETIMEDOUT, "'" + line + "' did not finish in " +
                                        std::to_string(static_cast<int>(seconds)) + " s");
  }
  if (WIFEXITED(*status) && WEXITSTATUS(*status) == 0) return Status::Ok();
  return Status::Error(EIO, "'" + line + "' failed (" + DescribeWaitStatus(*status) + "):\n" +
                                FileTail(log_path, 4096));
}

std::string DescribeWaitStatus(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "wait status " + std::to_string(status);
}

std::string FileTail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream all;
  all << in.rdbuf();
  const std::string text = all.str();
  if (text.size() <= max_bytes) return text;
  return "[...]" + text.substr(text.size() - max_bytes);
}

std::string SelfPath() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "/proc/self/exe";
}

}  // namespace sopfs::tools
