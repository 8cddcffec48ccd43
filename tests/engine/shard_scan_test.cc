// ScanShards (sopfs fsck's inventory of shard files): on a real BlobStore it finds every
// shard of every blob with its file size, leaves out removed shards, reports truncated
// ones at their size, names strays (".new" files of a repair, foreign files and
// directories) and misplaced shard files, skips folders that are missing; on FaultEnv
// it goes through the Env only and fails on an unreadable fan-out directory.
#include "engine/blob/shard_scan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "engine/io/fault_env.h"
#include "tests/engine/blob_disk_fixture.h"
#include "tests/engine/blob_test_util.h"

namespace sopfs::testing {
namespace {

namespace fs = std::filesystem;

constexpr ErasureLayout kLayout{.k = 4, .m = 2};

class ShardScanTest : public BlobStoreDiskTest {
 protected:
  // Puts `n` blobs of different sizes; returns their IDs.
  std::vector<BlobId> PutBlobs(int n) {
    std::vector<BlobId> ids;
    for (int i = 0; i < n; ++i) {
      const BlobId id = BlobId::Random();
      const auto data =
          PatternBytes(1000 + 3000 * static_cast<size_t>(i), static_cast<uint64_t>(i));
      Status st = store_->Put(id, kLayout, data);
      EXPECT_TRUE(st.ok()) << st.ToString();
      ids.push_back(id);
    }
    return ids;
  }

  ShardScan Scan(std::vector<std::string>* missing = nullptr) {
    auto scan = ScanShards(&env_, folders_, missing);
    EXPECT_TRUE(scan.ok()) << scan.status().ToString();
    return scan.ok() ? std::move(*scan) : ShardScan{};
  }

