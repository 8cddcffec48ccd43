// Node segment reference counts come with the log (engine/txn/segment_refs.h): after a
// clean close, a crash, a crash at any op of a checkpoint or of a recovery, the counts
// the engine opens with equal a full count of the registry, and the registry is never
// read whole to get them (unless the log is an older one, without counts).
#include <gtest/gtest.h>

#include "engine/io/fault_env.h"
#include "engine/txn/commit_log.h"
#include "engine/txn/segment_refs.h"
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
  opts.slot_length = 4;  // many nodes, splits and merges from a few dozen keys
  opts.value_blob_threshold = 64;
  return opts;
}

BlobId Blob(uint64_t n) { return BlobId{n, n * 7}; }

TxnRecord Carry() {
  TxnRecord rec;
  rec.kind = TxnRecord::Kind::kCarry;
  return rec;
}

// Commits `rounds` transactions that add, replace and remove keys (new node versions
// into new segments, old ones released); returns the items the tree holds after them.
Items Churn(Engine& engine, LogicalId root, int rounds, int seed, Items items) {
  for (int r = 0; r < rounds; ++r) {
    auto txn = engine.Begin();
    TxnTree* tree = *txn->Tree(root, SmallNodes());
    for (int i = 0; i < 12; ++i) {
      const std::string key = "k" + std::to_string((seed * 31 + r * 7 + i * 13) % 60);
      if (items.count(key) && (r + i) % 3 == 0) {
        EXPECT_TRUE(tree->Remove(key).ok());
        items.erase(key);
      } else {
        const std::string value = std::string((r + i) % 5 == 0 ? 100 : 3, 'a' + (r % 26));
        EXPECT_TRUE((items.count(key) ? tree->Update(key, value) : tree->Add(key, value)).ok());
        items[key] = value;
      }
    }
    EXPECT_TRUE(txn->Commit().ok());
  }
  return items;
}

LogicalId NewTree(Engine& engine) {
  auto txn = engine.Begin();
  const LogicalId root = *txn->CreateTree(SmallNodes());
  EXPECT_TRUE(txn->Commit().ok());
  return root;
}

// Opened again: the counts are the registry's, the items are there, no blob is stray.
void ExpectSound(FaultEnv& env, const EngineOptions& options, LogicalId root, const Items& items,
                 const std::string& when) {
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok()) << when << ": " << engine.status().ToString();
  EXPECT_FALSE((*engine)->recovery().segment_refs_counted) << when;
  Status verified = (*engine)->VerifySegmentRefs();
  EXPECT_TRUE(verified.ok()) << when << ": " << verified.ToString();
  auto txn = (*engine)->Begin(TxnMode::kReader);
  EXPECT_EQ(ReadAll(*txn, root, SmallNodes()), items) << when;
  txn.reset();
  EXPECT_EQ(BlobsOnDisk(&env, options), *(*engine)->ReferencedBlobs()) << when;
}

TEST(SegmentRefsTest, SegmentRefsRecordRoundTripsAndABadPartIsRefused) {
  TxnRecord rec;
  rec.kind = TxnRecord::Kind::kSegmentRefs;
  rec.part = 1;
  rec.parts = 3;
  rec.segment_refs = {{Blob(1), 5}, {Blob(2), 1}};
  Result<TxnRecord> back = TxnRecord::Decode(rec.Encode());
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, rec);
  rec.part = 3;  // not below parts
  EXPECT_EQ(TxnRecord::Decode(rec.Encode()).status().code(), EIO);
  // Other kinds carry no counts: their encoding is as before.
  TxnRecord carry;
  carry.kind = TxnRecord::Kind::kCarry;
  carry.next_id = 9;
  std::string bytes = carry.Encode();
  EXPECT_TRUE(TxnRecord::Decode(bytes).ok());
  bytes.append(12, '\0');
  EXPECT_EQ(TxnRecord::Decode(bytes).status().code(), EIO);
}

TEST(SegmentRefsTest, SegmentRefsReplayAddsCommitsToTheCarriedCounts) {
  SegmentRefs carried{{Blob(1), 2}, {Blob(2), 1}};
  SegmentRefsReplay replay;
  replay.Add(Carry(), false);
  for (const std::string& bytes : EncodeSegmentRefs(carried)) {
    replay.Add(*TxnRecord::Decode(bytes), false);
  }
  TxnRecord commit;
  commit.kind = TxnRecord::Kind::kCommit;
  const uint32_t in_segment = RegistryEntry::kInUse | RegistryEntry::kInSegment;
  commit.updates = {{10, RegistryEntry{Blob(3), 2, in_segment, 0}},
                    {11, RegistryEntry{Blob(3), 2, in_segment, 1}},
                    {12, RegistryEntry{Blob(4), 1, RegistryEntry::kInUse, 0}},  // a value
                    {13, RegistryEntry{BlobId{}, 3, 0, 0}}};                    // freed
  commit.released = {Blob(1), Blob(2), Blob(1)};
  replay.Add(commit, true);
  TxnRecord refused = commit;
  refused.released = {Blob(99)};  // a refused commit changes nothing
  replay.Add(refused, false);
  std::string why;
  std::optional<SegmentRefs> refs = replay.Result(&why);
  ASSERT_TRUE(refs.has_value()) << why;
  EXPECT_EQ(*refs, (SegmentRefs{{Blob(3), 2}}));

  // A release of a segment the counts do not know: the records do not add up.
  replay.Add(refused, true);
  EXPECT_FALSE(replay.Result(&why).has_value());
  EXPECT_NE(why.find("released"), std::string::npos) << why;
  // No counts carried (a log written before they existed).
  SegmentRefsReplay old;
  old.Add(Carry(), false);
  old.Add(commit, true);
  EXPECT_FALSE(old.Result(&why).has_value());
  // Counts after a commit are out of place.
  SegmentRefsReplay late;
  late.Add(commit, true);
  late.Add(*TxnRecord::Decode(EncodeSegmentRefs(carried)[0]), false);
  EXPECT_FALSE(late.Result(&why).has_value());
  // No segment at all is still a count: one empty part.
  ASSERT_EQ(EncodeSegmentRefs({}).size(), 1u);
  SegmentRefsReplay empty;
  empty.Add(*TxnRecord::Decode(EncodeSegmentRefs({})[0]), false);
  EXPECT_TRUE(empty.Result(&why).has_value());
}

