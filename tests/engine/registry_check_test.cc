// CheckRegistrySides (sopfs fsck's registry check) on FaultEnv: a clean registry has no
// problem; a block unreadable on one side, a block whose entries or sequence differ, a
// newest version lost on the active side and a missing registry.blocks are each found
// exactly, repaired from the good side, and then the sides are equal and the registry
// reads every entry; a stale side and a block lost on both sides are only reported.
#include "engine/registry/registry_check.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "engine/io/fault_env.h"
#include "engine/registry/registry.h"
#include "engine/registry/registry_file.h"
#include "tests/engine/registry_fixture.h"

namespace sopfs {
namespace {

using testing::EntryFor;
using testing::kSideA;
using testing::kSideB;

std::string BlocksOf(const char* side) { return std::string(side) + "/registry.blocks"; }

// Byte offset of slot `slot` of block `block` in registry.blocks.
uint64_t SlotOffset(uint64_t block, int slot) {
  return (2 * block + static_cast<uint64_t>(slot)) * RegistryBlock::kSize;
}

class RegistryCheckTest : public testing::RegistryFixture {
 protected:
  // Runs the check; its result must be `want`.
  std::unique_ptr<CheckReport> Check(bool repair, int want = 0) {
    auto report = std::make_unique<CheckReport>();
    Status st = CheckRegistrySides(&env_, kSideA, kSideB, repair, report.get());
    EXPECT_EQ(st.code(), want) << st.ToString();
    return report;
  }

  // "kind @ where" of every listed problem, found or fixed as asked.
  static std::multiset<std::string> Problems(const CheckReport& report, bool fixed) {
    std::multiset<std::string> out;
    for (const CheckProblem& p : report.listed()) {
      if (p.fixed == fixed) out.insert(p.kind + " @ " + p.where);
    }
    return out;
  }

  std::unique_ptr<RegistryFile> OpenSide(const char* side) {
    auto file = RegistryFile::Open(&env_, side, /*create=*/false);
    EXPECT_TRUE(file.ok()) << file.status().ToString();
    return file.ok() ? std::move(*file) : nullptr;
  }

  RegistryBlock ReadBlock(const char* side, uint64_t number) {
    RegistryBlock block;
    auto state = OpenSide(side)->Read(number, &block);
    EXPECT_TRUE(state.ok() && *state == RegistryFile::BlockState::kValid) << side << " " << number;
    return block;
  }

  // Writes `block` into both slots of its number on `side`, durably.
  void WriteBlock(const char* side, const RegistryBlock& block) {
    auto file = OpenSide(side);
    for (bool mirror : {false, true}) {
      std::vector<IoOp> ops;
      file->PrepareWrite({block}, &ops, mirror);
      ASSERT_TRUE(env_.Submit(ops).ok());
      ASSERT_TRUE(file->FinishWrite(ops).ok());
    }
  }

