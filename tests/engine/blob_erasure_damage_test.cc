// Damaged blobs (FaultEnv): every combination of up to m missing, bit-flipped or
// truncated shards gives the exact bytes, m+1 gives EIO; foreign shards, wrong length
// hints and forged headers are caught; Repair restores full redundancy.
#include "tests/engine/blob_fault_fixture.h"

namespace sopfs::testing {
namespace {

TEST_F(BlobFaultTest, ErasureAnyUpToMMissingShardsReturnExactBytes) {
  for (ErasureLayout layout : kParityLayouts) {
    for (uint32_t mask : SubsetsUpTo(layout.total(), layout.m)) {
      CheckDamage(layout, mask, {Damage::kMissing}, true);
    }
  }
}

TEST_F(BlobFaultTest, ErasureAnyUpToMCorruptShardsReturnExactBytes) {
  for (ErasureLayout layout : kParityLayouts) {
    for (uint32_t mask : SubsetsUpTo(layout.total(), layout.m)) {
      CheckDamage(layout, mask, {Damage::kBitFlip}, true);
      CheckDamage(layout, mask, {Damage::kTruncated}, true);
    }
  }
}

TEST_F(BlobFaultTest, ErasureEveryMixOfMissingCorruptAndTruncatedShardsReturnsExactBytes) {
  // Every assignment of the three kinds of damage to every subset of up to m shards
  // for the smaller layouts; for 10+4 (3^4 x 1001 subsets) a rotating mix per subset.
  for (ErasureLayout layout : kParityLayouts) {
    for (uint32_t mask : SubsetsUpTo(layout.total(), layout.m)) {
      const int bad = std::popcount(mask);
      if (layout.total() > 11) {
        std::vector<enum Damage> how;
        for (int j = 0; j < bad; ++j) how.push_back(static_cast<enum Damage>((mask + j) % 3));
        CheckDamage(layout, mask, how.empty() ? std::vector{Damage::kMissing} : how, true);
        continue;
      }
      int combos = 1;
      for (int j = 0; j < bad; ++j) combos *= 3;
      for (int c = 0; c < combos; ++c) {
        std::vector<enum Damage> how;
        for (int j = 0, x = c; j < std::max(bad, 1); ++j, x /= 3) {
          how.push_back(static_cast<enum Damage>(x % 3));
        }
        CheckDamage(layout, mask, how, true);
      }
    }
  }
}

TEST_F(BlobFaultTest, ErasureMorePlusOneBadShardsFailWithEioNamingTheBlob) {
  for (ErasureLayout layout : kParityLayouts) {
    for (uint32_t mask : SubsetsOfSize(layout.total(), layout.m + 1)) {
      CheckDamage(layout, mask, {Damage::kMissing, Damage::kBitFlip, Damage::kTruncated}, false);
    }
  }
}

TEST_F(BlobFaultTest, ErasureDamageToLargeAlignedShardsIsRepairedExactly) {
  // 300 KB in 4+2 gives 75 KB shards: the aligned, O_DIRECT shape (4 KiB header block).
  const ErasureLayout layout{4, 2};
  for (uint32_t mask : SubsetsUpTo(layout.total(), layout.m)) {
    const BlobId id = BlobId::Random();
    const auto data = PatternBytes(300000 + mask, mask);
    ASSERT_TRUE(store_->Put(id, layout, data).ok());
    for (int i = 0, j = 0; i < layout.total(); ++i) {
      if (mask & (1u << i))
        Damage(id, i, static_cast<enum Damage>((mask + j++) % 3), mask * 13 + i);
    }
    BlobReadReport report;
    auto back = store_->Get(id, layout, &report);
    ASSERT_TRUE(back.ok()) << "mask " << mask << ": " << back.status().ToString();
    ASSERT_TRUE(*back == data) << "mask " << mask;
    EXPECT_LE(report.bad_shards.size(), static_cast<size_t>(std::popcount(mask)));
  }
}

TEST_F(BlobFaultTest, ShardOfAnotherBlobAtTheRightPathIsRejected) {
  // Two blobs with the same placement: a shard file of one copied over the other's.
  const ErasureLayout layout{4, 2};
  const BlobId a{0xabcd000000000001, 7}, b{0xabcd000000000002, 7};
  const auto da = PatternBytes(9000, 1), db = PatternBytes(9000, 2);
  ASSERT_TRUE(store_->Put(a, layout, da).ok());
  ASSERT_TRUE(store_->Put(b, layout, db).ok());
  auto stray = env_->ReadRaw(ShardPath(a, 1));
  ASSERT_TRUE(stray.ok());
  ASSERT_TRUE(env_->WriteFileDurably(ShardPath(b, 1), *stray).ok());
  // Shard 2 of b replaced by shard 3 of b (right blob, wrong index).
  auto other = env_->ReadRaw(ShardPath(b, 3));
  ASSERT_TRUE(env_->WriteFileDurably(ShardPath(b, 2), *other).ok());
  BlobReadReport report;
  auto back = store_->Get(b, layout, &report);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == db);
  EXPECT_EQ(report.bad_shards.size(), 2u);
  // The same blob read under the wrong layout is rejected, never misread.
  auto wrong = store_->Get(a, ErasureLayout{3, 3});
  EXPECT_FALSE(wrong.ok());
}

TEST_F(BlobFaultTest, BlobRangeWithAWrongLengthHintStillReturnsExactBytes) {
  const ErasureLayout layout{4, 2};
  const BlobId id = BlobId::Random();
  const auto data = PatternBytes(400000, 3);
  ASSERT_TRUE(store_->Put(id, layout, data).ok());
  for (uint64_t hint : {uint64_t{400000}, uint64_t{100}, uint64_t{399999}, uint64_t{5000000}}) {
    std::vector<uint8_t> out(3000);
    auto n = store_->GetRange(id, layout, 250000, out, nullptr, hint);
    if (hint <= 250000) {  // the caller said the blob ends before the range
      ASSERT_TRUE(n.ok());
      EXPECT_EQ(*n, 0u);
      continue;
    }
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    ASSERT_EQ(*n, 3000u) << "hint " << hint;
    EXPECT_TRUE(std::equal(out.begin(), out.end(), data.begin() + 250000)) << "hint " << hint;
  }
  // Offsets near 2^64 read nothing rather than wrapping around.
  std::vector<uint8_t> out(10);
  auto far = store_->GetRange(id, layout, UINT64_MAX - 2, out);
  ASSERT_TRUE(far.ok()) << far.status().ToString();
  EXPECT_EQ(*far, 0u);
}

TEST_F(BlobFaultTest, ShardHeaderClaimingAHugeLengthIsCorruptNotAnOverflow) {
  const ErasureLayout layout{4, 2};
  const BlobId id = BlobId::Random();
  const auto data = PatternBytes(300000, 4);
  ASSERT_TRUE(store_->Put(id, layout, data).ok());
  // Byte 47 is the top byte of the shard length: it becomes ~2^63.
  ASSERT_TRUE(env_->CorruptByte(ShardPath(id, 0), 47).ok());
  BlobReadReport report;
  auto back = store_->Get(id, layout, &report);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == data);
  ASSERT_EQ(report.bad_shards.size(), 1u);
  EXPECT_EQ(report.bad_shards[0].shard, 0);
}

