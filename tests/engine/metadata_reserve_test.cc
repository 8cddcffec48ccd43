// MetadataReserve and the engine at a full disk (FaultEnv's capacity): the reserve file
// holds its room, gives it back to a metadata write that found none, refills only with
// room to spare; an engine too full even for recovery opens read-only, writing nothing.
#include "engine/io/metadata_reserve.h"

#include <gtest/gtest.h>

#include "engine/io/fault_env.h"
#include "tests/engine/engine_test_util.h"

namespace sopfs {
namespace {

using testing::EngineOptionsUnder;
using testing::ReadAll;

constexpr uint64_t kMiB = uint64_t{1} << 20;

uint64_t Used(FaultEnv& env) {
  Result<FsStats> st = env.StatFs("/vol");
  return st.ok() ? st->total_bytes - st->free_bytes : 0;
}

class MetadataReserveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* dir : {"/vol", "/vol/a", "/vol/b"}) ASSERT_TRUE(env_.MkDir(dir).ok());
  }
  FaultEnv env_;
};

TEST_F(MetadataReserveTest, HoldsItsRoomGivesItBackAndRefillsOnlyWithRoomToSpare) {
  auto reserve = MetadataReserve::Open(&env_, {"/vol/a", "/vol/b"}, 4 * kMiB);
  ASSERT_TRUE(reserve.ok()) << reserve.status().ToString();
  MetadataReserve& r = **reserve;
  // Both folders are on one file system: one file.
  EXPECT_EQ(r.target(), 4 * kMiB);
  const uint64_t before = Used(env_);
  ASSERT_TRUE(r.Full());
  EXPECT_EQ(r.held(), 4 * kMiB);
  EXPECT_EQ(Used(env_), before + 4 * kMiB) << "the room is not really taken";

  env_.SetCapacity(Used(env_));  // the disk is full
  ASSERT_TRUE(r.Release());
  EXPECT_EQ(r.held(), 0u);
  EXPECT_FALSE(r.Release()) << "nothing more to give";
  EXPECT_EQ(Used(env_), before);
  // 4 MiB free: the room, but not a quarter more, so it stays in use.
  EXPECT_FALSE(r.Full());
  env_.SetCapacity(before + 5 * kMiB);
  EXPECT_TRUE(r.Full());
  EXPECT_EQ(r.held(), 4 * kMiB);

  // A new open finds the file's room held already.
  reserve->reset();
  auto again = MetadataReserve::Open(&env_, {"/vol/a"}, 4 * kMiB);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ((*again)->held(), 4 * kMiB);
  EXPECT_TRUE((*again)->Full());
}

TEST_F(MetadataReserveTest, NoReserveIsAlwaysFullAndGivesNothing) {
  auto reserve = MetadataReserve::Open(&env_, {"/vol/a"}, 0);
  ASSERT_TRUE(reserve.ok());
  EXPECT_TRUE((*reserve)->Full());
  EXPECT_FALSE((*reserve)->Release());
  EXPECT_EQ((*reserve)->target(), 0u);
}

// Commits logged but not checkpointed, then the disk fills: a read-only open serves the
// commits from memory, refuses writes with EROFS and writes nothing at all.
TEST(EngineReadOnlyTest, AFullDiskOpensReadOnlyWithEveryCommitAndWritesNothing) {
  FaultEnv env;
  EngineOptions options = EngineOptionsUnder("/vol");
  options.checkpoint_on_close = false;  // the log keeps the commits, as after a crash
  LogicalId root = 0;
  {
    auto engine = Engine::Open(&env, options);
    ASSERT_TRUE(engine.ok());
    auto txn = (*engine)->Begin();
    Result<LogicalId> made = txn->CreateTree();
    ASSERT_TRUE(made.ok());
    root = *made;
    ASSERT_TRUE((*txn->Tree(root))->Add("k", "logged, not checkpointed").ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  env.SetCapacity(Used(env));  // not a byte free

  options.read_only = true;
  const uint64_t used = Used(env);
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  {
    auto reader = (*engine)->Begin(TxnMode::kReader);
    EXPECT_EQ(ReadAll(*reader, root),
              (std::map<std::string, std::string>{{"k", "logged, not checkpointed"}}));
  }
  auto txn = (*engine)->Begin();
  ASSERT_TRUE((*txn->Tree(root))->Upsert("k", "new").ok());
  EXPECT_EQ(txn->Commit().code(), EROFS);
  EXPECT_EQ((*engine)->Checkpoint().code(), EROFS);
  engine->reset();
  EXPECT_EQ(Used(env), used) << "a read-only open wrote something";

  // Room again: a read-write open replays the log for good.
  env.SetCapacity(uint64_t{1} << 40);
  options.read_only = false;
  auto rw = Engine::Open(&env, options);
  ASSERT_TRUE(rw.ok()) << rw.status().ToString();
  auto reader = (*rw)->Begin(TxnMode::kReader);
  EXPECT_EQ(ReadAll(*reader, root),
            (std::map<std::string, std::string>{{"k", "logged, not checkpointed"}}));
}

}  // namespace
}  // namespace sopfs
