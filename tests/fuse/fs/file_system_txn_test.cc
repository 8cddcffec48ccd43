// Explicit transactions in the file model, without a mount or sessions: isolation,
// all-or-nothing commit and rollback, optimistic conflicts, read-only snapshots.
// (tests/fuse/mount/fs_txn_test.cc drives the same through .sopfs/txn and shells.)
#include "tests/fuse/fs/file_system_fixture.h"

namespace sopfs::testing {
namespace {

class FileSystemTxnTest : public FileSystemTest {
 protected:
  std::shared_ptr<FsTxn> Begin(bool readonly = false) {
    auto txn = fs_->BeginTxn(readonly);
    EXPECT_TRUE(txn.ok()) << txn.status().ToString();
    return txn.ok() ? *txn : nullptr;
  }
  static Caller In(const std::shared_ptr<FsTxn>& txn) { return Caller{.txn = txn.get()}; }
  Status Commit(const std::shared_ptr<FsTxn>& txn) {
    FileSystem::TxnChanges touched;
    return fs_->CommitTxn(*txn, &touched);
  }
};

TEST_F(FileSystemTxnTest, ChangesAreTheTransactionsOwnUntilCommitThenAllAppearAndLast) {
  const uint64_t dir = Mkdir(kRoot, "d");
  WriteFile(dir, "old", "before");
  auto txn = Begin();
  ASSERT_NE(txn, nullptr);
  WriteFile(dir, "new", "made in txn", In(txn));
  WriteFile(dir, "old", "changed in txn", In(txn));
  ASSERT_TRUE(fs_->Unlink(kRoot, "d", In(txn)).code() == EISDIR);
  Mkdir(kRoot, "txn-dir", In(txn));
  // The transaction sees its changes; the shared view sees none.
  EXPECT_EQ(ReadFile(*Ino(dir, "new", In(txn)), In(txn)), "made in txn");
  EXPECT_EQ(ReadFile(*Ino(dir, "old", In(txn)), In(txn)), "changed in txn");
  EXPECT_EQ(Errno(Ino(dir, "new")), ENOENT);
  EXPECT_EQ(Errno(Ino(kRoot, "txn-dir")), ENOENT);
  EXPECT_EQ(ReadFile(*Ino(dir, "old")), "before");
  ASSERT_TRUE(Commit(txn).ok());
  EXPECT_EQ(ReadFile(*Ino(dir, "new")), "made in txn");
  EXPECT_EQ(ReadFile(*Ino(dir, "old")), "changed in txn");
  Crash();  // a commit is durable when it returns
  EXPECT_EQ(ReadFile(*Ino(*Ino(kRoot, "d"), "new")), "made in txn");
  EXPECT_EQ(ReadFile(*Ino(*Ino(kRoot, "d"), "old")), "changed in txn");
  EXPECT_TRUE(Ino(kRoot, "txn-dir").ok());
}

TEST_F(FileSystemTxnTest, RollbackLeavesNothingBehind) {
  WriteFile(kRoot, "keep", "kept");
  auto txn = Begin();
  WriteFile(kRoot, "temp", "gone", In(txn));
  WriteFile(kRoot, "keep", "overwritten", In(txn));
  ASSERT_TRUE(fs_->Rename(kRoot, "keep", kRoot, "renamed", 0, In(txn)).ok());
  fs_->RollbackTxn(*txn);
  EXPECT_EQ(List(kRoot), (std::vector<std::string>{"keep"}));
  EXPECT_EQ(ReadFile(*Ino(kRoot, "keep")), "kept");
  // The ended transaction takes no more requests.
  EXPECT_EQ(Errno(fs_->MakeNode(kRoot, "late", S_IFREG | 0644, 0, In(txn))), ESTALE);
  Reopen();
  EXPECT_EQ(List(kRoot), (std::vector<std::string>{"keep"}));
}

TEST_F(FileSystemTxnTest, TwoTransactionsChangingOneFileLetTheFirstCommitAndRefuseTheSecond) {
  WriteFile(kRoot, "shared", "v0");
  auto first = Begin();
  auto second = Begin();
  WriteFile(kRoot, "shared", "first", In(first));
  WriteFile(kRoot, "shared", "second", In(second));
  WriteFile(kRoot, "only-second", "x", In(second));
  ASSERT_TRUE(Commit(first).ok());
  Status st = Commit(second);
  EXPECT_EQ(st.code(), kConflictErrno) << st.ToString();
  EXPECT_NE(second->conflict.find("shared"), std::string::npos) << second->conflict;
  EXPECT_EQ(ReadFile(*Ino(kRoot, "shared")), "first");
  EXPECT_EQ(Errno(Ino(kRoot, "only-second")), ENOENT);  // nothing of it applied
}

TEST_F(FileSystemTxnTest, TransactionsTouchingDisjointFilesOfOneDirectoryBothCommit) {
  const uint64_t dir = Mkdir(kRoot, "d");
  auto a = Begin();
  auto b = Begin();
  WriteFile(dir, "a", "from a", In(a));
  WriteFile(dir, "b", "from b", In(b));
  ASSERT_TRUE(Commit(a).ok());
  ASSERT_TRUE(Commit(b).ok());
  EXPECT_EQ(List(dir), (std::vector<std::string>{"a", "b"}));
  Reopen();
  EXPECT_EQ(ReadFile(*Ino(*Ino(kRoot, "d"), "a")), "from a");
  EXPECT_EQ(ReadFile(*Ino(*Ino(kRoot, "d"), "b")), "from b");
}

TEST_F(FileSystemTxnTest, AReadOnlyTransactionIsASnapshotThatRefusesWrites) {
  const uint64_t f = WriteFile(kRoot, "f", "at begin");
  auto snapshot = Begin(/*readonly=*/true);
  WriteFile(kRoot, "f", "later");
  WriteFile(kRoot, "g", "later too");
  EXPECT_EQ(ReadFile(f, In(snapshot)), "at begin");
  EXPECT_EQ(Errno(Ino(kRoot, "g", In(snapshot))), ENOENT);
  EXPECT_EQ(Errno(fs_->MakeNode(kRoot, "h", S_IFREG | 0644, 0, In(snapshot))), EROFS);
  EXPECT_EQ(Errno(fs_->SetXattr(f, "user.x", "y", 0, In(snapshot))), EROFS);
  EXPECT_TRUE(Commit(snapshot).ok());
}

}  // namespace
}  // namespace sopfs::testing