  // Every block reads the same (state, sequence, entries) on both sides.
  void ExpectSidesEqual() {
    auto a = OpenSide(kSideA);
    auto b = OpenSide(kSideB);
    const uint64_t count = std::max(*a->BlockCount(), *b->BlockCount());
    ASSERT_GT(count, 0u);
    for (uint64_t n = 0; n < count; ++n) {
      RegistryBlock ba, bb;
      auto sa = a->Read(n, &ba);
      auto sb = b->Read(n, &bb);
      ASSERT_TRUE(sa.ok() && sb.ok());
      EXPECT_EQ(*sa, RegistryFile::BlockState::kValid) << "block " << n;
      EXPECT_EQ(*sa, *sb) << "block " << n;
      EXPECT_EQ(ba.sequence, bb.sequence) << "block " << n;
      EXPECT_TRUE(ba.entries == bb.entries) << "block " << n;
    }
  }
};

std::string Where(const char* side, int block) {
  return std::string(side) + " block " + std::to_string(block);
}

TEST_F(RegistryCheckTest, FsckRegistryFindsCorruptAndDifferingBlocksAndRepairsThemFromTheGoodSide) {
  std::vector<LogicalId> ids;
  for (LogicalId id = 0; id < 1000; id += 3) ids.push_back(id);
  ASSERT_TRUE(Set(ids, 1).ok());               // blocks 0..7, sequence 1 (slot 1)
  ASSERT_TRUE(Set({5, 6, 500, 999}, 2).ok());  // blocks 0, 3, 7: sequence 2 (slot 0)
  registry_.reset();

  auto clean = Check(false);
  EXPECT_EQ(clean->left(), 0u);
  EXPECT_EQ(clean->repaired(), 0u);
  EXPECT_EQ(clean->checked()["registry-blocks"], 8u);

  // Block 2 on the active side A: both slots unreadable.
  ASSERT_TRUE(env_.CorruptByte(BlocksOf(kSideA), SlotOffset(2, 0) + 100).ok());
  ASSERT_TRUE(env_.CorruptByte(BlocksOf(kSideA), SlotOffset(2, 1) + 100).ok());
  // Block 4 on B: its only write (slot 1) unreadable, slot 0 never written.
  ASSERT_TRUE(env_.CorruptByte(BlocksOf(kSideB), SlotOffset(4, 1) + 100).ok());
  // Block 5 on B: a different entry, same sequence.
  RegistryBlock changed = ReadBlock(kSideB, 5);
  changed.entries[3].version += 40;
  WriteBlock(kSideB, changed);
  // Block 6 on B: the same entries, a sequence that drifted.
  RegistryBlock drifted = ReadBlock(kSideB, 6);
  drifted.sequence += 2;
  WriteBlock(kSideB, drifted);

  const std::multiset<std::string> expected = {
      "registry-block-corrupt @ " + Where(kSideA, 2),
      "registry-block-corrupt @ " + Where(kSideB, 4),
      "registry-sides-differ @ " + Where(kSideB, 5),
      "registry-sides-differ @ " + Where(kSideB, 6),
  };
  auto found = Check(false);
  EXPECT_EQ(Problems(*found, false), expected);
  EXPECT_EQ(found->found()["registry-block-corrupt"], 2u);
  EXPECT_EQ(found->found()["registry-sides-differ"], 2u);
  EXPECT_EQ(found->repaired(), 0u);
  EXPECT_EQ(found->checked()["registry-blocks"], 8u);
  for (const CheckProblem& p : found->listed()) {
    if (p.where == Where(kSideB, 5)) {
      EXPECT_NE(p.detail.find("1 entries differ (first: logical ID " +
                              std::to_string(5 * RegistryBlock::kEntriesPerBlock + 3) + ")"),
                std::string::npos)
          << p.detail;
    }
    if (p.where == Where(kSideB, 6)) {
      EXPECT_NE(p.detail.find("0 entries differ, sequence 3 here, 1 in"), std::string::npos)
          << p.detail;
    }
  }

  auto repaired = Check(true);
  EXPECT_EQ(Problems(*repaired, true), expected);
  EXPECT_EQ(repaired->left(), 0u);
  EXPECT_EQ(repaired->repaired(), 4u);

  auto again = Check(false);
  EXPECT_EQ(again->left(), 0u) << (again->listed().empty() ? "" : again->listed()[0].where);
  EXPECT_EQ(again->repaired(), 0u);
  ExpectSidesEqual();
  // The active side's versions won: block 5 is back to what it was.
  EXPECT_EQ(ReadBlock(kSideB, 5).entries[3], ReadBlock(kSideA, 5).entries[3]);
  EXPECT_EQ(ReadBlock(kSideB, 6).sequence, 1u);

  Reopen();
  ExpectModel("after repair");
  // Side B alone reads every entry right too: A fails, the registry fails over.
  registry_.reset();
  Reopen();
  env_.FailFolder(kSideA, EIO);
  ExpectModel("side B alone after repair");
  EXPECT_EQ(registry_->Health().active_folder, kSideB);
}

TEST_F(RegistryCheckTest, FsckRegistryNewestVersionLostOnTheActiveSideIsTakenFromThePassive) {
  ASSERT_TRUE(Set({7}, 1).ok());  // block 0 sequence 1: slot 1
  ASSERT_TRUE(Set({7}, 2).ok());  // sequence 2: slot 0
  registry_.reset();
  // The newest slot rots on A: A reads sequence 1, B has sequence 2.
  ASSERT_TRUE(env_.CorruptByte(BlocksOf(kSideA), SlotOffset(0, 0) + 50).ok());

  auto found = Check(false);
  EXPECT_EQ(Problems(*found, false),
            (std::multiset<std::string>{"registry-sides-differ @ " + Where(kSideA, 0)}));
  ASSERT_EQ(found->listed().size(), 1u);
  EXPECT_NE(found->listed()[0].detail.find("newer slot here is unreadable"), std::string::npos)
      << found->listed()[0].detail;

  auto repaired = Check(true);
  EXPECT_EQ(repaired->repaired(), 1u);
  EXPECT_EQ(Check(false)->left(), 0u);
  ExpectSidesEqual();
  EXPECT_EQ(ReadBlock(kSideA, 0).sequence, 2u);
  Reopen();
  ExpectModel("newest version restored on the active side");
}

TEST_F(RegistryCheckTest, FsckRegistryMissingBlocksFileOnOneSideIsRecreatedFromTheOther) {
  std::vector<LogicalId> ids;
  for (LogicalId id = 0; id < 400; id += 5) ids.push_back(id);  // blocks 0..3
  ASSERT_TRUE(Set(ids, 1).ok());
  registry_.reset();
  ASSERT_TRUE(env_.Unlink(BlocksOf(kSideB)).ok());
  ASSERT_TRUE(env_.SyncDir(kSideB).ok());

  auto found = Check(false);
  EXPECT_EQ(found->found()["registry-block-corrupt"], 4u);
  for (const CheckProblem& p : found->listed()) {
    EXPECT_EQ(p.where.rfind(std::string(kSideB) + " block ", 0), 0u) << p.where;
    EXPECT_NE(p.detail.find("no registry.blocks"), std::string::npos) << p.detail;
  }
  EXPECT_EQ(Check(true)->repaired(), 4u);
  EXPECT_EQ(Check(false)->left(), 0u);
  ExpectSidesEqual();
  // The recreated file survives a power cut.
  env_.Crash();
  ExpectSidesEqual();
  Reopen();
  env_.FailFolder(kSideA, EIO);
  ExpectModel("side B alone after recreating it");
}

TEST_F(RegistryCheckTest, FsckRegistryStaleSideAndBlocksLostOnBothSidesAreOnlyReported) {
  ASSERT_TRUE(Set({1, 200}, 1).ok());  // blocks 0 and 1
  env_.FailFolder(kSideB, EIO);
  ASSERT_TRUE(Set({1}, 2).ok());  // B misses it: stale
  env_.HealFolder(kSideB);
  ASSERT_TRUE(registry_->Health().passive_stale);
  registry_.reset();

  auto stale = Check(true);
  EXPECT_EQ(Problems(*stale, false),
            (std::multiset<std::string>{"registry-side-stale @ " + std::string(kSideB)}));
  EXPECT_EQ(stale->repaired(), 0u);
  EXPECT_EQ(stale->checked()["registry-blocks"], 2u);

  Reopen();
  ASSERT_TRUE(registry_->Reinstate().ok());
  registry_.reset();
  EXPECT_EQ(Check(false)->left(), 0u);

  // Block 1 unreadable on both sides: nothing to repair it from.
  for (const char* side : {kSideA, kSideB}) {
    for (int slot : {0, 1}) ASSERT_TRUE(env_.CorruptByte(BlocksOf(side), SlotOffset(1, slot)).ok());
  }
  const std::multiset<std::string> lost = {"registry-block-corrupt @ " + Where(kSideA, 1),
                                           "registry-block-corrupt @ " + Where(kSideB, 1)};
  auto both = Check(true);
  EXPECT_EQ(Problems(*both, false), lost);
  EXPECT_EQ(both->repaired(), 0u);
  EXPECT_EQ(Problems(*Check(false), false), lost);
}

// A crash at any op of an Apply may leave the sides different (the commit log's replay
// settles that on the next open). Repairing before the replay picks, for each block,
// the version Registry would have read anyway; after the replay the sides agree in
// entries and sequences, so the check is clean.
TEST(RegistryCheckCrashTest, FsckRegistryRepairAfterACrashAtEveryOpAgreesWithWhatRegistryReads) {
  const std::vector<LogicalId> ids = {0, 1, 130, 131};  // blocks 0 and 1
  auto apply = [&](Registry* r, uint64_t version) {
    std::vector<std::pair<LogicalId, RegistryEntry>> updates;
    for (LogicalId id : ids) updates.emplace_back(id, EntryFor(id, version));
    return r->Apply(updates);
  };
  uint64_t found_differences = 0;
  for (uint64_t n = 0;; ++n) {
    ASSERT_LT(n, 500u);
    bool reached = false;
    std::vector<uint64_t> read[2];  // versions of `ids` read without, and after, a repair
    for (int check_first = 0; check_first < 2; ++check_first) {
      FaultEnv env;
      for (const char* side : {kSideA, kSideB}) ASSERT_TRUE(env.MkDirsDurably(side).ok());
      {
        auto r = Registry::Open(&env, kSideA, kSideB);
        ASSERT_TRUE(r.ok()) << r.status().ToString();
        ASSERT_TRUE(apply(r->get(), 1).ok());
        ASSERT_TRUE(apply(r->get(), 2).ok());
        const uint64_t target = env.op_count() + n;
        env.CrashAtOp(target);
        (void)apply(r->get(), 3);
        reached = env.op_count() > target;
      }
      env.Crash();
      if (check_first) {
        CheckReport report;
        ASSERT_TRUE(CheckRegistrySides(&env, kSideA, kSideB, true, &report).ok());
        EXPECT_EQ(report.left(), 0u) << "n=" << n;
        found_differences += report.repaired();
      }
      auto r = Registry::Open(&env, kSideA, kSideB);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      for (LogicalId id : ids) {
        auto e = (*r)->Get(id);
        ASSERT_TRUE(e.ok()) << "n=" << n << " " << e.status().ToString();
        read[check_first].push_back(e->version);
      }
      if (check_first) {
        ASSERT_TRUE(apply(r->get(), 3).ok());  // the replay
        r->reset();
        CheckReport after;
        ASSERT_TRUE(CheckRegistrySides(&env, kSideA, kSideB, false, &after).ok());
        EXPECT_EQ(after.left(), 0u)
            << "n=" << n << ": " << (after.listed().empty() ? "" : after.listed()[0].detail);
      }
    }
    EXPECT_EQ(read[0], read[1]) << "n=" << n;
    if (!reached) break;
  }
  EXPECT_GT(found_differences, 0u);  // some crash points did leave the sides different
}

TEST_F(RegistryCheckTest, FsckRegistryRefusesToGuessTheActiveSideAndSkipsAnUnusedRegistry) {
  ASSERT_TRUE(Set({1}, 1).ok());
  registry_.reset();
  for (const char* side : {kSideA, kSideB}) {
    ASSERT_TRUE(env_.CorruptByte(std::string(side) + "/registry.state", 3).ok());
  }
  auto report = Check(false, EIO);
  EXPECT_EQ(report->left(), 0u);

  // Folders that never held a registry: nothing to check, nothing made.
  CheckReport none;
  ASSERT_TRUE(CheckRegistrySides(&env_, "/vol/none-a", "/vol/none-b", true, &none).ok());
  EXPECT_EQ(none.left(), 0u);
  EXPECT_TRUE(none.checked().empty());
  EXPECT_FALSE(env_.Exists("/vol/none-a"));
}

}  // namespace
}  // namespace sopfs
