// sopfs mount [VOLUME] MOUNTPOINT: serves a volume through FUSE.
//
// Order matters here. Everything that can be checked without the engine is checked in
// the calling process (command line, -o options, sopfs.conf, the volume lock, then the
// mountpoint) so errors come back directly. Then, unless -f, the process forks BEFORE any
// engine exists: the engine starts threads and io_uring rings, and neither survives a
// fork. The child becomes the daemon: new session, stdin/stdout on /dev/null, and it
// reports readiness through a pipe; the parent exits 0 once the mount is usable, or
// prints the daemon's error. The daemon keeps the caller's stderr until the mount is
// ready (libfuse and fusermount3 print their complaints there), then appends it to
// VOLUME/sopfs.log, so that no caller waiting for stderr's end (a pipe) waits forever.
//
// One daemon per volume: an exclusive flock on VOLUME/sopfs.lock, taken before the fork
// and held (inherited) by the daemon for its lifetime (tools/volume_lock.h, which also
// clears what a daemon killed with -9 left behind).
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "fuse/kernel/daemon.h"
#include "fuse/volume/size_arg.h"
#include "fuse/volume/volume_config.h"
#include "tools/commands.h"
#include "tools/volume_lock.h"

namespace sopfs::tools {
namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;

constexpr const char* kCommand = "sopfs mount";

constexpr const char* kOptionHelp =
    "mount options (-o, comma separated; also 'options =' in the [mount] section of\n"
    "sopfs.conf, which the command line overrides):\n"
    "  commit_interval=MS    commit pending namespace changes at least this often\n"
    "                        (milliseconds, or 500ms, 2s; default 1s, up to 60s)\n"
    "  attr_timeout=SECONDS  how long the kernel may cache attributes (default 1)\n"
    "  txn_timeout=SECONDS   roll back an explicit transaction idle this long\n"
    "                        (.sopfs/txn; default 300, from 1 to 86400)\n"
    "  cache=SIZE            memory for B-Tree nodes and chunks read (16M to 64G;\n"
    "                        default 96M)\n"
    "  small_file_buffer=SIZE  memory for small files (up to 64 KiB) closed but not yet\n"
    "                        committed (1M to 1G; default 16M); closes wait when it is full\n"
    "  reserve=SIZE          room kept on each disk of the volume for metadata, so that\n"
    "                        deletions still work on a full disk (4M to 64G; default\n"
    "                        twice small_file_buffer, at least 32M)\n"
    "  scrub=DAYS            read and verify every blob this often, rewriting bad shards\n"
    "                        from parity (default 7; 0: never; fractions allowed). A data\n"
    "                        folder found empty at mount is refilled at once either way\n"
    "  scrub_mib_s=N         the scrub's read rate, MiB/s (1 to 100000; default 32)\n"
    "  io_uring              take requests through io_uring on every CPU (Linux 6.14+,\n"
    "                        with /sys/module/fuse/parameters/enable_uring set to Y;\n"
    "                        else /dev/fuse, as without it, and a line in the log)\n"
    "  allow_other, allow_root, default_permissions (always on), ro, rw, fsname=NAME,\n"
    "  subtype=NAME, auto_unmount, atime, noatime, relatime, dev, nodev, suid, nosuid,\n"
    "  exec, noexec, sync, async, dirsync: as for any FUSE file system\n"
    "  auto, noauto, nofail, _netdev, user, users, defaults, x-*: fstab only, ignored\n";

// A one-line message for stderr: newlines of a nested message become spaces.
std::string OneLine(std::string text) {
  std::replace(text.begin(), text.end(), '\n', ' ');
  return text;
}

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "%s: %s\n", kCommand, OneLine(message).c_str());
  return code;
}

// ---- mount options --------------------------------------------------------------------

// Options libfuse (and the kernel) take as they are. Options in one group exclude each
// other, so a later one (the command line over sopfs.conf) replaces an earlier one.
struct KnownOption {
  const char* name;
  bool takes_value;
  const char* group;
};
constexpr KnownOption kFuseOptions[] = {
    {"allow_other", false, "allow"},
    {"allow_root", false, "allow"},
    {"default_permissions", false, "default_permissions"},
    {"ro", false, "rw"},
    {"rw", false, "rw"},
    {"fsname", true, "fsname"},
    {"subtype", true, "subtype"},
    {"auto_unmount", false, "auto_unmount"},
    {"noatime", false, "atime"},
    {"atime", false, "atime"},
    {"relatime", false, "atime"},
    {"nodev", false, "dev"},
    {"dev", false, "dev"},
    {"nosuid", false, "suid"},
    {"suid", false, "suid"},
    {"exec", false, "exec"},
    {"noexec", false, "exec"},
    {"sync", false, "sync"},
    {"async", false, "sync"},
    {"dirsync", false, "dirsync"},
};

