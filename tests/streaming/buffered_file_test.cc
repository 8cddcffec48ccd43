// BufferedFile against an in-memory model: buffered and pipelined writes, partial and
// whole chunks, truncates, zero ranges, SEEK_DATA/SEEK_HOLE, reads while chunks are in
// flight, commit or rollback, and reopen.
#include "streaming/buffered_file.h"

#include <gtest/gtest.h>

#include <random>

#include "tests/streaming/chunk_tree_fixture.h"

namespace sopfs {
namespace {

class BufferedFileTest : public ChunkTreeTest {
 protected:
  static std::string ReadAll(BufferedFile& f) {
    std::string out(f.size() + 50, 'x');
    auto n = f.Read(0, {reinterpret_cast<uint8_t*>(out.data()), out.size()});
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    EXPECT_EQ(*n, f.size());
    out.resize(f.size());
    return out;
  }
  // "" when equal, else where and how the two differ (never the whole contents).
  static std::string Diff(const std::string& got, const std::string& want) {
    if (got == want) return "";
    size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
    return "sizes " + std::to_string(got.size()) + " vs " + std::to_string(want.size()) +
           ", first difference at byte " + std::to_string(i);
  }
  static std::span<const uint8_t> Bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
  }
};

TEST_F(BufferedFileTest, StreamingRandomOpsMatchAModelAcrossCommitsRollbacksAndReopens) {
  std::mt19937 rng(11);
  std::string model;  // committed bytes
  uint64_t stored = 0;
  for (int round = 0; round < 30; ++round) {
    auto txn = engine_->Begin(TxnMode::kNoCheck);
    std::string pending = model;
    uint64_t size_after = 0, stored_after = 0;
    {
      BufferedFile file(*txn->Tree(tree_, ChunkFile::TreeOptions()), 1, kChunk, model.size(),
                        stored);
      for (int op = 0; op < 25; ++op) {
        const int kind = static_cast<int>(rng() % 10);
        if (kind <= 5) {  // write: whole chunks (streaming) or a piece anywhere
          const bool stream = kind <= 1;
          const uint64_t offset = stream ? (rng() % (pending.size() / kChunk + 3)) * kChunk
                                         : rng() % (pending.size() + 3 * kChunk);
          const size_t length = stream ? kChunk * (1 + rng() % 5) : 1 + rng() % (2 * kChunk);
          std::string data(length, '\0');
          for (char& c : data) c = static_cast<char>('a' + rng() % 26);
          ASSERT_TRUE(file.Write(offset, Bytes(data)).ok());
          if (pending.size() < offset + length) pending.resize(offset + length, '\0');
          pending.replace(offset, length, data);
        } else if (kind == 6) {
          const uint64_t n = rng() % (pending.size() + 2 * kChunk + 1);
          ASSERT_TRUE(file.Truncate(n).ok());
          pending.resize(n, '\0');
        } else if (kind == 7) {  // punch a hole / zero a range
          const uint64_t offset = rng() % (pending.size() + kChunk);
          const uint64_t length = 1 + rng() % (3 * kChunk);
          const bool extend = rng() % 2;
          ASSERT_TRUE(file.ZeroRange(offset, length, extend).ok());
          const uint64_t end =
              extend ? offset + length : std::min<uint64_t>(offset + length, pending.size());
          if (extend && pending.size() < end) pending.resize(end, '\0');
          for (uint64_t i = offset; i < end; ++i) pending[i] = '\0';
        } else if (kind == 8 && !pending.empty()) {  // a read anywhere, also in flight
          const uint64_t offset = rng() % pending.size();
          std::string out(1 + rng() % (3 * kChunk), 'x');
          auto n = file.Read(offset, {reinterpret_cast<uint8_t*>(out.data()), out.size()});
          ASSERT_TRUE(n.ok());
          ASSERT_EQ(*n, std::min<uint64_t>(out.size(), pending.size() - offset));
          ASSERT_EQ(Diff(out.substr(0, *n), pending.substr(offset, *n)), "")
              << "round " << round << " op " << op << " read at " << offset;
        } else if (!pending.empty()) {  // SEEK_DATA finds data at or before any non-zero byte
          const uint64_t offset = rng() % pending.size();
          auto data = file.Seek(offset, true);
          const size_t nonzero = pending.find_first_not_of('\0', offset);
          if (nonzero != std::string::npos) {
            ASSERT_TRUE(data.ok());
            ASSERT_LE(*data, nonzero);
            ASSERT_GE(*data, offset);
          }
          auto hole = file.Seek(offset, false);
          ASSERT_TRUE(hole.ok());
          ASSERT_LE(*hole, pending.size());
          ASSERT_EQ(pending.find_first_not_of('\0', offset) == std::string::npos || *hole >= offset,
                    true);
        }
      }
      ASSERT_EQ(Diff(ReadAll(file), pending), "") << "round " << round;
      ASSERT_TRUE(file.Flush().ok());
      ASSERT_FALSE(file.dirty());
      ASSERT_EQ(Diff(ReadAll(file), pending), "") << "after flush, round " << round;
      size_after = file.size();
      stored_after = file.stored_chunks();
      auto counted = ChunkFile(*txn->Tree(tree_, ChunkFile::TreeOptions()), 1, kChunk)
                         .StoredChunks(size_after);
      ASSERT_TRUE(counted.ok());
      ASSERT_EQ(*counted, stored_after) << "stored chunk count drifted in round " << round;
    }
    if (rng() % 4 == 0) {
      txn->Rollback();
    } else {
      ASSERT_TRUE(txn->Commit().ok());
      model = pending;
      stored = stored_after;
      ASSERT_EQ(size_after, model.size());
    }
    if (round % 7 == 6) Reopen();
    auto check = engine_->Begin(TxnMode::kReader);
    BufferedFile reader(*check->Tree(tree_, ChunkFile::TreeOptions()), 1, kChunk, model.size(),
                        stored);
    ASSERT_EQ(Diff(ReadAll(reader), model), "") << "after round " << round;
  }
}

TEST_F(BufferedFileTest, StreamingWholeChunksAreWrittenWithoutReadingAndMemoryStaysBounded) {
  auto txn = engine_->Begin(TxnMode::kNoCheck);
  BufferedFile file(*txn->Tree(tree_, ChunkFile::TreeOptions()), 1, kChunk, 0, 0);
  const uint64_t before = engine_->Stats().blob_bytes_read;
  std::string chunk(kChunk, 'z');
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(file.Write(uint64_t{kChunk} * i, Bytes(chunk)).ok());
  }
  ASSERT_TRUE(file.Flush().ok());
  EXPECT_EQ(engine_->Stats().blob_bytes_read, before) << "a streaming write read old chunks";
  EXPECT_EQ(file.stored_chunks(), 200u);
  ASSERT_TRUE(txn->Commit().ok());
}

