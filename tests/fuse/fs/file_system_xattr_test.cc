// Extended attributes in the file model, without a mount: flags, errors, the 64 KiB
// bound, the virtual read-only user.sopfs.* names, and what a remount keeps.
#include <sys/xattr.h>

#include "tests/fuse/fs/file_system_fixture.h"

namespace sopfs::testing {
namespace {

using FileSystemXattrTest = FileSystemTest;

TEST_F(FileSystemXattrTest, SetGetListRemoveAndTheirFlagsFollowLinux) {
  const uint64_t f = WriteFile(kRoot, "f", "x");
  ASSERT_TRUE(fs_->SetXattr(f, "user.colour", "blue", 0, {}).ok());
  EXPECT_EQ(*fs_->GetXattr(f, "user.colour", {}), "blue");
  EXPECT_EQ(Errno(fs_->SetXattr(f, "user.colour", "red", XATTR_CREATE, {})), EEXIST);
  EXPECT_EQ(Errno(fs_->SetXattr(f, "user.size", "1", XATTR_REPLACE, {})), ENODATA);
  ASSERT_TRUE(fs_->SetXattr(f, "user.colour", "red", XATTR_REPLACE, {}).ok());
  EXPECT_EQ(*fs_->GetXattr(f, "user.colour", {}), "red");
  EXPECT_EQ(Errno(fs_->GetXattr(f, "user.none", {})), ENODATA);
  EXPECT_EQ(Errno(fs_->SetXattr(f, "security.selinux", "x", 0, {})), EOPNOTSUPP);
  auto names = fs_->ListXattr(f, {});
  ASSERT_TRUE(names.ok());
  EXPECT_NE(std::find(names->begin(), names->end(), "user.colour"), names->end());
  ASSERT_TRUE(fs_->RemoveXattr(f, "user.colour", {}).ok());
  EXPECT_EQ(Errno(fs_->RemoveXattr(f, "user.colour", {})), ENODATA);
  EXPECT_EQ(Errno(fs_->GetXattr(f, "user.colour", {})), ENODATA);
}

TEST_F(FileSystemXattrTest, AttributesSurviveARemount) {
  const uint64_t f = WriteFile(kRoot, "f", "x");
  const uint64_t d = Mkdir(kRoot, "d");
  ASSERT_TRUE(fs_->SetXattr(f, "user.a", std::string(1000, 'a'), 0, {}).ok());
  ASSERT_TRUE(fs_->SetXattr(d, "trusted.b", "on a directory", 0, {}).ok());
  Reopen();
  EXPECT_EQ(*fs_->GetXattr(f, "user.a", {}), std::string(1000, 'a'));
  EXPECT_EQ(*fs_->GetXattr(d, "trusted.b", {}), "on a directory");
}

TEST_F(FileSystemXattrTest, AllOfAnInodesAttributesAreBoundedBy64KiB) {
  const uint64_t f = WriteFile(kRoot, "f", "x");
  ASSERT_TRUE(fs_->SetXattr(f, "user.big", std::string(40 << 10, 'b'), 0, {}).ok());
  EXPECT_EQ(Errno(fs_->SetXattr(f, "user.more", std::string(30 << 10, 'm'), 0, {})), ENOSPC);
  EXPECT_EQ(Errno(fs_->GetXattr(f, "user.more", {})), ENODATA);
  // Replacing the big one by a value of the same size fits: its old value is not counted.
  EXPECT_TRUE(fs_->SetXattr(f, "user.big", std::string(40 << 10, 'c'), 0, {}).ok());
}

TEST_F(FileSystemXattrTest, VirtualSopfsAttributesDescribeTheFileAndAreReadOnly) {
  const uint64_t f = WriteFile(kRoot, "f", std::string(kChunkSize + 10, 'z'));
  EXPECT_EQ(*fs_->GetXattr(f, "user.sopfs.chunk_size", {}), std::to_string(kChunkSize));
  EXPECT_EQ(*fs_->GetXattr(f, "user.sopfs.chunk_count", {}), "2");
  EXPECT_EQ(*fs_->GetXattr(f, "user.sopfs.erasure", {}), "4+2");
  EXPECT_EQ(Errno(fs_->SetXattr(f, "user.sopfs.erasure", "8+3", 0, {})), EPERM);
  EXPECT_EQ(Errno(fs_->RemoveXattr(f, "user.sopfs.version", {})), EPERM);
  auto names = fs_->ListXattr(f, {});
  ASSERT_TRUE(names.ok());
  EXPECT_NE(std::find(names->begin(), names->end(), "user.sopfs.version"), names->end());
  // Symlinks list none: the kernel refuses user.* of them, so getfattr -d would fail.
  auto link = fs_->Symlink(kRoot, "ln", "f", {});
  ASSERT_TRUE(link.ok());
  EXPECT_TRUE(fs_->ListXattr(link->st_ino, {})->empty());
}

}  // namespace
}  // namespace sopfs::testing