// Written in /etc/fstab for mount(8) and systemd, meaningless to the mount itself.
// Keep in step with tools/mount_sopfs.cc, which drops them before calling us.
bool IsFstabOnly(const std::string& name, bool has_value) {
  static const char* const kFlags[] = {"auto",     "noauto", "nofail", "_netdev", "users",
                                       "defaults", "nouser", "owner",  "group"};
  if (name.rfind("x-", 0) == 0 || name == "comment" || name == "user") return true;
  for (const char* flag : kFlags) {
    if (name == flag) return !has_value;
  }
  return false;
}

// "1000", "500ms", "2s" -> milliseconds.
std::optional<std::chrono::milliseconds> ParseInterval(const std::string& text) {
  size_t used = 0;
  long long value = 0;
  try {
    if (text.empty() || text[0] == '-') return std::nullopt;
    value = std::stoll(text, &used);
  } catch (...) {
    return std::nullopt;
  }
  const std::string unit = text.substr(used);
  if (unit == "s") {
    if (value > 1000000) return std::nullopt;
    value *= 1000;
  } else if (!unit.empty() && unit != "ms") {
    return std::nullopt;
  }
  return std::chrono::milliseconds(value);
}

Status SetCommitInterval(const std::string& text, MountSettings& settings) {
  auto interval = ParseInterval(text);
  if (!interval || interval->count() < 1 || interval->count() > 60000) {
    return Status::Error(EINVAL, "commit_interval=" + text +
                                     ": expected milliseconds from 1 to 60000 (or 500ms, 2s)");
  }
  settings.commit_interval = *interval;
  return Status::Ok();
}

Status SetAttrTimeout(const std::string& text, MountSettings& settings) {
  std::string number = text;
  if (!number.empty() && number.back() == 's') number.pop_back();
  char* end = nullptr;
  const double seconds = number.empty() ? -1 : std::strtod(number.c_str(), &end);
  if (number.empty() || *end != '\0' || !(seconds >= 0 && seconds <= 3600)) {
    return Status::Error(EINVAL,
                         "attr_timeout=" + text + ": expected seconds from 0 to 3600, such as 1");
  }
  settings.attr_timeout = seconds;
  return Status::Ok();
}

Status SetTxnTimeout(const std::string& text, MountSettings& settings) {
  std::string number = text;
  if (!number.empty() && number.back() == 's') number.pop_back();
  char* end = nullptr;
  const long seconds = number.empty() ? -1 : std::strtol(number.c_str(), &end, 10);
  if (number.empty() || *end != '\0' || seconds < 1 || seconds > 86400) {
    return Status::Error(EINVAL,
                         "txn_timeout=" + text + ": expected seconds from 1 to 86400, such as 300");
  }
  settings.txn_timeout = std::chrono::seconds(seconds);
  return Status::Ok();
}

Status SetScrub(const std::string& name, const std::string& text, MountSettings& settings) {
  char* end = nullptr;
  const double value = text.empty() ? -1 : std::strtod(text.c_str(), &end);
  if (name == "scrub") {
    if (text.empty() || *end != '\0' || !(value >= 0 && value <= 3650)) {
      return Status::Error(EINVAL, "scrub=" + text + ": expected days from 0 to 3650, such as 7");
    }
    settings.scrub_days = value;
  } else {
    if (text.empty() || *end != '\0' || !(value >= 1 && value <= 100000) ||
        value != static_cast<double>(static_cast<uint64_t>(value))) {
      return Status::Error(EINVAL,
                           "scrub_mib_s=" + text + ": expected MiB/s from 1 to 100000, such as 32");
    }
    settings.scrub_mib_s = static_cast<uint64_t>(value);
  }
  return Status::Ok();
}

// A SIZE option ("32M") from `min` to `max` bytes, into `out`.
Status SetSize(const std::string& name, const std::string& text, uint64_t min, uint64_t max,
               const char* range, uint64_t& out) {
  const std::optional<uint64_t> bytes = ParseSize(text);
  if (!bytes || *bytes < min || *bytes > max) {
    return Status::Error(EINVAL, name + "=" + text + ": expected a size " + range);
  }
  out = *bytes;
  return Status::Ok();
}

