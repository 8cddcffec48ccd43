// fallocate in the file model, on an in-memory disk whose capacity the test sets: mode 0
// and FALLOC_FL_KEEP_SIZE promise room (SpaceReserve) that a full disk cannot take from
// the file's later writes; a promise the disk cannot keep fails at once with ENOSPC.
#include <linux/falloc.h>

#include "tests/fuse/fs/file_system_fixture.h"

namespace sopfs::testing {
namespace {

class FileSystemFallocateTest : public FileSystemTest {
 protected:
  uint64_t Create(std::string_view name) {
    auto st = fs_->MakeNode(kRoot, name, S_IFREG | 0644, 0, {});
    EXPECT_TRUE(st.ok()) << st.status().ToString();
    return st.ok() ? st->st_ino : 0;
  }
};

TEST_F(FileSystemFallocateTest, ModeZeroGrowsTheFileKeepSizeDoesNotAndBothReadAsZeros) {
  const uint64_t f = WriteFile(kRoot, "f", "data");
  ASSERT_TRUE(fs_->Fallocate(f, 0, 2, 3 * kChunkSize, {}).ok());
  EXPECT_EQ(Stat(f).st_size, 2 + 3 * kChunkSize);
  EXPECT_EQ(ReadFile(f), "da" + std::string("ta") + std::string(3 * kChunkSize - 2, '\0'));
  const uint64_t g = WriteFile(kRoot, "g", "keep");
  ASSERT_TRUE(fs_->Fallocate(g, FALLOC_FL_KEEP_SIZE, 0, 5 * kChunkSize, {}).ok());
  EXPECT_EQ(Stat(g).st_size, 4);
  EXPECT_EQ(ReadFile(g), "keep");
  EXPECT_EQ(fs_->promised_chunks(), 3u + 4u);  // the chunks holding no data
  Reopen();  // promises last while mounted; the sizes are committed
  EXPECT_EQ(Stat(f).st_size, 2 + 3 * kChunkSize);
  EXPECT_EQ(Stat(g).st_size, 4);
  EXPECT_EQ(fs_->promised_chunks(), 0u);
}

TEST_F(FileSystemFallocateTest, APromiseBeyondTheFreeSpaceFailsAtOnceAndPromisesNothing) {
  env_.SetCapacity(Used() + 40 * kChunkSize);
  const uint64_t f = Create("f");
  EXPECT_EQ(fs_->Fallocate(f, 0, 0, 100 * kChunkSize, {}).code(), ENOSPC);
  EXPECT_EQ(Stat(f).st_size, 0);
  EXPECT_EQ(fs_->promised_chunks(), 0u);
  // What fits is promised, and the rest of the disk stays usable.
  EXPECT_TRUE(fs_->Fallocate(f, 0, 0, 10 * kChunkSize, {}).ok());
  EXPECT_TRUE(WriteAt(WriteFile(kRoot, "other", "x"), 0, std::string(kChunkSize, 'o')).ok());
}

TEST_F(FileSystemFallocateTest, WritesIntoAPromisedRangeSucceedOnAFullDiskAndSurviveACrash) {
  const uint64_t f = Create("promised");
  ASSERT_TRUE(fs_->Fallocate(f, 0, 0, 4 * kChunkSize, {}).ok());
  ASSERT_TRUE(fs_->Sync().ok());
  env_.SetCapacity(Used());  // the disk is full: nothing is free but what was promised
  EXPECT_EQ(env_.StatFs("/vol")->free_bytes, 0u);
  std::string bytes(4 * kChunkSize, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>('a' + i % 23);
  Status wrote = WriteAt(f, 0, bytes);
  ASSERT_TRUE(wrote.ok()) << wrote.ToString();  // close committed it
  EXPECT_EQ(fs_->promised_chunks(), 0u);
  Crash();
  EXPECT_EQ(ReadFile(*Ino(kRoot, "promised")), bytes);
}

TEST_F(FileSystemFallocateTest, CuttingOrDeletingTheFileGivesItsPromisedRoomBack) {
  const uint64_t f = Create("f");
  ASSERT_TRUE(fs_->Fallocate(f, FALLOC_FL_KEEP_SIZE, 0, 8 * kChunkSize, {}).ok());
  ASSERT_TRUE(fs_->Fallocate(f, 0, 0, 6 * kChunkSize, {}).ok());  // promised already
  EXPECT_EQ(fs_->promised_chunks(), 8u);
  AttrChange cut;
  cut.size = 3 * kChunkSize;
  ASSERT_TRUE(fs_->SetAttr(f, cut, {}).ok());
  EXPECT_EQ(fs_->promised_chunks(), 3u);
  ASSERT_TRUE(fs_->Unlink(kRoot, "f", {}).ok());
  fs_->Forget(f, 1);
  ASSERT_TRUE(fs_->Sync().ok());
  EXPECT_EQ(fs_->promised_chunks(), 0u);
  EXPECT_EQ(fs_->Fallocate(WriteFile(kRoot, "g", "x"), FALLOC_FL_COLLAPSE_RANGE, 0, kChunkSize, {})
                .code(),
            EOPNOTSUPP);
}

TEST_F(FileSystemFallocateTest, ClosingASmallFileKeepsTheRoomPromisedPastItsEnd) {
  const uint64_t f = Create("f");
  ASSERT_TRUE(fs_->Fallocate(f, FALLOC_FL_KEEP_SIZE, 0, 8 * kChunkSize, {}).ok());
  ASSERT_TRUE(WriteAt(f, 0, "tiny").ok());   // closes through the journal
  EXPECT_EQ(fs_->promised_chunks(), 7u);     // chunk 0 now holds the bytes
  ASSERT_TRUE(fs_->Open(f, true, {}).ok());  // an empty open and close changes nothing
  ASSERT_TRUE(fs_->Flush(f, true, {}).ok());
  ASSERT_TRUE(fs_->Release(f, true, {}).ok());
  EXPECT_EQ(fs_->promised_chunks(), 7u);
}

TEST_F(FileSystemFallocateTest, ARefusedRequestLeavesEarlierPromisesAndTheSizeAlone) {
  const uint64_t f = Create("f");
  ASSERT_TRUE(fs_->Fallocate(f, FALLOC_FL_KEEP_SIZE, 0, 8 * kChunkSize, {}).ok());
  const uint64_t pib = uint64_t{1} << 50;
  EXPECT_EQ(fs_->Fallocate(f, 0, pib - 1, 2, {}).code(), EFBIG);
  EXPECT_EQ(fs_->Fallocate(f, 0, 0, pib - kChunkSize, {}).code(), ENOSPC);
  EXPECT_EQ(fs_->promised_chunks(), 8u);
  EXPECT_EQ(Stat(f).st_size, 0);
}

}  // namespace
}  // namespace sopfs::testing
