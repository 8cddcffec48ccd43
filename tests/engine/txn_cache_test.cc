// The engine's node and value cache stays within its memory bound, and a cold cache
// (nodes evicted) still reads every item right.
#include <gtest/gtest.h>

#include "engine/io/fault_env.h"
#include "tests/engine/engine_test_util.h"

namespace sopfs {
namespace {

using testing::BlobsOnDisk;
using testing::EngineOptionsUnder;
using testing::ReadAll;

TEST(TxnCacheTest, BtreeNodeAndValueCacheStaysWithinItsBoundAndEvictedNodesReadBack) {
  FaultEnv env;
  EngineOptions options = EngineOptionsUnder("/vol");
  options.cache_bytes = 64 << 10;
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok());
  BtreeOptions opts;
  opts.slot_length = 16;
  opts.value_blob_threshold = 100;
  std::map<std::string, std::string> model;
  LogicalId root;
  {
    auto txn = (*engine)->Begin();
    root = *txn->CreateTree(opts);
    ASSERT_TRUE(txn->Commit().ok());
  }
  for (int batch = 0; batch < 20; ++batch) {
    auto txn = (*engine)->Begin();
    TxnTree* tree = *txn->Tree(root, opts);
    for (int i = 0; i < 100; ++i) {
      const std::string key = "key" + std::to_string(batch * 1000 + i * 7);
      const std::string value(i % 10 == 0 ? 500 : 40, static_cast<char>('a' + batch));
      ASSERT_TRUE(tree->Upsert(key, value).ok());
      model[key] = value;
    }
    ASSERT_TRUE(txn->Commit().ok());
    EXPECT_LE((*engine)->Stats().cache_bytes, options.cache_bytes);
  }
  auto txn = (*engine)->Begin(TxnMode::kReader);
  EXPECT_EQ(ReadAll(*txn, root, opts), model);
  const EngineStats stats = (*engine)->Stats();
  EXPECT_LE(stats.cache_bytes, options.cache_bytes);
  EXPECT_GT(stats.node_cache_misses, 0u);  // the tree (~200 nodes) did not fit: evictions
  EXPECT_GT(stats.node_cache_hits, 0u);
}

// Node segments: a segment whose every node was replaced is removed, but only once no
// open snapshot can read it any more (a tiny cache makes the snapshot read the disk).
TEST(TxnCacheTest, TxnSegmentOfReplacedNodesOutlivesTheSnapshotsThatReadIt) {
  FaultEnv env;
  EngineOptions options = EngineOptionsUnder("/vol");
  options.cache_bytes = 4 << 10;
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok());
  BtreeOptions opts;
  opts.slot_length = 4;
  std::map<std::string, std::string> old_items, new_items;
  LogicalId root;
  {
    auto txn = (*engine)->Begin();
    root = *txn->CreateTree(opts);
    for (int i = 0; i < 60; ++i) {
      const std::string key = "k" + std::to_string(100 + i);
      old_items[key] = "old";
      new_items[key] = "new";
      ASSERT_TRUE((*txn->Tree(root, opts))->Add(key, "old").ok());
    }
    ASSERT_TRUE(txn->Commit().ok());
  }
  ASSERT_TRUE((*engine)->Checkpoint().ok());
  const std::set<BlobId> before = BlobsOnDisk(&env, options);
  auto reader = (*engine)->Begin(TxnMode::kReader);
  {
    auto txn = (*engine)->Begin();
    for (const auto& [key, value] : new_items) {
      ASSERT_TRUE((*txn->Tree(root, opts))->Update(key, value).ok());
    }
    ASSERT_TRUE(txn->Commit().ok());
  }
  ASSERT_TRUE((*engine)->Checkpoint().ok());
  EXPECT_EQ(ReadAll(*reader, root, opts), old_items);  // from the old segment, on disk
  for (const BlobId& blob : before) EXPECT_TRUE(BlobsOnDisk(&env, options).count(blob));
  reader.reset();
  ASSERT_TRUE((*engine)->Checkpoint().ok());
  const std::set<BlobId> after = BlobsOnDisk(&env, options);
  for (const BlobId& blob : before) EXPECT_FALSE(after.count(blob));
  EXPECT_EQ(after, *(*engine)->ReferencedBlobs());
  auto check = (*engine)->Begin(TxnMode::kReader);
  EXPECT_EQ(ReadAll(*check, root, opts), new_items);
}

// A part of a big value is read from the shards holding it, not the whole blob: 4 KiB of
// a 1 MiB value in 4+2 reads one 256 KiB shard.
TEST(TxnCacheTest, TxnReadValueOfAPartReadsOnlyTheShardsHoldingIt) {
  FaultEnv env;
  EngineOptions options = EngineOptionsUnder("/vol");
  options.cache_bytes = 64 << 10;  // too small to keep the value
  BtreeOptions opts;
  opts.values_in_node = false;
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + i / 4096);
  LogicalId root;
  {
    auto engine = Engine::Open(&env, options);
    ASSERT_TRUE(engine.ok());
    auto txn = (*engine)->Begin();
    root = *txn->CreateTree(opts);
    ASSERT_TRUE((*txn->Tree(root, opts))->Add("big", big).ok());
    ASSERT_TRUE((*txn->Tree(root, opts))->Add("small", "s").ok());
    std::string staged(10, 'x');  // its own staged value, before commit
    ASSERT_EQ(*(*txn->Tree(root, opts))
                   ->ReadValue("big", 5, {reinterpret_cast<uint8_t*>(staged.data()), 10}),
              10u);
    EXPECT_EQ(staged, big.substr(5, 10));
    ASSERT_TRUE(txn->Commit().ok());
  }
  auto engine = Engine::Open(&env, options);  // nothing cached
  ASSERT_TRUE(engine.ok());
  auto txn = (*engine)->Begin(TxnMode::kReader);
  TxnTree* tree = *txn->Tree(root, opts);
  const uint64_t before = (*engine)->Stats().blob_bytes_read;
  std::string part(4096, 'x');
  auto n = tree->ReadValue("big", 300000, {reinterpret_cast<uint8_t*>(part.data()), part.size()});
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_EQ(*n, 4096u);
  EXPECT_EQ(part, big.substr(300000, 4096));
  const uint64_t read = (*engine)->Stats().blob_bytes_read - before;
  EXPECT_GT(read, 0u);
  EXPECT_LE(read, 300u << 10);  // one shard (plus its header), not 1 MiB
  std::string tail(100, 'x');
  EXPECT_EQ(
      *tree->ReadValue("big", big.size() - 10, {reinterpret_cast<uint8_t*>(tail.data()), 100}),
      10u);
  EXPECT_EQ(*tree->ReadValue("small", 0, {reinterpret_cast<uint8_t*>(tail.data()), 100}), 1u);
  EXPECT_EQ(
      tree->ReadValue("none", 0, {reinterpret_cast<uint8_t*>(tail.data()), 1}).status().code(),
      ENOENT);
}

}  // namespace
}  // namespace sopfs
