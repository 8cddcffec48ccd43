// What fsck cannot repair is named by path: a volume (4+2 on six data folders) holds a
// file of five chunks with a second name (a hard link), and other files. Unmounted, one
// chunk of that file loses m + 1 = 3 of its 6 shards (beyond repair), and one shard of
// another blob goes (repairable). The chunk's data shards 0..2 are the ones lost: a
// read of bytes whose data shard survived is served from it directly. fsck reports the
// lost chunk by both of the file's paths with its index and byte range, in the listing
// and in the JSON line ("lost", "lost_paths"), and exits 4; --repair rebuilds the other
// shard and still exits 4 with only the lost chunk left. Mounted again, the file reads
// exactly up to the lost chunk, a read inside it (in a lost data shard) fails with
// EIO, the chunks after it read exactly, and every other file reads exactly.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/fuse/mount/fsck_output.h"
#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

namespace fs = std::filesystem;
constexpr int kDataFolders = 6;
// Fills the lost chunk, so that its data shards can be found on disk.
constexpr char kMarker[] = "sopfs-fsck-lost-chunk-marker:0123456789abcdef|";

class FsFsckLostTest : public FuseFsTest {
 protected:
  void SetUp() override {
    if (NativeMode()) GTEST_SKIP() << "needs the daemon's volume (native mode)";
    FuseFsTest::SetUp();
    vol_.SetWatchdog(std::chrono::seconds(600));
  }
  CommandResult Fsck(const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {SopfsBin(), "fsck", vol_.volume(), "--json"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return RunCommand(argv, std::chrono::seconds(300));
  }
  // The shard files of every data folder, by blob ID (the first 32 characters).
  std::map<std::string, std::vector<std::string>> ShardsByBlob() {
    std::map<std::string, std::vector<std::string>> out;
    for (int f = 0; f < kDataFolders; ++f) {
      for (const std::string& path : ShardFilesOf(vol_.volume(), f)) {
        out[fs::path(path).filename().string().substr(0, 32)].push_back(path);
      }
    }
    return out;
  }
  static std::string Slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  // The file's expected bytes: pattern 11, its chunk 2 all marker.
  std::string BigContent() const {
    std::string data = Pattern(11, 0, kBigSize);
    for (uint64_t at = 2 * kMiB; at < 3 * kMiB; ++at) {
      data[at] = kMarker[(at - 2 * kMiB) % (sizeof kMarker - 1)];
    }
    return data;
  }
  void ExpectOtherFiles() {
    EXPECT_EQ(ReadFile(P("small")), Pattern(3, 0, 100));
    ExpectPatternFile(P("mid"), 5, kMiB + kMiB / 2);
    EXPECT_EQ(ReadFile(P("dir/sub/other")), Pattern(7, 0, 70000));
  }

  static constexpr uint64_t kBigSize = 4 * kMiB + 100;  // chunks 0..4
};

TEST_F(FsFsckLostTest, FsckNamesALostChunkByEveryPathRepairsTheRestAndTheFileReadsUpToIt) {
  ASSERT_EQ(vol_.chunk_size(), kMiB);
  ASSERT_EQ(::mkdir(P("dir").c_str(), 0755), 0) << ErrnoText();
  ASSERT_EQ(::mkdir(P("dir/sub").c_str(), 0755), 0) << ErrnoText();
  const std::string big = BigContent();
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("dir/big"), big));
  ASSERT_EQ(::link(P("dir/big").c_str(), P("dir/big-link").c_str()), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("small"), Pattern(3, 0, 100)));
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("mid"), 5, kMiB + kMiB / 2, kMiB));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("dir/sub/other"), Pattern(7, 0, 70000)));
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());

  // The lost chunk's blob: the one whose data shards hold the marker.
  const std::map<std::string, std::vector<std::string>> shards = ShardsByBlob();
  std::string lost;
  for (const auto& [blob, paths] : shards) {
    for (const std::string& path : paths) {
      if (Slurp(path).find(kMarker) != std::string::npos) lost = blob;
    }
    if (!lost.empty()) break;
  }
  ASSERT_FALSE(lost.empty()) << "no shard holds the chunk's marker";
  ASSERT_EQ(shards.at(lost).size(), 6u);
  // m + 1 of its k + m shards: data shards 0..2 (a read of a part whose data shard is
  // there is served from it directly, without decoding: the last quarter still reads).
  for (const std::string& path : shards.at(lost)) {
    const std::string name = fs::path(path).filename().string();
    if (name.substr(32) == ".0" || name.substr(32) == ".1" || name.substr(32) == ".2") {
      fs::remove(path);
    }
  }
  // One shard of another blob: repairable.
  std::string other;
  for (const auto& [blob, paths] : shards) {
    if (blob != lost && paths.size() == 6) other = paths[4];
  }
  ASSERT_FALSE(other.empty());
  fs::remove(other);

  const std::string named =
      "FOUND blob-lost /dir/big, /dir/big-link chunk 2 (bytes 2097152-3145727 of 4194404)";
  CommandResult found = Fsck({});
  ASSERT_EQ(found.exit_code, 4) << found.output;
  EXPECT_NE(found.output.find(named), std::string::npos) << found.output;
  const std::string json = LastLine(found.output);
  EXPECT_EQ(JsonCounts(json, "found"),
            (std::map<std::string, uint64_t>{{"blob-lost", 1}, {"shard-missing", 1}}))
      << found.output;
  EXPECT_NE(json.find("\"lost_paths\":[\"/dir/big\",\"/dir/big-link\"]"), std::string::npos)
      << json;
  EXPECT_NE(json.find("\"blob\":\"" + lost + "\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"what\":\"/dir/big, /dir/big-link chunk 2 (bytes 2097152-3145727 of "
                      "4194404)\",\"paths\":[\"/dir/big\",\"/dir/big-link\"]"),
            std::string::npos)
      << json;

  // Repair: the other shard rebuilt; the lost chunk stays, named the same.
  CommandResult repaired = Fsck({"--repair"});
  ASSERT_EQ(repaired.exit_code, 4) << repaired.output;
  EXPECT_NE(repaired.output.find(named), std::string::npos) << repaired.output;
  EXPECT_EQ(JsonCounts(LastLine(repaired.output), "found"),
            (std::map<std::string, uint64_t>{{"blob-lost", 1}}))
      << repaired.output;
  EXPECT_EQ(JsonCounts(LastLine(repaired.output), "fixed"),
            (std::map<std::string, uint64_t>{{"shard-missing", 1}}))
      << repaired.output;
  EXPECT_TRUE(fs::exists(other)) << "the repairable shard was not rebuilt";
  CommandResult again = Fsck({});
  EXPECT_EQ(again.exit_code, 4) << again.output;
  EXPECT_EQ(JsonCounts(LastLine(again.output), "found"),
            (std::map<std::string, uint64_t>{{"blob-lost", 1}}))
      << again.output;

  // Readable up to the lost chunk, EIO inside it, the rest after it readable.
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  for (const char* name : {"dir/big", "dir/big-link"}) {
    const int fd = ::open(P(name).c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << name << ": " << ErrnoText();
    const std::string head = PreadUpTo(fd, 0, 2 * kMiB);
    EXPECT_EQ(FirstDifference(head, std::string_view(big).substr(0, 2 * kMiB)), -1) << name;
    char buf[4096];
    errno = 0;
    EXPECT_EQ(::pread(fd, buf, sizeof buf, 2 * kMiB + 5), -1) << name;
    EXPECT_EQ(errno, EIO) << name << ": " << ErrnoText();
    const std::string tail = PreadUpTo(fd, 3 * kMiB, kBigSize);
    EXPECT_EQ(FirstDifference(tail, std::string_view(big).substr(3 * kMiB)), -1) << name;
    ::close(fd);
  }
  ExpectOtherFiles();
}

}  // namespace
}  // namespace sopfs::fusetest