  static void WriteFile(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
  }
};

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

TEST_F(ShardScanTest, FsckScanFindsEveryShardWhereThePlacementPutsItWithItsSize) {
  const std::vector<BlobId> ids = PutBlobs(20);
  const ShardPlacement placement(folders_);
  const ShardScan scan = Scan();
  ASSERT_EQ(scan.blobs.size(), ids.size());
  for (const BlobId& id : ids) {
    const auto it = scan.blobs.find(id);
    ASSERT_NE(it, scan.blobs.end()) << id.ToHex();
    ASSERT_EQ(it->second.size(), static_cast<size_t>(kLayout.total()));
    for (int s = 0; s < kLayout.total(); ++s) {
      const StoredShard& shard = it->second[static_cast<size_t>(s)];
      EXPECT_EQ(shard.shard, s);
      EXPECT_EQ(shard.folder, placement.FolderOf(id, s));
      EXPECT_EQ(shard.size, fs::file_size(ShardPath(id, s)));
      EXPECT_GT(shard.size, 0u);
    }
  }
  EXPECT_TRUE(scan.stray_files.empty());
  EXPECT_TRUE(scan.misplaced.empty());
}

TEST_F(ShardScanTest, FsckScanReportsRemovedTruncatedStrayAndMisplacedShardFiles) {
  const std::vector<BlobId> ids = PutBlobs(6);
  const ShardPlacement placement(folders_);
  // Blob 0 loses shard 1; blob 1's shard 2 is cut short.
  fs::remove(ShardPath(ids[0], 1));
  fs::resize_file(ShardPath(ids[1], 2), 100);
  // Strays: a repair's temporary file, a foreign file and a directory in the fan-out
  // tree, a file where only fan-out directories belong.
  const std::string temp = ShardPath(ids[2], 0) + ".new";
  WriteFile(temp, "half a shard");
  const std::string leaf = placement.DirOf(ids[2], 0);
  WriteFile(leaf + "/notes.txt", "x");
  ASSERT_TRUE(fs::create_directory(leaf + "/junk"));
  WriteFile(leaf + "/junk/" + ids[2].ToHex() + ".0", "not walked");
  const std::string first_level = DirName(leaf);
  WriteFile(first_level + "/stray", "x");
  // Not the store's (top level of a data folder): never reported.
  WriteFile(folders_[0] + "/metadata-reserve", "reserved");
  ASSERT_TRUE(fs::create_directory(folders_[0] + "/lost+found"));
  // Misplaced: blob 3's shard 3 copied into the next folder (same fan-out dirs); blob
  // 4's shard 0 moved to fan-out directories its ID does not start with; a shard file
  // at the top level of a data folder.
  const int f3 = placement.FolderOf(ids[3], 3);
  const std::string hex3 = ids[3].ToHex();
  const std::string wrong_folder = folders_[(f3 + 1) % kFolders] + "/" + hex3.substr(0, 2) + "/" +
                                   hex3.substr(2, 2) + "/" + hex3 + ".3";
  fs::create_directories(DirName(wrong_folder));
  fs::copy_file(ShardPath(ids[3], 3), wrong_folder);
  const std::string hex4 = ids[4].ToHex();
  const std::string other_dirs = hex4.substr(0, 2) == "00" ? "ff/ff" : "00/00";
  const std::string wrong_dirs =
      folders_[placement.FolderOf(ids[4], 0)] + "/" + other_dirs + "/" + hex4 + ".0";
  fs::create_directories(DirName(wrong_dirs));
  fs::rename(ShardPath(ids[4], 0), wrong_dirs);
  const std::string top_level =
      folders_[placement.FolderOf(ids[5], 1)] + "/" + ids[5].ToHex() + ".1";
  fs::copy_file(ShardPath(ids[5], 1), top_level);

  const ShardScan scan = Scan();
  ASSERT_EQ(scan.blobs.size(), ids.size());
  auto shards_of = [&](const BlobId& id) {
    std::vector<int> out;
    for (const StoredShard& s : scan.blobs.at(id)) out.push_back(s.shard);
    return out;
  };
  EXPECT_EQ(shards_of(ids[0]), (std::vector<int>{0, 2, 3, 4, 5}));
  EXPECT_EQ(shards_of(ids[4]), (std::vector<int>{1, 2, 3, 4, 5}));
  for (int b : {1, 2, 3, 5}) EXPECT_EQ(shards_of(ids[b]).size(), 6u) << b;
  EXPECT_EQ(scan.blobs.at(ids[1])[2].size, 100u);
  EXPECT_EQ(scan.blobs.at(ids[3])[3].folder, f3);  // the copy elsewhere is not counted

  EXPECT_EQ(Sorted(scan.stray_files),
            Sorted({temp, leaf + "/notes.txt", leaf + "/junk/", first_level + "/stray"}));
  EXPECT_EQ(Sorted(scan.misplaced), Sorted({wrong_folder, wrong_dirs, top_level}));
}

TEST_F(ShardScanTest, FsckScanSkipsAndNamesAMissingDataFolder) {
  const std::vector<BlobId> ids = PutBlobs(10);
  const ShardPlacement placement(folders_);
  fs::remove_all(folders_[5]);
  std::vector<std::string> missing;
  const ShardScan scan = Scan(&missing);
  EXPECT_EQ(missing, std::vector<std::string>{folders_[5]});
  size_t shards = 0;
  for (const BlobId& id : ids) {
    for (const StoredShard& s : scan.blobs.at(id)) {
      EXPECT_NE(s.folder, 5);
      ++shards;
    }
    for (int s = 0; s < kLayout.total(); ++s) {
      if (placement.FolderOf(id, s) == 5) continue;
      EXPECT_TRUE(std::any_of(scan.blobs.at(id).begin(), scan.blobs.at(id).end(),
                              [&](const StoredShard& x) { return x.shard == s; }));
    }
  }
  size_t expected = 0;
  for (const BlobId& id : ids) {
    for (int s = 0; s < kLayout.total(); ++s) expected += placement.FolderOf(id, s) != 5;
  }
  EXPECT_EQ(shards, expected);
  // Without a list to name them in, the scan still skips them.
  EXPECT_TRUE(ScanShards(&env_, folders_, nullptr).ok());
}

TEST(ShardScanNameTest, FsckShardFileNamesParseOnlyInTheFormThePlacementWrites) {
  const BlobId id{0x0123456789abcdefULL, 0xfedcba9876543210ULL};
  const std::string hex = id.ToHex();
  auto parsed = ParseShardFileName(hex + ".0");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->first, id);
  EXPECT_EQ(parsed->second, 0);
  EXPECT_EQ(ParseShardFileName(hex + ".47")->second, 47);
  for (const std::string& bad :
       {hex + ".48", hex + ".07", hex + ".", hex + ".1.new", hex + ".-1", hex + ".x", hex,
        hex.substr(1) + ".1", std::string("0123456789ABCDEFfedcba9876543210.1"), hex + ".123"}) {
    EXPECT_FALSE(ParseShardFileName(bad).has_value()) << bad;
  }
}

// On FaultEnv: everything goes through the Env (List, and FileSize's default of
// opening the file); a lost drive is a missing folder, an unreadable directory below
// it fails the scan.
TEST(ShardScanFaultEnvTest, FsckScanUsesTheEnvAndFailsOnAnUnreadableFanOutDirectory) {
  FaultEnv env;
  const std::vector<std::string> folders = {"/vol/d0", "/vol/d1", "/vol/d2"};
  for (const std::string& f : folders) ASSERT_TRUE(env.MkDirs(f).ok());
  const ShardPlacement placement(folders);
  const BlobId id{0xabcd000000000001ULL, 7};
  for (int s = 0; s < 3; ++s) {
    const std::string path = placement.PathOf(id, s);
    ASSERT_TRUE(env.MkDirs(DirName(path)).ok());
    const std::vector<uint8_t> bytes(static_cast<size_t>(100 * (s + 1)), 1);
    ASSERT_TRUE(env.WriteFileDurably(path, bytes).ok());
  }
  auto scan = ScanShards(&env, folders, nullptr);
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  ASSERT_EQ(scan->blobs.at(id).size(), 3u);
  for (int s = 0; s < 3; ++s) {
    EXPECT_EQ(scan->blobs.at(id)[static_cast<size_t>(s)].size, 100u * static_cast<uint64_t>(s + 1));
  }

  env.FailFolder(folders[1], EIO);
  std::vector<std::string> missing;
  scan = ScanShards(&env, folders, &missing);
  ASSERT_TRUE(scan.ok()) << scan.status().ToString();
  EXPECT_EQ(missing, std::vector<std::string>{folders[1]});
  EXPECT_EQ(scan->blobs.at(id).size(), 2u);
  env.HealFolder(folders[1]);

  const std::string leaf = placement.DirOf(id, 2);
  env.FailFolder(leaf, EIO);
  scan = ScanShards(&env, folders, nullptr);
  ASSERT_FALSE(scan.ok());
  EXPECT_EQ(scan.status().code(), EIO);
  EXPECT_NE(scan.status().message().find(leaf), std::string::npos) << scan.status().ToString();
}

}  // namespace
}  // namespace sopfs::testing