// Applies one -o list ("allow_other,commit_interval=500") to `settings`: sopfs's own
// options are taken out, fstab-only ones dropped, the rest kept for libfuse (replacing an
// earlier option of the same group). EINVAL names an unknown or malformed option.
Status ApplyOptions(const std::string& list, MountSettings& settings) {
  size_t start = 0;
  while (start <= list.size()) {
    size_t comma = list.find(',', start);
    if (comma == std::string::npos) comma = list.size();
    std::string option = list.substr(start, comma - start);
    start = comma + 1;
    option.erase(0, option.find_first_not_of(" \t"));
    option.erase(option.find_last_not_of(" \t") + 1);
    if (option.empty()) continue;
    const size_t eq = option.find('=');
    std::string name = option.substr(0, eq);
    const bool has_value = eq != std::string::npos;
    const std::string value = has_value ? option.substr(eq + 1) : "";
    std::string own = name;
    std::replace(own.begin(), own.end(), '-', '_');
    if (own == "commit_interval" || own == "attr_timeout" || own == "txn_timeout" ||
        own == "small_file_buffer" || own == "cache" || own == "reserve") {
      if (!has_value) return Status::Error(EINVAL, "mount option '" + name + "' needs =VALUE");
      constexpr uint64_t kMiB = uint64_t{1} << 20;
      SOPFS_RETURN_IF_ERROR(
          own == "commit_interval" ? SetCommitInterval(value, settings)
          : own == "attr_timeout"  ? SetAttrTimeout(value, settings)
          : own == "txn_timeout"   ? SetTxnTimeout(value, settings)
          : own == "cache"         ? SetSize(name, value, 16 * kMiB, 64 * 1024 * kMiB,
                                             "from 16M to 64G, such as 128M", settings.cache_bytes)
          : own == "reserve"       ? SetSize(name, value, 4 * kMiB, 64 * 1024 * kMiB,
                                             "from 4M to 64G, such as 64M", settings.reserve_bytes)
                             : SetSize(name, value, kMiB, 1024 * kMiB, "from 1M to 1G, such as 16M",
                                       settings.small_file_buffer));
      continue;
    }
    if (own == "scrub" || own == "scrub_mib_s") {
      if (!has_value) return Status::Error(EINVAL, "mount option '" + name + "' needs =VALUE");
      SOPFS_RETURN_IF_ERROR(SetScrub(own, value, settings));
      continue;
    }
    if (own == "io_uring") {
      if (has_value) return Status::Error(EINVAL, "mount option '" + name + "' takes no value");
      settings.io_uring = true;
      continue;
    }
    if (IsFstabOnly(name, has_value)) continue;
    const KnownOption* known = nullptr;
    for (const KnownOption& k : kFuseOptions) {
      if (name == k.name) known = &k;
    }
    if (!known) return Status::Error(EINVAL, "unknown mount option '" + option + "'");
    if (known->takes_value != has_value || (has_value && value.empty())) {
      return Status::Error(EINVAL, "mount option '" + option + "': " +
                                       (known->takes_value ? "needs =VALUE" : "takes no value"));
    }
    // libfuse (3.14) does not know "relatime". It is the kernel's default, which "atime"
    // (no MS_NOATIME) gives.
    if (option == "relatime") option = "atime";
    auto& kept = settings.fuse_options;
    std::erase_if(kept, [&](const std::string& o) {
      const std::string other = o.substr(0, o.find('='));
      for (const KnownOption& k : kFuseOptions) {
        if (other == k.name) return std::string(k.group) == known->group;
      }
      return false;
    });
    kept.push_back(option);
  }
  return Status::Ok();
}

// ---- serving ---------------------------------------------------------------------------

struct MountPlan {
  std::string volume_dir;
  bool format_first = false;  // the default volume, not yet made
  MountSettings settings;
};

// Runs in the daemon process (after any fork): makes the default volume on first use,
// reads the config and serves until unmounted. `report` gets the outcome exactly once.
int Serve(const MountPlan& plan, const std::function<void(const Status&)>& report) {
  if (plan.format_first) {
    Status created = CreateVolume(DefaultVolumeConfig(plan.volume_dir));
    if (!created.ok()) {
      report(
          Status::Error(created.code(), "cannot create the default volume: " + created.message()));
      return 1;
    }
  }
  auto config = ReadVolumeConfig(plan.volume_dir);
  if (!config.ok()) {
    report(config.status());
    return 1;
  }
  bool reported = false;
  const int code = RunDaemon(*config, plan.settings, [&](const Status& status) {
    reported = true;
    report(status);
  });
  if (!reported) {
    report(Status::Error(EIO, "the daemon stopped before the mount was ready"));
  }
  return code;
}