// A database's page writes: small pieces into chunks already stored. They are kept as
// patches, so no chunk is read until the flush, which reads each patched chunk once;
// the patches never hold more than their budget.
TEST_F(BufferedFileTest, StreamingSmallWritesIntoStoredChunksReadNoChunkUntilTheFlush) {
  // The test counts reads from the data folders: chunks go there at once, not into
  // commit records held in memory (held_blobs.h).
  ASSERT_NO_FATAL_FAILURE(ReopenWithoutCarrying());
  constexpr uint64_t kChunks = 20;
  std::string model(kChunks * kChunk, '\0');
  for (size_t i = 0; i < model.size(); ++i) model[i] = static_cast<char>('a' + i % 23);
  {
    auto txn = engine_->Begin(TxnMode::kNoCheck);
    BufferedFile file(Chunks(*txn), 1, kChunk, 0, 0);
    ASSERT_TRUE(file.Write(0, Bytes(model)).ok());
    ASSERT_TRUE(file.Flush().ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  std::mt19937 rng(5);
  auto txn = engine_->Begin(TxnMode::kNoCheck);
  constexpr size_t kBudget = 8 * kChunk;
  BufferedFile file(Chunks(*txn), 1, kChunk, model.size(), kChunks,
                    BufferedFile::kDefaultMaxDirtyChunks, kBudget);
  const uint64_t before = engine_->Stats().blob_bytes_read;
  // Ten chunks, overlapping and touching pieces, one piece across a chunk boundary.
  for (int i = 0; i < 60; ++i) {
    const uint64_t chunk = 2 * (rng() % 10);
    const uint64_t offset = chunk * kChunk + rng() % (kChunk - 200);
    std::string data(1 + rng() % 200, static_cast<char>('A' + i % 26));
    if (i == 59) data.assign(kChunk / 2, '#');  // crosses into the next chunk
    ASSERT_TRUE(file.Write(offset, Bytes(data)).ok());
    model.replace(offset, data.size(), data);
    EXPECT_LE(file.patch_cost(), kBudget);
  }
  EXPECT_EQ(engine_->Stats().blob_bytes_read, before) << "a small write read its chunk";
  EXPECT_TRUE(file.dirty());
  ASSERT_EQ(Diff(ReadAll(file), model), "");
  const uint64_t before_flush = engine_->Stats().blob_bytes_read;
  ASSERT_TRUE(file.Flush().ok());
  EXPECT_EQ(file.patch_cost(), 0u);
  EXPECT_GT(engine_->Stats().blob_bytes_read, before_flush) << "the flush read no chunk";
  ASSERT_TRUE(txn->Commit().ok());
  Reopen();
  auto reader = engine_->Begin(TxnMode::kReader);
  BufferedFile stored(Chunks(*reader), 1, kChunk, model.size(), kChunks);
  EXPECT_EQ(Diff(ReadAll(stored), model), "");

  // Past the budget, the heaviest patched chunks are stored: the patches stay bounded.
  auto again = engine_->Begin(TxnMode::kNoCheck);
  BufferedFile small_budget(Chunks(*again), 1, kChunk, model.size(), kChunks,
                            BufferedFile::kDefaultMaxDirtyChunks, 1000);
  for (uint64_t chunk = 0; chunk < kChunks; ++chunk) {
    const std::string data(300, static_cast<char>('0' + chunk % 10));
    ASSERT_TRUE(small_budget.Write(chunk * kChunk + 7, Bytes(data)).ok());
    model.replace(chunk * kChunk + 7, data.size(), data);
    EXPECT_LE(small_budget.patch_cost(), 1000u);
  }
  ASSERT_EQ(Diff(ReadAll(small_budget), model), "");
  ASSERT_TRUE(small_budget.Flush().ok());
  ASSERT_TRUE(again->Commit().ok());

  // A budget shared by files: one file keeps more than its own while they all fit, and
  // gives back what it held once stored; past the shared limit it stores again.
  auto shared = std::make_shared<PatchBudget>(3000);
  auto third = engine_->Begin(TxnMode::kNoCheck);
  {
    BufferedFile shares(Chunks(*third), 1, kChunk, model.size(), kChunks,
                        BufferedFile::kDefaultMaxDirtyChunks, 1000);
    shares.SetPatchBudget(shared);
    const uint64_t reads = engine_->Stats().blob_bytes_read;
    for (uint64_t chunk = 0; chunk < kChunks; ++chunk) {
      const std::string data(200, static_cast<char>('k' + chunk % 10));
      ASSERT_TRUE(shares.Write(chunk * kChunk + 99, Bytes(data)).ok());
      model.replace(chunk * kChunk + 99, data.size(), data);
      EXPECT_EQ(shared->used.load(), shares.patch_cost());
      EXPECT_LE(shares.patch_cost(), 3000u + 200 + ChunkPatches::kRangeCost);
      if (chunk < 10) {
        EXPECT_EQ(engine_->Stats().blob_bytes_read, reads) << chunk;
      }
    }
    EXPECT_GT(shares.patch_cost(), 1000u) << "the shared budget was not used";
    EXPECT_GT(engine_->Stats().blob_bytes_read, reads) << "the shared limit was not kept";
    ASSERT_EQ(Diff(ReadAll(shares), model), "");
    ASSERT_TRUE(shares.Flush().ok());
    EXPECT_EQ(shared->used.load(), 0u);
  }
  ASSERT_TRUE(third->Commit().ok());
  auto last = engine_->Begin(TxnMode::kReader);
  BufferedFile reread(Chunks(*last), 1, kChunk, model.size(), kChunks);
  EXPECT_EQ(Diff(ReadAll(reread), model), "");
}

TEST_F(BufferedFileTest, StreamingHolesTakeNoSpaceAndSeekFindsData) {
  auto txn = engine_->Begin(TxnMode::kNoCheck);
  BufferedFile file(*txn->Tree(tree_, ChunkFile::TreeOptions()), 1, kChunk, 0, 0);
  const std::string data(100, 'd');
  ASSERT_TRUE(file.Write(50 * kChunk + 10, Bytes(data)).ok());
  ASSERT_TRUE(file.Flush().ok());
  EXPECT_EQ(file.stored_chunks(), 1u);
  auto at = file.Seek(0, true);
  ASSERT_TRUE(at.ok());
  EXPECT_EQ(*at, 50u * kChunk);
  auto hole = file.Seek(50 * kChunk, false);
  ASSERT_TRUE(hole.ok());
  EXPECT_EQ(*hole, file.size());  // the end counts as a hole
  EXPECT_EQ(file.Seek(file.size(), true).status().code(), ENXIO);
  ASSERT_TRUE(file.ZeroRange(50 * kChunk, kChunk, false).ok());
  EXPECT_EQ(file.stored_chunks(), 0u);
  EXPECT_EQ(file.Seek(0, true).status().code(), ENXIO);
}

TEST_F(BufferedFileTest, StreamingAChunkThatFailedInFlightFailsEveryLaterChangeAndTheFlush) {
  // The chunk's write must meet the failing folders: no holding in memory.
  ASSERT_NO_FATAL_FAILURE(ReopenWithoutCarrying());
  auto txn = engine_->Begin(TxnMode::kNoCheck);
  BufferedFile file(*txn->Tree(tree_, ChunkFile::TreeOptions()), 1, kChunk, 0, 0);
  // Three of six folders fail: below the write quorum, so chunk 0's blob cannot be
  // written. Its Write returns before that is known (the chunk goes in flight).
  for (int i = 0; i < 3; ++i) env_.FailFolder("/vol/data" + std::to_string(i), EIO);
  const std::string chunk(kChunk, 'c');
  ASSERT_TRUE(file.Write(0, Bytes(chunk)).ok());
  // The failure surfaces in the next call that waits for chunks in flight.
  EXPECT_FALSE(file.Seek(0, true).ok());
  for (int i = 0; i < 3; ++i) env_.HealFolder("/vol/data" + std::to_string(i));
  // The disk is fine again, but chunk 0 was lost: nothing may look committed-ready.
  EXPECT_FALSE(file.Flush().ok()) << "flush after a lost chunk reported success";
  EXPECT_FALSE(file.Write(16 * kChunk, Bytes(chunk)).ok()) << "a failed file accepted more";
  EXPECT_FALSE(file.Truncate(0).ok());
}

}  // namespace
}  // namespace sopfs
