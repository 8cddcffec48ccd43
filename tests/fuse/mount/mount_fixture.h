// Test harness for the file system through a real mount: a temporary volume formatted
// with the `sopfs` binary (SOPFS_BIN; the environment's SOPFS_TEST_BIN overrides it),
// mounted with `sopfs mount VOL MNT -f` as a child process, unmounted (fusermount3 -u),
// remounted, or killed with SIGKILL.
//
// Every wait is bounded: mount readiness (20 s), daemon exit, helper commands. A
// watchdog thread kills the daemon when a test runs past its budget, so a hung FUSE
// request turns into ENOTCONN and a failed test instead of a hung one.
//
// Native mode: when the environment variable SOPFS_TEST_NATIVE_DIR is set, no daemon
// runs; the "mount" is a fresh subdirectory of that directory, remount is a no-op, and
// crash tests skip. It exists to debug the tests' own logic against a local file system;
// CI never sets it.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sopfs::fusetest {

constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;

// True when SOPFS_TEST_NATIVE_DIR is set (no daemon; see above).
bool NativeMode();

// "strerror(errno) (errno N)" for assertion messages.
std::string ErrnoText(int err);
inline std::string ErrnoText() { return ErrnoText(errno); }

struct CommandResult {
  bool started = false;
  bool timed_out = false;
  int exit_code = -1;  // the exit status, or -1 when killed by a signal / not started
  std::string output;  // stdout and stderr together
};

// Runs argv[0] (looked up in PATH) with stdin from /dev/null, collecting its output;
// kills it with SIGKILL after `timeout`.
CommandResult RunCommand(const std::vector<std::string>& argv, std::chrono::seconds timeout);

// True when `name` is an executable in PATH.
bool HaveProgram(const std::string& name);

// The sopfs binary the tests drive (SOPFS_TEST_BIN, else the one built with them).
const std::string& SopfsBin();

// A temporary volume and its mountpoint. Methods that can fail use gtest fatal
// assertions: wrap calls in ASSERT_NO_FATAL_FAILURE.
class MountedVolume {
 public:
  struct Options {
    std::string chunk_size;                  // `--chunk-size` for format; empty: default
    std::vector<std::string> mount_options;  // each passed as `-o OPTION`
    // Where to format the volume (must not exist yet); empty: inside the temporary
    // directory. The fixture does not delete a volume placed elsewhere.
    std::string volume_dir;
    std::vector<std::string> format_args;  // more arguments for `sopfs format`
  };

  MountedVolume();
  ~MountedVolume();
  MountedVolume(const MountedVolume&) = delete;
  MountedVolume& operator=(const MountedVolume&) = delete;

  void Format(const Options& options);
  void Mount();
  // fusermount3 -u, then the daemon must exit 0 within its bound.
  void Unmount();
  void Remount();
  // SIGKILL the daemon, reap it, lazily unmount the dead mount (fusermount3 -u -z).
  void KillDaemon();
  // SIGKILL the daemon and leave everything as a crash leaves it: the dead (or dying)
  // process unreaped, its mount in place. The next Mount() must clear both by itself
  // (`sopfs mount` detects the dead holder); it then reaps the old daemon, which must
  // be gone within 10 s of the new mount.
  void KillDaemonLeavingMount();
  // What the next mount would clear after KillDaemonLeavingMount, for a test that
  // failed before it: aborts the old connection, detaches its mount, reaps the daemon.
  void ClearKilledDaemon();
  // Aborts the kernel's FUSE connection (fusectl's `abort`, mounting fusectl when it is
  // not), so the daemon's session ends with whatever is still open never released; the
  // daemon must then exit 0 within its bound. Open descriptors get ENOTCONN after it.
  void AbortConnection();

  // The -o options of the next mounts (replacing those of Options::mount_options).
  void SetMountOptions(std::vector<std::string> options) {
    options_.mount_options = std::move(options);
  }
  // Seconds from now after which the watchdog kills the daemon (default 300).
  void SetWatchdog(std::chrono::seconds budget);

