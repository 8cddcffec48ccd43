// The close journal inside FileSystem, against kill -9 (FaultEnv::Restart: every write
// stays, nothing of the shutdown runs) at the worst moments of a namespace commit.
#include <sys/stat.h>

#include "tests/fuse/fs/file_system_fixture.h"

namespace sopfs::testing {
namespace {

class FileSystemJournalTest : public FileSystemTest {};

// A namespace commit took the new name, then the file closed through the journal, then
// the daemon died before that commit was durable: the record must carry the name too.
TEST_F(FileSystemJournalTest, AFileClosedWhileACommitInFlightHoldsItsNameSurvivesKillNine) {
  auto made = fs_->MakeNode(kRoot, "new", S_IFREG | 0644, 0, {});
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  const uint64_t ino = made->st_ino;
  ASSERT_TRUE(fs_->Open(ino, true, {}).ok());
  const std::string text = "closed while a commit held its name";
  auto wrote =
      fs_->Write(ino, 0, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()), {});
  ASSERT_TRUE(wrote.ok());
  bool closed = false;
  after_taking_pending_ = [&] {
    closed = fs_->Flush(ino, true, {}).ok() && fs_->Release(ino, true, {}).ok();
    env_.CrashAtOp(env_.op_count());  // the daemon dies before the commit is durable
  };
  EXPECT_FALSE(fs_->Fsync(kRoot, {}).ok());  // a directory fsync: a namespace commit
  ASSERT_TRUE(closed) << "the close did not return 0";
  ASSERT_NO_FATAL_FAILURE(KillNine());
  Result<uint64_t> found = Ino(kRoot, "new");
  ASSERT_TRUE(found.ok()) << "the name of a closed file was lost: " << found.status().ToString();
  EXPECT_EQ(*found, ino);
  EXPECT_EQ(ReadFile(ino), text);
}

// The same with the commit succeeding: what it made durable leaves the journal's sets,
// and a later record does not undo it (a name the commit wrote is not recorded absent).
TEST_F(FileSystemJournalTest, NamesACommitMadeDurableStayAfterLaterRecordsAndKillNine) {
  WriteFile(kRoot, "first", "one");
  ASSERT_TRUE(fs_->Sync().ok());
  WriteFile(kRoot, "second", "two");  // a record after the commit
  ASSERT_NO_FATAL_FAILURE(KillNine());
  Result<uint64_t> first = Ino(kRoot, "first");
  Result<uint64_t> second = Ino(kRoot, "second");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_EQ(ReadFile(*first), "one");
  EXPECT_EQ(ReadFile(*second), "two");
}

}  // namespace
}  // namespace sopfs::testing