void WriteAll(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// The parent: waits for the daemon's word. "ok" -> 0; a message -> printed, 1.
int AwaitReadiness(int fd) {
  std::string word;
  char buf[512];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    word.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  if (word == "ok") return 0;
  if (word.empty()) return Fail(1, "the daemon exited before the mount was ready");
  return Fail(1, word);
}

// Descriptors inherited from the caller (a pipe of the shell or of a test harness) would
// keep it waiting for an end of file for as long as the daemon lives: close all but ours.
void CloseInheritedFds(int keep_a, int keep_b) {
  const unsigned lo = static_cast<unsigned>(std::min(keep_a, keep_b));
  const unsigned hi = static_cast<unsigned>(std::max(keep_a, keep_b));
  if (lo > 3) close_range(3, lo - 1, 0);
  if (hi > lo + 1) close_range(lo + 1, hi - 1, 0);
  close_range(hi + 1, ~0u, 0);
}

// The daemon side of the fork.
int BecomeDaemon(const MountPlan& plan, int lock_fd, int ready_fd) {
  setsid();
  CloseInheritedFds(lock_fd, ready_fd);
  // A daemon must not hold the caller's working directory busy; every path is absolute.
  if (chdir("/") != 0) {
    // Cannot happen for "/"; nothing depends on the working directory anyway.
  }
  const int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    dup2(null_fd, STDIN_FILENO);
    dup2(null_fd, STDOUT_FILENO);
    close(null_fd);
  }
  // The parent may be gone (killed while waiting): writing the word must not kill us.
  signal(SIGPIPE, SIG_IGN);
  RecordDaemon(lock_fd, "");
  const std::string log_path = plan.volume_dir + "/sopfs.log";
  return Serve(plan, [&](const Status& status) {
    WriteAll(ready_fd, status.ok() ? std::string("ok") : OneLine(status.message()));
    close(ready_fd);
    if (!status.ok()) return;
    RecordDaemon(lock_fd, plan.settings.mountpoint);
    std::fflush(stderr);
    int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (log_fd < 0) log_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (log_fd >= 0) {
      dup2(log_fd, STDERR_FILENO);
      close(log_fd);
    }
  });
}

}  // namespace

