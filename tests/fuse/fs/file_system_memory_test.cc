// What the file system holds in memory stays bounded: small files closed through the
// journal wait for a commit within small_file_buffer (closes wait for room, and fall
// back to committing the file themselves when commits fail), and inodes only the
// kernel references leave the table past inode_table_target, keeping their count.
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/fuse/fs/file_system_fixture.h"

namespace sopfs::testing {
namespace {

constexpr uint64_t kBuffer = 256 << 10;
constexpr size_t kFileBytes = 16 << 10;

std::string Content(int i) {
  std::string s(kFileBytes, static_cast<char>('a' + i % 26));
  s.replace(0, std::to_string(i).size(), std::to_string(i));
  return s;
}

class FileSystemMemoryTest : public FileSystemTest {
 protected:
  void SetUp() override {
    FileSystemTest::SetUp();
    adjust_options_ = [](FileSystemOptions& o) {
      o.small_file_buffer = kBuffer;
      o.small_room_wait = std::chrono::milliseconds(300);
      o.inode_table_target = 8;
    };
    ASSERT_NO_FATAL_FAILURE(Reopen());
  }
  uint64_t Pending() { return fs_->memory_counts().small_pending_bytes; }
};

TEST_F(FileSystemMemoryTest, SmallClosesWaitForCommitsSoThePendingBytesStayWithinTheBuffer) {
  uint64_t most = 0;
  for (int i = 0; i < 200; ++i) {  // 3.2 MiB of small files, 12 times the buffer
    WriteFile(kRoot, "f" + std::to_string(i), Content(i));
    most = std::max(most, Pending());
  }
  // One close adds at most its own bytes to a buffer it found not full.
  EXPECT_LE(most, kBuffer + kFileBytes);
  EXPECT_GT(most, 0u) << "no close went through the journal";
  ASSERT_NO_FATAL_FAILURE(KillNine());  // what waited in memory is in the journal too
  for (int i = 0; i < 200; ++i) {
    Result<uint64_t> ino = Ino(kRoot, "f" + std::to_string(i));
    ASSERT_TRUE(ino.ok()) << i;
    EXPECT_EQ(ReadFile(*ino), Content(i)) << i;
  }
}

TEST_F(FileSystemMemoryTest, WhenCommitsFailAFullBufferMakesClosesFailAfterTheWaitNotGrowOrHang) {
  // Commits write their blobs before their record (none carried in it, which the
  // engine stops doing only once a spill has failed): every commit meets the failure.
  adjust_engine_ = [](EngineOptions& o) { o.carry_bytes = 0; };
  ASSERT_NO_FATAL_FAILURE(Reopen());
  // Three of six data folders full: no blob reaches its quorum, every commit fails.
  for (int i = 0; i < 3; ++i) env_.FailFolder("/vol/data-" + std::to_string(i), ENOSPC);
  std::vector<int> closed;
  int failed = 0;
  for (int i = 0; i < 40 && failed < 3; ++i) {
    const std::string name = "f" + std::to_string(i);
    auto made = fs_->MakeNode(kRoot, name, S_IFREG | 0644, 0, {});
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    ASSERT_TRUE(fs_->Open(made->st_ino, true, {}).ok());
    const std::string text = Content(i);
    auto bytes = std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size());
    ASSERT_TRUE(fs_->Write(made->st_ino, 0, bytes, {}).ok());
    const auto start = std::chrono::steady_clock::now();
    Status st = fs_->Flush(made->st_ino, true, {});
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_LT(took, std::chrono::seconds(10)) << "close " << i << " hung";
    (void)fs_->Release(made->st_ino, true, {});
    if (st.ok()) {
      closed.push_back(i);
    } else {
      EXPECT_EQ(st.code(), ENOSPC) << st.ToString();
      ++failed;
    }
    EXPECT_LE(Pending(), kBuffer + kFileBytes);
  }
  ASSERT_EQ(failed, 3) << "a full buffer with failing commits never failed a close";
  ASSERT_GE(closed.size(), kBuffer / kFileBytes / 2) << "closes failed before the buffer filled";
  for (int i = 0; i < 3; ++i) env_.HealFolder("/vol/data-" + std::to_string(i));
  ASSERT_NO_FATAL_FAILURE(Reopen());  // commits what waited, then reads it back
  for (int i : closed) {
    Result<uint64_t> ino = Ino(kRoot, "f" + std::to_string(i));
    ASSERT_TRUE(ino.ok()) << i;
    EXPECT_EQ(ReadFile(*ino), Content(i)) << i;
  }
}

TEST_F(FileSystemMemoryTest, InodesOnlyTheKernelHoldsLeaveTheTableAndComeBackWithTheirCount) {
  std::vector<uint64_t> inos;
  for (int i = 0; i < 50; ++i) {
    inos.push_back(WriteFile(kRoot, "f" + std::to_string(i), "x" + std::to_string(i)));
  }
  for (uint64_t ino : inos) fs_->Forget(ino, 1);  // the create's reference
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(Ino(kRoot, "f" + std::to_string(i)).ok());  // one more
  ASSERT_TRUE(fs_->Fsync(kRoot, {}).ok());  // a namespace commit sweeps the table
  FileSystem::MemoryCounts counts = fs_->memory_counts();
  EXPECT_LE(counts.inodes, 8u + 1u);
  EXPECT_GE(counts.parked_inodes, 40u);
  // A parked inode reads, renames and unlinks like any other.
  EXPECT_EQ(ReadFile(inos[3]), "x3");
  EXPECT_EQ(Stat(inos[4]).st_size, 2);
  ASSERT_TRUE(fs_->Rename(kRoot, "f5", kRoot, "g5", 0, {}).ok());
  ASSERT_TRUE(fs_->Unlink(kRoot, "f6", {}).ok());
  ASSERT_TRUE(fs_->Fsync(kRoot, {}).ok());
  // Its kernel reference came back with it: one forget drops it, no more.
  for (int i = 10; i < 50; ++i) fs_->Forget(inos[i], 1);
  ASSERT_TRUE(fs_->Fsync(kRoot, {}).ok());
  counts = fs_->memory_counts();
  EXPECT_LE(counts.parked_inodes, 10u);
  for (int i = 10; i < 50; ++i) EXPECT_EQ(ReadFile(inos[i]), "x" + std::to_string(i));
  ASSERT_NO_FATAL_FAILURE(Reopen());
  EXPECT_FALSE(Ino(kRoot, "f6").ok());
  Result<uint64_t> renamed = Ino(kRoot, "g5");
  ASSERT_TRUE(renamed.ok());
  EXPECT_EQ(ReadFile(*renamed), "x5");
}

}  // namespace
}  // namespace sopfs::testing
