// The registry's active side fails in the middle of a transactional workload (I/O
// errors, the folder vanishing, a corrupt block): no commit is lost, the passive side
// takes over, and a reinstated side is complete again.
#include <gtest/gtest.h>

#include "engine/io/fault_env.h"
#include "tests/engine/engine_test_util.h"

namespace sopfs {
namespace {

using testing::EngineOptionsUnder;
using testing::ReadAll;
using Items = std::map<std::string, std::string>;

enum class Failure { kIoError, kVanished, kCorruptBlock };

class TxnRegistryFailoverTest : public ::testing::TestWithParam<Failure> {
 protected:
  void SetUp() override {
    options_ = EngineOptionsUnder("/vol");
    options_.checkpoint_commits = 1;  // every commit writes the registry
    Open();
    auto txn = engine_->Begin();
    root_ = *txn->CreateTree(Opts());
    ASSERT_TRUE(txn->Commit().ok());
  }
  static BtreeOptions Opts() {
    BtreeOptions opts;
    opts.slot_length = 4;  // many nodes, many registry entries
    return opts;
  }
  void Open() {
    engine_.reset();
    auto engine = Engine::Open(&env_, options_);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
  }
  void CommitRange(int from, int to) {
    for (int i = from; i < to; ++i) {
      auto txn = engine_->Begin();
      TxnTree* tree = *txn->Tree(root_, Opts());
      const std::string key = "k" + std::to_string(1000 + i);
      ASSERT_TRUE(tree->Add(key, "v" + std::to_string(i)).ok());
      const std::string old = "k" + std::to_string(1000 + i / 2);
      const bool remove = i % 3 == 1 && model_.count(old);
      if (remove) {
        ASSERT_TRUE(tree->Remove(old).ok());
      }
      Status st = txn->Commit();
      ASSERT_TRUE(st.ok()) << "commit " << i << ": " << st.ToString();
      model_[key] = "v" + std::to_string(i);
      if (remove) model_.erase(old);
    }
  }
  void ExpectModel() {
    auto txn = engine_->Begin(TxnMode::kReader);
    EXPECT_EQ(ReadAll(*txn, root_, Opts()), model_);
  }

  FaultEnv env_;
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
  LogicalId root_ = 0;
  Items model_;
};

TEST_P(TxnRegistryFailoverTest, NoCommitIsLostAndReinstateRestoresTheFailedSide) {
  CommitRange(0, 30);
  const std::string side_a = options_.registry_a;
  switch (GetParam()) {
    case Failure::kIoError:
      env_.FailFolder(side_a, EIO);
      break;
    case Failure::kVanished:
      env_.VanishFolder(side_a);
      break;
    case Failure::kCorruptBlock: {
      // Every slot of every block on side A; reads must come from side B.
      auto bytes = env_.ReadRaw(side_a + "/registry.blocks");
      ASSERT_TRUE(bytes.ok());
      ASSERT_GE(bytes->size(), 2u * 4096);
      for (uint64_t offset = 100; offset < bytes->size(); offset += 4096) {
        ASSERT_TRUE(env_.CorruptByte(side_a + "/registry.blocks", offset).ok());
      }
    }
      Open();  // the registry cache is cold: the corrupt blocks are read now
      break;
  }
  CommitRange(30, 60);
  ExpectModel();
  if (GetParam() != Failure::kCorruptBlock) {
    EXPECT_EQ(engine_->registry_health().active_folder, options_.registry_b);
    EXPECT_TRUE(engine_->registry_health().passive_stale);
  } else {
    EXPECT_FALSE(engine_->registry_health().passive_stale);  // repaired from side B
  }
  // A power cut now: everything committed must come back from the surviving side.
  options_.checkpoint_on_close = false;
  engine_.reset();
  env_.Crash();
  if (GetParam() == Failure::kIoError) env_.HealFolder(side_a);
  if (GetParam() == Failure::kVanished) {
    ASSERT_TRUE(env_.MkDirsDurably(side_a).ok());
  }
  Open();
  ExpectModel();
  Status st = engine_->ReinstateRegistry();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_FALSE(engine_->registry_health().passive_stale);
  CommitRange(60, 70);
  // Now side B goes while running: side A, reinstated, takes over with everything.
  env_.VanishFolder(options_.registry_b);
  CommitRange(70, 80);
  ExpectModel();
  EXPECT_EQ(engine_->registry_health().active_folder, options_.registry_a);
  options_.checkpoint_on_close = true;
  engine_.reset();
  ASSERT_TRUE(env_.MkDirsDurably(options_.registry_b).ok());
  Open();
  ExpectModel();
  ASSERT_TRUE(engine_->ReinstateRegistry().ok());
  EXPECT_FALSE(engine_->registry_health().passive_stale);
}

INSTANTIATE_TEST_SUITE_P(Failures, TxnRegistryFailoverTest,
                         ::testing::Values(Failure::kIoError, Failure::kVanished,
                                           Failure::kCorruptBlock));

}  // namespace
}  // namespace sopfs
