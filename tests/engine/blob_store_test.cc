// BlobStore on the real disk (PosixEnv, io_uring): round trips for every size class
// and layout, range reads, repair, removal, and damage done to real shard files.
#include "engine/blob/blob_store.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "engine/io/posix_env.h"
#include "tests/engine/blob_disk_fixture.h"
#include "tests/engine/blob_test_util.h"
#include "tests/engine/temp_dir.h"

namespace sopfs {
namespace {

using testing::PatternBytes;

using testing::BlobStoreDiskTest;

struct RoundTripCase {
  size_t size;
  ErasureLayout layout;
};

class BlobRoundTripTest : public BlobStoreDiskTest,
                          public ::testing::WithParamInterface<RoundTripCase> {};

TEST_P(BlobRoundTripTest, BlobReadsBackExactlyWhatWasWritten) {
  const auto [size, layout] = GetParam();
  const BlobId id = BlobId::Random();
  const auto data = PatternBytes(size, size * 31 + layout.k);
  BlobWriteReport wreport;
  Status st = store_->Put(id, layout, data, &wreport);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(wreport.failed_shards.empty());
  for (int i = 0; i < layout.total(); ++i) EXPECT_TRUE(env_.Exists(ShardPath(id, i))) << i;

  BlobReadReport report;
  auto back = store_->Get(id, layout, &report);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == data);
  EXPECT_TRUE(report.bad_shards.empty());
  EXPECT_FALSE(report.reconstructed);
}

std::vector<RoundTripCase> RoundTripCases() {
  std::vector<RoundTripCase> cases;
  const size_t mib = 1 << 20;
  for (ErasureLayout layout : {ErasureLayout{1, 0}, ErasureLayout{2, 1}, ErasureLayout{4, 2},
                               ErasureLayout{8, 3}, ErasureLayout{10, 4}}) {
    for (size_t size :
         {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, mib - 1, mib, mib + 1, 64 * mib}) {
      cases.push_back({size, layout});
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(SizesAndLayouts, BlobRoundTripTest, ::testing::ValuesIn(RoundTripCases()),
                         [](const auto& info) {
                           return "Bytes" + std::to_string(info.param.size) + "_" +
                                  std::to_string(info.param.layout.k) + "p" +
                                  std::to_string(info.param.layout.m);
                         });

TEST_F(BlobStoreDiskTest, BlobRangeReadsMatchTheWholeBlobAcrossShardBoundaries) {
  const ErasureLayout layout{4, 2};
  const BlobId id = BlobId::Random();
  const auto data = PatternBytes((1 << 20) + 12345, 7);
  ASSERT_TRUE(store_->Put(id, layout, data).ok());
  std::mt19937_64 gen(1);
  for (int i = 0; i < 200; ++i) {
    const uint64_t offset = gen() % (data.size() + 100);
    std::vector<uint8_t> out(1 + gen() % 600000);
    auto n = store_->GetRange(id, layout, offset, out);
    ASSERT_TRUE(n.ok()) << n.status().ToString();
    const size_t expect = offset >= data.size() ? 0 : std::min(out.size(), data.size() - offset);
    ASSERT_EQ(*n, expect) << "offset " << offset;
    ASSERT_TRUE(std::equal(out.begin(), out.begin() + expect, data.begin() + offset));
  }
}

TEST_F(BlobStoreDiskTest, BlobRangeReadOfFourKiBReadsOnlyTheBlocksThatHoldIt) {
  const ErasureLayout layout{4, 2};
  const BlobId id = BlobId::Random();
  const auto data = PatternBytes(1 << 20, 8);
  ASSERT_TRUE(store_->Put(id, layout, data).ok());
  const uint64_t before = store_->counters().bytes_read;
  std::vector<uint8_t> out(4096);
  auto n = store_->GetRange(id, layout, 600000, out);
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, 4096u);
  EXPECT_TRUE(std::equal(out.begin(), out.end(), data.begin() + 600000));
  // Of one aligned shard: the 4096-byte header page (with the block checksums) and the
  // two 4 KiB blocks the range straddles, not the 256 KiB payload.
  EXPECT_EQ(store_->counters().bytes_read - before, 4096u + 8192u);
  // A read inside one block reads that block only.
  const uint64_t again = store_->counters().bytes_read;
  n = store_->GetRange(id, layout, 3 * (1 << 18) + 40960, out);
  ASSERT_TRUE(n.ok());
  EXPECT_TRUE(std::equal(out.begin(), out.end(), data.begin() + 3 * (1 << 18) + 40960));
  EXPECT_EQ(store_->counters().bytes_read - again, 4096u + 4096u);
}

TEST_F(BlobStoreDiskTest, BlobRangeReadFallsBackToParityWhenItsShardIsCorrupt) {
  const ErasureLayout layout{4, 2};
  const BlobId id = BlobId::Random();
  const auto data = PatternBytes(1 << 20, 9);
  ASSERT_TRUE(store_->Put(id, layout, data).ok());
  {
    std::fstream f(ShardPath(id, 2), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 1000);  // inside the payload of an aligned shard
    f.put('\x5a');
  }
  std::vector<uint8_t> out(4096);
  BlobReadReport report;
  auto n = store_->GetRange(id, layout, 2 * (1 << 18) + 100, out, &report);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_TRUE(std::equal(out.begin(), out.end(), data.begin() + 2 * (1 << 18) + 100));
  ASSERT_EQ(report.bad_shards.size(), 1u);
  EXPECT_EQ(report.bad_shards[0].shard, 2);
  EXPECT_TRUE(report.reconstructed);
}

TEST_F(BlobStoreDiskTest, ShardCorruptedOnDiskIsDetectedReportedAndRepaired) {
  const ErasureLayout layout{4, 2};
  const BlobId id = BlobId::Random();
  const auto data = PatternBytes(300001, 10);
  ASSERT_TRUE(store_->Put(id, layout, data).ok());
  {
    std::fstream f(ShardPath(id, 0), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096 + 5);  // 75001-byte shards are aligned: payload at 4096
    f.put('\x01');
  }
  std::filesystem::resize_file(ShardPath(id, 1), 100);  // truncated
  BlobReadReport report;
  auto back = store_->Get(id, layout, &report);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == data);
  EXPECT_EQ(report.bad_shards.size(), 2u);
  EXPECT_TRUE(report.reconstructed);

  auto repair = store_->Repair(id, layout);
  ASSERT_TRUE(repair.ok()) << repair.status().ToString();
  EXPECT_EQ(repair->rewritten, (std::vector<int>{0, 1}));
  // Full redundancy again: losing two other shards still gives the exact bytes.
  std::filesystem::remove(ShardPath(id, 2));
  std::filesystem::remove(ShardPath(id, 5));
  auto again = store_->Get(id, layout);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(*again == data);
}

TEST_F(BlobStoreDiskTest, BlobRemoveDeletesEveryShard) {
  const ErasureLayout layout{8, 3};
  const BlobId id = BlobId::Random();
  ASSERT_TRUE(store_->Put(id, layout, PatternBytes(5000, 11)).ok());
  std::filesystem::remove(ShardPath(id, 4));  // a missing shard is not an error
  ASSERT_TRUE(store_->Remove(id, layout).ok());
  for (int i = 0; i < layout.total(); ++i) EXPECT_FALSE(env_.Exists(ShardPath(id, i)));
  auto gone = store_->Get(id, layout);
  EXPECT_EQ(gone.status().code(), ENOENT);
  EXPECT_NE(gone.status().message().find(id.ToHex()), std::string::npos);
}

TEST_F(BlobStoreDiskTest, BlobBatchPutWritesEveryBlobOfTheBatch) {
  std::vector<std::vector<uint8_t>> datas;
  std::vector<BlobStore::Write> batch;
  for (int i = 0; i < 16; ++i) datas.push_back(PatternBytes(10000 + 977 * i, 20 + i));
  for (int i = 0; i < 16; ++i) {
    batch.push_back(
        {BlobId::Random(), i % 2 ? ErasureLayout{4, 2} : ErasureLayout{2, 1}, datas[i]});
  }
  std::vector<BlobWriteReport> reports;
  ASSERT_TRUE(store_->Put(batch, &reports).ok());
  ASSERT_EQ(reports.size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    auto back = store_->Get(batch[i].id, batch[i].layout);
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(*back == datas[i]);
  }
}

TEST_F(BlobStoreDiskTest, BlobShardsSpreadOverFoldersWithTwoLevelFanOut) {
  const ErasureLayout layout{4, 2};
  const BlobId id = BlobId::Random();
  ASSERT_TRUE(store_->Put(id, layout, PatternBytes(100, 12)).ok());
  ShardPlacement placement(folders_);
  std::set<int> folders;
  for (int i = 0; i < layout.total(); ++i) {
    folders.insert(placement.FolderOf(id, i));
    const std::string hex = id.ToHex();
    EXPECT_EQ(ShardPath(id, i), folders_[placement.FolderOf(id, i)] + "/" + hex.substr(0, 2) + "/" +
                                    hex.substr(2, 2) + "/" + hex + "." + std::to_string(i));
  }
  EXPECT_EQ(folders.size(), 6u);  // no folder holds two shards of one blob
}

TEST_F(BlobStoreDiskTest, BlobLayoutWiderThanTheFoldersIsRejected) {
  auto st = store_->Put(BlobId::Random(), ErasureLayout{12, 4}, PatternBytes(10, 1));
  EXPECT_EQ(st.code(), EINVAL);
  EXPECT_EQ(store_->Put(BlobId::Random(), ErasureLayout{0, 1}, PatternBytes(10, 1)).code(), EINVAL);
}

TEST_F(BlobStoreDiskTest, BlobPutsAndGetsFromManyThreadsAtOnceStayExact) {
  const ErasureLayout layout{4, 2};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 12; ++i) {
        const BlobId id = BlobId::Random();
        const auto data = PatternBytes(70000 + 4099 * i + t, 1000 * t + i);
        if (!store_->Put(id, layout, data).ok()) ++failures;
        auto back = store_->Get(id, layout);
        if (!back.ok() || *back != data) ++failures;
        std::vector<uint8_t> part(5000);
        auto n = store_->GetRange(id, layout, 60000, part);
        if (!n.ok() || *n != part.size() ||
            !std::equal(part.begin(), part.end(), data.begin() + 60000)) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store_->counters().blobs_written, 96u);
}

TEST_F(BlobStoreDiskTest, BlobBatchLargerThanTheOpenFileLimitStillLands) {
  // 300 blobs x 6 shards in one batch under a limit of 256 open files: the store must
  // work in bounded groups. (Each test runs in its own process under ctest.)
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = 256;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  std::vector<std::vector<uint8_t>> datas;
  std::vector<BlobStore::Write> batch;
  for (int i = 0; i < 300; ++i) datas.push_back(PatternBytes(100 + i, 500 + i));
  for (int i = 0; i < 300; ++i) batch.push_back({BlobId::Random(), {4, 2}, datas[i]});
  Status st = store_->Put(batch);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (int i = 0; i < 300; ++i) {
    auto back = store_->Get(batch[i].id, batch[i].layout);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(*back == datas[i]);
  }
}

TEST_F(BlobStoreDiskTest, BlobRemoveDurablyOfMoreDirectoriesThanTheOpenFileLimit) {
  // 300 blobs x 6 shards spread over far more fan-out directories than 128 open files.
  std::vector<std::vector<uint8_t>> datas;
  std::vector<BlobStore::Write> batch;
  std::vector<BlobId> ids;
  for (int i = 0; i < 300; ++i) datas.push_back(PatternBytes(7 + i, 100));
  for (int i = 0; i < 300; ++i) {
    batch.push_back({BlobId::Random(), {4, 2}, datas[i]});
    ids.push_back(batch.back().id);
  }
  ASSERT_TRUE(store_->Put(batch).ok());
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = 128;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  Status st = store_->RemoveDurably(ids, {4, 2});
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
  ASSERT_TRUE(st.ok()) << st.ToString();
  for (const BlobId& id : ids) EXPECT_EQ(store_->Get(id, {4, 2}).status().code(), ENOENT);
}

TEST(BlobIdTest, BlobIdHexRoundTripsAndRejectsGarbage) {
  const BlobId id = BlobId::Random();
  EXPECT_EQ(BlobId::FromHex(id.ToHex()), id);
  EXPECT_FALSE(BlobId::FromHex("xyz").has_value());
  EXPECT_FALSE(BlobId::FromHex(std::string(32, 'G')).has_value());
  EXPECT_NE(BlobId::Random(), BlobId::Random());
  const BlobId near = BlobId::RandomNear(id);
  EXPECT_NE(near, id);
  EXPECT_EQ(near.ToHex().substr(0, 4), id.ToHex().substr(0, 4));
  EXPECT_NE(near.ToHex().substr(4), id.ToHex().substr(4));
}

}  // namespace
}  // namespace sopfs
