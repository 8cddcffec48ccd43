// Crash consistency through a real mount (SPEC §2): the daemon is killed with SIGKILL and
// the volume remounted with no manual step. A file closed (or fsynced) before the kill has
// its new content; a file being rewritten at the kill has exactly its old or exactly its
// new content, never a mix. Skipped in native mode (there is no daemon to kill).
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

class FsCrashTest : public FuseFsTest {
 protected:
  void SetUp() override {
    if (NativeMode()) GTEST_SKIP() << "crash tests need the daemon (native mode)";
    FuseFsTest::SetUp();
  }

  // The file at `path` is exactly pattern `seed_a` of size_a or pattern `seed_b` of
  // size_b. Returns 'A', 'B', or 0 after reporting a failure.
  char ExpectOldOrNew(const std::string& path, uint64_t seed_a, uint64_t size_a, uint64_t seed_b,
                      uint64_t size_b) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      ADD_FAILURE() << "open " << path << " after the crash: " << ErrnoText();
      return 0;
    }
    struct stat st {};
    EXPECT_EQ(::fstat(fd, &st), 0);
    std::string got = PreadUpTo(fd, 0, std::max(size_a, size_b) + kMiB);
    ::close(fd);
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), got.size()) << "st_size vs bytes read";
    if (got.size() == size_a && FirstDifference(got, Pattern(seed_a, 0, size_a)) == -1) {
      return 'A';
    }
    if (got.size() == size_b && FirstDifference(got, Pattern(seed_b, 0, size_b)) == -1) {
      return 'B';
    }
    const std::string a = Pattern(seed_a, 0, size_a);
    const std::string b = Pattern(seed_b, 0, size_b);
    ADD_FAILURE() << path << " after the crash is neither the old content (" << size_a
                  << " bytes) nor the new (" << size_b << " bytes): " << got.size()
                  << " bytes, first difference from old at " << FirstDifference(got, a)
                  << ", from new at " << FirstDifference(got, b);
    return 0;
  }
};

TEST_F(FsCrashTest, FilesClosedBeforeKillNineHaveTheirNewContentAfterRemount) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("existing"), "old content of the existing file"));
  ASSERT_EQ(::mkdir(P("dir").c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());  // all of the above is durable now

  // Overwrite (O_TRUNC), a bigger multi-chunk rewrite, and brand new files, each closed.
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("existing"), "new"));
  const uint64_t big = 3 * vol_.chunk_size() + 12345;
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("dir/big"), 21, big, kMiB));
  for (int i = 0; i < 5; ++i) {
    ASSERT_NO_FATAL_FAILURE(
        WriteFile(P("dir/new" + std::to_string(i)), "created and closed " + std::to_string(i)));
  }
  ASSERT_NO_FATAL_FAILURE(vol_.KillDaemon());
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  EXPECT_EQ(ReadFile(P("existing")), "new");
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(P("dir/big"), 21, big));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(ReadFile(P("dir/new" + std::to_string(i))),
              "created and closed " + std::to_string(i));
  }
}

TEST_F(FsCrashTest, KillNineDuringALongUnclosedRewriteLeavesExactlyTheOldOrTheNewContent) {
  const uint64_t chunk = vol_.chunk_size();
  const uint64_t size_a = 8 * chunk + 100;
  const uint64_t size_b = 24 * chunk + 7;
  const std::string path = P("victim");
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(path, 1, size_a, kMiB));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("marker"), "created and closed before the kill"));

  // Rewrite in place (no O_TRUNC) in 1 MiB writes; wait past the group-commit interval
  // midway, then kill with the file still open and half written.
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  std::string block(kMiB, '\0');
  for (uint64_t off = 0; off < size_b / 2; off += kMiB) {
    FillPattern(2, off, block.data(), kMiB);
    ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, block, off));
    if (off == 6 * kMiB) std::this_thread::sleep_for(std::chrono::milliseconds(5500));
  }
  ASSERT_NO_FATAL_FAILURE(vol_.KillDaemon());
  ::close(fd);  // fails (ENOTCONN): the daemon is gone
  ASSERT_NO_FATAL_FAILURE(vol_.Mount()) << "the volume must mount after a crash, no manual step";
  const char which = ExpectOldOrNew(path, 1, size_a, 2, size_b);
  EXPECT_EQ(which, 'A') << "an unclosed, unsynced, half-written rewrite cannot be the new file";
  EXPECT_EQ(ReadFile(P("marker")), "created and closed before the kill");
}

