// Permissions through a real mount (allow_other) as another user: the checks run in a
// child process that drops to nobody (65534:65534); root sets the stage.
#include <fcntl.h>
#include <grp.h>
#include <linux/falloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdarg>
#include <filesystem>
#include <functional>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

// Collects failed checks of the child; each becomes one line on a pipe to the parent.
class ChildChecks {
 public:
  explicit ChildChecks(int fd) : fd_(fd) {}
  // rc must be -1 with errno == want_errno (want_errno 0: rc must be >= 0).
  void Errno(long rc, int want_errno, const char* what) {
    const int err = errno;
    if (want_errno == 0 && rc >= 0) return;
    if (want_errno != 0 && rc == -1 && err == want_errno) return;
    Fail("%s: got rc=%ld errno=%d (%s), want %s", what, rc, rc < 0 ? err : 0,
         rc < 0 ? strerror(err) : "-", want_errno ? strerror(want_errno) : "success");
  }
  void True(bool cond, const char* what) {
    if (!cond) Fail("%s", what);
  }
  void Fail(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    n = std::min<int>(n, sizeof line - 2);
    line[n++] = '\n';
    ssize_t w = ::write(fd_, line, n);
    (void)w;
  }

 private:
  int fd_;
};

// Runs `body` in a child process as nobody:nogroup; every failed check fails the test.
void RunAsNobody(const std::function<void(ChildChecks&)>& body) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0) << ErrnoText();
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0) << ErrnoText();
  if (pid == 0) {
    ::close(fds[0]);
    ChildChecks checks(fds[1]);
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNogroup) != 0 || ::setuid(kNobody) != 0) {
      checks.Fail("could not become nobody: %s", strerror(errno));
      _exit(3);
    }
    ::umask(022);
    body(checks);
    _exit(0);
  }
  ::close(fds[1]);
  std::string report;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      timed_out = true;
      break;
    }
    struct pollfd p {
      fds[0], POLLIN, 0
    };
    int r = ::poll(&p, 1, static_cast<int>(left.count()));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      timed_out = r == 0;
      break;
    }
    char buf[4096];
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    report.append(buf, n);
  }
  ::close(fds[0]);
  if (timed_out) ::kill(pid, SIGKILL);
  int status = 0;
  for (int i = 0; i < 3000 && ::waitpid(pid, &status, WNOHANG) != pid; ++i) {
    ::usleep(10000);
  }
  EXPECT_FALSE(timed_out) << "the child (as nobody) did not finish within 120 s";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child wait status " << status;
  EXPECT_EQ(report, "") << "checks that failed as uid " << kNobody << ":\n" << report;
}

class FsPermissionTest : public FuseFsTest {
 protected:
  MountedVolume::Options VolumeOptions() const override {
    MountedVolume::Options o;
    o.mount_options = {"allow_other"};
    return o;
  }
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(FuseFsTest::SetUp());
    ::umask(022);
    // Others must be able to reach the mount's root.
    struct stat st {};
    ASSERT_EQ(::stat(vol_.root().c_str(), &st), 0) << ErrnoText();
    if ((st.st_mode & 0005) != 0005) {
      ASSERT_EQ(::chmod(vol_.root().c_str(), 0755), 0) << "chmod of the root: " << ErrnoText();
    }
  }
};

