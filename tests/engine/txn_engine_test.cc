// The transaction engine end to end on a FaultEnv: commits, snapshots, conflicts,
// value blobs, reopen, and a randomized model test against std::map with reopens.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <thread>
#include <utility>

#include "engine/io/fault_env.h"
#include "tests/engine/engine_test_util.h"

namespace sopfs {
namespace {

using testing::BlobsOnDisk;
using testing::EngineOptionsUnder;
using testing::ReadAll;

class TxnEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_ = EngineOptionsUnder("/vol");
    Reopen();
  }
  void Reopen() {
    engine_.reset();
    auto engine = Engine::Open(&env_, options_);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    engine_ = std::move(*engine);
  }
  // A committed tree holding `items`.
  LogicalId MakeTree(const std::map<std::string, std::string>& items, BtreeOptions opts = {}) {
    auto txn = engine_->Begin();
    Result<LogicalId> root = txn->CreateTree(opts);
    EXPECT_TRUE(root.ok());
    TxnTree* tree = *txn->Tree(*root, opts);
    for (const auto& [k, v] : items) EXPECT_TRUE(tree->Add(k, v).ok());
    Status st = txn->Commit();
    EXPECT_TRUE(st.ok()) << st.ToString();
    return *root;
  }

  FaultEnv env_;
  EngineOptions options_;
  std::unique_ptr<Engine> engine_;
};

TEST_F(TxnEngineTest, TxnCommittedTreeSurvivesReopenAndRollbackLeavesNothing) {
  LogicalId root = MakeTree({{"a", "1"}, {"b", "2"}});
  {
    auto txn = engine_->Begin();
    TxnTree* tree = *txn->Tree(root);
    ASSERT_TRUE(tree->Upsert("c", "3").ok());
    ASSERT_TRUE(tree->Remove("a").ok());
    EXPECT_EQ(*tree->Find("c"), "3");  // its own writes
    txn->Rollback();
    EXPECT_EQ(tree->Find("c").status().code(), EINVAL);  // ended
  }
  Reopen();
  auto txn = engine_->Begin(TxnMode::kReader);
  EXPECT_EQ(ReadAll(*txn, root), (std::map<std::string, std::string>{{"a", "1"}, {"b", "2"}}));
}

TEST_F(TxnEngineTest, TxnReaderSeesItsSnapshotWhileAWriterCommits) {
  LogicalId root = MakeTree({{"k", "old"}});
  auto reader = engine_->Begin(TxnMode::kReader);
  EXPECT_EQ(*(*reader->Tree(root))->Find("k"), "old");
  auto writer = engine_->Begin();
  ASSERT_TRUE((*writer->Tree(root))->Update("k", "new").ok());
  ASSERT_TRUE((*writer->Tree(root))->Add("k2", "x").ok());
  ASSERT_TRUE(writer->Commit().ok());
  ASSERT_TRUE(engine_->Checkpoint().ok());  // even after the registry moved on
  EXPECT_EQ(*(*reader->Tree(root))->Find("k"), "old");
  EXPECT_EQ((*reader->Tree(root))->Find("k2").status().code(), ENOENT);
  EXPECT_EQ(ReadAll(*reader, root).size(), 1u);
  EXPECT_EQ((*reader->Tree(root))->Upsert("z", "z").code(), EROFS);
  EXPECT_TRUE(reader->Commit().ok());
  auto later = engine_->Begin(TxnMode::kReader);
  EXPECT_EQ(*(*later->Tree(root))->Find("k"), "new");
}

