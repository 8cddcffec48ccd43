#include "tests/fuse/mount/mount_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "fuse/kernel/kernel_read_ahead.h"
#include "fuse/kernel/stale_mount.h"

#ifndef SOPFS_BIN
#error "SOPFS_BIN (path of the sopfs binary) must be defined"
#endif

namespace sopfs::fusetest {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr long kFuseSuperMagic = 0x65735546;
constexpr auto kMountBound = seconds(20);
constexpr auto kDaemonExitBound = seconds(120);
constexpr auto kDefaultBudget = seconds(300);

// The mount answers: statfs reaches the daemon and reports a FUSE file system.
bool IsFuseMount(const std::string& path) {
  struct statfs st {};
  if (::statfs(path.c_str(), &st) != 0) return false;
  return static_cast<long>(st.f_type) == kFuseSuperMagic;
}

// Something is mounted at `path`, answering or not: an aborted connection fails statfs
// with ENOTCONN but stays in the mount table until it is unmounted.
bool HasMount(const std::string& path) {
  std::ifstream in("/proc/self/mountinfo");
  std::stringstream text;
  text << in.rdbuf();
  return MountDevice(text.str(), path).has_value();
}

std::string Tail(const std::string& text, size_t n = 6000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

std::string SlurpFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint64_t ParseSize(const std::string& text) {
  if (text.empty()) return kMiB;
  char* end = nullptr;
  uint64_t v = std::strtoull(text.c_str(), &end, 10);
  switch (end && *end ? *end : ' ') {
    case 'k':
    case 'K':
      return v * kKiB;
    case 'm':
    case 'M':
      return v * kMiB;
    case 'g':
    case 'G':
      return v * 1024 * kMiB;
    default:
      return v;
  }
}

std::vector<char*> Argv(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  return argv;
}

// Child side of fork: dies with its parent, stdin from /dev/null, stdout and stderr to
// out_fd. Only async-signal-safe calls.
void ChildSetup(int out_fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  int in = ::open("/dev/null", O_RDONLY);
  if (in >= 0) ::dup2(in, 0);
  ::dup2(out_fd, 1);
  ::dup2(out_fd, 2);
}

}  // namespace

// The sopfs binary: SOPFS_TEST_BIN overrides the one built with the tests (to run the
// suites against another build, e.g. the sanitizer one).
const std::string& SopfsBin() {
  static const std::string bin = [] {
    const char* env = std::getenv("SOPFS_TEST_BIN");
    return std::string(env && *env ? env : SOPFS_BIN);
  }();
  return bin;
}

void SmallTmpfs::Mount(const std::string& size) {
  char dir[] = "/tmp/sopfs-tmpfs-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr) << ErrnoText();
  path_ = dir;
  ASSERT_EQ(::mount("tmpfs", path_.c_str(), "tmpfs", 0, ("size=" + size).c_str()), 0)
      << "mount tmpfs (needs root): " << ErrnoText();
}

void SmallTmpfs::Unmount() {
  if (path_.empty()) return;
  ::umount2(path_.c_str(), MNT_DETACH);
  ::rmdir(path_.c_str());
  path_.clear();
}

bool NativeMode() {
  const char* dir = std::getenv("SOPFS_TEST_NATIVE_DIR");
  return dir != nullptr && *dir != '\0';
}

std::string ErrnoText(int err) {
  return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")";
}

CommandResult RunCommand(const std::vector<std::string>& args, seconds timeout) {
  CommandResult result;
  const char* tmp = std::getenv("TMPDIR");
  std::string out_path = std::string(tmp && *tmp ? tmp : "/tmp") + "/sopfs-cmd-XXXXXX";
  int out_fd = ::mkstemp(out_path.data());
  if (out_fd < 0) {
    result.output = "mkstemp: " + ErrnoText();
    return result;
  }
  ::unlink(out_path.c_str());
  auto argv = Argv(args);
  pid_t pid = ::fork();
  if (pid == 0) {
    ChildSetup(out_fd);
    ::execvp(argv[0], argv.data());
    _exit(127);
  }
  if (pid < 0) {
    result.output = "fork: " + ErrnoText();
    ::close(out_fd);
    return result;
  }
  result.started = true;
  int status = 0;
  const auto deadline = Clock::now() + timeout;
  bool reaped = false;
  while (!reaped) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      reaped = true;
      break;
    }
    if (Clock::now() >= deadline) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      const auto reap_deadline = Clock::now() + seconds(30);
      while (Clock::now() < reap_deadline) {
        if (::waitpid(pid, &status, WNOHANG) == pid) {
          reaped = true;
          break;
        }
        std::this_thread::sleep_for(milliseconds(10));
      }
      break;
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  if (reaped && WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  ::lseek(out_fd, 0, SEEK_SET);
  char buf[65536];
  ssize_t n;
  while ((n = ::read(out_fd, buf, sizeof buf)) > 0) result.output.append(buf, n);
  ::close(out_fd);
  return result;
}

bool HaveProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    std::string full = dir + "/" + name;
    if (::access(full.c_str(), X_OK) == 0) return true;
  }
  return false;
}