TEST_F(FsPermissionTest, OtherUserCannotWriteOrCreateInRootsFilesAndDirsButCanRead) {
  ASSERT_EQ(::mkdir(P("rootdir").c_str(), 0755), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("rootdir/file"), "root's data", 0644));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("secret"), "secret", 0600));
  ASSERT_EQ(::chmod(P("secret").c_str(), 0600), 0);
  const std::string file = P("rootdir/file");
  const std::string dir = P("rootdir");
  const std::string secret = P("secret");
  RunAsNobody([&](ChildChecks& c) {
    c.Errno(::open(file.c_str(), O_WRONLY), EACCES, "open for write of root's 0644 file");
    c.Errno(::open(file.c_str(), O_RDWR), EACCES, "open O_RDWR of root's 0644 file");
    c.Errno(::truncate(file.c_str(), 0), EACCES, "truncate of root's 0644 file");
    c.Errno(::open((dir + "/new").c_str(), O_WRONLY | O_CREAT, 0644), EACCES,
            "create in root's 0755 dir");
    c.Errno(::mkdir((dir + "/sub").c_str(), 0755), EACCES, "mkdir in root's 0755 dir");
    c.Errno(::unlink(file.c_str()), EACCES, "unlink in root's 0755 dir");
    c.Errno(::rename(file.c_str(), (dir + "/moved").c_str()), EACCES, "rename in root's 0755 dir");
    c.Errno(::chmod(file.c_str(), 0666), EPERM, "chmod of root's file by a non-owner");
    c.Errno(::chown(file.c_str(), kNobody, kNogroup), EPERM, "chown of root's file");
    c.Errno(::open(secret.c_str(), O_RDONLY), EACCES, "read of root's 0600 file");
    int fd = ::open(file.c_str(), O_RDONLY);
    c.Errno(fd, 0, "open for read of root's 0644 file");
    if (fd >= 0) {
      char buf[64] = {};
      ssize_t n = ::read(fd, buf, sizeof buf);
      c.True(n == 11 && std::string(buf, n) == "root's data", "read of root's 0644 file");
      ::close(fd);
    }
    struct stat st {};
    c.Errno(::stat(file.c_str(), &st), 0, "stat of root's file");
    c.Errno(::access(file.c_str(), R_OK), 0, "access(R_OK) of root's 0644 file");
    c.Errno(::access(file.c_str(), W_OK), EACCES, "access(W_OK) of root's 0644 file");
    c.Errno(::access(file.c_str(), X_OK), EACCES, "access(X_OK) of root's 0644 file");
    c.Errno(::access(dir.c_str(), W_OK), EACCES, "access(W_OK) of root's 0755 dir");
    c.Errno(::access(dir.c_str(), X_OK), 0, "access(X_OK) of root's 0755 dir");
    c.Errno(::setxattr(file.c_str(), "user.x", "v", 1, 0), EACCES,
            "setxattr user.* on root's 0644 file");
  });
  // Nothing changed.
  EXPECT_EQ(ReadFile(P("rootdir/file")), "root's data");
  EXPECT_EQ(ListDir(P("rootdir")), std::vector<std::string>{"file"});
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
}

TEST_F(FsPermissionTest, FileCreatedByOtherUserInWorldWritableDirIsOwnedByThatUser) {
  ASSERT_EQ(::mkdir(P("open").c_str(), 0777), 0) << ErrnoText();
  ASSERT_EQ(::chmod(P("open").c_str(), 0777), 0) << ErrnoText();
  const std::string mine = P("open/mine");
  const std::string subdir = P("open/subdir");
  RunAsNobody([&](ChildChecks& c) {
    int fd = ::open(mine.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0640);
    c.Errno(fd, 0, "create in a 0777 dir");
    if (fd < 0) return;
    struct stat st {};
    c.Errno(::fstat(fd, &st), 0, "fstat");
    c.True(st.st_uid == kNobody, "st_uid of the new file is not the creator's");
    c.True(st.st_gid == kNogroup, "st_gid of the new file is not the creator's group");
    c.True((st.st_mode & 07777) == 0640, "mode of the new file");
    c.True(::write(fd, "by nobody", 9) == 9, "write to own file");
    c.Errno(::close(fd), 0, "close of own file");
    c.Errno(::chmod(mine.c_str(), 0600), 0, "chmod of own file");
    c.Errno(::chown(mine.c_str(), 0, 0), EPERM, "chown of own file to root");
    c.Errno(::mkdir(subdir.c_str(), 0755), 0, "mkdir in a 0777 dir");
  });
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before remount" : "after remount");
    struct stat st {};
    ASSERT_EQ(::stat(mine.c_str(), &st), 0) << ErrnoText();
    EXPECT_EQ(st.st_uid, kNobody);
    EXPECT_EQ(st.st_gid, kNogroup);
    EXPECT_EQ(st.st_mode & 07777, 0600u);
    EXPECT_EQ(ReadFile(mine), "by nobody");
    ASSERT_EQ(::stat(subdir.c_str(), &st), 0) << ErrnoText();
    EXPECT_EQ(st.st_uid, kNobody);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    if (pass == 0) {
      ASSERT_NO_FATAL_FAILURE(vol_.Remount());
    }
  }
  // After the remount the owner's rights are still enforced: root's chmod to 0400
  // makes the file unwritable for its owner.
  ASSERT_EQ(::chmod(mine.c_str(), 0400), 0) << ErrnoText();
  RunAsNobody([&](ChildChecks& c) {
    c.Errno(::open(mine.c_str(), O_WRONLY), EACCES, "open for write of own 0400 file");
    c.Errno(::open(mine.c_str(), O_RDONLY), 0, "open for read of own 0400 file");
  });
}

