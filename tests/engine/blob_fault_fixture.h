// BlobFaultTest: a blob store over FaultEnv (in memory) with 14 data folders, and the
// helpers the fault and damage tests share: damaging shards, checking a damaged blob.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <set>

#include "engine/blob/blob_store.h"
#include "engine/io/fault_env.h"
#include "tests/engine/blob_test_util.h"

namespace sopfs::testing {

constexpr int kFolders = 14;
// Bounds the fault-position loops, so a broken store fails a test instead of hanging it.
constexpr uint64_t kMaxPositions = 2000;

enum class Damage { kMissing, kBitFlip, kTruncated };

class BlobFaultTest : public ::testing::Test {
 protected:
  void SetUp() override { Reset(); }

  // A fresh volume in a fresh in-memory env.
  void Reset() {
    store_.reset();
    env_ = std::make_unique<FaultEnv>();
    folders_.clear();
    for (int i = 0; i < kFolders; ++i) {
      folders_.push_back("/vol/data" + std::to_string(i));
      ASSERT_TRUE(env_->MkDirs(folders_.back()).ok());
      ASSERT_TRUE(env_->SyncDir(folders_.back()).ok());
    }
    ASSERT_TRUE(env_->SyncDir("/vol").ok());
    ASSERT_TRUE(env_->SyncDir("/").ok());
    Reopen();
  }

  void Reopen() {
    store_.reset();
    auto store = BlobStore::Open(env_.get(), folders_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }

  std::string ShardPath(const BlobId& id, int shard) {
    return ShardPlacement(folders_).PathOf(id, shard);
  }

  void Damage(const BlobId& id, int shard, Damage how, uint64_t salt) {
    const std::string path = ShardPath(id, shard);
    auto raw = env_->ReadRaw(path);
    ASSERT_TRUE(raw.ok());
    switch (how) {
      case Damage::kMissing:
        ASSERT_TRUE(env_->Unlink(path).ok());
        break;
      case Damage::kBitFlip:  // anywhere: header, checksum or payload
        ASSERT_TRUE(env_->CorruptByte(path, salt % raw->size()).ok());
        break;
      case Damage::kTruncated:
        ASSERT_TRUE(env_->TruncateRaw(path, salt % raw->size()).ok());
        break;
    }
  }

  static std::string DescribeFailed(const BlobWriteReport& report) {
    std::string s;
    for (const ShardProblem& p : report.failed_shards) s += p.status.ToString() + "; ";
    return s;
  }

  bool AnyShardExists(const BlobId& id, ErasureLayout layout) {
    for (int i = 0; i < layout.total(); ++i) {
      if (env_->ExistsRaw(ShardPath(id, i))) return true;
    }
    return false;
  }

  // Writes a blob, damages the shards in `mask` (how: per shard), reads it back.
  void CheckDamage(ErasureLayout layout, uint32_t mask, const std::vector<enum Damage>& how,
                   bool expect_exact) {
    const BlobId id = BlobId::Random();
    const auto data = PatternBytes(3001 + mask, mask);
    ASSERT_TRUE(store_->Put(id, layout, data).ok());
    std::set<int> damaged;
    for (int i = 0, j = 0; i < layout.total(); ++i) {
      if (!(mask & (1u << i))) continue;
      Damage(id, i, how[j++ % how.size()], mask * 7 + i);
      damaged.insert(i);
    }
    BlobReadReport report;
    auto back = store_->Get(id, layout, &report);
    if (!expect_exact) {
      ASSERT_FALSE(back.ok()) << "mask " << mask;
      EXPECT_EQ(back.status().code(), EIO) << back.status().ToString();
      EXPECT_NE(back.status().message().find(id.ToHex()), std::string::npos);
      return;
    }
    ASSERT_TRUE(back.ok()) << "mask " << mask << ": " << back.status().ToString();
    ASSERT_TRUE(*back == data) << "mask " << mask;
    for (const ShardProblem& p : report.bad_shards) {
      EXPECT_TRUE(damaged.count(p.shard)) << "shard " << p.shard << " reported bad, mask " << mask;
    }
    bool data_shard_damaged = false;
    for (int i : damaged) data_shard_damaged = data_shard_damaged || i < layout.k;
    EXPECT_EQ(report.reconstructed, data_shard_damaged) << "mask " << mask;
    // A range read in the middle gives the same bytes.
    std::vector<uint8_t> part(1000);
    auto n = store_->GetRange(id, layout, 1500, part);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    ASSERT_EQ(*n, 1000u);
    ASSERT_TRUE(std::equal(part.begin(), part.end(), data.begin() + 1500));
  }

  std::unique_ptr<FaultEnv> env_;
  std::vector<std::string> folders_;
  std::unique_ptr<BlobStore> store_;
};

const std::vector<ErasureLayout> kParityLayouts = {{2, 1}, {4, 2}, {8, 3}, {10, 4}};

}  // namespace sopfs::testing