// ---------------------------------------------------------------------------------------

MountedVolume::MountedVolume() {
  native_ = NativeMode();
  std::string parent;
  if (native_) {
    parent = std::getenv("SOPFS_TEST_NATIVE_DIR");
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
  } else {
    const char* tmp = std::getenv("TMPDIR");
    parent = tmp && *tmp ? tmp : "/tmp";
  }
  std::string tmpl = parent + "/sopfs-fusetest-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp " << tmpl << ": " << ErrnoText();
    return;
  }
  // Canonical, as /proc/self/mountinfo names mount points (HasMount).
  std::error_code ec;
  base_ = std::filesystem::canonical(tmpl, ec).string();
  if (ec) base_ = tmpl;
  // Other users (the permission tests) must be able to reach the mountpoint.
  ::chmod(base_.c_str(), 0755);
  volume_ = base_ + "/vol";
  mountpoint_ = base_ + "/mnt";
  scratch_ = base_ + "/scratch";
  log_path_ = base_ + "/daemon.log";
  ::mkdir(mountpoint_.c_str(), 0755);
  ::mkdir(scratch_.c_str(), 0755);
  ::chmod(mountpoint_.c_str(), 0755);
  deadline_ = Clock::now() + kDefaultBudget;
}

MountedVolume::~MountedVolume() {
  if (pid_.load() > 0) ForceKill();
  ClearKilledDaemon();
  StopWatchdog();
  RemoveTree();
}

void MountedVolume::Format(const Options& options) {
  ASSERT_FALSE(base_.empty()) << "no temporary directory";
  options_ = options;
  chunk_size_ = ParseSize(options.chunk_size);
  if (native_) {
    volume_.clear();
    return;
  }
  if (!options.volume_dir.empty()) volume_ = options.volume_dir;
  std::vector<std::string> args = {SopfsBin(), "format", volume_};
  if (!options.chunk_size.empty()) {
    args.push_back("--chunk-size");
    args.push_back(options.chunk_size);
  }
  args.insert(args.end(), options.format_args.begin(), options.format_args.end());
  CommandResult r = RunCommand(args, seconds(120));
  ASSERT_TRUE(r.started) << r.output;
  ASSERT_FALSE(r.timed_out) << "sopfs format did not finish in 120 s: " << r.output;
  ASSERT_EQ(r.exit_code, 0) << "sopfs format " << volume_ << " failed: " << r.output;
}

