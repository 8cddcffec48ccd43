// Read repair: a read that needed parity (a shard file missing or corrupt) gets its
// bytes at once, and the daemon rewrites the bad shards in the background, so the
// volume is back to full redundancy without anyone running fsck.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kMiB = uint64_t{1} << 20;

class FsRepairTest : public FuseFsTest {
 protected:
  void SetUp() override {
    if (NativeMode()) GTEST_SKIP() << "needs the daemon's volume (native mode)";
    FuseFsTest::SetUp();
  }
  uint64_t Stat(const std::string& key) {
    const std::string v = StatsField(vol_, key);
    return v.empty() ? ~uint64_t{0} : std::stoull(v);
  }
};

TEST_F(FsRepairTest, RepairReadThatDecodedParityRewritesTheMissingShardsInTheBackground) {
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("film"), 11, 9 * kMiB + 123, kMiB));
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("clip"), 12, 300000, 65536));
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());

  // Data shards 0 and 1 (data in every layout of this volume: 4+2 chunks, 2+4 nodes)
  // of the folder that holds the most of them: a whole read of every file needs each.
  // 11 chunks have 22 such shards over 6 folders, so that folder holds at least 4.
  auto data_shards = [&](int folder) {
    std::vector<fs::path> out;
    for (const auto& e :
         fs::recursive_directory_iterator(vol_.volume() + "/data-" + std::to_string(folder))) {
      const std::string name = e.path().filename().string();
      if (e.is_regular_file() && (name.ends_with(".0") || name.ends_with(".1"))) {
        out.push_back(e.path());
      }
    }
    return out;
  };
  int damaged = 0;
  for (int f = 1; f < 6; ++f) {
    if (data_shards(f).size() > data_shards(damaged).size()) damaged = f;
  }
  const std::vector<fs::path> removed = data_shards(damaged);
  ASSERT_GE(removed.size(), 4u);
  for (const fs::path& path : removed) fs::remove(path);

  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  ExpectPatternFile(P("film"), 11, 9 * kMiB + 123);
  ExpectPatternFile(P("clip"), 12, 300000);
  // Read-ahead may still be loading (and queueing) chunks after the reads returned: done
  // once nothing is pending and the count stays the same over three looks 100 ms apart.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  uint64_t last = 0;
  for (int steady = 0; steady < 3 && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const uint64_t done = Stat("read_repairs") + Stat("read_repair_failures");
    const bool idle = Stat("read_repairs_pending") == 0 && done != 0 && done == last;
    steady = idle ? steady + 1 : 0;
    last = done;
  }
  ASSERT_EQ(Stat("read_repairs_pending"), 0u) << ReadFile(P(".sopfs/stats"));
  EXPECT_GE(Stat("read_repairs"), 1u) << ReadFile(P(".sopfs/stats"));
  EXPECT_GE(Stat("read_repair_shards"), Stat("read_repairs"));
  EXPECT_EQ(Stat("read_repair_failures"), 0u) << vol_.DaemonLog();
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());

  // Two more folders gone (m = 2): with the read repairs, every blob still has k shards.
  fs::remove_all(vol_.volume() + "/data-" + std::to_string((damaged + 2) % 6));
  fs::remove_all(vol_.volume() + "/data-" + std::to_string((damaged + 4) % 6));
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  ExpectPatternFile(P("film"), 11, 9 * kMiB + 123);
  ExpectPatternFile(P("clip"), 12, 300000);
}

}  // namespace
}  // namespace sopfs::fusetest