TEST_F(FsCrashTest, KillNineAtRandomPointsOfRewritesNeverLeavesAMixOfOldAndNew) {
  vol_.SetWatchdog(std::chrono::seconds(500));
  const uint64_t chunk = vol_.chunk_size();
  const std::string path = P("victim");
  uint64_t seed_a = 10;
  uint64_t size_a = 2 * chunk + 3;
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(path, seed_a, size_a, kMiB));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  std::mt19937_64 rng(99);
  int old_seen = 0, new_seen = 0;
  for (int round = 0; round < 10; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const uint64_t seed_b = seed_a + 1;
    // In place and growing (no O_TRUNC), so the only whole states are old and new.
    const uint64_t size_b = size_a + (1 + rng() % 5) * chunk + rng() % 5000;
    std::atomic<bool> closed_ok{false};
    std::atomic<bool> done{false};
    std::atomic<uint64_t> written{0};
    // The writer rewrites the file in 256 KiB writes and closes it.
    std::thread writer([&] {
      int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        std::string block(256 * kKiB, '\0');
        for (uint64_t off = 0; off < size_b; off += block.size()) {
          const size_t n = std::min<uint64_t>(block.size(), size_b - off);
          FillPattern(seed_b, off, block.data(), n);
          if (::pwrite(fd, block.data(), n, off) != static_cast<ssize_t>(n)) break;
          written = off + n;
        }
        if (::close(fd) == 0) closed_ok = true;
      }
      done = true;
    });
    // Kill once a random share of the new content is written (rounds whose target is
    // past the end kill just after close() returned, or while it commits).
    const uint64_t target = rng() % (size_b + size_b / 3);
    const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (!done && written < target && std::chrono::steady_clock::now() < limit) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    const bool closed_before_kill = closed_ok.load();
    ASSERT_NO_FATAL_FAILURE(vol_.KillDaemon());
    writer.join();
    ASSERT_NO_FATAL_FAILURE(vol_.Mount());
    const char which = ExpectOldOrNew(path, seed_a, size_a, seed_b, size_b);
    ASSERT_NE(which, 0);
    if (closed_before_kill) {
      EXPECT_EQ(which, 'B') << "close() returned 0 before the kill but the new content is lost";
    }
    if (which == 'B') {
      ++new_seen;
      seed_a = seed_b;
      size_a = size_b;
    } else {
      ++old_seen;
    }
  }
  RecordProperty("old_after_crash", old_seen);
  RecordProperty("new_after_crash", new_seen);
}

TEST_F(FsCrashTest, FsyncedDataOfStillOpenFilesSurvivesKillNine) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("existing"), "old"));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  int fd = ::open(P("existing").c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, "synced new content", 0));
  ASSERT_EQ(::fsync(fd), 0) << ErrnoText();
  int fresh = ::open(P("fresh").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(fresh, 0) << ErrnoText();
  const std::string data = Pattern(5, 0, 2 * vol_.chunk_size() + 1);
  ASSERT_NO_FATAL_FAILURE(PwriteAll(fresh, data, 0));
  ASSERT_EQ(::fdatasync(fresh), 0) << ErrnoText();
  ASSERT_EQ(::fsync(fresh), 0) << ErrnoText();  // fsync of the file: its name is durable too
  ASSERT_NO_FATAL_FAILURE(vol_.KillDaemon());
  ::close(fd);
  ::close(fresh);
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  EXPECT_EQ(ReadFile(P("existing")), "synced new content");
  EXPECT_EQ(FirstDifference(ReadFile(P("fresh")), data), -1);
}

