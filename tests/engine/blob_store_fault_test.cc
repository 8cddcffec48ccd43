// BlobStore under faults (FaultEnv): EIO and ENOSPC at every I/O position of a write,
// "crash now" at every position of a write and of a repair, full disks, short writes,
// silent bit flips, vanished, failing, read-only and replaced folders.
#include "tests/engine/blob_fault_fixture.h"

namespace sopfs::testing {
namespace {

TEST_F(BlobFaultTest, BlobPutOverAnExistingIdFailsAndKeepsTheOldBlob) {
  const ErasureLayout layout{4, 2};
  const BlobId id = BlobId::Random();
  const auto data = PatternBytes(10000, 5);
  ASSERT_TRUE(store_->Put(id, layout, data).ok());
  Status st = store_->Put(id, layout, PatternBytes(10000, 6));
  EXPECT_EQ(st.code(), EEXIST) << st.ToString();
  auto back = store_->Get(id, layout);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == data);
  // A shard that exists already is the caller's mistake, not a failing folder.
  for (int f = 0; f < kFolders; ++f) EXPECT_FALSE(store_->FolderFailing(f)) << "folder " << f;
}

TEST_F(BlobFaultTest, BlobWriteToReadOnlyFoldersFailsWithErofs) {
  for (const std::string& f : folders_) env_->FailFolder(f, EROFS);
  BlobWriteReport report;
  Status st = store_->Put(BlobId::Random(), {4, 2}, PatternBytes(1000, 7), &report);
  EXPECT_EQ(st.code(), EROFS) << st.ToString();
  EXPECT_EQ(report.failed_shards.size(), 6u);
  // A bad layout is refused up front, report or not.
  EXPECT_EQ(store_->Put(BlobId::Random(), {0, 1}, PatternBytes(10, 1), &report).code(), EINVAL);
  EXPECT_TRUE(report.failed_shards.empty());
}

TEST_F(BlobFaultTest, ShardFolderReplacedByAnEmptyOneIsRefilledByPutAndRepair) {
  const ErasureLayout layout{4, 2};
  std::vector<std::pair<BlobId, std::vector<uint8_t>>> blobs;
  for (int i = 0; i < 12; ++i) {
    blobs.emplace_back(BlobId::Random(), PatternBytes(4000 + i, 200 + i));
    ASSERT_TRUE(store_->Put(blobs.back().first, layout, blobs.back().second).ok());
  }
  // A drive dies and is replaced by an empty one, while the store keeps running.
  env_->VanishFolder(folders_[2]);
  ASSERT_TRUE(env_->MkDir(folders_[2]).ok());
  ASSERT_TRUE(env_->SyncDir("/vol").ok());
  for (const auto& [id, data] : blobs) {
    auto repair = store_->Repair(id, layout);
    ASSERT_TRUE(repair.ok()) << repair.status().ToString();
    BlobReadReport report;
    auto back = store_->Get(id, layout, &report);
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(*back == data);
    EXPECT_TRUE(report.bad_shards.empty());
  }
  for (int i = 0; i < 12; ++i) {
    BlobWriteReport report;
    ASSERT_TRUE(store_->Put(BlobId::Random(), layout, PatternBytes(999, i), &report).ok());
    EXPECT_TRUE(report.failed_shards.empty()) << DescribeFailed(report);
  }
}

TEST_F(BlobFaultTest, LaterBlobInTheSameFanOutDirectorySurvivesACrashAfterAnEarlierFault) {
  // Same first hex digits and same start folder: the same fan-out directories. With
  // 1+0 a directory wrongly taken as durable loses the later blob outright.
  const BlobId first{0x1234000000000000, 99}, second{0x1234000000000001, 99};
  const auto data = PatternBytes(5000, 8);
  for (ErasureLayout layout : {ErasureLayout{1, 0}, ErasureLayout{4, 2}}) {
    for (uint64_t n = 0;; ++n) {
      ASSERT_LT(n, kMaxPositions) << "the operation never completed";
      Reset();
      const uint64_t target = env_->op_count() + n;
      env_->FailOp(target, EIO);
      (void)store_->Put(first, layout, PatternBytes(5000, 9));
      if (env_->op_count() <= target) break;  // the first put is done: every position seen
      Status st = store_->Put(second, layout, data);
      ASSERT_TRUE(st.ok()) << "n=" << n << " " << st.ToString();
      env_->Crash();
      Reopen();
      auto back = store_->Get(second, layout);
      ASSERT_TRUE(back.ok()) << layout.ToString() << " n=" << n << ": " << back.status().ToString();
      ASSERT_TRUE(*back == data);
    }
  }
}

TEST_F(BlobFaultTest, CrashDuringRepairNeverLeavesTheBlobWorse) {
  const ErasureLayout layout{4, 2};
  const BlobId id{0x5555000000000000, 3};
  const auto data = PatternBytes(200000, 10);
  for (uint64_t n = 0;; ++n) {
    ASSERT_LT(n, kMaxPositions) << "the operation never completed";
    Reset();
    ASSERT_TRUE(store_->Put(id, layout, data).ok());
    Damage(id, 0, Damage::kBitFlip, 5000);
    Damage(id, 4, Damage::kMissing, 0);
    const uint64_t target = env_->op_count() + n;
    env_->CrashAtOp(target);
    auto repair = store_->Repair(id, layout);
    const bool reached = env_->op_count() > target;
    env_->Crash();
    Reopen();
    BlobReadReport report;
    auto back = store_->Get(id, layout, &report);
    ASSERT_TRUE(back.ok()) << "n=" << n << ": " << back.status().ToString();
    ASSERT_TRUE(*back == data) << "n=" << n;
    if (repair.ok()) {
      // A repair that returned is durable: two other shards can go now.
      Damage(id, 1, Damage::kMissing, 0);
      Damage(id, 2, Damage::kMissing, 0);
      auto still = store_->Get(id, layout);
      ASSERT_TRUE(still.ok()) << "n=" << n << ": " << still.status().ToString();
      ASSERT_TRUE(*still == data);
    }
    if (!reached) break;
  }
}

class BlobWriteFaultTest : public BlobFaultTest,
                           public ::testing::WithParamInterface<std::tuple<int, ErasureLayout>> {};

TEST_P(BlobWriteFaultTest, BlobWriteFaultAtEachPositionLeavesStoreConsistent) {
  const auto [err, layout] = GetParam();
  const auto old_data = PatternBytes(20000, 1);
  const auto new_data = PatternBytes(30011, 2);
  int failures = 0, degraded = 0, positions = 0;
  for (uint64_t n = 0;; ++n) {
    ASSERT_LT(n, kMaxPositions) << "the operation never completed";
    Reset();
    const BlobId old_id = BlobId::Random(), new_id = BlobId::Random();
    ASSERT_TRUE(store_->Put(old_id, layout, old_data).ok());
    const uint64_t target = env_->op_count() + n;
    env_->FailOp(target, err);
    BlobWriteReport report;
    Status st = store_->Put(new_id, layout, new_data, &report);
    if (env_->op_count() <= target) break;  // the put finished before op n: all covered
    ++positions;
    auto old_back = store_->Get(old_id, layout);
    ASSERT_TRUE(old_back.ok()) << "n=" << n << " " << old_back.status().ToString();
    ASSERT_TRUE(*old_back == old_data);
    BlobReadReport read_report;
    auto back = store_->Get(new_id, layout, &read_report);
    if (st.ok()) {
      ASSERT_TRUE(back.ok()) << "n=" << n << " " << back.status().ToString();
      ASSERT_TRUE(*back == new_data) << "n=" << n;
      degraded += !report.failed_shards.empty();
      for (const ShardProblem& p : report.failed_shards) EXPECT_EQ(p.status.code(), err);
      // Every shard the put called durable reads back good (a failed flush must not
      // have been retried into "success").
      for (const ShardProblem& bad : read_report.bad_shards) {
        bool reported = false;
        for (const ShardProblem& p : report.failed_shards) reported |= p.shard == bad.shard;
        EXPECT_TRUE(reported) << "n=" << n << ": shard " << bad.shard
                              << " was reported durable but reads bad";
      }
      // And a degraded put is as durable as a whole one.
      env_->Crash();
      Reopen();
      auto after = store_->Get(new_id, layout);
      ASSERT_TRUE(after.ok()) << "n=" << n << " after crash: " << after.status().ToString();
      ASSERT_TRUE(*after == new_data) << "n=" << n;
    } else {
      ++failures;
      EXPECT_EQ(st.code(), err) << st.ToString();
      EXPECT_EQ(back.status().code(), ENOENT) << "n=" << n << " " << back.status().ToString();
      EXPECT_FALSE(AnyShardExists(new_id, layout)) << "n=" << n << ": half-written blob left";
    }
  }
  EXPECT_GT(positions, 10);
  if (layout.m == 0) {
    EXPECT_GT(failures, 0);  // no redundancy: a failed shard fails the blob
  } else {
    EXPECT_EQ(failures, 0);  // one failed op loses one shard; k+1 are still durable
    EXPECT_GT(degraded, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(ErrnoAndLayout, BlobWriteFaultTest,
                         ::testing::Combine(::testing::Values(EIO, ENOSPC),
                                            ::testing::Values(ErasureLayout{1, 0},
                                                              ErasureLayout{4, 2})),
                         [](const auto& info) {
                           return std::string(std::get<0>(info.param) == EIO ? "Eio" : "Enospc") +
                                  "_" + std::to_string(std::get<1>(info.param).k) + "p" +
                                  std::to_string(std::get<1>(info.param).m);
                         });

TEST_F(BlobFaultTest, ShardWritesFailingInMoreThanMFoldersFailTheBlobAndLeaveNoShard) {
  const ErasureLayout layout{4, 2};
  const BlobId id = BlobId::Random();
  ShardPlacement placement(folders_);
  env_->FailFolder(folders_[placement.FolderOf(id, 0)], EIO);
  env_->FailFolder(folders_[placement.FolderOf(id, 3)], EIO);
  BlobWriteReport report;
  Status st = store_->Put(id, layout, PatternBytes(9999, 3), &report);
  EXPECT_EQ(st.code(), EIO);
  EXPECT_NE(st.message().find(id.ToHex()), std::string::npos);
  EXPECT_EQ(report.failed_shards.size(), 2u);
  EXPECT_FALSE(AnyShardExists(id, layout));
}

TEST_F(BlobFaultTest, BlobWriteOnFullDiskFailsWithEnospcAndLeavesNoShardBehind) {
  const ErasureLayout layout{4, 2};
  env_->SetCapacity(1 << 20);
  std::vector<std::pair<BlobId, std::vector<uint8_t>>> kept;
  Status st;
  for (int i = 0; i < 100 && st.ok(); ++i) {
    const BlobId id = BlobId::Random();
    auto data = PatternBytes(100000, 40 + i);
    st = store_->Put(id, layout, data);
    if (st.ok()) {
      kept.emplace_back(id, std::move(data));
    } else {
      EXPECT_EQ(st.code(), ENOSPC) << st.ToString();
      EXPECT_FALSE(AnyShardExists(id, layout));
      EXPECT_EQ(store_->Get(id, layout).status().code(), ENOENT);
    }
  }
  ASSERT_FALSE(st.ok()) << "the disk never filled";
  ASSERT_FALSE(kept.empty());
  for (const auto& [id, data] : kept) {
    auto back = store_->Get(id, layout);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(*back == data);
  }
  // Freeing space makes writes work again.
  ASSERT_TRUE(store_->Remove(kept[0].first, layout).ok());
  ASSERT_TRUE(store_->Remove(kept[1].first, layout).ok());
  EXPECT_TRUE(store_->Put(BlobId::Random(), layout, PatternBytes(100000, 99)).ok());
}

TEST_F(BlobFaultTest, CrashAtEveryPositionOfAWriteLosesTheBlobCleanlyOrKeepsItWhole) {
  const ErasureLayout layout{4, 2};
  const auto old_data = PatternBytes(12345, 5);
  const auto new_data = PatternBytes(54321, 6);
  int kept = 0, lost = 0;
  for (uint64_t n = 0;; ++n) {
    ASSERT_LT(n, kMaxPositions) << "the operation never completed";
    Reset();
    const BlobId old_id = BlobId::Random(), new_id = BlobId::Random();
    ASSERT_TRUE(store_->Put(old_id, layout, old_data).ok());
    const uint64_t target = env_->op_count() + n;
    env_->CrashAtOp(target);
    Status st = store_->Put(new_id, layout, new_data);
    const bool reached = env_->op_count() > target;
    env_->Crash();
    Reopen();
    auto old_back = store_->Get(old_id, layout);
    ASSERT_TRUE(old_back.ok()) << "n=" << n << " " << old_back.status().ToString();
    ASSERT_TRUE(*old_back == old_data);
    auto back = store_->Get(new_id, layout);
    if (st.ok()) {
      ASSERT_TRUE(back.ok()) << "n=" << n
                             << ": a durable blob was lost: " << back.status().ToString();
    }
    if (back.ok()) {
      ASSERT_TRUE(*back == new_data) << "n=" << n << ": wrong bytes after crash";
      ++kept;
    } else {
      EXPECT_TRUE(back.status().code() == ENOENT || back.status().code() == EIO)
          << back.status().ToString();
      ++lost;
    }
    if (!reached) break;
  }
  EXPECT_GT(lost, 0);  // crashing before the flush loses the blob
  EXPECT_GT(kept, 0);  // crashing after it keeps the blob
}

TEST_F(BlobFaultTest, BlobWrittenButNeverFlushedIsGoneAfterCrash) {
  const ErasureLayout layout{4, 2};
  const BlobId id = BlobId::Random();
  // Crash earlier and earlier in the put: until enough shards were flushed the blob is
  // unreadable (gone, or too few shards: never wrong bytes); while nothing was flushed
  // yet it is simply not there.
  int gone = 0;
  for (uint64_t n = 0;; ++n) {
    ASSERT_LT(n, kMaxPositions) << "the operation never completed";
    Reset();
    const uint64_t base = env_->op_count();
    env_->CrashAtOp(base + n);
    (void)store_->Put(id, layout, PatternBytes(70000, 7));
    env_->Crash();
    Reopen();
    auto back = store_->Get(id, layout);
    if (back.ok()) break;  // from here on enough shards were flushed
    EXPECT_TRUE(back.status().code() == ENOENT || back.status().code() == EIO)
        << "n=" << n << " " << back.status().ToString();
    if (back.status().code() == ENOENT) {
      ++gone;
      EXPECT_FALSE(AnyShardExists(id, layout)) << "n=" << n;
    }
  }
  // Six creates and six writes come before the first flush.
  EXPECT_GE(gone, 12);
  // And once it has returned, a crash keeps it.
  Reset();
  const auto data = PatternBytes(70000, 8);
  ASSERT_TRUE(store_->Put(id, layout, data).ok());
  env_->Crash();
  Reopen();
  auto back = store_->Get(id, layout);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == data);
}

TEST_F(BlobFaultTest, ShortShardWriteIsCompletedAndTheBlobIsExact) {
  const ErasureLayout layout{4, 2};
  const auto data = PatternBytes(40000, 9);
  int shorted = 0;
  for (uint64_t n = 0;; ++n) {
    ASSERT_LT(n, kMaxPositions) << "the operation never completed";
    Reset();
    const BlobId id = BlobId::Random();
    const uint64_t target = env_->op_count() + n;
    env_->ShortWriteOp(target);
    BlobWriteReport report;
    ASSERT_TRUE(store_->Put(id, layout, data, &report).ok());
    if (env_->op_count() <= target) break;
    EXPECT_TRUE(report.failed_shards.empty());
    BlobReadReport rreport;
    auto back = store_->Get(id, layout, &rreport);
    ASSERT_TRUE(back.ok());
    ASSERT_TRUE(*back == data) << "n=" << n;
    EXPECT_TRUE(rreport.bad_shards.empty()) << "n=" << n;
    ++shorted;
  }
  EXPECT_GT(shorted, 6);
}

TEST_F(BlobFaultTest, ShardSilentlyCorruptedOnWriteIsDetectedOnRead) {
  const ErasureLayout layout{4, 2};
  const auto data = PatternBytes(40000, 10);
  int detected = 0;
  for (uint64_t n = 0;; ++n) {
    ASSERT_LT(n, kMaxPositions) << "the operation never completed";
    Reset();
    const BlobId id = BlobId::Random();
    const uint64_t target = env_->op_count() + n;
    env_->FlipBitOnWriteOp(target);
    ASSERT_TRUE(store_->Put(id, layout, data).ok());
    if (env_->op_count() <= target) break;
    BlobReadReport report;
    auto back = store_->Get(id, layout, &report);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    ASSERT_TRUE(*back == data) << "n=" << n;
    detected += !report.bad_shards.empty();
  }
  EXPECT_GE(detected, 4);  // a flip in any of the four data shards is caught on read
}

TEST_F(BlobFaultTest, ShardFolderThatVanishesIsReadAroundAndWritesKeepQuorum) {
  const ErasureLayout layout{4, 2};
  std::vector<std::pair<BlobId, std::vector<uint8_t>>> blobs;
  for (int i = 0; i < 20; ++i) {
    blobs.emplace_back(BlobId::Random(), PatternBytes(5000 + i, 60 + i));
    ASSERT_TRUE(store_->Put(blobs.back().first, layout, blobs.back().second).ok());
  }
  env_->VanishFolder(folders_[3]);
  for (const auto& [id, data] : blobs) {
    auto back = store_->Get(id, layout);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(*back == data);
  }
  // Shards bound for the lost folder fail; k+1 others still make the write durable.
  int degraded = 0;
  for (int i = 0; i < 20; ++i) {
    const BlobId id = BlobId::Random();
    const auto data = PatternBytes(777, 80 + i);
    BlobWriteReport report;
    ASSERT_TRUE(store_->Put(id, layout, data, &report).ok());
    degraded += !report.failed_shards.empty();
    auto back = store_->Get(id, layout);
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(*back == data);
  }
  EXPECT_GT(degraded, 0);
}

TEST_F(BlobFaultTest, ShardFolderFailingWithEioIsAvoidedOnLaterReads) {
  const ErasureLayout layout{4, 2};
  const BlobId id = BlobId::Random();
  const auto data = PatternBytes(100000, 11);
  ASSERT_TRUE(store_->Put(id, layout, data).ok());
  ShardPlacement placement(folders_);
  const int folder = placement.FolderOf(id, 1);
  env_->FailFolder(folders_[folder], EIO);
  BlobReadReport report;
  auto back = store_->Get(id, layout, &report);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == data);
  ASSERT_EQ(report.bad_shards.size(), 1u);
  EXPECT_EQ(report.bad_shards[0].shard, 1);
  EXPECT_TRUE(store_->FolderFailing(folder));
  // The next read goes to parity straight away instead of trying the failing folder.
  BlobReadReport second;
  auto again = store_->Get(id, layout, &second);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(*again == data);
  EXPECT_TRUE(second.bad_shards.empty());
  EXPECT_TRUE(second.reconstructed);
}

}  // namespace
}  // namespace sopfs::testing
