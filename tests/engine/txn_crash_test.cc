// Crash at every I/O operation of a commit (and of the recovery after it): after the
// restart, every tree holds exactly the state before the transaction or exactly the
// state after it, and no blob is left that no registry entry points to.
#include <gtest/gtest.h>

#include "engine/io/fault_env.h"
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

class TxnCrashTest : public ::testing::TestWithParam<int> {};

TEST_P(TxnCrashTest, CrashAtEveryOpOfACommitRecoversBeforeOrAfterWithoutOrphans) {
  const int checkpoint_commits = GetParam();
  uint64_t n = 0;
  for (;; ++n) {
    FaultEnv env;
    EngineOptions options = EngineOptionsUnder("/vol");
    options.checkpoint_commits = checkpoint_commits;
    options.checkpoint_on_close = false;
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
    }
    const bool crashed = env.op_count() > crash_at;
    env.Crash();
    CheckRecovered(env, options, s, st.ok(), n);
    if (::testing::Test::HasFailure()) return;
    if (!crashed) break;  // the commit ran to the end before op n
  }
  EXPECT_GT(n, 100u);  // the commit really did many operations
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutCheckpoint, TxnCrashTest, ::testing::Values(1, 1000));

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

}  // namespace
}  // namespace sopfs