TEST_F(FsPermissionTest, StickyDirectoryStopsOtherUsersFromRemovingRootsFiles) {
  ASSERT_EQ(::mkdir(P("tmp").c_str(), 0777), 0) << ErrnoText();
  ASSERT_EQ(::chmod(P("tmp").c_str(), 01777), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("tmp/roots"), "r", 0666));
  ASSERT_EQ(::chmod(P("tmp/roots").c_str(), 0666), 0);
  const std::string roots = P("tmp/roots");
  const std::string own = P("tmp/own");
  RunAsNobody([&](ChildChecks& c) {
    c.Errno(::unlink(roots.c_str()), EPERM, "unlink of root's file in a sticky dir");
    c.Errno(::rename(roots.c_str(), (roots + "2").c_str()), EPERM,
            "rename of root's file in a sticky dir");
    int fd = ::open(roots.c_str(), O_WRONLY);
    c.Errno(fd, 0, "write to root's 0666 file");
    if (fd >= 0) ::close(fd);
    fd = ::open(own.c_str(), O_WRONLY | O_CREAT, 0644);
    c.Errno(fd, 0, "create in a sticky 1777 dir");
    if (fd >= 0) ::close(fd);
    c.Errno(::unlink(own.c_str()), 0, "unlink of own file in a sticky dir");
  });
  EXPECT_EQ(ListDir(P("tmp")), std::vector<std::string>{"roots"});
}

// The mode of `path` with its set-id and permission bits, or 0 when stat fails.
mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path << ": " << ErrnoText();
  return st.st_mode & 07777;
}

