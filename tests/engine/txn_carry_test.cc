// Small commits carry their new blobs in the commit record (held_blobs.h): one log
// record and flush, the blobs written to the data folders after, by the spiller, a
// checkpoint or the recovery that replays the record.
#include <gtest/gtest.h>

#include "engine/io/fault_env.h"
#include "engine/txn/txn_record.h"
#include "tests/engine/engine_test_util.h"

namespace sopfs {
namespace {

using testing::BlobsOnDisk;
using testing::EngineOptionsUnder;
using testing::ReadAll;
using testing::WaitUntilWritten;
using Items = std::map<std::string, std::string>;

BtreeOptions BlobValues() {
  BtreeOptions opts;
  opts.value_blob_threshold = 100;  // values past 100 bytes are blobs of their own
  return opts;
}

class TxnCarryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = EngineOptionsUnder("/vol");
    options_.checkpoint_on_close = false;
    Open();
    auto txn = engine_->Begin();
    root_ = *txn->CreateTree(BlobValues());
    ASSERT_TRUE(txn->Commit().ok());
  }
  void Open() {
    engine_.reset();
    auto engine = Engine::Open(&env_, options_);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
  }
  Status Put(const Items& items) {
    auto txn = engine_->Begin();
    for (const auto& [k, v] : items) {
      SOPFS_RETURN_IF_ERROR((*txn->Tree(root_, BlobValues()))->Upsert(k, v));
    }
    return txn->Commit();
  }
  Items Read() {
    auto txn = engine_->Begin(TxnMode::kReader);
    return ReadAll(*txn, root_, BlobValues());
  }
  // No spiller: what the log carries stays held until a checkpoint, a close or an open
  // writes it (and a failed spill does not turn carrying off for the next commits).
  void ReopenWithoutSpiller() {
    options_.background_spill = false;
    Open();
    Read();  // the nodes the next commits need are in memory
  }
  void FailDataFolders(bool fail) {
    for (const std::string& dir : options_.data_folders) {
      if (fail) {
        env_.FailFolder(dir, EIO);
      } else {
        env_.HealFolder(dir);
      }
    }
  }

  FaultEnv env_;
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
  LogicalId root_ = 0;
};

TEST_F(TxnCarryTest, TxnCarrySmallCommitIsOneLogRecordAndItsBlobsReachTheFoldersAfter) {
  ASSERT_TRUE(WaitUntilWritten(*engine_));
  const EngineStats before = engine_->Stats();
  const Items items = {{"small", "in the node"}, {"value", std::string(3000, 'v')}};
  ASSERT_TRUE(Put(items).ok());
  const EngineStats after = engine_->Stats();
  EXPECT_EQ(after.log_records - before.log_records, 1u) << "no prepare record";
  EXPECT_EQ(after.carrying_commits - before.carrying_commits, 1u);
  EXPECT_EQ(Read(), items);  // from memory or from the folders, whichever holds it now
  ASSERT_TRUE(WaitUntilWritten(*engine_)) << "the spiller never wrote the carried blobs";
  EXPECT_GE(engine_->Stats().carried_blobs_written - before.carried_blobs_written, 2u)
      << "a node segment and the value";
  const std::set<BlobId> on_disk = BlobsOnDisk(&env_, options_);
  const Result<std::set<BlobId>> referenced = engine_->ReferencedBlobs();
  ASSERT_TRUE(referenced.ok());
  for (const BlobId& blob : referenced.value()) EXPECT_TRUE(on_disk.count(blob));
  EXPECT_EQ(Read(), items);  // now from the data folders
}

// A value past Engine::kHeldValueBytes is written to the data folders before its
// commit, as always: with the folders failing its commit fails, while a small one
// commits (its record carries it) and waits in the log for the folders.
TEST_F(TxnCarryTest, TxnCarryALargeValueIsWrittenBeforeItsCommitAsBefore) {
  ASSERT_NO_FATAL_FAILURE(ReopenWithoutSpiller());
  const EngineStats before = engine_->Stats();
  ASSERT_TRUE(Put({{"big", std::string(100 << 10, 'b')}}).ok());
  EXPECT_EQ(engine_->Stats().log_records - before.log_records, 2u)
      << "a prepare record for the value, then the commit (carrying its node segment)";
  FailDataFolders(true);
  EXPECT_FALSE(Put({{"big", std::string(100 << 10, 'c')}}).ok());
  EXPECT_TRUE(Put({{"small", std::string(1000, 's')}}).ok());
  FailDataFolders(false);
  ASSERT_TRUE(engine_->Checkpoint().ok());  // writes what the log carries
  EXPECT_EQ(engine_->Stats().held_bytes, 0u);
  const Items expected = {{"big", std::string(100 << 10, 'b')}, {"small", std::string(1000, 's')}};
  EXPECT_EQ(Read(), expected);
}

