// The scrub: damage no read ever meets (parity shards) is found and rewritten in the
// background, the pass is said in .sopfs/health and remembered across mounts; and a
// data folder that comes back empty (a replaced drive) is refilled at mount, its
// redundancy rising back to m, with nobody running fsck.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kMiB = uint64_t{1} << 20;

// The number a JSON text gives `key` ("key":123), or -1.
int64_t JsonNumber(const std::string& json, const std::string& key) {
  const std::string tag = "\"" + key + "\":";
  const size_t at = json.find(tag);
  if (at == std::string::npos) return -1;
  return std::stoll(json.substr(at + tag.size()));
}

class FsScrubTest : public FuseFsTest {
 protected:
  void SetUp() override {
    if (NativeMode()) GTEST_SKIP() << "needs the daemon's volume (native mode)";
    FuseFsTest::SetUp();
  }
  std::string Health() { return ReadFile(P(".sopfs/health")); }
  // Waits (at most 120 s) until the health's scrub has finished `passes` passes.
  bool WaitForPasses(int64_t passes) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (std::chrono::steady_clock::now() < deadline) {
      if (JsonNumber(Health(), "passes") >= passes) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  void WriteFiles() {
    ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("a"), 1, 3 * kMiB + 1, kMiB));
    ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("b"), 2, 700000, 65536));
    ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0) << ErrnoText();
    for (int i = 0; i < 50; ++i) {
      ASSERT_NO_FATAL_FAILURE(WriteFile(P("d/" + std::to_string(i)), Pattern(i, 0, 100 + 60 * i)));
    }
  }
  void ExpectFiles() {
    ExpectPatternFile(P("a"), 1, 3 * kMiB + 1);
    ExpectPatternFile(P("b"), 2, 700000);
    for (int i = 0; i < 50; ++i)
      EXPECT_EQ(ReadFile(P("d/" + std::to_string(i))), Pattern(i, 0, 100 + 60 * i));
  }
  CommandResult Fsck() {
    return RunCommand({SopfsBin(), "fsck", vol_.volume(), "--json"}, std::chrono::seconds(300));
  }
};

TEST_F(FsScrubTest, ScrubRewritesParityShardsNoReadMeetsAndRemembersThePass) {
  ASSERT_NO_FATAL_FAILURE(WriteFiles());
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());
  // Parity shards only (indexes 4 and 5 are parity in both layouts, 4+2 and 2+4): a
  // byte flipped in the payload of one per folder.
  int damaged = 0;
  for (int f = 0; f < 6; ++f) {
    for (const auto& e :
         fs::recursive_directory_iterator(vol_.volume() + "/data-" + std::to_string(f))) {
      const std::string name = e.path().filename().string();
      if (!e.is_regular_file() || !(name.ends_with(".4") || name.ends_with(".5"))) continue;
      const int fd = ::open(e.path().c_str(), O_RDWR | O_CLOEXEC);
      ASSERT_GE(fd, 0) << ErrnoText();
      const off_t size = ::lseek(fd, 0, SEEK_END);
      // The middle of the file: payload (an aligned shard may end in padding).
      char byte = 0;
      ASSERT_EQ(::pread(fd, &byte, 1, size / 2), 1);
      byte = static_cast<char>(~byte);
      ASSERT_EQ(::pwrite(fd, &byte, 1, size / 2), 1);
      ::close(fd);
      ++damaged;
      break;
    }
  }
  ASSERT_GE(damaged, 3);
  CommandResult before = Fsck();
  ASSERT_EQ(before.exit_code, 4) << before.output;
  EXPECT_EQ(JsonNumber(before.output, "shard-corrupt"), damaged) << before.output;

  vol_.SetMountOptions({"scrub=0.00001", "scrub_mib_s=1000"});  // due at once
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  ExpectFiles();  // reads never meet parity
  ASSERT_TRUE(WaitForPasses(1)) << Health() << vol_.DaemonLog();
  const std::string health = Health();
  EXPECT_EQ(JsonNumber(health, "shards_repaired"), damaged) << health;
  EXPECT_EQ(JsonNumber(health, "blobs_lost"), 0) << health;
  const int64_t finished = JsonNumber(health, "last_finished_unix");
  EXPECT_GT(finished, 0) << health;
  EXPECT_EQ(JsonNumber(ReadFile(P(".sopfs/stats")), "read_repairs"), 0);
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());
  CommandResult after = Fsck();
  EXPECT_EQ(after.exit_code, 0) << after.output;

  // The default schedule (weekly) remembers the pass: no new one at this mount.
  vol_.SetMountOptions({});
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  const std::string later = Health();
  EXPECT_GE(JsonNumber(later, "last_finished_unix"), finished) << later;
  EXPECT_EQ(JsonNumber(later, "passes"), 0) << later;
  EXPECT_NE(later.find("\"every_days\":7.000"), std::string::npos) << later;
  ExpectFiles();
}

