// -o io_uring: requests through FUSE-over-io_uring rings where the kernel offers them
// (the fuse module's enable_uring parameter), through /dev/fuse with a reason where not;
// the file system behaves the same either way.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

// What the kernel's fuse module says of FUSE over io_uring: 'Y', 'N', or 0 when it
// has no such parameter (before Linux 6.14, or built without it).
char KernelOffersRings() {
  std::ifstream param("/sys/module/fuse/parameters/enable_uring");
  char value = 0;
  param >> value;
  return value;
}

class FsUringTest : public FuseFsTest {
 protected:
  void SetUp() override {
    if (NativeMode()) GTEST_SKIP() << "needs the daemon (native mode)";
    FuseFsTest::SetUp();
  }
  MountedVolume::Options VolumeOptions() const override {
    MountedVolume::Options o;
    o.mount_options = {"io_uring", "allow_other"};
    return o;
  }
};

TEST_F(FsUringTest, RequestsGoThroughTheRingsWhenTheKernelOffersThemAndFilesAreTheSame) {
  // Creates, a multi-chunk file written and read back, a rename, a listing, and the
  // same after a remount.
  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0) << ErrnoText();
  for (int i = 0; i < 200; ++i) {
    ASSERT_NO_FATAL_FAILURE(WriteFile(P("d/f" + std::to_string(i)), "file " + std::to_string(i)));
  }
  constexpr uint64_t kSize = 5 * kMiB + 12345;
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("big"), 77, kSize, 300000));
  ASSERT_EQ(::rename(P("big").c_str(), P("d/big").c_str()), 0) << ErrnoText();
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before remount" : "after remount");
    ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(P("d/big"), 77, kSize));
    EXPECT_EQ(ListDir(P("d")).size(), 201u);
    EXPECT_EQ(ReadFile(P("d/f123")), "file 123");
    const std::string stats = ReadFile(P(".sopfs/stats"));
    const std::string transport = StatsField(vol_, "transport");
    const std::string ring_requests = StatsField(vol_, "ring_requests");
    ASSERT_FALSE(ring_requests.empty()) << stats;
    if (KernelOffersRings() == 'Y') {
      EXPECT_EQ(transport.rfind("io_uring, ", 0), 0u) << stats;
      // 200 creates are over a thousand requests; after the remount, reading the files
      // back alone takes a few dozen.
      EXPECT_GT(std::stoull(ring_requests), pass == 0 ? 1000u : 10u) << stats;
    } else {
      EXPECT_EQ(transport.rfind("/dev/fuse (the kernel does not offer it", 0), 0u) << stats;
      EXPECT_EQ(ring_requests, "0") << stats;
    }
    if (pass == 0) {
      ASSERT_NO_FATAL_FAILURE(vol_.Remount());
    }
  }
}

}  // namespace
}  // namespace sopfs::fusetest
