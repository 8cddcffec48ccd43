// The refill of a data folder that came back empty (a replaced drive): a folder counts
// whole again only after a scrub pass rebuilt every blob, with no repair failed and no
// new loss of the folder's mark while it ran; a refill that could not finish runs again
// by itself.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "engine/blob/shard_scan.h"
#include "engine/io/fault_env.h"
#include "engine/txn/scrubber.h"
#include "tests/engine/engine_test_util.h"

namespace sopfs {
namespace {

using testing::EngineOptionsUnder;

class TxnScrubRefillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = EngineOptionsUnder("/vol");
    auto engine = Engine::Open(&env_, options_);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
    BtreeOptions values;
    values.values_in_node = false;  // every value a blob of its own
    auto txn = engine_->Begin();
    TxnTree* tree = *txn->Tree(*txn->CreateTree(values), values);
    for (char c = 'a'; c < 'k'; ++c) {
      ASSERT_TRUE(tree->Add(std::string(1, c), std::string(50000, c)).ok());
    }
    ASSERT_TRUE(txn->Commit().ok());
  }
  // A new, empty drive where data folder 3 was.
  void ReplaceFolder3() {
    env_.VanishFolder(Folder3());
    ASSERT_TRUE(env_.MkDirsDurably(Folder3()).ok());
  }
  const std::string& Folder3() const { return options_.data_folders[3]; }
  // Blobs with fewer than k+m shard files on disk.
  int BlobsShortOfShards() {
    Result<ShardScan> scan = ScanShards(&env_, options_.data_folders, nullptr);
    EXPECT_TRUE(scan.ok()) << scan.status().ToString();
    int short_of_shards = 0;
    if (scan.ok()) {
      for (const auto& [blob, shards] : scan->blobs) short_of_shards += shards.size() < 6;
    }
    return short_of_shards;
  }

  FaultEnv env_;
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(TxnScrubRefillTest, ScrubRefillDoesNotCountAFolderWholeThatLostItsMarkDuringThePass) {
  ReplaceFolder3();
  ASSERT_TRUE(engine_->FindReplacedFolders());
  const Engine::EmptiedFolders before_pass = engine_->emptied();
  ASSERT_EQ(before_pass.folders, std::vector<std::string>{Folder3()});
  // The pass runs; meanwhile the drive is swapped again, and the next look sees it.
  ReplaceFolder3();
  EXPECT_TRUE(engine_->FindReplacedFolders()) << "a mark gone again is a new loss";
  engine_->Refilled(before_pass);
  EXPECT_EQ(engine_->emptied_folders(), std::vector<std::string>{Folder3()});
  // A pass that starts after the last loss does count.
  engine_->Refilled(engine_->emptied());
  EXPECT_TRUE(engine_->emptied_folders().empty());
}

TEST_F(TxnScrubRefillTest, ScrubRefillThatCouldNotRepairRunsAgainUntilTheFolderIsWhole) {
  ReplaceFolder3();
  ASSERT_TRUE(engine_->FindReplacedFolders());
  ASSERT_GT(BlobsShortOfShards(), 0);
  // The new drive fails every write at first: the refill cannot rebuild anything.
  env_.FailFolder(Folder3(), EIO);
  ScrubOptions options;
  options.every = std::chrono::seconds(0);  // refills only
  options.bytes_per_second = uint64_t{1} << 30;
  options.refill_retry = std::chrono::seconds(1);
  Scrubber scrubber(engine_.get(), options);
  scrubber.Start("refill");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto wait_for = [&](auto done) {
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return done();
  };
  ASSERT_TRUE(wait_for([&] { return scrubber.Progress().passes >= 1; }));
  EXPECT_EQ(engine_->emptied_folders(), std::vector<std::string>{Folder3()})
      << "a refill whose repairs failed must not count the folder whole";
  // The drive works again: with no new loss to notice, only the retry refills it.
  env_.HealFolder(Folder3());
  ASSERT_TRUE(wait_for([&] { return engine_->emptied_folders().empty(); }))
      << "passes: " << scrubber.Progress().passes;
  EXPECT_GE(scrubber.Progress().passes, 2u);
  EXPECT_EQ(BlobsShortOfShards(), 0);
}

}  // namespace
}  // namespace sopfs