TEST_F(FsCrashTest, NamespaceChangesSurviveKillNineAfterDirectoryFsync) {
  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("d/a"), "a"));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("d/gone"), "g"));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_EQ(::rename(P("d/a").c_str(), P("d/b").c_str()), 0) << ErrnoText();
  ASSERT_EQ(::unlink(P("d/gone").c_str()), 0) << ErrnoText();
  ASSERT_EQ(::mkdir(P("d/sub").c_str(), 0700), 0) << ErrnoText();
  int dfd = ::open(P("d").c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dfd, 0) << ErrnoText();
  ASSERT_EQ(::fsync(dfd), 0) << "fsync of the directory: " << ErrnoText();
  ::close(dfd);
  ASSERT_NO_FATAL_FAILURE(vol_.KillDaemon());
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  EXPECT_EQ(ListDir(P("d")), (std::vector<std::string>{"b", "sub"}));
  EXPECT_EQ(ReadFile(P("d/b")), "a");
}

TEST_F(FsCrashTest, NamespaceChangesSurviveKillNineOnceTheGroupCommitIntervalPassed) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("a"), "a"));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_EQ(::mkdir(P("made").c_str(), 0755), 0) << ErrnoText();
  ASSERT_EQ(::rename(P("a").c_str(), P("made/a2").c_str()), 0) << ErrnoText();
  ASSERT_EQ(::symlink("made/a2", P("sl").c_str()), 0) << ErrnoText();
  ASSERT_EQ(::chmod(P("made").c_str(), 0711), 0) << ErrnoText();
  // SPEC §2: durable once the group-commit interval (at most 5 s) has passed.
  std::this_thread::sleep_for(std::chrono::milliseconds(6000));
  ASSERT_NO_FATAL_FAILURE(vol_.KillDaemon());
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  EXPECT_EQ(ListDir(vol_.root()), (std::vector<std::string>{"made", "sl"}));
  EXPECT_EQ(ReadFile(P("made/a2")), "a");
  EXPECT_EQ(ReadFile(P("sl")), "a");
  struct stat st {};
  ASSERT_EQ(::stat(P("made").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
}

TEST_F(FsCrashTest, RepeatedKillsAndRemountsKeepEveryClosedFile) {
  for (int round = 0; round < 4; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ASSERT_NO_FATAL_FAILURE(WriteFile(P("f" + std::to_string(round)), std::to_string(round)));
    ASSERT_NO_FATAL_FAILURE(vol_.KillDaemon());
    ASSERT_NO_FATAL_FAILURE(vol_.Mount());
    for (int i = 0; i <= round; ++i) {
      EXPECT_EQ(ReadFile(P("f" + std::to_string(i))), std::to_string(i));
    }
  }
}

TEST_F(FsCrashTest, SaveByWriteFsyncRenameLeavesTheTargetWholeOldOrNewAfterKillNine) {
  // How editors and databases save: write a temporary file, fsync it, rename it over
  // the target. A crash at any point leaves the target with one whole version.
  const uint64_t chunk = vol_.chunk_size();
  uint64_t seed_a = 60, size_a = chunk + 10;
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("doc"), seed_a, size_a, kMiB));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  std::mt19937_64 rng(5);
  for (int round = 0; round < 6; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const uint64_t seed_b = seed_a + 1;
    const uint64_t size_b = 1 + rng() % (3 * chunk);
    const int stop_after =
        static_cast<int>(rng() % 4);  // 0: write, 1: fsync, 2: rename, 3: dir fsync
    ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("doc.tmp"), seed_b, size_b, kMiB));
    if (stop_after >= 1) {
      int fd = ::open(P("doc.tmp").c_str(), O_RDONLY | O_CLOEXEC);
      ASSERT_GE(fd, 0) << ErrnoText();
      ASSERT_EQ(::fsync(fd), 0) << ErrnoText();
      ::close(fd);
    }
    if (stop_after >= 2) {
      ASSERT_EQ(::rename(P("doc.tmp").c_str(), P("doc").c_str()), 0) << ErrnoText();
    }
    if (stop_after >= 3) {
      int dfd = ::open(vol_.root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      ASSERT_GE(dfd, 0) << ErrnoText();
      ASSERT_EQ(::fsync(dfd), 0) << ErrnoText();
      ::close(dfd);
    }
    ASSERT_NO_FATAL_FAILURE(vol_.KillDaemon());
    ASSERT_NO_FATAL_FAILURE(vol_.Mount());
    const char which = ExpectOldOrNew(P("doc"), seed_a, size_a, seed_b, size_b);
    ASSERT_NE(which, 0);
    if (stop_after == 3) {
      EXPECT_EQ(which, 'B') << "the rename was made durable by the directory fsync";
    }
    if (stop_after <= 1) {
      EXPECT_EQ(which, 'A') << "the rename never happened";
    }
    if (which == 'B') {
      seed_a = seed_b;
      size_a = size_b;
    }
    ::unlink(P("doc.tmp").c_str());
  }
}