// Nothing writes the carried blobs (no spiller, the data folders fail), then a power
// cut: the only copy of the committed blobs is in the commit log. A read-only open
// reads them from there; a writable open writes them out, and then they are in the
// folders, with no orphan.
TEST_F(TxnCarryTest, TxnCarryCrashBeforeTheBlobsAreWrittenRecoveryWritesThem) {
  ASSERT_NO_FATAL_FAILURE(ReopenWithoutSpiller());
  FailDataFolders(true);
  Items items;
  for (int i = 0; i < 5; ++i) {
    Items batch = {{"k" + std::to_string(i), std::string(500 + i, static_cast<char>('a' + i))}};
    ASSERT_TRUE(Put(batch).ok());
    items.insert(batch.begin(), batch.end());
  }
  EXPECT_EQ(Read(), items);
  EXPECT_GT(engine_->Stats().held_bytes, 0u) << "the folders fail: nothing could be written";
  engine_.reset();
  env_.Crash();

  options_.read_only = true;
  ASSERT_NO_FATAL_FAILURE(Open());
  EXPECT_EQ(Read(), items);
  CheckReport report;
  ASSERT_TRUE(engine_->Check({}, &report).ok());
  EXPECT_EQ(report.left(), 0u) << (report.listed().empty() ? "" : report.listed()[0].detail);

  options_.read_only = false;
  ASSERT_NO_FATAL_FAILURE(Open());
  EXPECT_GE(engine_->recovery().carried_written, 5u);
  EXPECT_EQ(engine_->Stats().held_bytes, 0u);
  EXPECT_EQ(Read(), items);
  EXPECT_EQ(BlobsOnDisk(&env_, options_), *engine_->ReferencedBlobs());
  // Written again over what a spill might have left: a second recovery is as good.
  engine_.reset();
  env_.Crash();
  ASSERT_NO_FATAL_FAILURE(Open());
  EXPECT_EQ(Read(), items);
}

// An open whose recovery cannot write the carried blobs (where their shards go, three
// of six folders fail: below the write quorum) fails, and keeps the log: its
// destruction must not checkpoint. The next open writes them.
TEST_F(TxnCarryTest, TxnCarryAnOpenThatCannotWriteTheCarriedBlobsFailsAndKeepsTheLog) {
  ASSERT_NO_FATAL_FAILURE(ReopenWithoutSpiller());
  FailDataFolders(true);
  Items items;
  for (int i = 0; i < 3; ++i) {
    Items batch = {{"k" + std::to_string(i), std::string(600 + i, static_cast<char>('p' + i))}};
    ASSERT_TRUE(Put(batch).ok());
    items.insert(batch.begin(), batch.end());
  }
  // The fan-out directories of the blobs only the log holds.
  const std::set<BlobId> on_disk = BlobsOnDisk(&env_, options_);
  std::set<std::string> fan_outs;
  const Result<std::set<BlobId>> referenced = engine_->ReferencedBlobs();
  ASSERT_TRUE(referenced.ok());
  for (const BlobId& blob : referenced.value()) {
    if (on_disk.count(blob)) continue;
    const std::string hex = blob.ToHex();
    fan_outs.insert(hex.substr(0, 2));
  }
  ASSERT_FALSE(fan_outs.empty());
  engine_.reset();
  env_.Crash();
  for (int i = 0; i < 3; ++i) {
    for (const std::string& dir : fan_outs) {
      env_.FailFolder(options_.data_folders[i] + "/" + dir, EIO);
    }
  }
  options_.checkpoint_on_close = true;  // as a mount has it
  {
    auto failed = Engine::Open(&env_, options_);
    ASSERT_FALSE(failed.ok()) << "the carried blobs cannot reach the write quorum";
  }
  env_.Crash();  // heals the folders
  ASSERT_NO_FATAL_FAILURE(Open());
  EXPECT_GE(engine_->recovery().carried_written, 3u);
  EXPECT_EQ(Read(), items);
}

