// A tree whose values have an erasure layout of their own (BtreeOptions::value_layout,
// what a file system store is made of): its value blobs are written in that layout,
// the registry records it, and reads, reopen and removal all follow it.
#include <gtest/gtest.h>

#include <string>

#include "engine/blob/shard_scan.h"
#include "engine/io/fault_env.h"
#include "tests/engine/engine_test_util.h"

namespace sopfs {
namespace {

using testing::BlobsOnDisk;
using testing::EngineOptionsUnder;

constexpr int kFolders = 11;

class TxnStoreLayoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = EngineOptionsUnder("/vol", kFolders);
    Reopen();
  }
  void Reopen() {
    engine_.reset();
    auto engine = Engine::Open(&env_, options_);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
  }
  static BtreeOptions Values(std::optional<ErasureLayout> layout) {
    BtreeOptions o;
    o.values_in_node = false;
    o.value_layout = layout;
    return o;
  }
  // Shard files per blob on disk.
  std::map<BlobId, size_t> ShardCounts() {
    Result<ShardScan> scan = ScanShards(&env_, options_.data_folders, nullptr);
    EXPECT_TRUE(scan.ok()) << scan.status().ToString();
    std::map<BlobId, size_t> out;
    if (scan.ok()) {
      for (const auto& [blob, shards] : scan->blobs) out[blob] = shards.size();
    }
    return out;
  }
  static std::string Value(char c) { return std::string(100000, c); }

  FaultEnv env_;
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(TxnStoreLayoutTest, StoreTreeValuesAreBlobsOfTheTreesLayoutAndReadBackAfterReopen) {
  const BtreeOptions wide = Values(ErasureLayout{.k = 8, .m = 3});
  const BtreeOptions single = Values(ErasureLayout{.k = 1, .m = 0});
  const BtreeOptions plain = Values(std::nullopt);
  LogicalId roots[3];
  const auto before = ShardCounts();
  {
    auto txn = engine_->Begin();
    const BtreeOptions* opts[] = {&wide, &single, &plain};
    for (int t = 0; t < 3; ++t) {
      roots[t] = *txn->CreateTree(*opts[t]);
      TxnTree* tree = *txn->Tree(roots[t], *opts[t]);
      for (char c : {'a', 'b'}) ASSERT_TRUE(tree->Add(std::string(1, c), Value(c)).ok());
      // Its own staged values read back before the commit, whole and in part.
      EXPECT_EQ(*tree->Find("a"), Value('a'));
      std::string part(10, '\0');
      ASSERT_EQ(*tree->ReadValue("b", 99995, {reinterpret_cast<uint8_t*>(part.data()), 10}), 5u);
      EXPECT_EQ(part.substr(0, 5), "bbbbb");
    }
    ASSERT_TRUE(txn->Commit().ok());
  }
  std::map<size_t, int> blobs_by_shards;
  for (const auto& [blob, shards] : ShardCounts()) {
    if (!before.count(blob)) ++blobs_by_shards[shards];
  }
  EXPECT_EQ(blobs_by_shards[11], 2);  // 8+3
  EXPECT_EQ(blobs_by_shards[1], 2);   // 1+0
  EXPECT_EQ(blobs_by_shards[6], 2);   // the engine's 4+2

  options_.checkpoint_on_close = false;  // the registry entries come back from the log
  Reopen();
  options_.checkpoint_on_close = true;
  for (int round = 0; round < 2; ++round) {
    auto txn = engine_->Begin(TxnMode::kReader);
    const BtreeOptions* opts[] = {&wide, &single, &plain};
    for (int t = 0; t < 3; ++t) {
      TxnTree* tree = *txn->Tree(roots[t], *opts[t]);
      EXPECT_EQ(*tree->Find("a"), Value('a'));
      std::string part(4, '\0');
      ASSERT_EQ(*tree->ReadValue("b", 50000, {reinterpret_cast<uint8_t*>(part.data()), 4}), 4u);
      EXPECT_EQ(part, "bbbb");
    }
    txn.reset();
    Reopen();  // the second round after a checkpointed registry
  }
}

TEST_F(TxnStoreLayoutTest, StoreValueReplacedIsRemovedFromEveryFolder) {
  const BtreeOptions wide = Values(ErasureLayout{.k = 8, .m = 3});
  LogicalId root;
  {
    auto txn = engine_->Begin();
    root = *txn->CreateTree(wide);
    ASSERT_TRUE((*txn->Tree(root, wide))->Add("k", Value('x')).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  std::set<BlobId> old_wide;
  for (const auto& [blob, shards] : ShardCounts()) {
    if (shards == 11) old_wide.insert(blob);
  }
  ASSERT_EQ(old_wide.size(), 1u);
  {
    auto txn = engine_->Begin();
    ASSERT_TRUE((*txn->Tree(root, wide))->Update("k", Value('y')).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  ASSERT_TRUE(engine_->Checkpoint().ok());
  // Every shard of the replaced 8+3 blob is gone, in all 11 folders.
  const auto after = ShardCounts();
  EXPECT_EQ(after.count(*old_wide.begin()), 0u);
  EXPECT_EQ(BlobsOnDisk(&env_, options_).count(*old_wide.begin()), 0u);
  auto txn = engine_->Begin(TxnMode::kReader);
  EXPECT_EQ(*(*txn->Tree(root, wide))->Find("k"), Value('y'));
}

// A blob with no shard left is EIO, never ENOENT, which above the engine means "no such
// key": a file would read a hole of zeros where its bytes are gone.
TEST_F(TxnStoreLayoutTest, StoreValueWithEveryShardGoneIsEioNotAbsent) {
  const BtreeOptions single = Values(ErasureLayout{.k = 1, .m = 0});
  const auto before = ShardCounts();
  LogicalId root;
  {
    auto txn = engine_->Begin();
    root = *txn->CreateTree(single);
    ASSERT_TRUE((*txn->Tree(root, single))->Add("k", Value('x')).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  Result<ShardScan> scan = ScanShards(&env_, options_.data_folders, nullptr);
  ASSERT_TRUE(scan.ok());
  int removed = 0;
  for (const auto& [blob, shards] : scan->blobs) {
    if (before.count(blob) || shards.size() != 1) continue;
    const std::string dir = options_.data_folders[shards[0].folder];
    const std::string hex = blob.ToHex();
    const std::string path =
        dir + "/" + hex.substr(0, 2) + "/" + hex.substr(2, 2) + "/" + hex + ".0";
    ASSERT_TRUE(env_.Unlink(path).ok()) << path;
    ++removed;
  }
  ASSERT_EQ(removed, 1);
  Reopen();  // nothing cached
  auto txn = engine_->Begin(TxnMode::kReader);
  TxnTree* tree = *txn->Tree(root, single);
  EXPECT_EQ(tree->Find("k").status().code(), EIO);
  std::string part(4, '\0');
  EXPECT_EQ(tree->ReadValue("k", 0, {reinterpret_cast<uint8_t*>(part.data()), 4}).status().code(),
            EIO);
}

}  // namespace
}  // namespace sopfs