TEST_F(FsPermissionTest, WritesAndTruncatesByAnUnprivilegedUserAndChownDropSetIdBits) {
  // nobody may write each file (it is world-writable); root's own writes keep the bits.
  // Appends and write-only handles are direct I/O, a read-write handle writes through
  // the page cache; under FUSE_HANDLE_KILLPRIV_V2 the daemon drops the bits for every
  // path here (without it, the kernel does for buffered writes, truncate and chown).
  for (const char* name : {"by_write", "by_rdwr_write", "by_append", "by_truncate", "by_open_trunc",
                           "by_punch", "group_noexec", "kept"}) {
    ASSERT_NO_FATAL_FAILURE(WriteFile(P(name), "data", 0666));
    ASSERT_EQ(::chmod(P(name).c_str(), 06777), 0) << ErrnoText();
  }
  ASSERT_EQ(::chmod(P("group_noexec").c_str(), 06766), 0) << ErrnoText();
  int fd = ::open(P("kept").c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0) << ErrnoText();
  ASSERT_EQ(::write(fd, "+root", 5), 5) << ErrnoText();
  ASSERT_EQ(::close(fd), 0) << ErrnoText();
  EXPECT_EQ(ModeOf(P("kept")), 06777u) << "root (CAP_FSETID) keeps the set-id bits";
  const std::string by_write = P("by_write"), by_rdwr_write = P("by_rdwr_write"),
                    by_append = P("by_append"), by_truncate = P("by_truncate"),
                    by_open_trunc = P("by_open_trunc"), by_punch = P("by_punch"),
                    group_noexec = P("group_noexec");
  RunAsNobody([&](ChildChecks& c) {
    int wfd = ::open(by_write.c_str(), O_WRONLY);
    c.Errno(wfd, 0, "open of a 06777 file for writing");
    if (wfd >= 0) {
      c.True(::pwrite(wfd, "DA", 2, 0) == 2, "write to a 06777 file");
      c.Errno(::close(wfd), 0, "close");
    }
    int rwfd = ::open(by_rdwr_write.c_str(), O_RDWR);
    c.Errno(rwfd, 0, "open of a 06777 file for reading and writing");
    if (rwfd >= 0) {
      c.True(::pwrite(rwfd, "DA", 2, 0) == 2, "write to a 06777 file");
      c.Errno(::close(rwfd), 0, "close");
    }
    int afd = ::open(by_append.c_str(), O_WRONLY | O_APPEND);
    c.Errno(afd, 0, "open of a 06777 file for appending");
    if (afd >= 0) {
      c.True(::write(afd, "+nobody", 7) == 7, "append to a 06777 file");
      c.Errno(::close(afd), 0, "close");
    }
    c.Errno(::truncate(by_truncate.c_str(), 2), 0, "truncate of a 06777 file");
    int tfd = ::open(by_open_trunc.c_str(), O_WRONLY | O_TRUNC);
    c.Errno(tfd, 0, "open with O_TRUNC of a 06777 file");
    if (tfd >= 0) c.Errno(::close(tfd), 0, "close");
    int pfd = ::open(by_punch.c_str(), O_WRONLY);
    c.Errno(pfd, 0, "open of a 06777 file for punching a hole");
    if (pfd >= 0) {
      c.Errno(::fallocate(pfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1, 2), 0,
              "punch a hole in a 06777 file");
      c.Errno(::close(pfd), 0, "close");
    }
    int gfd = ::open(group_noexec.c_str(), O_WRONLY);
    c.Errno(gfd, 0, "open of a 06766 file for writing");
    if (gfd >= 0) {
      c.True(::write(gfd, "x", 1) == 1, "write to a 06766 file");
      c.Errno(::close(gfd), 0, "close");
    }
  });
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before remount" : "after remount");
    EXPECT_EQ(ModeOf(P("by_write")), 0777u);
    EXPECT_EQ(ReadFile(P("by_write")), "DAta");
    EXPECT_EQ(ModeOf(P("by_rdwr_write")), 0777u);
    EXPECT_EQ(ReadFile(P("by_rdwr_write")), "DAta");
    EXPECT_EQ(ModeOf(P("by_append")), 0777u);
    EXPECT_EQ(ReadFile(P("by_append")), "data+nobody");
    EXPECT_EQ(ModeOf(P("by_truncate")), 0777u);
    EXPECT_EQ(ReadFile(P("by_truncate")), "da");
    EXPECT_EQ(ModeOf(P("by_open_trunc")), 0777u);
    EXPECT_EQ(ModeOf(P("by_punch")), 0777u);
    EXPECT_EQ(ReadFile(P("by_punch")), std::string("d\0\0a", 4));
    EXPECT_EQ(ReadFile(P("by_open_trunc")), "");
    // Without group execute, set-group-id stays, as on any FUSE mount (ext4 drops it
    // when the writer is not in the file's group).
    EXPECT_EQ(ModeOf(P("group_noexec")), 02766u);
    EXPECT_EQ(ModeOf(P("kept")), 06777u);
    if (pass == 0) {
      ASSERT_NO_FATAL_FAILURE(vol_.Remount());
    }
  }
  // A change of owner clears them too, even done by root.
  ASSERT_EQ(::chown(P("kept").c_str(), kNobody, kNogroup), 0) << ErrnoText();
  EXPECT_EQ(ModeOf(P("kept")), 0777u);
}

