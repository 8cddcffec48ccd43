// ChunkFile against an in-memory model: writes across chunk boundaries, partial chunk
// updates, truncate down and up, holes, rollback, and reopen.
#include "streaming/chunk_file.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/streaming/chunk_tree_fixture.h"

namespace sopfs {
namespace {

class ChunkFileTest : public ChunkTreeTest {
 protected:
  std::string ReadWhole(Transaction& txn, uint64_t file, uint64_t size) {
    ChunkFile f(*txn.Tree(tree_, ChunkFile::TreeOptions()), file, kChunk);
    std::string out(size + 100, 'x');
    auto n = f.ReadAt(size, 0, {reinterpret_cast<uint8_t*>(out.data()), out.size()});
    EXPECT_TRUE(n.ok());
    EXPECT_EQ(*n, size);
    out.resize(size);
    return out;
  }
};

TEST_F(ChunkFileTest, StreamingRandomWritesTruncatesAndReadsMatchAModelAcrossReopens) {
  std::mt19937 rng(7);
  std::string model;  // file 1's bytes
  for (int round = 0; round < 40; ++round) {
    auto txn = engine_->Begin();
    ChunkFile file(*txn->Tree(tree_, ChunkFile::TreeOptions()), 1, kChunk);
    std::string pending = model;
    for (int op = 0; op < 6; ++op) {
      const int kind = static_cast<int>(rng() % 5);
      if (kind <= 2) {  // write somewhere, maybe past the end (a hole between)
        const uint64_t offset = rng() % (pending.size() + 3 * kChunk);
        const size_t length = 1 + rng() % (2 * kChunk + 10);
        std::string data(length, '\0');
        for (char& c : data) c = static_cast<char>('a' + rng() % 26);
        auto size = file.WriteAt(pending.size(), offset,
                                 {reinterpret_cast<const uint8_t*>(data.data()), length});
        ASSERT_TRUE(size.ok()) << size.status().ToString();
        if (pending.size() < offset + length) pending.resize(offset + length, '\0');
        pending.replace(offset, length, data);
        ASSERT_EQ(*size, pending.size());
      } else if (kind == 3) {  // truncate down or up
        const uint64_t new_size = rng() % (pending.size() + 2 * kChunk + 1);
        ASSERT_TRUE(file.Truncate(pending.size(), new_size).ok());
        pending.resize(new_size, '\0');
      } else {  // read a random range
        const uint64_t offset = rng() % (pending.size() + 10);
        std::string out(rng() % (3 * kChunk), 'x');
        auto n = file.ReadAt(pending.size(), offset,
                             {reinterpret_cast<uint8_t*>(out.data()), out.size()});
        ASSERT_TRUE(n.ok());
        const size_t want =
            offset >= pending.size() ? 0 : std::min<size_t>(out.size(), pending.size() - offset);
        ASSERT_EQ(*n, want);
        if (want > 0) {
          ASSERT_EQ(out.substr(0, want), pending.substr(offset, want));
        }
      }
    }
    ASSERT_EQ(ReadWhole(*txn, 1, pending.size()), pending);
    if (rng() % 4 == 0) {
      txn->Rollback();
    } else {
      ASSERT_TRUE(txn->Commit().ok());
      model = pending;
    }
    txn.reset();
    if (rng() % 5 == 0) Reopen();
    auto check = engine_->Begin(TxnMode::kReader);
    ASSERT_EQ(ReadWhole(*check, 1, model.size()), model) << "round " << round;
  }
}

TEST_F(ChunkFileTest, StreamingHolesTakeNoSpaceAndTruncateRemovesChunks) {
  auto txn = engine_->Begin();
  ChunkFile file(*txn->Tree(tree_, ChunkFile::TreeOptions()), 9, kChunk);
  const std::string data(100, 'd');
  // 100 bytes at 10 chunks in: one stored chunk, the rest a hole.
  auto size =
      file.WriteAt(0, 10 * kChunk + 5, {reinterpret_cast<const uint8_t*>(data.data()), 100});
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 10 * kChunk + 105);
  EXPECT_EQ(*file.StoredChunks(*size), 1u);
  std::string hole(kChunk, 'x');
  auto n = file.ReadAt(*size, 3 * kChunk, {reinterpret_cast<uint8_t*>(hole.data()), kChunk});
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(hole, std::string(kChunk, '\0'));
  // A whole-chunk write, then truncating into it keeps a cut chunk; growing reads zeros.
  const std::string whole(kChunk, 'w');
  ASSERT_TRUE(
      file.WriteAt(*size, 0, {reinterpret_cast<const uint8_t*>(whole.data()), kChunk}).ok());
  EXPECT_EQ(*file.StoredChunks(*size), 2u);
  ASSERT_TRUE(file.Truncate(*size, 10).ok());
  EXPECT_EQ(*file.StoredChunks(10), 1u);
  ASSERT_TRUE(file.Truncate(10, 3 * kChunk).ok());
  std::string grown(3 * kChunk, 'x');
  ASSERT_TRUE(
      file.ReadAt(3 * kChunk, 0, {reinterpret_cast<uint8_t*>(grown.data()), grown.size()}).ok());
  EXPECT_EQ(grown, std::string(10, 'w') + std::string(3 * kChunk - 10, '\0'));
  ASSERT_TRUE(file.RemoveAll(3 * kChunk).ok());
  EXPECT_EQ(*file.StoredChunks(3 * kChunk), 0u);
  EXPECT_EQ(
      file.WriteAt(0, ChunkFile::kMaxFileSize, {reinterpret_cast<const uint8_t*>(data.data()), 1})
          .status()
          .code(),
      EINVAL);
  ASSERT_TRUE(txn->Commit().ok());
}

// Small chunks (small files) are kept in the chunk tree's nodes and so are packed into
// node segments; a chunk over kInNodeBytes is a blob of its own. Moving a chunk across
// the threshold either way keeps its bytes.
TEST_F(ChunkFileTest, StreamingSmallChunksLiveInTheNodeAndLargerOnesInBlobs) {
  constexpr uint64_t kFiles = 200;
  constexpr size_t kSmall = ChunkFile::kInNodeBytes;
  static_assert(ChunkFile::kInNodeBytes + 1 < kChunk, "the large case must fit one chunk");
  auto write_files = [&](uint64_t first_id, size_t bytes) {
    const uint64_t before = engine_->Stats().blobs_written;
    auto txn = engine_->Begin();
    for (uint64_t id = first_id; id < first_id + kFiles; ++id) {
      ChunkFile file(Chunks(*txn), id, kChunk);
      EXPECT_TRUE(file.WriteChunk(0, std::string(bytes, static_cast<char>('a' + id % 26))).ok());
    }
    EXPECT_TRUE(txn->Commit().ok());
    return engine_->Stats().blobs_written - before;
  };
  const uint64_t small_blobs = write_files(1000, kSmall);
  const uint64_t large_blobs = write_files(2000, kSmall + 1);
  EXPECT_LT(small_blobs, 10u) << "200 small chunks should be a few node segments";
  EXPECT_GE(large_blobs, kFiles) << "every larger chunk is a blob of its own";

  ASSERT_NO_FATAL_FAILURE(Reopen());
  {
    auto txn = engine_->Begin(TxnMode::kReader);
    for (uint64_t id : {uint64_t{1000}, uint64_t{1199}}) {
      EXPECT_EQ(ReadWhole(*txn, id, kSmall), std::string(kSmall, static_cast<char>('a' + id % 26)));
    }
    EXPECT_EQ(ReadWhole(*txn, 2000, kSmall + 1), std::string(kSmall + 1, 'a' + 2000 % 26));
  }
  // A small chunk grown past the threshold moves to a blob; cut back, into the node.
  auto txn = engine_->Begin();
  ChunkFile file(Chunks(*txn), 1000, kChunk);
  const std::string tail(100, 'T');
  auto grown =
      file.WriteAt(kSmall, kSmall, {reinterpret_cast<const uint8_t*>(tail.data()), tail.size()});
  ASSERT_TRUE(grown.ok());
  ASSERT_TRUE(file.Truncate(*grown, 10).ok());
  ChunkFile big(Chunks(*txn), 2000, kChunk);
  ASSERT_TRUE(big.Truncate(kSmall + 1, 5).ok());
  ASSERT_TRUE(txn->Commit().ok());
  ASSERT_NO_FATAL_FAILURE(Reopen());
  auto check = engine_->Begin(TxnMode::kReader);
  EXPECT_EQ(ReadWhole(*check, 1000, 10), std::string(10, 'a' + 1000 % 26));
  EXPECT_EQ(ReadWhole(*check, 2000, 5), std::string(5, 'a' + 2000 % 26));
}

}  // namespace
}  // namespace sopfs
