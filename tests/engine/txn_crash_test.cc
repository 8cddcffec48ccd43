// Crash at every I/O operation of a commit (and of the recovery after it): after the
// restart, every tree holds exactly the state before the transaction or exactly the
// state after it, and no blob is left that no registry entry points to.
#include <gtest/gtest.h>

#include <tuple>

#include "engine/io/fault_env.h"
#include "engine/txn/commit_log.h"
#include "engine/txn/txn_record.h"
#include "tests/engine/engine_test_util.h"

namespace sopfs {
namespace {

using testing::BlobsOnDisk;
using testing::EngineOptionsUnder;
using testing::ReadAll;
using Items = std::map<std::string, std::string>;

BtreeOptions SmallNodes() {
  BtreeOptions opts;
  opts.slot_length = 8;  // a few dozen keys make a three-level tree
  opts.value_blob_threshold = 64;
  return opts;
}

struct Scenario {
  LogicalId tree_a = 0;
  LogicalId tree_b = 0;
  Items before_a, before_b, after_a, after_b;
};

// Commits the "before" state of two trees.
Scenario Prepare(Engine& engine) {
  Scenario s;
  for (int i = 0; i < 40; ++i) {
    s.before_a["k" + std::to_string(100 + i)] = "a" + std::to_string(i);
  }
  s.before_a["blob"] = std::string(300, 'B');
  s.before_b = {{"x", "1"}, {"y", "2"}};
  auto txn = engine.Begin();
  s.tree_a = *txn->CreateTree(SmallNodes());
  s.tree_b = *txn->CreateTree(SmallNodes());
  for (const auto& [k, v] : s.before_a)
    EXPECT_TRUE((*txn->Tree(s.tree_a, SmallNodes()))->Add(k, v).ok());
  for (const auto& [k, v] : s.before_b)
    EXPECT_TRUE((*txn->Tree(s.tree_b, SmallNodes()))->Add(k, v).ok());
  EXPECT_TRUE(txn->Commit().ok());
  s.after_a = s.before_a;
  s.after_b = s.before_b;
  return s;
}

// The transaction under test: splits, merges, value blobs replaced and added, two trees.
Status RunChange(Engine& engine, Scenario& s) {
  auto txn = engine.Begin();
  auto a = txn->Tree(s.tree_a, SmallNodes());
  auto b = txn->Tree(s.tree_b, SmallNodes());
  if (!a.ok()) return a.status();
  if (!b.ok()) return b.status();
  for (int i = 0; i < 15; ++i) {
    const std::string key = "k" + std::to_string(100 + i);
    SOPFS_RETURN_IF_ERROR((*a)->Remove(key));
    s.after_a.erase(key);
  }
  for (int i = 0; i < 25; ++i) {
    const std::string key = "n" + std::to_string(i);
    SOPFS_RETURN_IF_ERROR((*a)->Add(key, "new"));
    s.after_a[key] = "new";
  }
  SOPFS_RETURN_IF_ERROR((*a)->Update("blob", std::string(400, 'C')));
  s.after_a["blob"] = std::string(400, 'C');
  SOPFS_RETURN_IF_ERROR((*b)->Remove("x"));
  SOPFS_RETURN_IF_ERROR((*b)->Add("z", std::string(100, 'Z')));
  s.after_b.erase("x");
  s.after_b["z"] = std::string(100, 'Z');
  return txn->Commit();
}

// Opens the engine after a crash; both trees must be entirely before or entirely after.
void CheckRecovered(FaultEnv& env, const EngineOptions& options, const Scenario& s,
                    bool must_be_after, uint64_t n) {
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok()) << "crash at op " << n << ": " << engine.status().ToString();
  auto txn = (*engine)->Begin(TxnMode::kReader);
  const Items a = ReadAll(*txn, s.tree_a, SmallNodes());
  const Items b = ReadAll(*txn, s.tree_b, SmallNodes());
  const bool before = a == s.before_a && b == s.before_b;
  const bool after = a == s.after_a && b == s.after_b;
  EXPECT_TRUE(before || after) << "crash at op " << n << " left a mix";
  if (must_be_after) {
    EXPECT_TRUE(after) << "crash at op " << n << " lost a reported commit";
  }
  txn.reset();
  auto referenced = (*engine)->ReferencedBlobs();
  ASSERT_TRUE(referenced.ok());
  EXPECT_EQ(BlobsOnDisk(&env, options), *referenced) << "orphans after crash at op " << n;
}

// Checkpoint every N commits; whether small commits carry their blobs in the record
// (held_blobs.h) or write them first.
class TxnCrashTest : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(TxnCrashTest, CrashAtEveryOpOfACommitRecoversBeforeOrAfterWithoutOrphans) {
  const auto [checkpoint_commits, carry] = GetParam();
  uint64_t n = 0;
  for (;; ++n) {
    FaultEnv env;
    EngineOptions options = EngineOptionsUnder("/vol");
    options.checkpoint_commits = checkpoint_commits;
    options.checkpoint_on_close = false;
    if (!carry) options.carry_bytes = 0;
    options.background_spill = false;  // every operation numbered in one thread
    Scenario s;
    Status st;
    uint64_t crash_at = 0;
    {
      auto engine = Engine::Open(&env, options);
      ASSERT_TRUE(engine.ok());
      s = Prepare(**engine);
      crash_at = env.op_count() + n;
      env.CrashAtOp(crash_at);
      st = RunChange(**engine, s);
      // A carrying commit's blobs reach the data folders after it: here by the
      // checkpoint (a crash at each of its operations too).
      if (carry && st.ok()) (void)(*engine)->Checkpoint();
    }
    const bool crashed = env.op_count() > crash_at;
    env.Crash();
    CheckRecovered(env, options, s, st.ok(), n);
    if (::testing::Test::HasFailure()) return;
    if (!crashed) break;  // the commit ran to the end before op n
  }
  // The commit really did many operations (blobs, flushes, records; or a carrying
  // commit's record, then the checkpoint).
  EXPECT_GT(n, 30u);
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutCheckpoint, TxnCrashTest,
                         ::testing::Combine(::testing::Values(1, 1000), ::testing::Bool()));

TEST(TxnRecoverTest, CrashAtEveryOpOfRecoveryStillRecovers) {
  // A commit whose record is durable but not yet checkpointed, then a crash at every
  // op of the recovery that replays it, then a clean recovery.
  uint64_t n = 0;
  for (;; ++n) {
    FaultEnv env;
    EngineOptions options = EngineOptionsUnder("/vol");
    options.checkpoint_on_close = false;
    Scenario s;
    {
      auto engine = Engine::Open(&env, options);
      ASSERT_TRUE(engine.ok());
      s = Prepare(**engine);
      ASSERT_TRUE(RunChange(**engine, s).ok());
    }
    env.Crash();
    const uint64_t crash_at = env.op_count() + n;
    env.CrashAtOp(crash_at);
    { auto engine = Engine::Open(&env, options); }
    const bool crashed = env.op_count() > crash_at;
    env.Crash();
    CheckRecovered(env, options, s, /*must_be_after=*/true, n);
    if (::testing::Test::HasFailure()) return;
    if (!crashed) break;
  }
  EXPECT_GT(n, 10u);
}

// What a checkpoint carries into the new log (blobs in flight, frees a snapshot still
// held back) must be enough for recovery after a crash: no blob lost, none left behind.
class TxnRecoverCarryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = EngineOptionsUnder("/vol");
    options_.checkpoint_on_close = false;  // closing is crashing
    Open();
    auto txn = engine_->Begin();
    root_ = *txn->CreateTree(Opts());
    for (int i = 0; i < 30; ++i) {
      items_["k" + std::to_string(100 + i)] = "v";
    }
    items_["big"] = std::string(300, 'a');
    for (const auto& [k, v] : items_) ASSERT_TRUE((*txn->Tree(root_, Opts()))->Add(k, v).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  static BtreeOptions Opts() {
    BtreeOptions opts;
    opts.slot_length = 4;
    opts.value_blob_threshold = 64;
    return opts;
  }
  void Open() {
    engine_.reset();
    auto engine = Engine::Open(&env_, options_);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
  }
  void CrashAndOpen() {
    engine_.reset();
    env_.Crash();
    Open();
  }
  void ExpectItemsAndNoOrphans() {
    auto txn = engine_->Begin(TxnMode::kReader);
    EXPECT_EQ(ReadAll(*txn, root_, Opts()), items_);
    txn.reset();
    auto referenced = engine_->ReferencedBlobs();
    ASSERT_TRUE(referenced.ok());
    EXPECT_EQ(BlobsOnDisk(&env_, options_), *referenced);
  }

  FaultEnv env_;
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
  LogicalId root_ = 0;
  Items items_;
};

TEST_F(TxnRecoverCarryTest, ValueStagedBeforeACheckpointByATxnThatNeverCommitsIsRemoved) {
  auto txn = engine_->Begin();
  // Past the size a staged value is held in memory for (Engine::kHeldValueBytes): it is
  // written at once, with a prepare record.
  ASSERT_TRUE((*txn->Tree(root_, Opts()))->Upsert("big2", std::string(80 << 10, 'b')).ok());
  ASSERT_TRUE(engine_->Checkpoint().ok());  // its prepare record is gone with the old log
  txn->Rollback();
  CrashAndOpen();
  EXPECT_GE(engine_->recovery().orphans_removed, 1u);
  ExpectItemsAndNoOrphans();
}

TEST_F(TxnRecoverCarryTest, ValueStagedBeforeACheckpointAndCommittedAfterItSurvives) {
  auto txn = engine_->Begin();
  ASSERT_TRUE((*txn->Tree(root_, Opts()))->Upsert("big2", std::string(300, 'b')).ok());
  ASSERT_TRUE(engine_->Checkpoint().ok());
  ASSERT_TRUE(txn->Commit().ok());
  items_["big2"] = std::string(300, 'b');
  CrashAndOpen();
  ExpectItemsAndNoOrphans();
  ASSERT_TRUE(engine_->Checkpoint().ok());  // and once that commit was checkpointed
  CrashAndOpen();
  ExpectItemsAndNoOrphans();
}

TEST_F(TxnRecoverCarryTest, BlobsFreedWhileASnapshotWasOpenAtACheckpointAreRemoved) {
  auto reader = engine_->Begin(TxnMode::kReader);
  {
    auto txn = engine_->Begin();
    TxnTree* tree = *txn->Tree(root_, Opts());
    for (int i = 0; i < 30; i += 3) {
      const std::string key = "k" + std::to_string(100 + i);
      ASSERT_TRUE(tree->Remove(key).ok());
      items_.erase(key);
    }
    ASSERT_TRUE(tree->Update("big", std::string(300, 'c')).ok());
    items_["big"] = std::string(300, 'c');
    ASSERT_TRUE(txn->Commit().ok());
  }
  // The reader holds the old nodes and value: the checkpoint keeps them, and carries
  // them as frees into the new log, where the commit that freed them is no longer.
  ASSERT_TRUE(engine_->Checkpoint().ok());
  reader.reset();
  CrashAndOpen();
  EXPECT_GE(engine_->recovery().frees_done, 1u);
  ExpectItemsAndNoOrphans();
}

TEST_F(TxnRecoverCarryTest, BlobRemovalsThatFailAtACheckpointAreRetried) {
  {
    auto txn = engine_->Begin();
    ASSERT_TRUE((*txn->Tree(root_, Opts()))->Update("big", std::string(300, 'd')).ok());
    ASSERT_TRUE(txn->Commit().ok());
    items_["big"] = std::string(300, 'd');
  }
  env_.FailFolder(options_.data_folders[0], EIO);
  EXPECT_FALSE(engine_->Checkpoint().ok());  // the registry is written, removals fail
  env_.HealFolder(options_.data_folders[0]);
  ASSERT_TRUE(engine_->Checkpoint().ok());
  ExpectItemsAndNoOrphans();
}

TEST_F(TxnRecoverCarryTest, BlobRemovalsThatFailAtACheckpointAreDoneByRecovery) {
  {
    auto txn = engine_->Begin();
    ASSERT_TRUE((*txn->Tree(root_, Opts()))->Update("big", std::string(300, 'd')).ok());
    ASSERT_TRUE(txn->Commit().ok());
    items_["big"] = std::string(300, 'd');
  }
  env_.FailFolder(options_.data_folders[0], EIO);
  EXPECT_FALSE(engine_->Checkpoint().ok());
  env_.HealFolder(options_.data_folders[0]);
  CrashAndOpen();
  ExpectItemsAndNoOrphans();
}

// The commit log fails while a commit writes its record: the engine refuses further
// commits and checkpoints until it is reopened, and recovery settles the outcome.
TEST(TxnRecoverTest, CommitLogFailureStopsCommitsUntilRecoverySettlesTheOutcome) {
  FaultEnv env;
  EngineOptions options = EngineOptionsUnder("/vol");
  options.checkpoint_on_close = false;
  options.test_hook = [&](std::string_view point) {
    if (point == "commit:lease-checked") env.FailFolder(options.log_folder, EIO);
  };
  LogicalId root;
  {
    EngineOptions plain = options;
    plain.test_hook = nullptr;
    auto engine = Engine::Open(&env, plain);
    ASSERT_TRUE(engine.ok());
    auto txn = (*engine)->Begin();
    root = *txn->CreateTree(SmallNodes());
    ASSERT_TRUE((*txn->Tree(root, SmallNodes()))->Add("k", "0").ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  {
    auto engine = Engine::Open(&env, options);
    ASSERT_TRUE(engine.ok());
    auto txn = (*engine)->Begin();
    ASSERT_TRUE((*txn->Tree(root, SmallNodes()))->Update("k", std::string(200, 'x')).ok());
    EXPECT_EQ(txn->Commit().code(), EIO);
    env.HealFolder(options.log_folder);
    {
      // Nothing of a commit is visible before its record is durable.
      auto reader = (*engine)->Begin(TxnMode::kReader);
      EXPECT_EQ(ReadAll(*reader, root, SmallNodes()), (Items{{"k", "0"}}));
    }
    auto next = (*engine)->Begin();
    ASSERT_TRUE((*next->Tree(root, SmallNodes()))->Update("k", "2").ok());
    EXPECT_EQ(next->Commit().code(), EIO);  // the outcome of the first is not known yet
    EXPECT_EQ((*engine)->Checkpoint().code(), EIO);
  }
  env.Crash();
  options.test_hook = nullptr;
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  auto txn = (*engine)->Begin(TxnMode::kReader);
  EXPECT_EQ(ReadAll(*txn, root, SmallNodes()), (Items{{"k", "0"}}));  // the record never made it
  txn.reset();
  EXPECT_EQ(BlobsOnDisk(&env, options), *(*engine)->ReferencedBlobs());
}

// Recovery refuses a commit record whose fencing token is older than one already
// applied to the same tree (a holder that lost its lock wrote after the new holder).
// The engine itself keeps such records out of its log; this one is written by hand.
TEST(TxnRecoverTest, RecoveryRefusesACommitRecordWithAStaleFence) {
  FaultEnv env;
  EngineOptions options = EngineOptionsUnder("/vol");
  LogicalId root;
  {
    auto engine = Engine::Open(&env, options);
    ASSERT_TRUE(engine.ok());
    auto txn = (*engine)->Begin();
    root = *txn->CreateTree();
    ASSERT_TRUE(txn->Commit().ok());
  }  // checkpointed: the log holds its carry record only
  const LogicalId stray = 1000000;
  {
    auto log = CommitLog::Open(&env, options.log_folder);
    ASSERT_TRUE(log.ok());
    TxnRecord newer;
    newer.kind = TxnRecord::Kind::kCommit;
    newer.stamp = 100;
    newer.fence = 5;
    newer.trees = {root};
    ASSERT_TRUE((*log)->Append(newer.Encode()).ok());
    TxnRecord stale = newer;
    stale.stamp = 101;
    stale.fence = 3;
    stale.updates = {{stray, RegistryEntry{BlobId::Random(), 1, RegistryEntry::kInUse}}};
    ASSERT_TRUE((*log)->Append(stale.Encode()).ok());
  }
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_EQ((*engine)->recovery().commits_replayed, 1u);
  EXPECT_EQ((*engine)->recovery().commits_refused, 1u);
  auto txn = (*engine)->Begin(TxnMode::kReader);
  EXPECT_EQ(txn->Tree(stray).status().code(), ENOENT);
}

// A node segment whose every node a commit replaced is garbage; when the crash comes
// before a checkpoint could remove it, recovery must (counting references anew).
TEST(TxnRecoverTest, RecoveryRemovesASegmentWhoseLastNodeACommitReplaced) {
  FaultEnv env;
  EngineOptions options = EngineOptionsUnder("/vol");
  options.checkpoint_on_close = false;
  LogicalId root;
  {
    auto engine = Engine::Open(&env, options);
    ASSERT_TRUE(engine.ok());
    {
      auto txn = (*engine)->Begin();
      root = *txn->CreateTree();  // one leaf, in a segment of its own
      ASSERT_TRUE((*txn->Tree(root))->Add("k", "0").ok());
      ASSERT_TRUE(txn->Commit().ok());
    }
    ASSERT_TRUE((*engine)->Checkpoint().ok());
    auto txn = (*engine)->Begin();
    ASSERT_TRUE((*txn->Tree(root))->Update("k", "1").ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  env.Crash();
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  EXPECT_GE((*engine)->recovery().frees_done, 1u);
  auto txn = (*engine)->Begin(TxnMode::kReader);
  EXPECT_EQ(ReadAll(*txn, root), (Items{{"k", "1"}}));
  txn.reset();
  EXPECT_EQ(BlobsOnDisk(&env, options), *(*engine)->ReferencedBlobs());
}

}  // namespace
}  // namespace sopfs
