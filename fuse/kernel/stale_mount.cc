#include "fuse/kernel/stale_mount.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "fuse/kernel/kernel_read_ahead.h"

namespace sopfs {
namespace {

constexpr const char* kFusectl = "/sys/fs/fuse/connections";

// `fusermount3 -u -z MOUNTPOINT` for callers who may not unmount themselves.
Status RunFusermountDetach(const std::string& mountpoint) {
  const pid_t pid = fork();
  if (pid < 0) return Status::Error(errno, std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    const int null_fd = open("/dev/null", O_RDWR);
    if (null_fd >= 0) {
      dup2(null_fd, STDIN_FILENO);
      dup2(null_fd, STDOUT_FILENO);
    }
    execlp("fusermount3", "fusermount3", "-u", "-z", mountpoint.c_str(), nullptr);
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  return Status::Error(EPERM, "fusermount3 -u -z " + mountpoint + " failed");
}

}  // namespace

std::vector<FuseMountEntry> ListFuseMounts() {
  std::vector<FuseMountEntry> mounts;
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  while (std::getline(in, line)) {
    // ID PARENT MAJOR:MINOR ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
    std::istringstream fields(line);
    std::string id, parent, dev, root, point, field;
    fields >> id >> parent >> dev >> root >> point;
    while (fields >> field && field != "-") {
    }
    std::string fstype, source;
    fields >> fstype >> source;
    if (fstype != "fuse" && !fstype.starts_with("fuse.")) continue;
    const size_t colon = dev.find(':');
    if (colon == std::string::npos || dev.substr(0, colon) != "0") continue;
    FuseMountEntry e;
    e.mountpoint = UnescapeMountinfo(point);
    e.connection = static_cast<unsigned>(std::strtoul(dev.c_str() + colon + 1, nullptr, 10));
    e.fstype = fstype;
    e.source = UnescapeMountinfo(source);
    mounts.push_back(std::move(e));
  }
  return mounts;
}

unsigned FuseConnectionAt(const std::string& mountpoint) {
  unsigned connection = 0;
  for (const FuseMountEntry& e : ListFuseMounts()) {
    if (e.mountpoint == mountpoint) connection = e.connection;
  }
  return connection;
}

Status AbortFuseConnection(unsigned connection) {
  const std::string dir = std::string(kFusectl) + "/" + std::to_string(connection);
  const std::string abort_file = dir + "/abort";
  if (access(dir.c_str(), F_OK) != 0 && mount("fusectl", kFusectl, "fusectl", 0, nullptr) != 0 &&
      errno != EBUSY) {
    const int err = errno;
    return Status::Error(
        err, std::string("cannot mount fusectl at ") + kFusectl + ": " + std::strerror(err));
  }
  if (access(dir.c_str(), F_OK) != 0) return Status::Ok();  // the connection is gone already
  const int fd = open(abort_file.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::Ok();
    return Status::Error(err, "cannot open " + abort_file + ": " + std::strerror(err));
  }
  const ssize_t n = write(fd, "1", 1);
  const int err = errno;
  close(fd);
  if (n != 1 && err != ENOENT) {
    return Status::Error(err, "cannot write " + abort_file + ": " + std::strerror(err));
  }
  return Status::Ok();
}

Status DetachMount(const std::string& mountpoint) {
  if (umount2(mountpoint.c_str(), MNT_DETACH) == 0) return Status::Ok();
  if (errno == EINVAL || errno == ENOENT) return Status::Ok();  // not a mount any more
  return RunFusermountDetach(mountpoint);
}

bool ProcessIsDying(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return true;  // gone meanwhile
  const char state = text[paren + 2];
  if (state == 'Z' || state == 'X' || state == 'x') return true;
  // A thread group being killed: SIGKILL pending for the group or the leader.
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with("ShdPnd:") || line.starts_with("SigPnd:")) {
      const uint64_t mask = std::strtoull(line.c_str() + 7, nullptr, 16);
      if (mask & (uint64_t{1} << (SIGKILL - 1))) return true;
    }
  }
  return false;
}

}  // namespace sopfs