TEST_F(FsScrubTest, ScrubRefillsADataFolderThatCameBackEmptyAndRedundancyRisesBackToM) {
  ASSERT_NO_FATAL_FAILURE(WriteFiles());
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());
  // A new, empty drive mounted where data-2 was.
  fs::remove_all(vol_.volume() + "/data-2");
  ASSERT_EQ(::mkdir((vol_.volume() + "/data-2").c_str(), 0700), 0) << ErrnoText();

  vol_.SetMountOptions({"scrub=0", "scrub_mib_s=1"});  // slow enough to watch it
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  const std::string early = Health();
  EXPECT_NE(early.find("\"state\":\"emptied\""), std::string::npos) << early;
  EXPECT_EQ(JsonNumber(early, "redundancy_left"), 1) << early;
  EXPECT_NE(early.find("\"reason\":\"refill\""), std::string::npos) << early;
  EXPECT_NE(vol_.DaemonLog().find("came back empty"), std::string::npos) << vol_.DaemonLog();
  // Writes go on meanwhile, and reads are exact.
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("during"), 3, 2 * kMiB, kMiB));
  ExpectFiles();
  ASSERT_TRUE(WaitForPasses(1)) << Health() << vol_.DaemonLog();
  const std::string done = Health();
  EXPECT_EQ(JsonNumber(done, "redundancy_left"), 2) << done;
  EXPECT_NE(done.find("\"state\":\"ok\""), std::string::npos) << done;
  EXPECT_GT(JsonNumber(done, "shards_repaired"), 0) << done;
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());
  CommandResult after = Fsck();
  EXPECT_EQ(after.exit_code, 0) << after.output;

  // m = 2 other folders lost: every byte is still there.
  fs::remove_all(vol_.volume() + "/data-0");
  fs::remove_all(vol_.volume() + "/data-4");
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  ExpectFiles();
  ExpectPatternFile(P("during"), 3, 2 * kMiB);
}

// A drive replaced while mounted: the folder's contents (its mark included) are gone,
// the folder is there. Within seconds health shows it emptied, a refill runs while
// files are read and written, and redundancy rises back to m.
TEST_F(FsScrubTest, ScrubRefillsADataFolderReplacedWhileMounted) {
  vol_.SetMountOptions({"scrub=0", "scrub_mib_s=4"});
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_NO_FATAL_FAILURE(WriteFiles());
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());  // nothing cached in the daemon
  // In one step, as a drive swap does: emptying the folder file by file while the daemon
  // looks would let a refill pass see shards that are deleted after it.
  const std::string old_drive = vol_.volume() + "/data-3.old";
  ASSERT_EQ(::rename((vol_.volume() + "/data-3").c_str(), old_drive.c_str()), 0) << ErrnoText();
  ASSERT_EQ(::mkdir((vol_.volume() + "/data-3").c_str(), 0700), 0) << ErrnoText();
  fs::remove_all(old_drive);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (Health().find("\"state\":\"emptied\"") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_NE(Health().find("\"state\":\"emptied\""), std::string::npos) << Health();
  EXPECT_NE(vol_.DaemonLog().find("lost its mark while mounted"), std::string::npos)
      << vol_.DaemonLog();
  ExpectFiles();
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("during"), 3, 2 * kMiB, kMiB));
  ASSERT_TRUE(WaitForPasses(1)) << Health() << vol_.DaemonLog();
  // The first refill pass normally makes the folder whole. A pass that could not finish
  // a repair leaves it emptied and is tried again after refill_retry (60 s). Seen twice
  // (once in CI, once on a loaded machine), cause not found yet: the first pass's
  // figures and the daemon's log are printed then, for the next look.
  const std::string first = Health();
  std::string done = first;
  const auto refill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(150);
  while (JsonNumber(done, "redundancy_left") != 2 &&
         std::chrono::steady_clock::now() < refill_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    done = Health();
  }
  if (JsonNumber(first, "redundancy_left") != 2) {
    std::printf("the first refill pass left the folder emptied:\n%s\n%s\n", first.c_str(),
                vol_.DaemonLog().c_str());
  }
  EXPECT_EQ(JsonNumber(done, "redundancy_left"), 2) << done << vol_.DaemonLog();
  EXPECT_NE(done.find("\"reason\":\"refill\""), std::string::npos) << done;
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());
  CommandResult after = Fsck();
  EXPECT_EQ(after.exit_code, 0) << after.output;
  fs::remove_all(vol_.volume() + "/data-1");
  fs::remove_all(vol_.volume() + "/data-5");
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  ExpectFiles();
  ExpectPatternFile(P("during"), 3, 2 * kMiB);
}

}  // namespace
}  // namespace sopfs::fusetest
