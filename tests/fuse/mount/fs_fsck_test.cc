// sopfs fsck on a real volume (4+2 on six data folders) that a mount filled: files of 0
// bytes to 64 MiB and 10,000 small files. Then, unmounted, one data folder is deleted,
// shards are corrupted (at most m bad per blob), a registry block is damaged on one
// side and an orphan blob is left. fsck reports each by kind without changing
// anything; --repair fixes all of it; a second fsck is clean; every file reads back
// exactly; and with m more folders deleted everything still reads (the repair really
// restored the redundancy).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "tests/fuse/mount/fsck_output.h"
#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kMiB = uint64_t{1} << 20;
constexpr int kSmallFiles = 10000;

class FsFsckTest : public FuseFsTest {
 protected:
  void SetUp() override {
    if (NativeMode()) GTEST_SKIP() << "needs the daemon's volume (native mode)";
    FuseFsTest::SetUp();
    vol_.SetWatchdog(std::chrono::seconds(900));
  }
  CommandResult Fsck(const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {SopfsBin(), "fsck", vol_.volume(), "--json"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return RunCommand(argv, std::chrono::seconds(600));
  }
  // Every shard file of one data folder.
  std::vector<std::string> ShardFiles(int folder) { return ShardFilesOf(vol_.volume(), folder); }
  void ExpectEveryFile() {
    for (const auto& [name, size] : sizes_) {
      ExpectPatternFile(P(name), size + 7, size);
    }
    for (int i = 0; i < kSmallFiles; i += 37) {
      EXPECT_EQ(ReadFile(P("small/" + std::to_string(i % 10) + "/f" + std::to_string(i))),
                Pattern(i, 0, 100 + i % 3000))
          << i;
    }
  }

  std::map<std::string, uint64_t> sizes_ = {
      {"empty", 0},       {"one", 1},
      {"page", 4095},     {"chunk-and-a-bit", kMiB + 3},
      {"five", 5 * kMiB}, {"big", 64 * kMiB + 11},
  };
};

TEST_F(FsFsckTest, FsckFindsEachDamageByKindRepairRestoresRedundancyAndASecondRunIsClean) {
  for (const auto& [name, size] : sizes_) {
    ASSERT_NO_FATAL_FAILURE(WritePatternFile(P(name), size + 7, size, kMiB));
  }
  ASSERT_EQ(::mkdir(P("small").c_str(), 0755), 0) << ErrnoText();
  for (int d = 0; d < 10; ++d) {
    ASSERT_EQ(::mkdir(P("small/" + std::to_string(d)).c_str(), 0755), 0) << ErrnoText();
  }
  for (int i = 0; i < kSmallFiles; ++i) {
    ASSERT_NO_FATAL_FAILURE(
        WriteFile(P("small/" + std::to_string(i % 10) + "/f" + std::to_string(i)),
                  Pattern(i, 0, 100 + i % 3000)));
  }
  ASSERT_EQ(::link(P("one").c_str(), P("one-again").c_str()), 0) << ErrnoText();
  ASSERT_EQ(::symlink("five", P("to-five").c_str()), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());

  // A clean volume is clean, and a check changes nothing (exit 0).
  CommandResult clean = Fsck({});
  ASSERT_EQ(clean.exit_code, 0) << clean.output;
  EXPECT_NE(LastLine(clean.output).find("\"clean\":true"), std::string::npos) << clean.output;

  // The damage.
  fs::remove_all(vol_.volume() + "/data-3");
  std::vector<std::string> victims = ShardFiles(1);
  ASSERT_GT(victims.size(), 40u);
  std::mt19937 rng(7);
  std::shuffle(victims.begin(), victims.end(), rng);
  victims.resize(20);
  for (const std::string& path : victims) {
    // Flip bytes past the header page: a payload block's checksum fails.
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << path << ": " << ErrnoText();
    struct stat st {};
    ASSERT_EQ(::fstat(fd, &st), 0);
    const off_t at = st.st_size > 8192 ? st.st_size / 2 : st.st_size - 1;
    // Every bit of the byte flipped: a fixed value would leave a byte that had it
    // unchanged (one shard in 256), and the count below one short.
    char byte = 0;
    ASSERT_EQ(::pread(fd, &byte, 1, at), 1);
    byte = static_cast<char>(~byte);
    ASSERT_EQ(::pwrite(fd, &byte, 1, at), 1);
    ::close(fd);
  }
  {
    // Block 0 of registry side B: both slots overwritten in their middle.
    const std::string blocks = vol_.volume() + "/registry-b/registry.blocks";
    const int fd = ::open(blocks.c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << blocks << ": " << ErrnoText();
    const std::string junk(64, 'x');
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 1000), 64);
    ASSERT_EQ(::pwrite(fd, junk.data(), junk.size(), 4096 + 1000), 64);
    ::close(fd);
  }
  {
    // A copy of a shard under another blob ID that ShardPlacement puts in the same
    // place (same fan-out prefix, same low half): an orphan blob nothing refers to.
    const fs::path real = ShardFiles(0).front();
    std::string name = real.filename().string();
    name[10] = name[10] == '0' ? '1' : '0';
    fs::copy_file(real, real.parent_path() / name);
  }