TEST_F(FsPermissionTest, PosixChownByTheOwnerDropsSetIdBitsOfEveryTypeButDirectories) {
  // pjdfstest chown/00.t: the owner (not root) moves a file to another of its groups.
  // ext4 clears set-user-id and set-group-id (with group execute) of every type but
  // directories; sopfs kept them on fifos, sockets and devices.
  const std::vector<std::pair<std::string, mode_t>> nodes = {
      {"fifo", S_IFIFO},     {"socket", S_IFSOCK}, {"chardev", S_IFCHR},
      {"blockdev", S_IFBLK}, {"regular", S_IFREG}, {"dir", S_IFDIR}};
  std::vector<std::string> paths;
  for (const auto& [name, type] : nodes) {
    const std::string path = P(name);
    paths.push_back(path);
    if (type == S_IFDIR) {
      ASSERT_EQ(::mkdir(path.c_str(), 0755), 0) << ErrnoText();
    } else {
      ASSERT_EQ(::mknod(path.c_str(), type | 0644, makedev(1, 3)), 0)
          << name << ": " << ErrnoText();
    }
    ASSERT_EQ(::chown(path.c_str(), kNobody, 0), 0) << ErrnoText();
    ASSERT_EQ(::chmod(path.c_str(), 06555), 0) << ErrnoText();
    ASSERT_EQ(ModeOf(path), 06555u) << name;
  }
  RunAsNobody([&](ChildChecks& c) {
    for (const std::string& path : paths) {
      c.Errno(::chown(path.c_str(), static_cast<uid_t>(-1), kNogroup), 0, path.c_str());
    }
  });
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before remount" : "after remount");
    for (const auto& [name, type] : nodes) {
      struct stat st {};
      ASSERT_EQ(::lstat(P(name).c_str(), &st), 0) << ErrnoText();
      EXPECT_EQ(st.st_gid, kNogroup) << name;
      EXPECT_EQ(st.st_mode & 07777, type == S_IFDIR ? 06555u : 0555u) << name;
    }
    if (pass == 0) {
      ASSERT_NO_FATAL_FAILURE(vol_.Remount());
    }
  }
}

TEST_F(FsPermissionTest, GroupClassBitsApplyToGroupMembersEvenWhenOthersHaveMore) {
  // nobody's group owns both files: the group bits decide, not the "other" bits.
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("group_read"), "g", 0640));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("group_none"), "o", 0604));
  ASSERT_EQ(::chown(P("group_read").c_str(), 0, kNogroup), 0) << ErrnoText();
  ASSERT_EQ(::chown(P("group_none").c_str(), 0, kNogroup), 0) << ErrnoText();
  ASSERT_EQ(::chmod(P("group_read").c_str(), 0640), 0);
  ASSERT_EQ(::chmod(P("group_none").c_str(), 0604), 0);
  const std::string group_read = P("group_read");
  const std::string group_none = P("group_none");
  RunAsNobody([&](ChildChecks& c) {
    int fd = ::open(group_read.c_str(), O_RDONLY);
    c.Errno(fd, 0, "read of a 0640 file through the group");
    if (fd >= 0) ::close(fd);
    c.Errno(::open(group_read.c_str(), O_WRONLY), EACCES, "write of a 0640 file (group r--)");
    c.Errno(::open(group_none.c_str(), O_RDONLY), EACCES,
            "read of a 0604 file by a group member (group ---, other r--)");
  });
}

TEST_F(FsPermissionTest, ExecutableFileOnTheMountRunsAndANonExecutableOneIsRefused) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("script.sh"), "#!/bin/sh\nexit 7\n", 0755));
  ASSERT_EQ(::chmod(P("script.sh").c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("plain.sh"), "#!/bin/sh\nexit 0\n", 0644));
  CommandResult ran = RunCommand({P("script.sh")}, std::chrono::seconds(30));
  EXPECT_EQ(ran.exit_code, 7) << "running a 0755 script from the mount: " << ran.output;
  errno = 0;
  EXPECT_EQ(::access(P("plain.sh").c_str(), X_OK), -1);
  EXPECT_EQ(errno, EACCES) << "access(X_OK) of a 0644 file, as root";
  CommandResult refused = RunCommand({P("plain.sh")}, std::chrono::seconds(30));
  EXPECT_NE(refused.exit_code, 0) << "a 0644 file was executed";
  const std::string script = P("script.sh");
  RunAsNobody([&](ChildChecks& c) {
    c.Errno(::access(script.c_str(), X_OK), 0, "access(X_OK) of a 0755 file as nobody");
  });
}