// A checkpoint does not wait for the blobs the spiller has not written: the new log
// carries them on. Across two checkpoints and a power cut they are still there, and the
// open writes them; a clean close writes them itself.
TEST_F(TxnCarryTest, TxnCarryACheckpointCarriesUnwrittenBlobsIntoTheNewLog) {
  ASSERT_TRUE(WaitUntilWritten(*engine_));
  FailDataFolders(true);
  const Items items = {{"v", std::string(700, 'v')}, {"w", std::string(800, 'w')}};
  ASSERT_TRUE(Put(items).ok());
  // Both reset the log (their removal of garbage fails: the folders fail, and it stays
  // pending), with no data folder needed for the carried blobs.
  const uint64_t checkpoints = engine_->Stats().checkpoints;
  (void)engine_->Checkpoint();
  (void)engine_->Checkpoint();
  EXPECT_EQ(engine_->Stats().checkpoints, checkpoints + 2);
  EXPECT_GT(engine_->Stats().held_bytes, 0u);
  EXPECT_EQ(Read(), items);
  engine_.reset();
  env_.Crash();
  ASSERT_NO_FATAL_FAILURE(Open());
  EXPECT_GE(engine_->recovery().carried_written, 2u) << "from the carry record";
  EXPECT_EQ(Read(), items);
  const std::set<BlobId> on_disk = BlobsOnDisk(&env_, options_);
  const Result<std::set<BlobId>> referenced = engine_->ReferencedBlobs();
  ASSERT_TRUE(referenced.ok());
  for (const BlobId& blob : referenced.value()) EXPECT_TRUE(on_disk.count(blob));
  // A clean close writes what is held: the next open has nothing to write.
  options_.checkpoint_on_close = true;
  ASSERT_NO_FATAL_FAILURE(Open());
  EXPECT_EQ(Read(), items);  // the nodes the commit below needs are in memory
  FailDataFolders(true);
  const Status put_x = Put({{"x", std::string(900, 'x')}});
  ASSERT_TRUE(put_x.ok()) << put_x.ToString();
  FailDataFolders(false);
  engine_.reset();
  env_.Crash();
  ASSERT_NO_FATAL_FAILURE(Open());
  EXPECT_EQ(engine_->recovery().carried_written, 0u);
  EXPECT_EQ(Read().at("x"), std::string(900, 'x'));
}

// A small value a transaction staged is held in memory: rolled back, it leaves nothing.
TEST_F(TxnCarryTest, TxnCarryAStagedSmallValueRolledBackLeavesNothing) {
  ASSERT_TRUE(WaitUntilWritten(*engine_));
  const std::set<BlobId> before = BlobsOnDisk(&env_, options_);
  {
    auto txn = engine_->Begin();
    ASSERT_TRUE((*txn->Tree(root_, BlobValues()))->Upsert("gone", std::string(900, 'g')).ok());
    EXPECT_GT(engine_->Stats().held_bytes, 0u);
    txn->Rollback();
  }
  EXPECT_EQ(engine_->Stats().held_bytes, 0u);
  ASSERT_TRUE(engine_->Checkpoint().ok());
  EXPECT_EQ(BlobsOnDisk(&env_, options_), before);
}

TEST(TxnRecordCarryTest, TxnCarryRecordRoundTripsAndRefusesACutRecord) {
  TxnRecord rec;
  rec.kind = TxnRecord::Kind::kCommit;
  rec.stamp = 7;
  rec.trees = {3};
  rec.carried.push_back({BlobId{1, 2}, ErasureLayout{4, 2}, std::string(100, 'x')});
  rec.carried.push_back({BlobId{3, 4}, ErasureLayout{2, 4}, ""});
  const std::string bytes = rec.Encode();
  Result<TxnRecord> back = TxnRecord::Decode(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, rec);
  for (size_t cut : {bytes.size() - 1, bytes.size() - 50, bytes.size() - 110}) {
    EXPECT_EQ(TxnRecord::Decode(bytes.substr(0, cut)).status().code(), EIO) << cut;
  }
  // A record without carried blobs keeps format version 1 (older readers read it).
  rec.carried.clear();
  EXPECT_EQ(rec.Encode()[1], TxnRecord::kFormatVersion);
}

}  // namespace
}  // namespace sopfs