  // Check: every damage, by kind; nothing changes.
  CommandResult found = Fsck({});
  ASSERT_EQ(found.exit_code, 4) << found.output;
  const std::map<std::string, uint64_t> kinds = JsonCounts(LastLine(found.output), "found");
  EXPECT_EQ(kinds.count("data-folder-missing"), 1u) << found.output;
  EXPECT_GT(kinds.count("shard-missing") ? kinds.at("shard-missing") : 0, 0u) << found.output;
  EXPECT_EQ(kinds.count("shard-corrupt") ? kinds.at("shard-corrupt") : 0, 20u) << found.output;
  EXPECT_EQ(kinds.count("registry-block-corrupt") ? kinds.at("registry-block-corrupt") : 0, 1u)
      << found.output;
  EXPECT_EQ(kinds.count("blob-orphan") ? kinds.at("blob-orphan") : 0, 1u) << found.output;
  for (const auto& [kind, n] : kinds) {
    EXPECT_TRUE(kind == "data-folder-missing" || kind == "shard-missing" ||
                kind == "shard-corrupt" || kind == "registry-block-corrupt" ||
                kind == "blob-orphan")
        << "unexpected " << kind << " x" << n << "\n"
        << found.output;
  }
  CommandResult again = Fsck({});
  EXPECT_EQ(again.exit_code, 4) << "a check must not repair: " << again.output;

  // Repair: everything fixed (exit 1), then clean (exit 0).
  CommandResult repaired = Fsck({"--repair"});
  ASSERT_EQ(repaired.exit_code, 1) << repaired.output;
  EXPECT_TRUE(JsonCounts(LastLine(repaired.output), "found").empty()) << repaired.output;
  CommandResult after = Fsck({});
  ASSERT_EQ(after.exit_code, 0) << after.output;

  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  ExpectEveryFile();
  EXPECT_EQ(ReadFile(P("one-again")), Pattern(8, 0, 1));
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());

  // m = 2 other folders gone: every byte still there.
  fs::remove_all(vol_.volume() + "/data-1");
  fs::remove_all(vol_.volume() + "/data-5");
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  ExpectEveryFile();
}

// A mounted volume: fsck and reinstate refuse it (exit 8 and 1, saying to unmount);
// status asks the daemon. Unmounted: status opens it read-only; a bad command line is
// exit 2, a folder that is no volume exit 8.
TEST_F(FsFsckTest, FsckRefusesAMountedVolumeStatusAsksTheDaemonAndBadArgumentsAreClear) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("x"), "x\n"));
  CommandResult fsck = Fsck({});
  EXPECT_EQ(fsck.exit_code, 8) << fsck.output;
  EXPECT_NE(fsck.output.find("unmount it first"), std::string::npos) << fsck.output;
  CommandResult reinstate =
      RunCommand({SopfsBin(), "reinstate", vol_.volume()}, std::chrono::seconds(60));
  EXPECT_EQ(reinstate.exit_code, 1) << reinstate.output;
  CommandResult status =
      RunCommand({SopfsBin(), "status", vol_.volume()}, std::chrono::seconds(60));
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("mounted at " + vol_.root()), std::string::npos) << status.output;
  EXPECT_EQ(ReadFile(P("x")), "x\n");
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());

  status = RunCommand({SopfsBin(), "status", vol_.volume(), "--json"}, std::chrono::seconds(60));
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("\"state\":\"ok\""), std::string::npos) << status.output;
  reinstate = RunCommand({SopfsBin(), "reinstate", vol_.volume()}, std::chrono::seconds(60));
  EXPECT_EQ(reinstate.exit_code, 0) << reinstate.output;
  EXPECT_NE(reinstate.output.find("up to date"), std::string::npos) << reinstate.output;
  fs::remove_all(vol_.volume() + "/data-4");
  status = RunCommand({SopfsBin(), "status", vol_.volume()}, std::chrono::seconds(60));
  EXPECT_EQ(status.exit_code, 1) << "one folder lost is degraded: " << status.output;
  EXPECT_FALSE(fs::exists(vol_.volume() + "/data-4")) << "status made the lost folder again";

  CommandResult bad = RunCommand({SopfsBin(), "fsck"}, std::chrono::seconds(60));
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  bad = RunCommand({SopfsBin(), "fsck", vol_.volume(), "--frobnicate"}, std::chrono::seconds(60));
  EXPECT_EQ(bad.exit_code, 2) << bad.output;
  bad = RunCommand({SopfsBin(), "fsck", vol_.scratch()}, std::chrono::seconds(60));
  EXPECT_EQ(bad.exit_code, 8) << bad.output;
  EXPECT_NE(bad.output.find("sopfs.conf"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace sopfs::fusetest