// ---- the volume's own folders and files are private (SPEC §7) ----

// Every folder and file under `dir` (symlinks not followed) that group or others may
// access, as "path mode" lines; also counts what it saw.
std::string OpenToOthers(const std::string& dir, size_t* seen) {
  std::string out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0 || S_ISLNK(st.st_mode)) continue;
    ++*seen;
    if (st.st_mode & 077) {
      char mode[8];
      std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
      out += it->path().string() + " " + mode + "\n";
    }
  }
  return out;
}

// Restores the umask when the test ends, however it ends.
struct UmaskScope {
  explicit UmaskScope(mode_t mask) : old(::umask(mask)) {}
  ~UmaskScope() { ::umask(old); }
  mode_t old;
};

TEST(FsVolumePermissionsTest, UnderUmask000EveryFolderAndFileOfTheVolumeIsPrivate) {
  if (NativeMode()) GTEST_SKIP() << "no volume in native mode";
  UmaskScope umask000(0);  // format and the daemon both run under it
  MountedVolume vol;
  ASSERT_NO_FATAL_FAILURE(vol.Format({}));
  ASSERT_NO_FATAL_FAILURE(vol.Mount());
  ASSERT_NO_FATAL_FAILURE(WriteFile(vol.Path("small"), "TOPSECRET small file", 0600));
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(vol.Path("large"), 7, 3 * kMiB, 256 * kKiB));
  ASSERT_EQ(::mkdir(vol.Path("dir").c_str(), 0700), 0) << ErrnoText();
  // While mounted (the close journal and the lock hold files now), and after.
  size_t seen = 0;
  EXPECT_EQ(OpenToOthers(vol.volume(), &seen), "");
  EXPECT_GT(seen, 20u);  // config, lock, log, registry, journal, shards
  ASSERT_NO_FATAL_FAILURE(vol.Unmount());
  seen = 0;
  EXPECT_EQ(OpenToOthers(vol.volume(), &seen), "");
  struct stat st {};
  ASSERT_EQ(::stat(vol.volume().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(st.st_uid, ::getuid());
  const std::string volume = vol.volume();
  RunAsNobody([&](ChildChecks& c) {
    c.Errno(::open((volume + "/sopfs.conf").c_str(), O_RDONLY), EACCES, "open sopfs.conf");
    c.Errno(::open((volume + "/data-0").c_str(), O_RDONLY | O_DIRECTORY), EACCES, "open data-0");
    c.Errno(::open(volume.c_str(), O_RDONLY | O_DIRECTORY), EACCES, "list the volume");
  });
}

TEST(FsVolumePermissionsTest, AMountOfAVolumeOthersCanAccessIsRefusedNamingThePath) {
  if (NativeMode()) GTEST_SKIP() << "no volume in native mode";
  MountedVolume vol;
  ASSERT_NO_FATAL_FAILURE(vol.Format({}));
  ASSERT_NO_FATAL_FAILURE(vol.Mount());
  ASSERT_NO_FATAL_FAILURE(WriteFile(vol.Path("f"), "content", 0600));
  ASSERT_NO_FATAL_FAILURE(vol.Unmount());
  // A file deep in the registry and in the log, the config, a data folder, the volume.
  std::string registry_file, log_file;
  for (auto& e : std::filesystem::recursive_directory_iterator(vol.volume() + "/registry-a")) {
    if (e.is_regular_file()) registry_file = e.path().string();
  }
  for (auto& e : std::filesystem::recursive_directory_iterator(vol.volume() + "/log")) {
    if (e.is_regular_file()) log_file = e.path().string();
  }
  ASSERT_NE(registry_file, "");
  ASSERT_NE(log_file, "");
  const std::vector<std::pair<std::string, mode_t>> cases = {
      {vol.volume() + "/sopfs.conf", S_IROTH},
      {vol.volume() + "/data-3", S_IROTH | S_IXOTH},
      {registry_file, S_IRGRP},
      {log_file, S_IROTH},
      {vol.volume(), S_IXGRP | S_IXOTH},
  };
  for (const auto& [path, bits] : cases) {
    SCOPED_TRACE(path);
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << ErrnoText();
    ASSERT_EQ(::chmod(path.c_str(), (st.st_mode & 07777) | bits), 0) << ErrnoText();
    CommandResult r =
        RunCommand({SopfsBin(), "mount", vol.volume(), vol.root(), "-f"}, std::chrono::seconds(60));
    EXPECT_FALSE(r.timed_out) << "the mount was not refused";
    EXPECT_NE(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(path + " is open to other users"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("chmod -R go-rwx"), std::string::npos) << r.output;
    ASSERT_EQ(::chmod(path.c_str(), st.st_mode & 07777), 0) << ErrnoText();
  }
  ASSERT_NO_FATAL_FAILURE(vol.Mount());  // private again: mounts, content intact
  EXPECT_EQ(ReadFile(vol.Path("f")), "content");
  ASSERT_NO_FATAL_FAILURE(vol.Unmount());
}

TEST(FsVolumePermissionsTest, FormatIntoAnExistingOpenFolderMakesItPrivateAndSaysSo) {
  if (NativeMode()) GTEST_SKIP() << "no volume in native mode";
  MountedVolume vol;  // for its scratch folder
  const std::string dir = vol.scratch() + "/open-volume";
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << ErrnoText();
  ASSERT_EQ(::chmod(dir.c_str(), 0755), 0) << ErrnoText();
  CommandResult r = RunCommand({SopfsBin(), "format", dir}, std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(dir + " was open to other users (mode 0755); made it 0700"),
            std::string::npos)
      << r.output;
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  size_t seen = 0;
  EXPECT_EQ(OpenToOthers(dir, &seen), "");
  EXPECT_GT(seen, 5u);
}

TEST(FsVolumePermissionsTest, AFolderGivenAsASymlinkIsMadePrivateAndCheckedThroughTheLink) {
  if (NativeMode()) GTEST_SKIP() << "no volume in native mode";
  MountedVolume vol;  // for its scratch folder and mountpoint
  const std::string base = vol.scratch() + "/linked";
  ASSERT_EQ(::mkdir(base.c_str(), 0700), 0) << ErrnoText();
  const std::string target = base + "/drive", link = base + "/data-0";
  ASSERT_EQ(::mkdir(target.c_str(), 0755), 0) << ErrnoText();
  ASSERT_EQ(::chmod(target.c_str(), 0755), 0) << ErrnoText();
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0) << ErrnoText();
  std::vector<std::string> format = {SopfsBin(), "format", base + "/vol", "--data", link};
  for (int i = 1; i < 6; ++i) {
    format.insert(format.end(), {"--data", base + "/data-" + std::to_string(i)});
  }
  CommandResult r = RunCommand(format, std::chrono::seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(link + " was open to other users (mode 0755); made it 0700"),
            std::string::npos)
      << r.output;
  struct stat st {};
  ASSERT_EQ(::stat(target.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  // Opened again through the link, the mount sees the target's mode.
  ASSERT_EQ(::chmod(target.c_str(), 0705), 0) << ErrnoText();
  r = RunCommand({SopfsBin(), "mount", base + "/vol", vol.root(), "-f"}, std::chrono::seconds(60));
  EXPECT_FALSE(r.timed_out) << "the mount was not refused";
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(link + " is open to other users (mode 0705)"), std::string::npos)
      << r.output;
}

}  // namespace
}  // namespace sopfs::fusetest