TEST_F(TxnEngineTest, TxnSameKeyTwiceExactlyOneCommitsAndTheOtherNamesTheKey) {
  LogicalId root = MakeTree({{"acct", "100"}, {"other", "1"}});
  auto t1 = engine_->Begin();
  auto t2 = engine_->Begin();
  // Blind writes of the same value still conflict: versions, not values, are compared.
  ASSERT_TRUE((*t1->Tree(root))->Upsert("acct", "same").ok());
  ASSERT_TRUE((*t2->Tree(root))->Upsert("acct", "same").ok());
  ASSERT_TRUE((*t2->Tree(root))->Upsert("other", "t2 was here").ok());
  ASSERT_TRUE(t1->Commit().ok());
  Status st = t2->Commit();
  EXPECT_EQ(st.code(), kConflictErrno) << st.ToString();
  EXPECT_NE(st.message().find("\"acct\""), std::string::npos) << st.message();
  auto check = engine_->Begin(TxnMode::kReader);
  EXPECT_EQ(ReadAll(*check, root),
            (std::map<std::string, std::string>{{"acct", "same"}, {"other", "1"}}));
  EXPECT_EQ(engine_->Stats().conflicts, 1u);
}

TEST_F(TxnEngineTest, TxnDisjointKeysInOneNodeBothCommit) {
  LogicalId root = MakeTree({{"a", "0"}, {"b", "0"}, {"c", "0"}});  // one leaf
  auto t1 = engine_->Begin();
  auto t2 = engine_->Begin();
  ASSERT_TRUE((*t1->Tree(root))->Update("a", "t1").ok());
  ASSERT_TRUE((*t2->Tree(root))->Update("c", "t2").ok());
  ASSERT_TRUE((*t2->Tree(root))->Add("d", "t2").ok());
  EXPECT_EQ(*(*t2->Tree(root))->Find("b"), "0");
  ASSERT_TRUE(t1->Commit().ok());
  Status st = t2->Commit();
  ASSERT_TRUE(st.ok()) << st.ToString();
  Reopen();
  auto check = engine_->Begin(TxnMode::kReader);
  EXPECT_EQ(ReadAll(*check, root), (std::map<std::string, std::string>{
                                       {"a", "t1"}, {"b", "0"}, {"c", "t2"}, {"d", "t2"}}));
}

TEST_F(TxnEngineTest, TxnReadKeyChangedByAnotherCommitIsAConflict) {
  LogicalId root = MakeTree({{"x", "1"}, {"y", "1"}});
  auto t1 = engine_->Begin();
  EXPECT_EQ(*(*t1->Tree(root))->Find("x"), "1");  // reads x, writes y
  ASSERT_TRUE((*t1->Tree(root))->Update("y", "2").ok());
  auto t2 = engine_->Begin();
  ASSERT_TRUE((*t2->Tree(root))->Update("x", "9").ok());
  ASSERT_TRUE(t2->Commit().ok());
  EXPECT_EQ(t1->Commit().code(), kConflictErrno);
}

TEST_F(TxnEngineTest, TxnConflictNamesTheTreeAndKeyThatChanged) {
  LogicalId root = MakeTree({{"x", "1"}, {"y", "1"}});
  auto t1 = engine_->Begin();
  EXPECT_EQ(*(*t1->Tree(root))->Find("x"), "1");
  ASSERT_TRUE((*t1->Tree(root))->Update("y", "2").ok());
  auto t2 = engine_->Begin();
  ASSERT_TRUE((*t2->Tree(root))->Update("x", "9").ok());
  ASSERT_TRUE(t2->Commit().ok());
  EXPECT_FALSE(t2->conflict().has_value());
  ASSERT_EQ(t1->Commit().code(), kConflictErrno);
  ASSERT_TRUE(t1->conflict().has_value());
  EXPECT_EQ(t1->conflict()->tree, root);
  EXPECT_EQ(t1->conflict()->key, "x");
}

TEST_F(TxnEngineTest, TxnUnwatchedKeyIsWrittenBlindlyWithoutAConflict) {
  LogicalId root = MakeTree({{"dir", "old"}, {"file", "1"}});
  auto t1 = engine_->Begin();
  EXPECT_EQ(*(*t1->Tree(root))->Find("dir"), "old");
  ASSERT_TRUE((*t1->Tree(root))->Upsert("dir", "merged").ok());
  (*t1->Tree(root))->Unwatch("dir");
  ASSERT_TRUE((*t1->Tree(root))->Update("file", "2").ok());
  auto t2 = engine_->Begin();
  ASSERT_TRUE((*t2->Tree(root))->Update("dir", "other").ok());
  ASSERT_TRUE(t2->Commit().ok());
  Status st = t1->Commit();
  ASSERT_TRUE(st.ok()) << st.ToString();
  auto check = engine_->Begin(TxnMode::kReader);
  EXPECT_EQ(ReadAll(*check, root),
            (std::map<std::string, std::string>{{"dir", "merged"}, {"file", "2"}}));
}