int RunMount(int argc, char** argv) {
  po::options_description visible(
      "usage: sopfs mount [VOLUME] MOUNTPOINT [-f] [-o OPTION[,OPTION]...]\n\n"
      "Serves the sopfs volume VOLUME at MOUNTPOINT, an existing folder. Without VOLUME,\n"
      "the default volume is used (made with 'sopfs format' defaults on first use):\n  " +
      DefaultVolumeDir() +
      "\nReturns once the mount is ready, leaving a daemon in the background (its messages\n"
      "go to VOLUME/sopfs.log); 'fusermount3 -u MOUNTPOINT' or SIGTERM unmounts cleanly.\n\n"
      "options");
  visible.add_options()("help,h", "show this help")(
      "foreground,f", "stay in the foreground, messages on stderr (for systemd)")(
      "options,o", po::value<std::vector<std::string>>()->value_name("OPTION,..."),
      "mount options, listed below")("redis", po::value<std::string>()->value_name("URL"),
                                     "clustered mode through Redis (not implemented yet)");
  po::options_description all;
  all.add(visible).add_options()("path", po::value<std::vector<std::string>>());
  po::positional_options_description positional;
  positional.add("path", -1);

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::fprintf(stderr, "%s: %s (try --help)\n", kCommand, OneLine(e.what()).c_str());
    return 2;
  }
  if (vm.count("help")) {
    std::cout << visible << "\n" << kOptionHelp;
    return 0;
  }
  if (vm.count("redis")) return Fail(2, "--redis: clustered mode is not implemented yet");
  const auto paths =
      vm.count("path") ? vm["path"].as<std::vector<std::string>>() : std::vector<std::string>();
  if (paths.empty()) return Fail(2, "missing MOUNTPOINT (try --help)");
  if (paths.size() > 2) return Fail(2, "unexpected argument '" + paths[2] + "' (try --help)");
  for (const std::string& p : paths) {
    if (p.empty()) return Fail(2, "empty path (try --help)");
  }

  // The command line's -o options first: a bad one is a bad command line (exit 2),
  // whatever the volume holds. They are applied again over sopfs.conf's below.
  MountPlan plan;
  std::string command_line_options;
  if (vm.count("options")) {
    for (const std::string& list : vm["options"].as<std::vector<std::string>>()) {
      command_line_options += list + ",";
    }
    MountSettings scratch;
    Status st = ApplyOptions(command_line_options, scratch);
    if (!st.ok()) return Fail(2, st.message());
  }

  std::error_code ec;

  if (paths.size() == 2) {
    plan.volume_dir = fs::absolute(paths[0], ec).lexically_normal().string();
    while (plan.volume_dir.size() > 1 && plan.volume_dir.back() == '/') plan.volume_dir.pop_back();
    auto config = ReadVolumeConfig(plan.volume_dir);
    if (!config.ok()) return Fail(1, config.status().message());
    plan.volume_dir = config->dir;
  } else {
    plan.volume_dir = DefaultVolumeDir();
    fs::create_directories(plan.volume_dir, ec);
    if (ec)
      return Fail(1, "cannot create the default volume " + plan.volume_dir + ": " + ec.message());
    // Private from the start (volume_privacy.h); a default volume made by an older sopfs
    // is left as it is, and the mount names what to chmod.
    if (!fs::exists(plan.volume_dir + "/sopfs.conf", ec)) {
      fs::permissions(plan.volume_dir, fs::perms::owner_all, ec);
    }
    // Checked again under the lock in Serve (CreateVolume refuses an existing volume).
    plan.format_first = !fs::exists(plan.volume_dir + "/sopfs.conf", ec);
  }
  if (!plan.format_first) {
    auto defaults = ReadMountDefaults(plan.volume_dir);
    if (!defaults.ok()) return Fail(1, defaults.status().message());
    const std::string where = plan.volume_dir + "/sopfs.conf: [mount] ";
    Status st = ApplyOptions(defaults->options, plan.settings);
    if (!st.ok()) return Fail(1, where + "options: " + st.message());
    if (!defaults->commit_interval.empty()) {
      st = SetCommitInterval(defaults->commit_interval, plan.settings);
      if (!st.ok()) return Fail(1, where + "commit-interval: " + st.message());
    }
    if (!defaults->attr_timeout.empty()) {
      st = SetAttrTimeout(defaults->attr_timeout, plan.settings);
      if (!st.ok()) return Fail(1, where + "attr-timeout: " + st.message());
    }
  }
  Status applied = ApplyOptions(command_line_options, plan.settings);
  if (!applied.ok()) return Fail(2, applied.message());
  // Permissions are checked by the kernel against each inode's mode and owner, as on a
  // local file system; the daemon does not check them again.
  auto& fuse_options = plan.settings.fuse_options;
  if (std::find(fuse_options.begin(), fuse_options.end(), "default_permissions") ==
      fuse_options.end()) {
    fuse_options.push_back("default_permissions");
  }

  auto lock = LockVolume(plan.volume_dir);
  if (!lock.ok()) return Fail(1, lock.status().message());
  // Only now: a mount that a killed daemon left at the mountpoint is cleared above, and
  // a stat of it could otherwise wait for that daemon forever.
  const std::string mountpoint_arg = paths.back();
  const fs::file_status mp = fs::status(mountpoint_arg, ec);
  if (!fs::exists(mp)) return Fail(1, "mountpoint " + mountpoint_arg + " does not exist");
  if (!fs::is_directory(mp)) return Fail(1, "mountpoint " + mountpoint_arg + " is not a folder");
  plan.settings.mountpoint = fs::canonical(mountpoint_arg, ec).string();
  if (ec) return Fail(1, "mountpoint " + mountpoint_arg + ": " + ec.message());

  if (vm.count("foreground")) {
    RecordDaemon(*lock, "");
    return Serve(plan, [&](const Status& status) {
      if (status.ok()) {
        RecordDaemon(*lock, plan.settings.mountpoint);
        std::fprintf(stderr, "sopfs: mounted %s at %s\n", plan.volume_dir.c_str(),
                     plan.settings.mountpoint.c_str());
      } else {
        Fail(1, status.message());
      }
    });
  }

  int ready[2];
  if (pipe2(ready, O_CLOEXEC) != 0) return Fail(1, std::string("pipe: ") + std::strerror(errno));
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return Fail(1, std::string("fork: ") + std::strerror(errno));
  if (pid > 0) {
    close(ready[1]);
    return AwaitReadiness(ready[0]);
  }
  close(ready[0]);
  return BecomeDaemon(plan, *lock, ready[1]);
}

}  // namespace sopfs::tools
