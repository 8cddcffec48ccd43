// fallocate through a real mount, side by side with the native file system the tests
// run on: fallocate(1) -l and -n, posix_fallocate and fallocate(2) leave the same size
// and bytes on sopfs as natively, before and after writes into the range and a remount;
// a promise beyond the free space fails at once with ENOSPC; unsupported modes say so.
#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <functional>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

class FsFallocateTest : public FuseFsTest {
 protected:
  // Runs `step` in the mount and in the native scratch folder; then both sides hold the
  // same files with the same sizes and bytes.
  void OnBothSides(const std::function<void(const std::string& dir)>& step) {
    step(vol_.root());
    step(vol_.scratch());
  }
  void ExpectSidesEqual(const std::vector<std::string>& names) {
    for (const std::string& name : names) {
      SCOPED_TRACE(name);
      struct stat mine {
      }, native{};
      ASSERT_EQ(::stat(P(name).c_str(), &mine), 0) << ErrnoText();
      ASSERT_EQ(::stat((vol_.scratch() + "/" + name).c_str(), &native), 0) << ErrnoText();
      EXPECT_EQ(mine.st_size, native.st_size);
      EXPECT_EQ(FirstDifference(ReadFile(P(name)), ReadFile(vol_.scratch() + "/" + name)), -1);
    }
  }
  static void Run(const std::vector<std::string>& args) {
    CommandResult r = RunCommand(args, std::chrono::seconds(60));
    ASSERT_EQ(r.exit_code, 0) << args[0] << ": " << r.output;
  }
};

TEST_F(FsFallocateTest, FallocateAndPosixFallocateMatchTheNativeFileSystem) {
  const std::vector<std::string> names = {"l3m", "n2m", "posix", "mid", "past_end"};
  OnBothSides([](const std::string& dir) {
    // fallocate -l 3M (mode 0) on a new file; fallocate -n -l 2M (KEEP_SIZE) on one
    // holding data.
    Run({"fallocate", "-l", "3M", dir + "/l3m"});
    WriteFile(dir + "/n2m", Pattern(1, 0, 5000));
    Run({"fallocate", "-n", "-l", "2M", dir + "/n2m"});
    // posix_fallocate, and fallocate(2) over data, in the middle and past the end.
    int fd = ::open((dir + "/posix").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0) << ErrnoText();
    ASSERT_EQ(::posix_fallocate(fd, 100, 1500 * kKiB), 0);
    ASSERT_EQ(::close(fd), 0);
    WriteFile(dir + "/mid", Pattern(2, 0, 3 * kMiB));
    fd = ::open((dir + "/mid").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << ErrnoText();
    ASSERT_EQ(::fallocate(fd, 0, kMiB / 2, 2 * kMiB), 0) << ErrnoText();
    ASSERT_EQ(::close(fd), 0);
    WriteFile(dir + "/past_end", Pattern(3, 0, 1000));
    fd = ::open((dir + "/past_end").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << ErrnoText();
    ASSERT_EQ(::fallocate(fd, FALLOC_FL_KEEP_SIZE, 4 * kMiB, kMiB), 0) << ErrnoText();
    ASSERT_EQ(::fallocate(fd, 0, 6 * kMiB, 100), 0) << ErrnoText();
    ASSERT_EQ(::close(fd), 0);
  });
  ExpectSidesEqual(names);
  // Writes into the ranges, then a remount.
  OnBothSides([](const std::string& dir) {
    int fd = ::open((dir + "/l3m").c_str(), O_WRONLY);
    ASSERT_GE(fd, 0) << ErrnoText();
    PwriteAll(fd, Pattern(4, 0, 2 * kMiB), kMiB / 3);
    ASSERT_EQ(::close(fd), 0);
    fd = ::open((dir + "/n2m").c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0) << ErrnoText();
    PwriteAll(fd, Pattern(5, 0, kMiB), 0);
    ASSERT_EQ(::close(fd), 0);
  });
  ExpectSidesEqual(names);
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ExpectSidesEqual(names);
}

TEST_F(FsFallocateTest, FallocateBeyondTheFreeSpaceFailsAtOnceWithEnospcAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("f"), "data"));
  int fd = ::open(P("f").c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << ErrnoText();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(::fallocate(fd, 0, 0, off_t{1} << 50), -1);  // 1 PiB
  EXPECT_EQ(errno, ENOSPC) << ErrnoText();
  EXPECT_EQ(::fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, off_t{1} << 50), -1);
  EXPECT_EQ(errno, ENOSPC) << ErrnoText();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(30));
  ASSERT_EQ(::close(fd), 0);
  struct stat st {};
  ASSERT_EQ(::stat(P("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 4);
  EXPECT_EQ(ReadFile(P("f")), "data");
  EXPECT_EQ(StatsField(vol_, "fallocate_promised_chunks"), "0");
}

TEST_F(FsFallocateTest, FallocateModesThatMoveDataFailWithEopnotsupp) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("f"), Pattern(6, 0, 4 * kMiB)));
  int fd = ::open(P("f").c_str(), O_RDWR);
  ASSERT_GE(fd, 0) << ErrnoText();
  for (int mode : {FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, FALLOC_FL_UNSHARE_RANGE}) {
    EXPECT_EQ(::fallocate(fd, mode, 0, kMiB), -1) << mode;
    EXPECT_EQ(errno, EOPNOTSUPP) << mode << ": " << ErrnoText();
  }
  ASSERT_EQ(::close(fd), 0);
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(P("f"), 6, 4 * kMiB));
}

}  // namespace
}  // namespace sopfs::fusetest