TEST(SegmentRefsTest, SegmentRefsAfterACleanCloseAndAfterACrashEqualAFullCount) {
  FaultEnv env;
  EngineOptions options = EngineOptionsUnder("/vol");
  LogicalId root = 0;
  Items items;
  {
    auto engine = Engine::Open(&env, options);
    ASSERT_TRUE(engine.ok());
    root = NewTree(**engine);
    items = Churn(**engine, root, 30, 1, items);
    EXPECT_TRUE((*engine)->VerifySegmentRefs().ok());
  }
  ExpectSound(env, options, root, items, "after a clean close");
  options.checkpoint_on_close = false;
  {
    auto engine = Engine::Open(&env, options);
    ASSERT_TRUE(engine.ok());
    items = Churn(**engine, root, 10, 2, items);
    ASSERT_TRUE((*engine)->Checkpoint().ok());
    items = Churn(**engine, root, 7, 3, items);  // the log's tail
  }
  env.Crash();
  {
    auto engine = Engine::Open(&env, options);
    ASSERT_TRUE(engine.ok());
    EXPECT_EQ((*engine)->recovery().commits_replayed, 7u);
  }
  ExpectSound(env, options, root, items, "after a crash");
}

TEST(SegmentRefsTest, SegmentRefsSurviveACrashAtEveryOpOfACheckpoint) {
  uint64_t n = 0;
  for (;; ++n) {
    FaultEnv env;
    EngineOptions options = EngineOptionsUnder("/vol");
    options.checkpoint_on_close = false;
    options.checkpoint_commits = 1000;
    LogicalId root = 0;
    Items items;
    uint64_t crash_at = 0;
    {
      auto engine = Engine::Open(&env, options);
      ASSERT_TRUE(engine.ok());
      root = NewTree(**engine);
      items = Churn(**engine, root, 8, 4, items);
      ASSERT_TRUE((*engine)->Checkpoint().ok());
      items = Churn(**engine, root, 8, 5, items);
      crash_at = env.op_count() + n;
      env.CrashAtOp(crash_at);
      (void)(*engine)->Checkpoint();
    }
    const bool crashed = env.op_count() > crash_at;
    env.Crash();
    ExpectSound(env, options, root, items, "crash at op " + std::to_string(n));
    if (::testing::Test::HasFailure() || !crashed) break;
  }
  EXPECT_GT(n, 10u);  // the checkpoint did many operations (registry, removals, log)
}

TEST(SegmentRefsTest, SegmentRefsSurviveACrashAtEveryOpOfARecovery) {
  uint64_t n = 0;
  for (;; ++n) {
    FaultEnv env;
    EngineOptions options = EngineOptionsUnder("/vol");
    options.checkpoint_on_close = false;
    LogicalId root = 0;
    Items items;
    {
      auto engine = Engine::Open(&env, options);
      ASSERT_TRUE(engine.ok());
      root = NewTree(**engine);
      items = Churn(**engine, root, 6, 6, items);
    }
    env.Crash();
    const uint64_t crash_at = env.op_count() + n;
    env.CrashAtOp(crash_at);
    { auto engine = Engine::Open(&env, options); }
    const bool crashed = env.op_count() > crash_at;
    env.Crash();
    ExpectSound(env, options, root, items, "crash at op " + std::to_string(n));
    if (::testing::Test::HasFailure() || !crashed) break;
  }
  EXPECT_GT(n, 10u);
}

TEST(SegmentRefsTest, SegmentRefsAreCountedOnceFromALogThatCarriesNone) {
  FaultEnv env;
  EngineOptions options = EngineOptionsUnder("/vol");
  LogicalId root = 0;
  Items items;
  {
    auto engine = Engine::Open(&env, options);
    ASSERT_TRUE(engine.ok());
    root = NewTree(**engine);
    items = Churn(**engine, root, 10, 7, items);
  }
  {
    // The log as a volume written before the counts existed has it: the carry alone.
    auto log = CommitLog::Open(&env, options.log_folder);
    ASSERT_TRUE(log.ok());
    std::vector<std::string> carry_only;
    for (const CommitRecord& raw : (*log)->recovered()) {
      if (TxnRecord::Decode(raw.payload)->kind == TxnRecord::Kind::kCarry) {
        carry_only.push_back(raw.payload);
      }
    }
    ASSERT_EQ(carry_only.size(), 1u);
    ASSERT_EQ((*log)->recovered().size(), 2u);  // the carry and one part of counts
    ASSERT_TRUE((*log)->Reset(carry_only).ok());
  }
  {
    auto engine = Engine::Open(&env, options);
    ASSERT_TRUE(engine.ok());
    EXPECT_TRUE((*engine)->recovery().segment_refs_counted);
    EXPECT_TRUE((*engine)->VerifySegmentRefs().ok());
  }
  ExpectSound(env, options, root, items, "after the counted open");
}

}  // namespace
}  // namespace sopfs
