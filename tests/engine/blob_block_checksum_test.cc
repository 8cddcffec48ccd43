// Shards checksummed in blocks (ShardHeader version 2): a range read verifies only the
// blocks it returns, damage anywhere is still found, version 1 shards still read, and
// a wrong guess of the shard length costs a second read, never wrong bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "engine/blob/blob_store.h"
#include "engine/blob/shard_header.h"
#include "tests/engine/blob_disk_fixture.h"
#include "tests/engine/blob_test_util.h"

namespace sopfs {
namespace {

using testing::PatternBytes;

constexpr ErasureLayout kLayout{4, 2};
constexpr uint64_t kShard = 1 << 18;  // of a 1 MiB blob in 4+2

class BlockChecksumTest : public testing::BlobStoreDiskTest {
 protected:
  void FlipByte(const BlobId& id, int shard, uint64_t file_offset) {
    std::fstream f(ShardPath(id, shard), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(file_offset));
    const char c = static_cast<char>(f.get());
    f.seekp(static_cast<std::streamoff>(file_offset));
    f.put(static_cast<char>(c ^ 0x5a));
  }

  std::string ReadFile(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), {}};
  }

  void WriteFile(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

  // Rewrites every shard of the blob as version 1 wrote it: one checksum over the
  // header and the whole payload, no table.
  void MakeVersionOne(const BlobId& id) {
    for (int i = 0; i < kLayout.total(); ++i) {
      std::string file = ReadFile(ShardPath(id, i));
      auto* bytes = reinterpret_cast<uint8_t*>(file.data());
      auto h = ShardHeader::Parse(std::span<const uint8_t, ShardHeader::kSize>(bytes, 64));
      ASSERT_TRUE(h.has_value());
      ASSERT_NE(h->block_size, 0u);
      h->block_size = 0;
      std::fill(bytes, bytes + h->payload_offset, 0);
      h->Encode({bytes, h->payload_offset}, {bytes + h->payload_offset, h->shard_length});
      WriteFile(ShardPath(id, i), file);
    }
  }

  // GetRange of `n` bytes at `offset`, checked against `data`; returns the bytes read.
  uint64_t ReadExact(const BlobId& id, const std::vector<uint8_t>& data, uint64_t offset, size_t n,
                     BlobReadReport* report = nullptr) {
    const uint64_t before = store_->counters().bytes_read;
    std::vector<uint8_t> out(n);
    auto got = store_->GetRange(id, kLayout, offset, out, report);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    if (!got.ok()) return 0;
    const size_t expect = offset >= data.size() ? 0 : std::min<size_t>(n, data.size() - offset);
    EXPECT_EQ(*got, expect) << "offset " << offset;
    EXPECT_TRUE(std::equal(out.begin(), out.begin() + static_cast<long>(expect),
                           data.begin() + static_cast<long>(offset)))
        << "offset " << offset;
    return store_->counters().bytes_read - before;
  }

  void RepairExpecting(const BlobId& id, int shard) {
    auto repaired = store_->Repair(id, kLayout);
    ASSERT_TRUE(repaired.ok()) << repaired.status().ToString();
    EXPECT_EQ(repaired->rewritten, (std::vector<int>{shard}));
  }
};

TEST(ShardHeaderTest, BlockSizeKeepsTheTableInsideTheHeaderPage) {
  EXPECT_EQ(ShardHeader::BlockSizeFor(1000), 0u);  // compact: one checksum
  EXPECT_EQ(ShardHeader::BlockSizeFor(64 << 10), 4096u);
  EXPECT_EQ(ShardHeader::BlockSizeFor(256 << 10), 4096u);
  for (uint64_t s :
       {uint64_t{2} << 20, uint64_t{3} << 20, uint64_t{64} << 20, ShardHeader::kMaxBlobLength}) {
    const uint64_t bs = ShardHeader::BlockSizeFor(s);
    EXPECT_LE((s + bs - 1) / bs, ShardHeader::kMaxBlocks) << s;
    EXPECT_GT((s + bs / 2 - 1) / (bs / 2), ShardHeader::kMaxBlocks) << s;  // the smallest
  }
}

TEST_F(BlockChecksumTest, BlockChecksumRangeReadsAreExactEverywhereAndReadOnlyTheirBlocks) {
  const BlobId id = BlobId::Random();
  const auto data = PatternBytes(1 << 20, 1);
  ASSERT_TRUE(store_->Put(id, kLayout, data).ok());
  ReadExact(id, data, 0, 1);  // the first read peeks at a header to learn the length
  std::set<uint64_t> shards_met = {0};
  for (uint64_t offset : {uint64_t{0}, uint64_t{4095}, uint64_t{12345}, kShard - 1, kShard,
                          3 * kShard + 4096 * 7, uint64_t{(1 << 20) - 4096}}) {
    const uint64_t within = offset % kShard;
    const uint64_t blocks = (within + 4095) / 4096 - within / 4096 + 1;
    const bool first = shards_met.insert(offset / kShard).second;
    shards_met.insert((offset + 4095) / kShard);  // a range across two shards reads both
    const uint64_t read = ReadExact(id, data, offset, 4096);
    // Inside one shard: the blocks the range touches, and the header page the first
    // time (its table is kept, ShardTableCache).
    if (within + 4096 <= kShard) {
      EXPECT_EQ(read, 4096 * ((first ? 1 : 0) + blocks)) << offset;
    }
  }
  // Across a shard boundary, a whole chunk, and past the end.
  ReadExact(id, data, kShard - 100, 300);
  ReadExact(id, data, 0, 1 << 20);
  ReadExact(id, data, (1 << 20) - 10, 4096);
  ReadExact(id, data, 1 << 20, 4096);
}

TEST_F(BlockChecksumTest,
       BlockChecksumDamageOutsideTheRangeIsNotReadAndInsideIsRepairedFromParity) {
  const BlobId id = BlobId::Random();
  const auto data = PatternBytes(1 << 20, 2);
  ASSERT_TRUE(store_->Put(id, kLayout, data).ok());
  FlipByte(id, 1, 4096 + 10 * 4096 + 7);  // shard 1, block 10
  BlobReadReport report;
  ReadExact(id, data, kShard + 20 * 4096, 4096, &report);  // block 20: good
  EXPECT_TRUE(report.bad_shards.empty());
  ReadExact(id, data, kShard + 10 * 4096, 100, &report);  // block 10: decoded from parity
  ASSERT_EQ(report.bad_shards.size(), 1u);
  EXPECT_EQ(report.bad_shards[0].shard, 1);
  EXPECT_TRUE(report.reconstructed);
  // The whole blob's read checks every block, so it finds the damage too.
  auto whole = store_->Get(id, kLayout, &report);
  ASSERT_TRUE(whole.ok());
  EXPECT_TRUE(*whole == data);
  EXPECT_EQ(report.bad_shards.size(), 1u);
  RepairExpecting(id, 1);
  // A damaged table (the header page) fails the shard, whichever block is asked for.
  FlipByte(id, 2, 64 + 8 * 30 + 3);
  ReadExact(id, data, 2 * kShard + 5 * 4096, 4096, &report);
  ASSERT_EQ(report.bad_shards.size(), 1u);
  EXPECT_EQ(report.bad_shards[0].shard, 2);
  RepairExpecting(id, 2);
  // A truncated shard: the blocks past its end are missing.
  std::filesystem::resize_file(ShardPath(id, 3), 4096 + 8192);
  ReadExact(id, data, 3 * kShard + 100 * 1024, 4096, &report);
  ASSERT_EQ(report.bad_shards.size(), 1u);
  EXPECT_EQ(report.bad_shards[0].shard, 3);
  RepairExpecting(id, 3);
  for (uint64_t offset = 0; offset < data.size(); offset += 40000) {
    ReadExact(id, data, offset, 4096, &report);
    EXPECT_TRUE(report.bad_shards.empty()) << offset;
  }
}

TEST_F(BlockChecksumTest, BlockChecksumCachedTablesSkipTheHeaderAndStillVerifyEveryBlock) {
  const BlobId id = BlobId::Random();
  const auto data = PatternBytes(1 << 20, 7);
  ASSERT_TRUE(store_->Put(id, kLayout, data).ok());
  ReadExact(id, data, 0, 1);
  // The first read of shard 1 reads its header page and its block; the next ones only
  // their blocks.
  EXPECT_EQ(ReadExact(id, data, kShard + 5 * 4096, 4096), 2 * 4096u);
  EXPECT_EQ(ReadExact(id, data, kShard + 9 * 4096, 4096), 4096u);
  // So damage to the header page is not even read now (reads that miss the cache, the
  // whole blob's and the scrub's find it)...
  FlipByte(id, 1, 64 + 8 * 30 + 3);
  BlobReadReport report;
  ReadExact(id, data, kShard + 7 * 4096, 4096, &report);
  EXPECT_TRUE(report.bad_shards.empty());
  // ...but every block read is still verified against the table: a damaged block is
  // found, and its bytes come from parity.
  FlipByte(id, 1, 4096 + 12 * 4096 + 99);
  EXPECT_GT(ReadExact(id, data, kShard + 12 * 4096, 4096, &report), 4096u);
  ASSERT_EQ(report.bad_shards.size(), 1u);
  EXPECT_EQ(report.bad_shards[0].shard, 1);
  EXPECT_TRUE(report.reconstructed);
  // A truncated shard fails its block read; a removed one its open.
  std::filesystem::resize_file(ShardPath(id, 1), 4096 + 8192);
  ReadExact(id, data, kShard + 20 * 4096, 4096, &report);
  ASSERT_EQ(report.bad_shards.size(), 1u);
  EXPECT_EQ(report.bad_shards[0].shard, 1);
  ReadExact(id, data, 2 * kShard + 3 * 4096, 4096);  // caches shard 2's table
  std::filesystem::remove(ShardPath(id, 2));
  ReadExact(id, data, 2 * kShard + 4 * 4096, 4096, &report);
  EXPECT_TRUE(std::any_of(report.bad_shards.begin(), report.bad_shards.end(),
                          [](const ShardProblem& p) { return p.shard == 2; }));
  EXPECT_TRUE(report.reconstructed);
}

TEST_F(BlockChecksumTest, BlockChecksumVersionOneShardsStillReadWholeAndInPart) {
  const BlobId id = BlobId::Random();
  const auto data = PatternBytes(1 << 20, 3);
  ASSERT_TRUE(store_->Put(id, kLayout, data).ok());
  MakeVersionOne(id);
  // Read in part, a version 1 shard is read and verified whole.
  EXPECT_EQ(ReadExact(id, data, kShard + 4096, 4096), 4096 + kShard);
  ReadExact(id, data, 1000, 1 << 19);
  auto whole = store_->Get(id, kLayout);
  ASSERT_TRUE(whole.ok());
  EXPECT_TRUE(*whole == data);
  // Its single checksum still catches damage anywhere in the payload.
  FlipByte(id, 0, 4096 + kShard - 1);
  BlobReadReport report;
  ReadExact(id, data, 0, 4096, &report);
  ASSERT_EQ(report.bad_shards.size(), 1u);
  EXPECT_TRUE(report.reconstructed);
}

TEST_F(BlockChecksumTest, BlockChecksumWrongLengthGuessesReadAgainAndReturnExactBytes) {
  const BlobId big = BlobId::Random(), mid = BlobId::Random(), small = BlobId::Random();
  const auto big_data = PatternBytes(1 << 20, 4);
  const auto mid_data = PatternBytes(300001, 5);
  const auto small_data = PatternBytes(20000, 6);  // compact shards
  ASSERT_TRUE(store_->Put(big, kLayout, big_data).ok());
  ASSERT_TRUE(store_->Put(mid, kLayout, mid_data).ok());
  ASSERT_TRUE(store_->Put(small, kLayout, small_data).ok());
  for (int round = 0; round < 2; ++round) {
    // Each read's guess is the length the read before found.
    ReadExact(big, big_data, 700000, 4096);
    ReadExact(mid, mid_data, 200000, 4096);
    ReadExact(small, small_data, 15000, 4096);
    ReadExact(mid, mid_data, 299000, 4096);
    ReadExact(big, big_data, 300000, 4096);
    ReadExact(small, small_data, 0, 30000);
    ReadExact(big, big_data, (1 << 20) - 1, 4096);
  }
  // A range past every shard of the guessed length (a 75 KB guess, a read at 900 KB of
  // a 1 MiB blob): the header is peeked, and still only blocks are read.
  ReadExact(mid, mid_data, 1000, 4096);
  EXPECT_LE(ReadExact(big, big_data, 900000, 4096), 3 * 4096u);
}

}  // namespace
}  // namespace sopfs
