// Registry on FaultEnv: entries survive reopen and crashes, blocks are never torn,
// corrupt blocks are read from the other side and rewritten, the active side fails
// over without losing a commit, and Reinstate brings a restored side back.
#include "engine/registry/registry.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "engine/io/fault_env.h"
#include "tests/engine/registry_fixture.h"

namespace sopfs {
namespace {

using testing::EntryFor;
using testing::kSideA;
using testing::kSideB;

class RegistryTest : public testing::RegistryFixture {};

TEST_F(RegistryTest, RegistryEntriesSurviveReopenAcrossManyBlocks) {
  std::vector<LogicalId> ids;
  for (LogicalId id = 0; id < 1000; id += 3) ids.push_back(id);
  ASSERT_TRUE(Set(ids, 1).ok());
  ASSERT_TRUE(Set({5, 6, 500, 999}, 2).ok());
  Reopen();
  ExpectModel("after reopen");
  EXPECT_EQ(registry_->Get(1).status().code(), ENOENT);
  EXPECT_EQ(registry_->Get(123456789).status().code(), ENOENT);
  // Freeing an ID.
  ASSERT_TRUE(registry_->Apply({{{3, RegistryEntry{}}}}).ok());
  model_.erase(3);
  Reopen();
  EXPECT_EQ(registry_->Get(3).status().code(), ENOENT);
  ExpectModel("after free");
}

TEST_F(RegistryTest, RegistryCrashAtEveryWriteLeavesEachBlockWholeOldOrWholeNew) {
  // Entries 0..126 share block 0. A crash at any point of an Apply leaves every entry
  // of the block at the old version or every one at the new version, never a mix.
  std::vector<LogicalId> block0;
  for (LogicalId id = 0; id < RegistryBlock::kEntriesPerBlock; ++id) block0.push_back(id);
  for (uint64_t n = 0;; ++n) {
    ASSERT_LT(n, 500u);
    env_.Crash();
    SetUp();
    ASSERT_TRUE(Set(block0, 1).ok());
    ASSERT_TRUE(Set(block0, 2).ok());
    const uint64_t target = env_.op_count() + n;
    env_.CrashAtOp(target);
    std::vector<std::pair<LogicalId, RegistryEntry>> updates;
    for (LogicalId id : block0) updates.emplace_back(id, EntryFor(id, 3));
    Status st = registry_->Apply(updates);
    const bool reached = env_.op_count() > target;
    env_.Crash();
    Reopen();
    auto first = registry_->Get(0);
    ASSERT_TRUE(first.ok()) << "n=" << n << " " << first.status().ToString();
    const uint64_t version = first->version;
    if (st.ok()) {
      EXPECT_EQ(version, 3u) << "n=" << n << ": a durable write was lost";
    }
    EXPECT_TRUE(version == 2 || version == 3) << "n=" << n;
    for (LogicalId id : block0) {
      auto e = registry_->Get(id);
      ASSERT_TRUE(e.ok());
      ASSERT_EQ(*e, EntryFor(id, version)) << "n=" << n << ": block 0 is a mix";
    }
    if (!reached) break;
  }
}

TEST_F(RegistryTest, RegistryCorruptActiveBlockIsReadFromPassiveAndRewritten) {
  ASSERT_TRUE(Set({1, 2, 200}, 1).ok());
  ASSERT_TRUE(Set({1}, 2).ok());
  // Corrupt both slots of block 0 on the active side (A).
  const std::string file = std::string(kSideA) + "/registry.blocks";
  ASSERT_TRUE(env_.CorruptByte(file, 100).ok());
  ASSERT_TRUE(env_.CorruptByte(file, 4096 + 100).ok());
  Reopen();
  ExpectModel("corrupt active block");
  // The active copy was rewritten: it now reads alone, once the passive side is gone
  // (and known stale, so the registry may open without it).
  env_.VanishFolder(kSideB);
  ASSERT_TRUE(Set({600}, 1).ok());
  EXPECT_TRUE(registry_->Health().passive_stale);
  Reopen();
  ExpectModel("after repair, passive gone");
}

TEST_F(RegistryTest, RegistryNewestSlotUnreadableOnActiveIsTakenFromPassive) {
  // Block version s sits in slot s mod 2: versions 1 and 2 of block 0 in slots 1 and 0.
  // Slot 0 (the newest) rots on the active side; falling back to slot 1 would silently
  // undo version 2.
  ASSERT_TRUE(Set({7}, 1).ok());
  ASSERT_TRUE(Set({7}, 2).ok());
  ASSERT_TRUE(env_.CorruptByte(std::string(kSideA) + "/registry.blocks", 50).ok());
  Reopen();
  ExpectModel("newest slot rotted on the active side");
  // A torn newest write on both sides means it was never committed: the older version.
  ASSERT_TRUE(Set({8}, 3).ok());  // block 0 version 3: slot 1 on both sides
  for (const char* side : {kSideA, kSideB}) {
    ASSERT_TRUE(env_.CorruptByte(std::string(side) + "/registry.blocks", 4096 + 50).ok());
  }
  Reopen();
  auto e = registry_->Get(7);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  EXPECT_EQ(*e, EntryFor(7, 2));
  EXPECT_EQ(registry_->Get(8).status().code(), ENOENT);
}

TEST_F(RegistryTest, RegistryRottedSequenceNeverMakesAnOlderSlotLookNewest) {
  ASSERT_TRUE(Set({7}, 1).ok());  // block 0 version 1: slot 1
  ASSERT_TRUE(Set({7}, 2).ok());  // block 0 version 2: slot 0
  // Byte 22 is in the sequence field of slot 1's (older) header.
  ASSERT_TRUE(env_.CorruptByte(std::string(kSideA) + "/registry.blocks", 4096 + 22).ok());
  env_.VanishFolder(kSideB);
  ASSERT_TRUE(Set({600}, 1).ok());  // B is now known stale: A may open alone
  Reopen();
  ExpectModel("older slot's sequence rotted");
}

TEST_F(RegistryTest, RegistryPassiveIsWrittenSlotBySlotEvenIfNeverRead) {
  // The passive side is rarely read; its writes must still alternate slots so a torn
  // write there never hits its current version. Write block 0 three times, then check
  // both of side B's slots hold the two newest versions.
  ASSERT_TRUE(Set({1}, 1).ok());
  Reopen();
  ASSERT_TRUE(Set({1}, 2).ok());
  ASSERT_TRUE(Set({1}, 3).ok());
  auto raw = env_.ReadRaw(std::string(kSideB) + "/registry.blocks");
  ASSERT_TRUE(raw.ok());
  ASSERT_GE(raw->size(), 2 * RegistryBlock::kSize);
  std::set<uint64_t> sequences;
  for (int slot = 0; slot < 2; ++slot) {
    RegistryBlock b;
    ASSERT_EQ(b.Decode(std::span<const uint8_t, RegistryBlock::kSize>(
                           raw->data() + slot * RegistryBlock::kSize, RegistryBlock::kSize),
                       0),
              RegistryBlock::Decoded::kValid);
    sequences.insert(b.sequence);
  }
  EXPECT_EQ(sequences, (std::set<uint64_t>{2, 3}));
}

TEST_F(RegistryTest, RegistryRefusesToGuessWhenTheOtherSideCannotBeRead) {
  // Side B dies while the registry is closed. A's state says "A active, B current", but
  // B may have taken over later without A hearing of it: opening on A alone could serve
  // stale entries, so the registry refuses with a clear message instead.
  ASSERT_TRUE(Set({1}, 1).ok());
  registry_.reset();
  env_.VanishFolder(kSideB);
  auto r = Registry::Open(&env_, kSideA, kSideB);
  EXPECT_EQ(r.status().code(), EIO);
  EXPECT_NE(r.status().message().find("registry-b"), std::string::npos);
}

TEST_F(RegistryTest, RegistryBlockCorruptOnBothSidesFailsWithEioForItsIdsOnly) {
  ASSERT_TRUE(Set({1, 300}, 1).ok());
  ASSERT_TRUE(Set({1, 300}, 2).ok());
  for (const char* side : {kSideA, kSideB}) {
    const std::string file = std::string(side) + "/registry.blocks";
    ASSERT_TRUE(env_.CorruptByte(file, 200).ok());
    ASSERT_TRUE(env_.CorruptByte(file, 4096 + 200).ok());
  }
  Reopen();
  auto bad = registry_->Get(1);
  EXPECT_EQ(bad.status().code(), EIO);
  EXPECT_NE(bad.status().message().find("block 0"), std::string::npos);
  auto good = registry_->Get(300);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, EntryFor(300, 2));
}

TEST_F(RegistryTest, RegistryActiveSideFailingMidWorkloadFailsOverWithoutLosingACommit) {
  for (int err : {EIO, ENOSPC}) {
    env_.Crash();
    env_.HealFolder(kSideA);
    SetUp();
    model_.clear();
    ASSERT_TRUE(Set({1, 2, 3}, 1).ok());
    env_.FailFolder(kSideA, err);
    ASSERT_TRUE(Set({2, 400}, 2).ok());  // lands on B, which becomes active
    ASSERT_TRUE(Set({3}, 3).ok());
    RegistryHealth h = registry_->Health();
    EXPECT_EQ(h.active_folder, kSideB);
    EXPECT_TRUE(h.passive_stale);
    ExpectModel("after failover");
    env_.Crash();             // power cut: the switch must have been recorded durably
    env_.HealFolder(kSideA);  // side A comes back with its old state and entries
    Reopen();
    EXPECT_EQ(registry_->Health().active_folder, kSideB);
    ExpectModel("after failover and crash");
  }
}

TEST_F(RegistryTest, RegistryFailoverThatCannotBeRecordedAcknowledgesNothingAfterIt) {
  // Side A fails; a fault lands at each op of the failover in turn. Whatever the
  // registry acknowledged must be there after a power cut and A's return.
  for (uint64_t n = 0;; ++n) {
    ASSERT_LT(n, 200u);
    env_.Crash();
    env_.HealFolder(kSideA);
    ASSERT_TRUE(env_.RemoveAll("/vol").ok());
    SetUp();
    model_.clear();
    ASSERT_TRUE(Set({1}, 1).ok());
    env_.FailFolder(kSideA, EIO);
    const uint64_t target = env_.op_count() + n;
    env_.FailOp(target, EIO);
    const bool second = Set({1}, 2).ok();
    const bool reached = env_.op_count() > target;
    const bool third = Set({1}, 3).ok();
    env_.Crash();
    env_.HealFolder(kSideA);
    registry_.reset();
    auto r = Registry::Open(&env_, kSideA, kSideB);
    if (r.ok()) {
      auto e = (*r)->Get(1);
      ASSERT_TRUE(e.ok()) << "n=" << n << " " << e.status().ToString();
      const uint64_t acked = third ? 3 : second ? 2 : 1;
      EXPECT_GE(e->version, acked) << "n=" << n << ": an acknowledged write was lost";
    } else {
      EXPECT_EQ(r.status().code(), EIO);  // refusing to guess is safe; serving stale is not
    }
    if (!reached) break;
  }
}

TEST_F(RegistryTest, RegistryVanishedActiveFolderFailsOverOnReadAndOnOpen) {
  ASSERT_TRUE(Set({10, 20}, 1).ok());
  env_.VanishFolder(kSideA);
  ASSERT_TRUE(Set({30}, 1).ok());
  ExpectModel("vanished active");
  Reopen();
  EXPECT_EQ(registry_->Health().active_folder, kSideB);
  ExpectModel("reopened without side A");
}

TEST_F(RegistryTest, RegistryPassiveFailureMarksItStaleAndBothFailingIsAnError) {
  ASSERT_TRUE(Set({1}, 1).ok());
  env_.FailFolder(kSideB, EIO);
  ASSERT_TRUE(Set({1}, 2).ok());
  EXPECT_TRUE(registry_->Health().passive_stale);
  EXPECT_EQ(registry_->Health().active_folder, kSideA);
  env_.FailFolder(kSideA, EIO);
  Status st = Set({1}, 3);
  EXPECT_EQ(st.code(), EIO);
  env_.HealFolder(kSideA);
  env_.HealFolder(kSideB);
  Reopen();
  auto e = registry_->Get(1);
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->version == 2 || e->version == 3);  // the failed write may or may not be there
}

TEST_F(RegistryTest, RegistryReinstateFastForwardsARestoredSide) {
  ASSERT_TRUE(Set({1, 2}, 1).ok());
  env_.VanishFolder(kSideA);
  ASSERT_TRUE(Set({2, 900}, 2).ok());
  ASSERT_TRUE(Set({1000}, 3).ok());
  // The drive is replaced: an empty folder where side A was.
  ASSERT_TRUE(env_.MkDir(kSideA).ok());
  ASSERT_TRUE(env_.SyncDir("/vol").ok());
  ASSERT_TRUE(registry_->Reinstate().ok());
  EXPECT_FALSE(registry_->Health().passive_stale);
  ExpectModel("after reinstate");
  // Side A alone now holds every commit: lose B (noticed by a write) and reopen.
  env_.VanishFolder(kSideB);
  ASSERT_TRUE(Set({1001}, 4).ok());
  Reopen();
  EXPECT_EQ(registry_->Health().active_folder, kSideA);
  ExpectModel("side A alone after reinstate");
}

}  // namespace
}  // namespace sopfs