void MountedVolume::Mount() {
  ASSERT_FALSE(mounted_) << "already mounted";
  if (native_) {
    mounted_ = true;
    return;
  }
  if (killed_pid_ < 0) {
    ASSERT_FALSE(HasMount(mountpoint_)) << mountpoint_ << " is already a mount point";
  }
  StartWatchdog();
  {
    std::ofstream log(log_path_, std::ios::app);
    log << "==== sopfs mount " << volume_ << " " << mountpoint_ << " -f\n";
  }
  std::vector<std::string> args = {SopfsBin(), "mount", volume_, mountpoint_, "-f"};
  for (const auto& o : options_.mount_options) {
    args.push_back("-o");
    args.push_back(o);
  }
  // The whole suite again with other options (tools/test.sh: through io_uring).
  if (const char* extra = std::getenv("SOPFS_TEST_MOUNT_OPTIONS"); extra && *extra) {
    args.push_back("-o");
    args.push_back(extra);
  }
  auto argv = Argv(args);
  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(log_fd, 0) << log_path_ << ": " << ErrnoText();
  pid_t pid = ::fork();
  if (pid == 0) {
    ChildSetup(log_fd);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  ::close(log_fd);
  ASSERT_GT(pid, 0) << "fork: " << ErrnoText();
  // A statfs that hangs because the daemon never answers is cut by the watchdog.
  Clock::time_point saved;
  {
    std::lock_guard lock(mu_);
    pid_ = pid;
    saved = deadline_;
    deadline_ = std::min(deadline_, Clock::now() + kMountBound + seconds(5));
    cv_.notify_all();
  }
  const auto limit = Clock::now() + kMountBound;
  bool ready = false;
  int status = 0;
  while (!ready) {
    {
      std::lock_guard lock(mu_);
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        pid_ = -1;
        break;
      }
    }
    if (IsFuseMount(mountpoint_)) {
      ready = true;
      break;
    }
    if (Clock::now() >= limit) break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  {
    std::lock_guard lock(mu_);
    deadline_ = saved;
    cv_.notify_all();
  }
  if (!ready) {
    bool exited = pid_.load() < 0;
    if (!exited) ForceKill();
    std::string how = "sopfs mount did not make " + mountpoint_ + " a FUSE mount within 20 s";
    if (exited) {
      how = "sopfs mount exited (" +
            (WIFEXITED(status) ? "exit code " + std::to_string(WEXITSTATUS(status))
                               : "signal " + std::to_string(WTERMSIG(status))) +
            ") before " + mountpoint_ + " became a FUSE mount";
    }
    FAIL() << how << "; daemon stderr:\n" << Tail(DaemonLog()) << ReportWatchdog();
  }
  mounted_ = true;
  if (killed_pid_ > 0) {
    const pid_t old = std::exchange(killed_pid_, -1);
    const auto limit = Clock::now() + seconds(10);
    int old_status = 0;
    while (::waitpid(old, &old_status, WNOHANG) == 0 && Clock::now() < limit) {
      std::this_thread::sleep_for(milliseconds(20));
    }
    if (::waitpid(old, &old_status, WNOHANG) == 0) {
      FAIL() << "the daemon killed with -9 (pid " << old << ") still exists 10 s after the "
             << "next mount; daemon stderr:\n"
             << Tail(DaemonLog());
    }
  }
}

void MountedVolume::Unmount() {
  ASSERT_TRUE(mounted_) << "not mounted";
  if (native_) {
    mounted_ = false;
    return;
  }
  CommandResult r = RunCommand({"fusermount3", "-u", mountpoint_}, seconds(60));
  if (r.timed_out || r.exit_code != 0) {
    ForceKill();
    FAIL() << "fusermount3 -u " << mountpoint_
           << (r.timed_out ? " timed out" : " failed (exit " + std::to_string(r.exit_code) + ")")
           << ": " << r.output << ReportWatchdog() << "\ndaemon stderr:\n"
           << Tail(DaemonLog());
  }
  ExpectDaemonExitsZero("fusermount3 -u");
}

void MountedVolume::ExpectDaemonExitsZero(const std::string& after) {
  int status = 0;
  if (!WaitDaemon(kDaemonExitBound, &status)) {
    ForceKill();
    FAIL() << "daemon did not exit within " << kDaemonExitBound.count() << " s of " << after
           << "; daemon stderr:\n"
           << Tail(DaemonLog());
  }
  mounted_ = false;
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "daemon did not exit 0 after " << after << " (wait status " << status
      << (WIFSIGNALED(status) ? ", signal " + std::to_string(WTERMSIG(status)) : std::string())
      << (WIFEXITED(status) ? ", exit " + std::to_string(WEXITSTATUS(status)) : std::string())
      << ")" << ReportWatchdog() << "; daemon stderr:\n"
      << Tail(DaemonLog());
}

void MountedVolume::AbortConnection() {
  ASSERT_TRUE(mounted_) << "not mounted";
  ASSERT_FALSE(native_) << "no connection to abort in native mode";
  struct stat st {};
  ASSERT_EQ(::stat(mountpoint_.c_str(), &st), 0) << mountpoint_ << ": " << ErrnoText();
  const std::string control = "/sys/fs/fuse/connections";
  const std::string abort_file = control + "/" + std::to_string(minor(st.st_dev)) + "/abort";
  if (::access(abort_file.c_str(), W_OK) != 0) {
    CommandResult r = RunCommand({"mount", "-t", "fusectl", "fusectl", control}, seconds(30));
    ASSERT_EQ(::access(abort_file.c_str(), W_OK), 0)
        << abort_file << " not writable (mount fusectl: " << r.output << ")";
  }
  const int fd = ::open(abort_file.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << abort_file << ": " << ErrnoText();
  const ssize_t n = ::write(fd, "1", 1);
  const int err = errno;
  ::close(fd);
  ASSERT_EQ(n, 1) << "write " << abort_file << ": " << ErrnoText(err);
  ASSERT_NO_FATAL_FAILURE(ExpectDaemonExitsZero("the connection was aborted"));
  if (HasMount(mountpoint_)) {
    CommandResult r = RunCommand({"fusermount3", "-u", "-z", mountpoint_}, seconds(30));
    ASSERT_EQ(r.exit_code, 0) << "fusermount3 -u -z " << mountpoint_ << ": " << r.output;
  }
}

void MountedVolume::Remount() {
  ASSERT_NO_FATAL_FAILURE(Unmount());
  ASSERT_NO_FATAL_FAILURE(Mount());
}

void MountedVolume::KillDaemon() {
  ASSERT_TRUE(mounted_) << "not mounted";
  if (native_) return;
  pid_t pid = pid_.load();
  ASSERT_GT(pid, 0) << "daemon already gone" << ReportWatchdog();
  ::kill(pid, SIGKILL);
  int status = 0;
  ASSERT_TRUE(WaitDaemon(seconds(30), &status)) << "daemon not reaped 30 s after SIGKILL";
  mounted_ = false;
  CommandResult r = RunCommand({"fusermount3", "-u", "-z", mountpoint_}, seconds(30));
  ASSERT_EQ(r.exit_code, 0) << "fusermount3 -u -z " << mountpoint_ << ": " << r.output;
  ASSERT_FALSE(HasMount(mountpoint_)) << "still mounted after lazy unmount";
}

void MountedVolume::ClearKilledDaemon() {
  if (killed_pid_ <= 0) return;
  if (HasMount(mountpoint_)) {
    (void)AbortFuseConnection(FuseConnectionAt(mountpoint_));
    (void)DetachMount(mountpoint_);
  }
  const auto limit = Clock::now() + seconds(30);
  while (::waitpid(killed_pid_, nullptr, WNOHANG) == 0 && Clock::now() < limit) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  killed_pid_ = -1;
}

void MountedVolume::KillDaemonLeavingMount() {
  ASSERT_TRUE(mounted_) << "not mounted";
  ASSERT_FALSE(native_) << "no daemon to kill in native mode";
  std::lock_guard lock(mu_);
  const pid_t pid = pid_.exchange(-1);
  ASSERT_GT(pid, 0) << "daemon already gone";
  ::kill(pid, SIGKILL);
  killed_pid_ = pid;
  mounted_ = false;
}

void MountedVolume::SetWatchdog(seconds budget) {
  std::lock_guard lock(mu_);
  deadline_ = Clock::now() + budget;
  cv_.notify_all();
}

std::string MountedVolume::Path(std::string_view rel) const {
  std::string p = mountpoint_;
  if (!rel.empty()) {
    p += '/';
    p += rel;
  }
  return p;
}

std::string MountedVolume::DaemonLog() const { return SlurpFile(log_path_); }

uint64_t MountedVolume::DaemonPeakRssKiB() const {
  const pid_t pid = pid_.load();
  if (pid <= 0) return 0;
  const std::string status = SlurpFile("/proc/" + std::to_string(pid) + "/status");
  const size_t at = status.find("VmHWM:");
  return at == std::string::npos ? 0 : std::strtoull(status.c_str() + at + 6, nullptr, 10);
}

void MountedVolume::StartWatchdog() {
  if (watchdog_.joinable()) return;
  watchdog_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!stop_watchdog_) {
      if (Clock::now() >= deadline_) {
        pid_t pid = pid_.load();
        if (pid > 0) {
          watchdog_fired_ = true;
          ::kill(pid, SIGKILL);
        }
        deadline_ = Clock::now() + std::chrono::hours(24 * 365);
        continue;
      }
      cv_.wait_until(lock, deadline_);
    }
  });
}

