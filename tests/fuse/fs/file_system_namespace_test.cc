// The file model's namespace without a mount: names and their errors, rename rules,
// link counts, and what a remount or a crash keeps. The mount suites
// (tests/fuse/mount/) keep what only the kernel shows (caching, dirhandles, fds).
#include <fcntl.h>
#include <linux/fs.h>

#include "tests/fuse/fs/file_system_fixture.h"

namespace sopfs::testing {
namespace {

using FileSystemNamespaceTest = FileSystemTest;
using Names = std::vector<std::string>;

TEST_F(FileSystemNamespaceTest, CreatedNamesAreListedInOrderAndFoundByLookup) {
  const uint64_t dir = Mkdir(kRoot, "d");
  WriteFile(dir, "b", "bee");
  WriteFile(dir, "a", "ay");
  Mkdir(dir, "c");
  EXPECT_EQ(List(dir), (Names{"a", "b", "c"}));
  auto a = Ino(dir, "a");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(ReadFile(*a), "ay");
  EXPECT_EQ(Errno(Ino(dir, "zz")), ENOENT);
  EXPECT_TRUE(S_ISDIR(Stat(*Ino(dir, "c")).st_mode));
}

TEST_F(FileSystemNamespaceTest, NameErrorsFollowPosix) {
  const uint64_t file = WriteFile(kRoot, "f", "x");
  Mkdir(kRoot, "d");
  WriteFile(*Ino(kRoot, "d"), "inside", "y");
  const std::string longest(255, 'n');
  EXPECT_EQ(Errno(fs_->MakeNode(kRoot, longest, S_IFREG | 0644, 0, {})), 0);
  EXPECT_EQ(Errno(fs_->MakeNode(kRoot, longest + "n", S_IFREG | 0644, 0, {})), ENAMETOOLONG);
  EXPECT_EQ(Errno(fs_->MakeNode(kRoot, "f", S_IFREG | 0644, 0, {})), EEXIST);
  EXPECT_EQ(Errno(fs_->MakeNode(kRoot, "d", S_IFDIR | 0755, 0, {})), EEXIST);
  EXPECT_EQ(Errno(fs_->MakeNode(file, "under-a-file", S_IFREG | 0644, 0, {})), ENOTDIR);
  EXPECT_EQ(Errno(fs_->Rmdir(kRoot, "d", {})), ENOTEMPTY);
  EXPECT_EQ(Errno(fs_->Rmdir(kRoot, "f", {})), ENOTDIR);
  EXPECT_EQ(Errno(fs_->Unlink(kRoot, "d", {})), EISDIR);
  EXPECT_EQ(Errno(fs_->Unlink(kRoot, "missing", {})), ENOENT);
  EXPECT_EQ(Errno(fs_->Link(*Ino(kRoot, "d"), kRoot, "d2", {})), EPERM);
}

TEST_F(FileSystemNamespaceTest, RenameOverAFileReplacesItAndKeepsTheSourceInode) {
  const uint64_t src = WriteFile(kRoot, "src", "new");
  WriteFile(kRoot, "dst", "old");
  ASSERT_TRUE(fs_->Rename(kRoot, "src", kRoot, "dst", 0, {}).ok());
  EXPECT_EQ(*Ino(kRoot, "dst"), src);
  EXPECT_EQ(ReadFile(src), "new");
  EXPECT_EQ(List(kRoot), (Names{"dst"}));
  Reopen();
  EXPECT_EQ(*Ino(kRoot, "dst"), src);
  EXPECT_EQ(ReadFile(src), "new");
}

TEST_F(FileSystemNamespaceTest, RenameFlagsNoreplaceAndExchange) {
  const uint64_t a = WriteFile(kRoot, "a", "A");
  const uint64_t b = WriteFile(kRoot, "b", "B");
  EXPECT_EQ(Errno(fs_->Rename(kRoot, "a", kRoot, "b", RENAME_NOREPLACE, {})), EEXIST);
  EXPECT_EQ(*Ino(kRoot, "a"), a);
  ASSERT_TRUE(fs_->Rename(kRoot, "a", kRoot, "b", RENAME_EXCHANGE, {}).ok());
  EXPECT_EQ(*Ino(kRoot, "a"), b);
  EXPECT_EQ(*Ino(kRoot, "b"), a);
  EXPECT_EQ(Errno(fs_->Rename(kRoot, "a", kRoot, "none", RENAME_EXCHANGE, {})), ENOENT);
  EXPECT_EQ(Errno(fs_->Rename(kRoot, "a", kRoot, "b", RENAME_EXCHANGE | RENAME_NOREPLACE, {})),
            EINVAL);
}

TEST_F(FileSystemNamespaceTest, RenameBetweenFilesAndDirectoriesFollowsPosixErrors) {
  WriteFile(kRoot, "file", "x");
  const uint64_t full = Mkdir(kRoot, "full");
  WriteFile(full, "inside", "y");
  Mkdir(kRoot, "empty");
  Mkdir(kRoot, "moving");
  EXPECT_EQ(Errno(fs_->Rename(kRoot, "file", kRoot, "empty", 0, {})), EISDIR);
  EXPECT_EQ(Errno(fs_->Rename(kRoot, "moving", kRoot, "file", 0, {})), ENOTDIR);
  EXPECT_EQ(Errno(fs_->Rename(kRoot, "moving", kRoot, "full", 0, {})), ENOTEMPTY);
  EXPECT_EQ(Errno(fs_->Rename(kRoot, "nothing", kRoot, "x", 0, {})), ENOENT);
  ASSERT_TRUE(fs_->Rename(kRoot, "moving", kRoot, "empty", 0, {}).ok());  // over an empty dir
  EXPECT_EQ(List(kRoot), (Names{"empty", "file", "full"}));
}

TEST_F(FileSystemNamespaceTest, RenameBetweenTwoHardLinksOfOneFileChangesNothing) {
  const uint64_t f = WriteFile(kRoot, "one", "x");
  ASSERT_TRUE(fs_->Link(f, kRoot, "two", {}).ok());
  ASSERT_TRUE(fs_->Rename(kRoot, "one", kRoot, "two", 0, {}).ok());
  EXPECT_EQ(List(kRoot), (Names{"one", "two"}));
  EXPECT_EQ(Stat(f).st_nlink, 2u);
}

TEST_F(FileSystemNamespaceTest, DirectoryLinkCountsFollowSubdirectoriesThroughMkdirRenameRmdir) {
  const uint64_t a = Mkdir(kRoot, "a");
  const uint64_t b = Mkdir(kRoot, "b");
  Mkdir(a, "sub1");
  Mkdir(a, "sub2");
  WriteFile(a, "file", "not counted");
  EXPECT_EQ(Stat(a).st_nlink, 4u);  // ".", the name in root, two subdirectories' ".."
  EXPECT_EQ(Stat(kRoot).st_nlink, 4u);
  ASSERT_TRUE(fs_->Rename(a, "sub1", b, "moved", 0, {}).ok());
  EXPECT_EQ(Stat(a).st_nlink, 3u);
  EXPECT_EQ(Stat(b).st_nlink, 3u);
  ASSERT_TRUE(fs_->Rmdir(a, "sub2", {}).ok());
  EXPECT_EQ(Stat(a).st_nlink, 2u);
  Reopen();
  EXPECT_EQ(Stat(a).st_nlink, 2u);
  EXPECT_EQ(Stat(b).st_nlink, 3u);
}

TEST_F(FileSystemNamespaceTest, HardLinksShareTheInodeAndItsContentUntilTheLastNameGoes) {
  const uint64_t f = WriteFile(kRoot, "first", "shared");
  const uint64_t dir = Mkdir(kRoot, "d");
  auto linked = fs_->Link(f, dir, "second", {});
  ASSERT_TRUE(linked.ok());
  EXPECT_EQ(linked->st_ino, f);
  EXPECT_EQ(Stat(f).st_nlink, 2u);
  ASSERT_TRUE(fs_->Unlink(kRoot, "first", {}).ok());
  EXPECT_EQ(Stat(f).st_nlink, 1u);
  Reopen();
  EXPECT_EQ(*Ino(dir, "second"), f);
  EXPECT_EQ(ReadFile(f), "shared");
  ASSERT_TRUE(fs_->Unlink(dir, "second", {}).ok());
  fs_->Forget(f, 1);  // the kernel's reference from the Link reply
  Reopen();
  EXPECT_EQ(Errno(fs_->GetAttr(f, {})), ENOENT);
}

TEST_F(FileSystemNamespaceTest, SymlinksKeepTheirTargetAndReadlinkRefusesOtherFiles) {
  auto link = fs_->Symlink(kRoot, "ln", "../some/where", {});
  ASSERT_TRUE(link.ok());
  EXPECT_TRUE(S_ISLNK(link->st_mode));
  EXPECT_EQ(*fs_->ReadLink(link->st_ino, {}), "../some/where");
  EXPECT_EQ(Errno(fs_->ReadLink(WriteFile(kRoot, "f", "x"), {})), EINVAL);
  Reopen();
  EXPECT_EQ(*fs_->ReadLink(*Ino(kRoot, "ln"), {}), "../some/where");
}

TEST_F(FileSystemNamespaceTest, ASyncedNamespaceSurvivesACrashAndLaterUnsyncedChangesAreAPrefix) {
  const uint64_t dir = Mkdir(kRoot, "kept");
  WriteFile(dir, "file", "durable");
  ASSERT_TRUE(fs_->Sync().ok());
  Mkdir(kRoot, "maybe");  // after the sync: may or may not survive, never half
  Crash();
  ASSERT_TRUE(Ino(kRoot, "kept").ok());
  EXPECT_EQ(ReadFile(*Ino(*Ino(kRoot, "kept"), "file")), "durable");
  Names names = List(kRoot);
  EXPECT_TRUE(names == (Names{"kept"}) || names == (Names{"kept", "maybe"}));
}

}  // namespace
}  // namespace sopfs::testing