  bool native() const { return native_; }
  bool mounted() const { return mounted_; }
  uint64_t chunk_size() const { return chunk_size_; }
  const std::string& root() const { return mountpoint_; }
  // The volume directory (config, registry and data folders); empty in native mode.
  const std::string& volume() const { return volume_; }
  // `rel` under the mountpoint.
  std::string Path(std::string_view rel) const;
  // A plain local directory (not on the mount) for reference copies.
  const std::string& scratch() const { return scratch_; }
  // The daemon's stderr so far (all mounts of this volume).
  std::string DaemonLog() const;
  // The running daemon's peak resident set (VmHWM) in KiB; 0 when it is not running.
  uint64_t DaemonPeakRssKiB() const;

 private:
  void StartWatchdog();
  void StopWatchdog();
  bool DaemonAlive();
  // waitpid with a bound; true when reaped, with the wait status in *status.
  bool WaitDaemon(std::chrono::milliseconds bound, int* status);
  void ForceKill();  // SIGKILL + reap + lazy unmount, no assertions
  // The daemon exits 0 within kDaemonExitBound (reaps it).
  void ExpectDaemonExitsZero(const std::string& after);
  void RemoveTree();
  std::string ReportWatchdog();

  bool native_ = false;
  bool mounted_ = false;
  uint64_t chunk_size_ = kMiB;
  std::string base_;
  std::string volume_;
  std::string mountpoint_;
  std::string scratch_;
  std::string log_path_;
  Options options_;
  std::atomic<pid_t> pid_{-1};
  pid_t killed_pid_ = -1;  // KillDaemonLeavingMount's daemon, until reaped

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_watchdog_ = false;
  std::chrono::steady_clock::time_point deadline_;
  std::atomic<bool> watchdog_fired_{false};
  std::thread watchdog_;
};

// A size-limited tmpfs of its own under /tmp (mounting needs root), so that a disk
// really fills. Unmount it after the volume on it is unmounted.
class SmallTmpfs {
 public:
  void Mount(const std::string& size);  // "48m", "300m": fails the test if it cannot
  void Unmount();                       // lazily; also by the destructor
  ~SmallTmpfs() { Unmount(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Base fixture: formats and mounts a fresh volume before each test and unmounts it
// cleanly after (a daemon that does not exit 0 fails the test).
class FuseFsTest : public ::testing::Test {
 protected:
  // Override to change the volume (chunk size, mount options).
  virtual MountedVolume::Options VolumeOptions() const { return {}; }
  void SetUp() override;
  void TearDown() override;

  std::string P(std::string_view rel) const { return vol_.Path(rel); }

  MountedVolume vol_;
};

// ---- file helpers (assertion messages name the path and the errno) ----

// Deterministic bytes: the byte at absolute offset `off` of stream `seed`.
void FillPattern(uint64_t seed, uint64_t offset, char* out, size_t n);
std::string Pattern(uint64_t seed, uint64_t offset, size_t n);

// Writes all of `data` at `offset` (pwrite loop).
void PwriteAll(int fd, std::string_view data, uint64_t offset);
// Reads up to n bytes at offset (pread loop until n or EOF).
std::string PreadUpTo(int fd, uint64_t offset, size_t n);

void WriteFile(const std::string& path, std::string_view data, mode_t mode = 0644);
std::string ReadFile(const std::string& path);
// Writes `size` bytes of pattern `seed` in `block`-sized writes (creating/truncating).
void WritePatternFile(const std::string& path, uint64_t seed, uint64_t size, size_t block);
// The file holds exactly `size` bytes of pattern `seed` (reports the first bad offset).
void ExpectPatternFile(const std::string& path, uint64_t seed, uint64_t size);
// Index of the first differing byte, or -1 when equal (sizes included).
int64_t FirstDifference(std::string_view a, std::string_view b);
// The value of `key` in the mount's .sopfs/stats (a string without its quotes), or ""
// when absent.
std::string StatsField(const MountedVolume& vol, const std::string& key);
// The names in a directory, without . and ..; fails on duplicates or a missing ./..
std::vector<std::string> ListDir(const std::string& path);

}  // namespace sopfs::fusetest
