#include "tools/volume_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <thread>

#include "fuse/kernel/stale_mount.h"
#include "fuse/volume/volume_config.h"
#include "fuse/volume/volume_mode.h"

namespace sopfs::tools {
namespace {

// How long a dying holder may take to exit once its connection is aborted.
constexpr auto kHolderExitBound = std::chrono::seconds(10);

struct HolderRecord {
  long pid = 0;
  std::string mountpoint;
  unsigned connection = 0;
};

HolderRecord ReadRecord(int fd) {
  char buf[4096] = {};
  const ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
  HolderRecord r;
  if (n <= 0) return r;
  std::istringstream in(std::string(buf, static_cast<size_t>(n)));
  std::string line;
  if (std::getline(in, line)) r.pid = std::strtol(line.c_str(), nullptr, 10);
  if (std::getline(in, line)) r.mountpoint = line;
  if (std::getline(in, line))
    r.connection = static_cast<unsigned>(std::strtoul(line.c_str(), nullptr, 10));
  return r;
}

// One line on stderr and in the volume's log (the daemon's log, read after the fact).
void Say(const std::string& volume_dir, const std::string& text) {
  const std::string line = "sopfs: " + text + "\n";
  std::fputs(line.c_str(), stderr);
  const std::string log = volume_dir + "/sopfs.log";
  const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return;
  if (write(fd, line.data(), line.size()) < 0) {
    // The message went to stderr at least.
  }
  close(fd);
}

// The record's mount, when it is still there with the recorded connection.
bool RecordedMountPresent(const HolderRecord& r) {
  return !r.mountpoint.empty() && r.connection != 0 &&
         FuseConnectionAt(r.mountpoint) == r.connection;
}

// The holder is gone (we hold the lock): a mount it left is dead; detach it.
void DetachDeadMount(const std::string& dir, const HolderRecord& r) {
  if (!RecordedMountPresent(r)) return;
  // Normally the kernel ended the connection when the daemon died; make sure.
  (void)AbortFuseConnection(r.connection);
  Status st = DetachMount(r.mountpoint);
  Say(dir, "the daemon (pid " + std::to_string(r.pid) + ") that served " + dir + " at " +
               r.mountpoint + " is gone; " +
               (st.ok() ? "unmounted its dead mount" : "cannot unmount it: " + st.ToString()));
}

// True when another mount than the recorded one uses `connection`: the number was freed
// and given to another file system, which must never be aborted.
bool ConnectionServesAnotherMount(unsigned connection, const std::string& mountpoint) {
  for (const FuseMountEntry& e : ListFuseMounts()) {
    if (e.connection == connection && e.mountpoint != mountpoint) return true;
  }
  return false;
}

// The holder was killed but cannot exit while its connection lives: abort it, detach
// the mount, and wait for the lock. True when the lock is ours.
bool FreeDyingHolder(const std::string& dir, int fd, const HolderRecord& r) {
  unsigned connection = r.connection;
  if (connection == 0 && !r.mountpoint.empty()) connection = FuseConnectionAt(r.mountpoint);
  // A dying holder keeps its connection's number allocated, but check anyway: the
  // record may be older than the process it names.
  if (connection != 0 && ConnectionServesAnotherMount(connection, r.mountpoint)) connection = 0;
  std::string what = "the daemon (pid " + std::to_string(r.pid) + ") that held " + dir +
                     " was killed but has not exited";
  if (connection != 0) {
    Status st = AbortFuseConnection(connection);
    what += st.ok() ? "; aborted its FUSE connection " + std::to_string(connection)
                    : "; cannot abort its FUSE connection " + std::to_string(connection) + ": " +
                          st.ToString();
  }
  if (RecordedMountPresent(r) ||
      (!r.mountpoint.empty() && connection != 0 && FuseConnectionAt(r.mountpoint) == connection)) {
    Status st = DetachMount(r.mountpoint);
    what += st.ok() ? " and unmounted " + r.mountpoint
                    : "; cannot unmount " + r.mountpoint + ": " + st.ToString();
  }
  Say(dir, what);
  const auto deadline = std::chrono::steady_clock::now() + kHolderExitBound;
  while (std::chrono::steady_clock::now() < deadline) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Say(dir, "the killed daemon (pid " + std::to_string(r.pid) + ") still holds " + dir + " after " +
               std::to_string(kHolderExitBound.count()) + " s");
  return false;
}

// The locked descriptor once the volume is known to be standalone; a clustered one is
// refused (and the lock let go): its daemons share it, none may take it alone. A volume
// not made yet (no sopfs.conf: the default one before its first mount) has no mode yet.
Result<int> UnlessClustered(const std::string& dir, int fd) {
  Result<VolumeConfig> config = ReadVolumeConfig(dir);
  if (!config.ok()) return fd;
  Status standalone = RequireStandalone(config->dir, config->log_folder);
  if (standalone.ok()) return fd;
  close(fd);
  return standalone;
}

}  // namespace

Result<int> LockVolume(const std::string& dir) {
  const std::string path = dir + "/sopfs.lock";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int err = errno;
    return Status::Error(err, "cannot open " + path + ": " + std::strerror(err));
  }
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
    DetachDeadMount(dir, ReadRecord(fd));
    // From now on the record names a live process (this one, then the daemon), so a
    // second mount never mistakes the previous daemon's record for the holder's.
    RecordDaemon(fd, "");
    return UnlessClustered(dir, fd);
  }
  const int err = errno;
  if (err != EWOULDBLOCK) {
    close(fd);
    return Status::Error(err, "cannot lock " + path + ": " + std::strerror(err));
  }
  const HolderRecord holder = ReadRecord(fd);
  if (holder.pid > 0 && ProcessIsDying(static_cast<pid_t>(holder.pid)) &&
      FreeDyingHolder(dir, fd, holder)) {
    RecordDaemon(fd, "");
    return UnlessClustered(dir, fd);
  }
  close(fd);
  return Status::Error(
      EBUSY, "volume " + dir + " is already mounted by another sopfs daemon" +
                 (holder.pid > 0 ? " (pid " + std::to_string(holder.pid) + ")" : std::string()));
}

void RecordDaemon(int lock_fd, const std::string& mountpoint) {
  std::string record = std::to_string(getpid()) + "\n";
  if (!mountpoint.empty()) {
    record += mountpoint + "\n" + std::to_string(FuseConnectionAt(mountpoint)) + "\n";
  }
  if (ftruncate(lock_fd, 0) != 0 || pwrite(lock_fd, record.data(), record.size(), 0) < 0) {
    // Only the refusal message of a second daemon, and the cleanup after a kill -9,
    // lose the record's details.
  }
}

}  // namespace sopfs::tools