void MountedVolume::StopWatchdog() {
  {
    std::lock_guard lock(mu_);
    stop_watchdog_ = true;
    cv_.notify_all();
  }
  if (watchdog_.joinable()) watchdog_.join();
}

bool MountedVolume::WaitDaemon(milliseconds bound, int* status) {
  const auto deadline = Clock::now() + bound;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      pid_t pid = pid_.load();
      if (pid <= 0) {
        *status = 0;
        return true;
      }
      pid_t r = ::waitpid(pid, status, WNOHANG);
      if (r == pid || (r < 0 && errno == ECHILD)) {
        pid_ = -1;
        return true;
      }
    }
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
}

void MountedVolume::ForceKill() {
  {
    std::lock_guard lock(mu_);
    pid_t pid = pid_.load();
    if (pid > 0) ::kill(pid, SIGKILL);
  }
  int status = 0;
  WaitDaemon(seconds(30), &status);
  if (!native_ && HasMount(mountpoint_)) {
    RunCommand({"fusermount3", "-u", "-z", mountpoint_}, seconds(30));
  }
  mounted_ = false;
}

void MountedVolume::RemoveTree() {
  if (base_.empty()) return;
  if (!native_ && HasMount(mountpoint_)) {
    std::fprintf(stderr, "mount_fixture: %s is still mounted; leaving %s\n", mountpoint_.c_str(),
                 base_.c_str());
    return;
  }
  const char* keep = std::getenv("SOPFS_TEST_KEEP");
  if (keep && *keep && ::testing::Test::HasFailure()) {
    std::fprintf(stderr, "mount_fixture: kept %s\n", base_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(base_, ec);
}

std::string MountedVolume::ReportWatchdog() {
  return watchdog_fired_.load()
             ? "\n[the watchdog killed the daemon: the test ran past its time budget, a "
               "request probably hung]"
             : "";
}

// ---------------------------------------------------------------------------------------

void FuseFsTest::SetUp() {
  ASSERT_NO_FATAL_FAILURE(vol_.Format(VolumeOptions()));
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
}

void FuseFsTest::TearDown() {
  if (vol_.mounted()) {
    ASSERT_NO_FATAL_FAILURE(vol_.Unmount());
  }
}

}  // namespace sopfs::fusetest