TEST_F(BlobFaultTest, BlobWithEveryShardMissingIsNotFound) {
  const BlobId id = BlobId::Random();
  auto back = store_->Get(id, {4, 2});
  EXPECT_EQ(back.status().code(), ENOENT);
}

TEST_F(BlobFaultTest, BlobRepairRestoresFullRedundancy) {
  for (ErasureLayout layout : kParityLayouts) {
    for (uint32_t mask : SubsetsOfSize(layout.total(), layout.m)) {
      if (mask % 7 != 0 && layout.total() > 6) continue;  // a spread of subsets for wide layouts
      const BlobId id = BlobId::Random();
      const auto data = PatternBytes(10007, mask);
      ASSERT_TRUE(store_->Put(id, layout, data).ok());
      std::vector<int> damaged;
      for (int i = 0; i < layout.total(); ++i) {
        if (mask & (1u << i)) {
          Damage(id, i, static_cast<enum Damage>(i % 3), mask + i);
          damaged.push_back(i);
        }
      }
      auto repair = store_->Repair(id, layout);
      ASSERT_TRUE(repair.ok()) << repair.status().ToString();
      EXPECT_EQ(repair->rewritten, damaged);
      // Now lose m other shards: still exact, so redundancy is whole again.
      const uint32_t others = ((1u << layout.total()) - 1) & ~mask;
      int removed = 0;
      for (int i = 0; i < layout.total() && removed < layout.m; ++i) {
        if (others & (1u << i)) {
          Damage(id, i, Damage::kMissing, 0);
          ++removed;
        }
      }
      auto back = store_->Get(id, layout);
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      ASSERT_TRUE(*back == data);
    }
  }
}

TEST_F(BlobFaultTest, BlobRepairOfHealthyBlobRewritesNothingAndOfLostBlobFails) {
  const ErasureLayout layout{4, 2};
  const BlobId id = BlobId::Random();
  ASSERT_TRUE(store_->Put(id, layout, PatternBytes(5000, 12)).ok());
  auto healthy = store_->Repair(id, layout);
  ASSERT_TRUE(healthy.ok());
  EXPECT_TRUE(healthy->rewritten.empty());
  for (int i = 0; i < 3; ++i) Damage(id, i, Damage::kMissing, 0);
  auto lost = store_->Repair(id, layout);
  EXPECT_EQ(lost.status().code(), EIO);
}

}  // namespace
}  // namespace sopfs::testing