TEST_F(FsCrashTest, FileUnlinkedWhileOpenIsGoneAfterKillNineAndRemount) {
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("orphan"), 70, 2 * vol_.chunk_size(), kMiB));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("keep"), "keep"));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  int fd = ::open(P("orphan").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  ASSERT_EQ(::unlink(P("orphan").c_str()), 0) << ErrnoText();
  int dfd = ::open(vol_.root().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dfd, 0) << ErrnoText();
  ASSERT_EQ(::fsync(dfd), 0) << "fsync of the directory after unlink: " << ErrnoText();
  ::close(dfd);
  ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, "still open", 0));
  EXPECT_EQ(PreadUpTo(fd, 0, 10), "still open");
  ASSERT_NO_FATAL_FAILURE(vol_.KillDaemon());
  ::close(fd);
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  EXPECT_EQ(ListDir(vol_.root()), std::vector<std::string>{"keep"});
  EXPECT_EQ(ReadFile(P("keep")), "keep");
  // The volume stays usable: the name can be used again.
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("orphan"), "new file"));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_EQ(ReadFile(P("orphan")), "new file");
}

TEST_F(FsCrashTest, TruncateMadeDurableByFsyncSurvivesKillNine) {
  const uint64_t chunk = vol_.chunk_size();
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("t"), 80, 3 * chunk, kMiB));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_EQ(::truncate(P("t").c_str(), chunk + 5), 0) << ErrnoText();
  int fd = ::open(P("t").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  ASSERT_EQ(::fsync(fd), 0) << ErrnoText();
  ::close(fd);
  ASSERT_NO_FATAL_FAILURE(vol_.KillDaemon());
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(P("t"), 80, chunk + 5));
}

// The kernel sends RELEASE after close() has returned; a release it never sends (here:
// the connection is aborted with handles open) must not leak the daemon's handle (the
// ASan build fails the daemon's exit on a leak), and the handle is closed as a close
// would: what it wrote commits, an unlinked file it held goes.
TEST_F(FsCrashTest, HandlesTheKernelNeverReleasesAreClosedWhenTheSessionEnds) {
  const uint64_t size = 3 * vol_.chunk_size() + 123;
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("read"), 90, 1000, 1000));
  ASSERT_EQ(::mkdir(P("dir").c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());

  const int writer = ::open(P("written").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(writer, 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(PwriteAll(writer, Pattern(91, 0, size), 0));
  const int reader = ::open(P("read").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(reader, 0) << ErrnoText();
  const int doomed = ::open(P("doomed").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  ASSERT_GE(doomed, 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(PwriteAll(doomed, Pattern(92, 0, size), 0));
  ASSERT_EQ(::unlink(P("doomed").c_str()), 0) << ErrnoText();
  DIR* listing = ::opendir(P("dir").c_str());
  ASSERT_NE(listing, nullptr) << ErrnoText();

  ASSERT_NO_FATAL_FAILURE(vol_.AbortConnection());
  ::close(writer);  // the connection is gone: these never reach the daemon
  ::close(reader);
  ::close(doomed);
  ::closedir(listing);

  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(P("written"), 91, size));
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(P("read"), 90, 1000));
  EXPECT_EQ(ListDir(vol_.root()), (std::vector<std::string>{"dir", "read", "written"}));
  EXPECT_NE(vol_.DaemonLog().find("never released 3 file and 1 directory"), std::string::npos)
      << vol_.DaemonLog();
}

}  // namespace
}  // namespace sopfs::fusetest
