// More data folders lost than the data's parity covers (m+1 and m+2 of a 4+2 volume of
// six folders): metadata has parity of its own, so the volume still mounts, lists every
// name with its attributes, serves the files kept in B-Tree nodes exactly, gives EIO
// (and a log line) for the files whose chunks are gone, says so in .sopfs/health, and
// takes new writes and deletions.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

class FsRedundancyTest : public FuseFsTest, public ::testing::WithParamInterface<int> {
 protected:
  void SetUp() override {
    if (NativeMode()) GTEST_SKIP() << "needs the daemon's volume (native mode)";
    FuseFsTest::SetUp();
  }
  std::set<std::string> Names(const std::string& rel) {
    std::vector<std::string> v = ListDir(P(rel));
    return {v.begin(), v.end()};
  }
  off_t Size(const std::string& rel) {
    struct stat st {};
    EXPECT_EQ(::lstat(P(rel).c_str(), &st), 0) << rel << ": " << ErrnoText();
    return st.st_size;
  }
  // The errno of reading the whole file (0: read to its end).
  int ReadError(const std::string& rel) {
    const int fd = ::open(P(rel).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    std::string buf(kMiB, '\0');
    int err = 0;
    for (;;) {
      const ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0) err = errno;
      if (n <= 0) break;
    }
    ::close(fd);
    return err;
  }
};

TEST_P(FsRedundancyTest, RedundancyMetadataOutlivesLostDataFoldersMountListAndSmallFilesStay) {
  const int lost = GetParam();
  const std::string small_a(100, 'a'), small_b(2000, 'b');
  ASSERT_EQ(::mkdir(P("docs").c_str(), 0750), 0) << ErrnoText();
  ASSERT_EQ(::mkdir(P("docs/sub").c_str(), 0755), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("docs/a.txt"), small_a, 0600));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("docs/b.txt"), small_b));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("docs/sub/c.txt"), "c\n"));
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("big"), 3, 3 * kMiB + 5, kMiB));
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("mid"), 4, 10000, 4096));
  ASSERT_EQ(::symlink("docs/a.txt", P("link").c_str()), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());

  for (int i = 0; i < lost; ++i) {
    std::filesystem::remove_all(vol_.volume() + "/data-" + std::to_string(2 * i % 6 + i / 3));
  }
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  EXPECT_NE(vol_.DaemonLog().find("is missing"), std::string::npos) << vol_.DaemonLog();

  // Every name and attribute is there.
  EXPECT_EQ(Names(""), (std::set<std::string>{"big", "docs", "link", "mid"}));
  EXPECT_EQ(Names("docs"), (std::set<std::string>{"a.txt", "b.txt", "sub"}));
  EXPECT_EQ(Names("docs/sub"), std::set<std::string>{"c.txt"});
  EXPECT_EQ(Size("big"), static_cast<off_t>(3 * kMiB + 5));
  EXPECT_EQ(Size("mid"), 10000);
  struct stat st {};
  ASSERT_EQ(::stat(P("docs/a.txt").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // Files kept in nodes read back exactly; the others fail with EIO, never wrong bytes.
  EXPECT_EQ(ReadFile(P("docs/a.txt")), small_a);
  EXPECT_EQ(ReadFile(P("link")), small_a);
  EXPECT_EQ(ReadFile(P("docs/b.txt")), small_b);
  EXPECT_EQ(ReadFile(P("docs/sub/c.txt")), "c\n");
  EXPECT_EQ(ReadError("big"), EIO);
  EXPECT_EQ(ReadError("mid"), EIO);
  EXPECT_NE(vol_.DaemonLog().find("EIO"), std::string::npos) << "no log line for the EIO";

  const std::string health = ReadFile(P(".sopfs/health"));
  EXPECT_NE(health.find("\"state\":\"failed\""), std::string::npos) << health;
  EXPECT_NE(health.find("\"metadata_erasure\":\"2+4\""), std::string::npos) << health;
  EXPECT_NE(health.find("\"metadata_redundancy_left\":" + std::to_string(4 - lost)),
            std::string::npos)
      << health;
  size_t emptied = 0;
  for (size_t at = health.find("\"emptied\""); at != std::string::npos;
       at = health.find("\"emptied\"", at + 1)) {
    ++emptied;
  }
  EXPECT_EQ(emptied, static_cast<size_t>(lost)) << health;
  EXPECT_NE(health.find("\"unreadable\""), std::string::npos) << health;

  // The volume takes changes: the lost file goes, new files are whole after a remount.
  ASSERT_EQ(::unlink(P("big").c_str()), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("docs/new"), 5, 2 * kMiB, kMiB));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("docs/sub/note"), "after the loss\n"));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_EQ(Names(""), (std::set<std::string>{"docs", "link", "mid"}));
  ExpectPatternFile(P("docs/new"), 5, 2 * kMiB);
  EXPECT_EQ(ReadFile(P("docs/sub/note")), "after the loss\n");
  EXPECT_EQ(ReadFile(P("docs/b.txt")), small_b);
}

INSTANTIATE_TEST_SUITE_P(LostFolders, FsRedundancyTest, ::testing::Values(3, 4),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == 3 ? std::string("MPlusOne")
                                                  : std::string("MPlusTwo");
                         });

}  // namespace
}  // namespace sopfs::fusetest