TEST_F(TxnEngineTest, TxnRangeScannedByACursorIsCheckedForPhantoms) {
  LogicalId root = MakeTree({{"a", "1"}, {"c", "1"}});
  auto t1 = engine_->Begin();
  EXPECT_EQ(ReadAll(*t1, root).size(), 2u);
  ASSERT_TRUE((*t1->Tree(root))->Upsert("sum", "2").ok());
  auto t2 = engine_->Begin();
  ASSERT_TRUE((*t2->Tree(root))->Add("b", "1").ok());  // a phantom in t1's range
  ASSERT_TRUE(t2->Commit().ok());
  EXPECT_EQ(t1->Commit().code(), kConflictErrno);
}

TEST_F(TxnEngineTest, TxnRangeOfATreeWithRangeChecksOffIsNotAConflict) {
  LogicalId root = MakeTree({{"a", "1"}, {"c", "1"}});
  auto t1 = engine_->Begin();
  (*t1->Tree(root))->CheckRanges(false);
  EXPECT_EQ(ReadAll(*t1, root).size(), 2u);
  ASSERT_TRUE((*t1->Tree(root))->Upsert("sum", "2").ok());
  auto t2 = engine_->Begin();
  ASSERT_TRUE((*t2->Tree(root))->Add("b", "1").ok());
  ASSERT_TRUE(t2->Commit().ok());
  Status st = t1->Commit();
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(TxnEngineTest, TxnNoCheckModeLetsTheLastWriterWin) {
  LogicalId root = MakeTree({{"k", "0"}});
  auto t1 = engine_->Begin(TxnMode::kNoCheck);
  auto t2 = engine_->Begin(TxnMode::kNoCheck);
  ASSERT_TRUE((*t1->Tree(root))->Upsert("k", "1").ok());
  ASSERT_TRUE((*t2->Tree(root))->Upsert("k", "2").ok());
  ASSERT_TRUE(t1->Commit().ok());
  ASSERT_TRUE(t2->Commit().ok());
  auto check = engine_->Begin(TxnMode::kReader);
  EXPECT_EQ(*(*check->Tree(root))->Find("k"), "2");
}

TEST_F(TxnEngineTest, TxnManyTreesCommitTogetherOrNotAtAll) {
  LogicalId a = MakeTree({{"k", "a0"}});
  LogicalId b = MakeTree({{"k", "b0"}});
  auto t1 = engine_->Begin();
  ASSERT_TRUE((*t1->Tree(a))->Update("k", "a1").ok());
  ASSERT_TRUE((*t1->Tree(b))->Update("k", "b1").ok());
  auto t2 = engine_->Begin();
  ASSERT_TRUE((*t2->Tree(b))->Update("k", "b2").ok());
  ASSERT_TRUE(t2->Commit().ok());
  EXPECT_EQ(t1->Commit().code(), kConflictErrno);  // b conflicts: a must stay a0 too
  auto check = engine_->Begin(TxnMode::kReader);
  EXPECT_EQ(*(*check->Tree(a))->Find("k"), "a0");
  EXPECT_EQ(*(*check->Tree(b))->Find("k"), "b2");
}

TEST_F(TxnEngineTest, TxnBigValuesLiveInBlobsAndNoBlobLeaks) {
  BtreeOptions opts;
  opts.value_blob_threshold = 100;
  const std::string big(5000, 'v');
  LogicalId root = MakeTree({{"small", "s"}, {"big", big}}, opts);
  {
    auto txn = engine_->Begin();
    TxnTree* tree = *txn->Tree(root, opts);
    ASSERT_TRUE(tree->Update("big", big + "2").ok());
    ASSERT_TRUE(tree->Update("big", big + "3").ok());  // the first staged value is unused
    ASSERT_TRUE(tree->Add("big2", big + "x").ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  {
    auto txn = engine_->Begin();
    ASSERT_TRUE((*txn->Tree(root, opts))->Upsert("big3", big).ok());
    txn->Rollback();
  }
  ASSERT_TRUE(engine_->Checkpoint().ok());
  auto referenced = engine_->ReferencedBlobs();
  ASSERT_TRUE(referenced.ok());
  EXPECT_EQ(BlobsOnDisk(&env_, options_), *referenced);
  EXPECT_EQ(referenced->size(), 3u);  // the root leaf, big, big2
  Reopen();
  auto check = engine_->Begin(TxnMode::kReader);
  EXPECT_EQ(ReadAll(*check, root, opts),
            (std::map<std::string, std::string>{
                {"big", big + "3"}, {"big2", big + "x"}, {"small", "s"}}));
}

TEST_F(TxnEngineTest, TxnBadCallsFailCleanly) {
  auto txn = engine_->Begin();
  EXPECT_EQ(txn->Tree(12345).status().code(), ENOENT);
  LogicalId root = *txn->CreateTree();
  TxnTree* tree = *txn->Tree(root);
  EXPECT_EQ(tree->Add(std::string(5000, 'k'), "v").code(), EINVAL);
  EXPECT_EQ(tree->Update("nope", "v").code(), ENOENT);
  EXPECT_EQ(tree->Remove("nope").code(), ENOENT);
  ASSERT_TRUE(tree->Add("k", "v").ok());
  EXPECT_EQ(tree->Add("k", "v").code(), EEXIST);
  EXPECT_FALSE(*tree->AddIfNotExist("k", "w"));
  BtreeOptions other;
  other.slot_length = 8;
  EXPECT_EQ(txn->Tree(root, other).status().code(), EINVAL);
  ASSERT_TRUE(txn->Commit().ok());
  EXPECT_EQ(txn->Commit().code(), EINVAL);
}

TEST_F(TxnEngineTest, TxnReadOfAnAbsentKeyConflictsWithACommitThatAddsIt) {
  LogicalId root = MakeTree({{"a", "1"}});
  auto t1 = engine_->Begin();
  EXPECT_EQ((*t1->Tree(root))->Find("b").status().code(), ENOENT);  // t1 relies on "no b"
  ASSERT_TRUE((*t1->Tree(root))->Update("a", "b is absent").ok());
  auto t2 = engine_->Begin();
  ASSERT_TRUE((*t2->Tree(root))->Add("b", "2").ok());
  ASSERT_TRUE(t2->Commit().ok());
  EXPECT_EQ(t1->Commit().code(), kConflictErrno);
  // Two transactions adding the same new key: the second must not overwrite the first.
  auto t3 = engine_->Begin();
  auto t4 = engine_->Begin();
  ASSERT_TRUE((*t3->Tree(root))->Add("c", "t3").ok());
  ASSERT_TRUE((*t4->Tree(root))->Add("c", "t4").ok());
  ASSERT_TRUE(t3->Commit().ok());
  EXPECT_EQ(t4->Commit().code(), kConflictErrno);
  auto check = engine_->Begin(TxnMode::kReader);
  EXPECT_EQ(ReadAll(*check, root),
            (std::map<std::string, std::string>{{"a", "1"}, {"b", "2"}, {"c", "t3"}}));
}

TEST_F(TxnEngineTest, TxnWriteSkewBetweenTwoWritersIsRefused) {
  // Each reads both keys and moves one; together they would break "x + y >= 0".
  LogicalId root = MakeTree({{"x", "50"}, {"y", "50"}});
  auto t1 = engine_->Begin();
  auto t2 = engine_->Begin();
  for (Transaction* t : {t1.get(), t2.get()}) {
    EXPECT_EQ(*(*t->Tree(root))->Find("x"), "50");
    EXPECT_EQ(*(*t->Tree(root))->Find("y"), "50");
  }
  ASSERT_TRUE((*t1->Tree(root))->Update("x", "-90").ok());
  ASSERT_TRUE((*t2->Tree(root))->Update("y", "-90").ok());
  ASSERT_TRUE(t2->Commit().ok());
  EXPECT_EQ(t1->Commit().code(), kConflictErrno);
}

// A snapshot taken before a commit keeps reading the node and value blobs that commit
// replaced, through checkpoints, until it ends; no cache hides a blob removed too early.
TEST_F(TxnEngineTest, TxnSnapshotReadsReplacedBlobsAfterCheckpointsWithNoCache) {
  options_.cache_bytes = 0;
  Reopen();
  BtreeOptions opts;
  opts.slot_length = 4;
  opts.value_blob_threshold = 100;
  std::map<std::string, std::string> before;
  for (int i = 0; i < 20; ++i) before["k" + std::to_string(10 + i)] = "v" + std::to_string(i);
  before["big"] = std::string(500, 'a');
  LogicalId root = MakeTree(before, opts);
  ASSERT_TRUE(engine_->Checkpoint().ok());
  auto reader = engine_->Begin(TxnMode::kReader);  // has read nothing yet
  std::map<std::string, std::string> after = before;
  {
    auto txn = engine_->Begin();
    TxnTree* tree = *txn->Tree(root, opts);
    for (int i = 0; i < 20; i += 2) {
      const std::string key = "k" + std::to_string(10 + i);
      ASSERT_TRUE(tree->Remove(key).ok());
      after.erase(key);
    }
    ASSERT_TRUE(tree->Update("big", std::string(500, 'b')).ok());
    after["big"] = std::string(500, 'b');
    ASSERT_TRUE(txn->Commit().ok());
  }
  ASSERT_TRUE(engine_->Checkpoint().ok());
  ASSERT_TRUE(engine_->Checkpoint().ok());  // what the reader needs is kept again
  EXPECT_EQ(ReadAll(*reader, root, opts), before);
  {
    auto later = engine_->Begin(TxnMode::kReader);
    EXPECT_EQ(ReadAll(*later, root, opts), after);
  }
  reader.reset();
  ASSERT_TRUE(engine_->Checkpoint().ok());
  EXPECT_EQ(BlobsOnDisk(&env_, options_), *engine_->ReferencedBlobs());
}

// A checkpoint keeps the blobs a commit freed while a snapshot can still see them, and
// says until when; once that snapshot ends, the next checkpoint removes them all.
TEST_F(TxnEngineTest, TxnCheckpointSaysUntilWhenItKeepsFreedBlobsForAnOpenSnapshot) {
  BtreeOptions opts;
  opts.value_blob_threshold = 100;
  LogicalId root = MakeTree({{"big", std::string(500, 'a')}}, opts);
  ASSERT_TRUE(engine_->Checkpoint().ok());
  EXPECT_EQ(engine_->held_frees_seq(), 0u);
  auto reader = engine_->Begin(TxnMode::kReader);
  auto other = engine_->Begin(TxnMode::kReader);
  {
    auto txn = engine_->Begin();
    ASSERT_TRUE((*txn->Tree(root, opts))->Remove("big").ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  ASSERT_TRUE(testing::WaitUntilWritten(*engine_));  // what the commit record carried
  const std::set<BlobId> before = BlobsOnDisk(&env_, options_);
  ASSERT_TRUE(engine_->Checkpoint().ok());
  const uint64_t held = engine_->held_frees_seq();
  ASSERT_NE(held, 0u) << "the readers still see the value blob: it must be kept";
  EXPECT_EQ(BlobsOnDisk(&env_, options_), before);
  EXPECT_FALSE(engine_->frees_removable(held));
  reader.reset();
  EXPECT_FALSE(engine_->frees_removable(held)) << "one reader is still open";
  other.reset();
  EXPECT_TRUE(engine_->frees_removable(held));
  ASSERT_TRUE(engine_->Checkpoint().ok());
  EXPECT_EQ(engine_->held_frees_seq(), 0u);
  EXPECT_EQ(BlobsOnDisk(&env_, options_), *engine_->ReferencedBlobs());
  EXPECT_LT(BlobsOnDisk(&env_, options_).size(), before.size());
}

// Item versions are commit stamps. They must keep growing across a reopen (clean, or
// after a crash): were they to start over, a key rewritten after the reopen could carry
// the very version a transaction read, and its lost update would go unnoticed.
TEST_F(TxnEngineTest, TxnStampsKeepGrowingAcrossReopenSoAStaleReadStillConflicts) {
  for (bool crash : {false, true}) {
    SCOPED_TRACE(crash ? "reopened after a crash" : "reopened after a clean close");
    options_ = EngineOptionsUnder(crash ? "/vol-crash" : "/vol-clean");
    options_.checkpoint_on_close = !crash;
    Reopen();
    // Three commits (stamps 1, 2, 3 of a new volume) write "k".
    LogicalId root = MakeTree({{"k", "0"}, {"sum", "0"}});
    for (int i = 1; i <= 2; ++i) {
      auto txn = engine_->Begin();
      ASSERT_TRUE((*txn->Tree(root))->Update("k", std::to_string(i)).ok());
      ASSERT_TRUE(txn->Commit().ok());
    }
    if (crash) {
      engine_.reset();
      env_.Crash();
    }
    Reopen();
    auto stale = engine_->Begin();
    EXPECT_EQ(*(*stale->Tree(root))->Find("k"), "2");
    ASSERT_TRUE((*stale->Tree(root))->Update("sum", "k was 2").ok());
    // Three more commits of "k": with stamps started over, the last would be stamp 3.
    for (int i = 3; i <= 5; ++i) {
      auto txn = engine_->Begin();
      ASSERT_TRUE((*txn->Tree(root))->Update("k", std::to_string(i)).ok());
      ASSERT_TRUE(txn->Commit().ok());
    }
    EXPECT_EQ(stale->Commit().code(), kConflictErrno);
    auto check = engine_->Begin(TxnMode::kReader);
    EXPECT_EQ(ReadAll(*check, root),
              (std::map<std::string, std::string>{{"k", "5"}, {"sum", "0"}}));
  }
}

// Discard (a rollback, or a staged value replaced) takes no gate, so it may run while a
// checkpoint removes blobs or resets the log: the blobs it hands back must still be
// removed, by a later checkpoint or by recovery after a crash.
class HookEnv : public FaultEnv {
 public:
  std::function<void()> on_unlink;     // once, at the next Unlink
  std::function<void()> on_log_reset;  // once, when a new commit log is renamed into place
  Status Unlink(const std::string& path) override {
    if (auto hook = std::exchange(on_unlink, nullptr)) hook();
    return FaultEnv::Unlink(path);
  }
  Status Rename(const std::string& from, const std::string& to) override {
    if (from.find("commit.log") != std::string::npos) {
      if (auto hook = std::exchange(on_log_reset, nullptr)) hook();
    }
    return FaultEnv::Rename(from, to);
  }
};

TEST(TxnDiscardDuringCheckpointTest, TxnRollbackDuringACheckpointLeaksNoBlob) {
  for (bool at_log_reset : {false, true}) {
    for (bool crash : {false, true}) {
      const std::string when = at_log_reset ? "at the log reset" : "at a blob removal";
      SCOPED_TRACE("rollback " + when + (crash ? ", then a crash" : ", then a checkpoint"));
      HookEnv env;
      EngineOptions options = EngineOptionsUnder("/vol");
      options.checkpoint_on_close = false;
      BtreeOptions opts;
      opts.value_blob_threshold = 10;
      {
        auto engine = Engine::Open(&env, options);
        ASSERT_TRUE(engine.ok());
        LogicalId root;
        {
          auto txn = (*engine)->Begin();
          root = *txn->CreateTree(opts);
          ASSERT_TRUE((*txn->Tree(root, opts))->Add("k", std::string(100, 'a')).ok());
          ASSERT_TRUE(txn->Commit().ok());
        }
        {
          auto txn = (*engine)->Begin();  // leaves garbage for the checkpoint to remove
          ASSERT_TRUE((*txn->Tree(root, opts))->Update("k", std::string(100, 'b')).ok());
          ASSERT_TRUE(txn->Commit().ok());
        }
        auto doomed = (*engine)->Begin();  // stages a value blob, then rolls back midway
        ASSERT_TRUE((*doomed->Tree(root, opts))->Upsert("x", std::string(100, 'x')).ok());
        // Another thread rolls back while the checkpoint is at that point.
        (at_log_reset ? env.on_log_reset : env.on_unlink) = [&] {
          std::thread([&] { doomed->Rollback(); }).join();
        };
        ASSERT_TRUE((*engine)->Checkpoint().ok());
        EXPECT_FALSE(doomed->open());
        if (!crash) {
          ASSERT_TRUE((*engine)->Checkpoint().ok());
          EXPECT_EQ(BlobsOnDisk(&env, options), *(*engine)->ReferencedBlobs());
          continue;
        }
      }
      env.Crash();
      auto engine = Engine::Open(&env, options);
      ASSERT_TRUE(engine.ok());
      EXPECT_EQ(BlobsOnDisk(&env, options), *(*engine)->ReferencedBlobs());
    }
  }
}

// Random transactions over three trees (commit or roll back, some reopened), checked
// against a std::map model after every transaction, across node sizes.
class TxnModelTest : public TxnEngineTest, public ::testing::WithParamInterface<int> {};

TEST_P(TxnModelTest, RandomTransactionsMatchAModelAcrossReopens) {
  BtreeOptions opts;
  opts.slot_length = GetParam();
  opts.value_blob_threshold = 200;
  std::mt19937 rng(GetParam());
  std::vector<LogicalId> roots;
  std::vector<std::map<std::string, std::string>> model(3);
  for (int i = 0; i < 3; ++i) roots.push_back(MakeTree({}, opts));
  for (int round = 0; round < 60; ++round) {
    auto txn = engine_->Begin();
    auto pending = model;
    const int ops = 1 + static_cast<int>(rng() % 40);
    for (int i = 0; i < ops; ++i) {
      const int t = static_cast<int>(rng() % 3);
      TxnTree* tree = *txn->Tree(roots[t], opts);
      const std::string key = "key" + std::to_string(rng() % 300);
      const std::string value =
          std::string(rng() % 4 == 0 ? 300 : 5, 'a' + rng() % 26) + std::to_string(round);
      if (rng() % 3 == 0) {
        Status st = tree->Remove(key);
        EXPECT_EQ(st.ok(), pending[t].erase(key) == 1) << st.ToString();
      } else {
        ASSERT_TRUE(tree->Upsert(key, value).ok());
        pending[t][key] = value;
      }
      if (rng() % 10 == 0) {
        auto found = tree->Find(key);
        auto want = pending[t].find(key);
        EXPECT_EQ(found.ok(), want != pending[t].end());
        if (found.ok() && want != pending[t].end()) {
          EXPECT_EQ(*found, want->second);
        }
      }
    }
    for (int t = 0; t < 3; ++t) ASSERT_EQ(ReadAll(*txn, roots[t], opts), pending[t]);
    if (rng() % 4 == 0) {
      txn->Rollback();
    } else {
      Status st = txn->Commit();
      ASSERT_TRUE(st.ok()) << st.ToString();
      model = pending;
    }
    txn.reset();
    if (rng() % 8 == 0) Reopen();
    auto check = engine_->Begin(TxnMode::kReader);
    for (int t = 0; t < 3; ++t) ASSERT_EQ(ReadAll(*check, roots[t], opts), model[t]) << round;
  }
  ASSERT_TRUE(engine_->Checkpoint().ok());
  EXPECT_EQ(BlobsOnDisk(&env_, options_), *engine_->ReferencedBlobs());
}

INSTANTIATE_TEST_SUITE_P(SlotLengths, TxnModelTest, ::testing::Values(4, 16, 500));

}  // namespace
}  // namespace sopfs
