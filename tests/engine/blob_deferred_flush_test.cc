// BlobStore::Write::defer_flush and FlushDeferred: a deferred blob is written but not
// durable until its flush; a flush that succeeds leaves a blob that survives a power
// cut, at every fault position of the flush.
#include <gtest/gtest.h>

#include "tests/engine/blob_fault_fixture.h"

namespace sopfs::testing {
namespace {

class BlobDeferredFlushTest : public BlobFaultTest {
 protected:
  Status PutDeferred(const BlobId& id, ErasureLayout layout, const std::vector<uint8_t>& data) {
    BlobStore::Write w{id, layout, data, /*defer_flush=*/true};
    return store_->Put({&w, 1});
  }
};

TEST_F(BlobDeferredFlushTest, BlobDeferredPutIsReadableAtOnceButNotDurableUntilFlushed) {
  const ErasureLayout layout{4, 2};
  const BlobId id = BlobId::Random();
  const auto data = PatternBytes(300000, 1);
  ASSERT_TRUE(PutDeferred(id, layout, data).ok());
  EXPECT_EQ(store_->deferred_count(), 1u);
  auto now = store_->Get(id, layout);
  ASSERT_TRUE(now.ok()) << now.status().ToString();
  EXPECT_TRUE(*now == data);
  env_->Crash();
  Reopen();
  // Nothing of it was flushed: a power cut takes it (its transaction never committed).
  EXPECT_FALSE(store_->Get(id, layout).ok());
}

TEST_F(BlobDeferredFlushTest, BlobFlushedDeferredPutSurvivesAPowerCut) {
  for (ErasureLayout layout : {ErasureLayout{1, 0}, ErasureLayout{4, 2}}) {
    const BlobId id = BlobId::Random();
    const auto data = PatternBytes(200000, 2);
    ASSERT_TRUE(PutDeferred(id, layout, data).ok());
    const BlobId ids[] = {id, BlobId::Random()};  // an unknown ID is skipped
    ASSERT_TRUE(store_->FlushDeferred(ids).ok());
    EXPECT_EQ(store_->deferred_count(), 0u);
    ASSERT_TRUE(store_->FlushDeferred(ids).ok());  // twice: nothing left to do
    env_->Crash();
    Reopen();
    auto back = store_->Get(id, layout);
    ASSERT_TRUE(back.ok()) << layout.ToString() << ": " << back.status().ToString();
    EXPECT_TRUE(*back == data);
  }
}

TEST_F(BlobDeferredFlushTest, BlobFlushThatSucceedsAtAnyFaultPositionLeavesADurableBlob) {
  const auto data = PatternBytes(100000, 3);
  for (ErasureLayout layout : {ErasureLayout{1, 0}, ErasureLayout{4, 2}}) {
    int failed = 0, succeeded = 0;
    for (uint64_t n = 0;; ++n) {
      ASSERT_LT(n, kMaxPositions) << "the flush never completed";
      Reset();
      const BlobId id{0x5555000000000000 + n, 7};
      ASSERT_TRUE(PutDeferred(id, layout, data).ok());
      const uint64_t target = env_->op_count() + n;
      env_->FailOp(target, EIO);
      Status st = store_->FlushDeferred({&id, 1});
      if (env_->op_count() <= target) break;  // every position of the flush seen
      EXPECT_EQ(store_->deferred_count(), 0u);
      if (!st.ok()) {
        ++failed;
        continue;  // below quorum: the caller discards the blob
      }
      ++succeeded;
      env_->Crash();
      Reopen();
      auto back = store_->Get(id, layout);
      ASSERT_TRUE(back.ok()) << layout.ToString() << " n=" << n << ": " << back.status().ToString();
      ASSERT_TRUE(*back == data);
    }
    // 1+0 has no shard to spare: every fault fails it. 4+2 takes one bad shard.
    if (layout.m == 0) {
      EXPECT_EQ(succeeded, 0);
      EXPECT_GT(failed, 0);
    } else {
      EXPECT_GT(succeeded, 0);
    }
  }
}

TEST_F(BlobDeferredFlushTest, BlobDeferredPutIntoAFolderReplacedUnderTheCacheSurvivesACrash) {
  // Same first hex digits and start folder: the same fan-out directories, cached as
  // durable by the first put; the drive is then replaced by an empty one, so the
  // deferred put finds them gone, makes them again, and its flush must sync their parents.
  const ErasureLayout layout{1, 0};
  const BlobId first{0x1234000000000000, 99}, second{0x1234000000000001, 99};
  ASSERT_TRUE(store_->Put(first, layout, PatternBytes(5000, 6)).ok());
  const int folder = ShardPlacement(folders_).FolderOf(first, 0);
  ASSERT_EQ(folder, ShardPlacement(folders_).FolderOf(second, 0));
  env_->VanishFolder(folders_[folder]);
  ASSERT_TRUE(env_->MkDir(folders_[folder]).ok());
  ASSERT_TRUE(env_->SyncDir("/vol").ok());
  const auto data = PatternBytes(7000, 7);
  ASSERT_TRUE(PutDeferred(second, layout, data).ok());
  ASSERT_TRUE(store_->FlushDeferred({&second, 1}).ok());
  env_->Crash();
  Reopen();
  auto back = store_->Get(second, layout);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == data);
}

TEST_F(BlobDeferredFlushTest, BlobRemovedBeforeItsFlushIsForgotten) {
  const ErasureLayout layout{4, 2};
  const BlobId a = BlobId::Random(), b = BlobId::Random();
  ASSERT_TRUE(PutDeferred(a, layout, PatternBytes(5000, 4)).ok());
  ASSERT_TRUE(PutDeferred(b, layout, PatternBytes(5000, 5)).ok());
  EXPECT_EQ(store_->deferred_count(), 2u);
  ASSERT_TRUE(store_->Remove(a, layout).ok());
  EXPECT_EQ(store_->deferred_count(), 1u);
  ASSERT_TRUE(store_->RemoveDurably({&b, 1}, layout).ok());
  EXPECT_EQ(store_->deferred_count(), 0u);
}

}  // namespace
}  // namespace sopfs::testing
