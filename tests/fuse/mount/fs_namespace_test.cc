// The namespace through a real mount: rename (plain, across directories, directories,
// RENAME_NOREPLACE, RENAME_EXCHANGE), many files in one directory, names, mkdir/rmdir,
// attributes, symlinks and hard links; durability of all of it across a remount.
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

class FsNamespaceTest : public FuseFsTest {};

ino_t InodeOf(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    ADD_FAILURE() << "lstat " << path << ": " << ErrnoText();
    return 0;
  }
  return st.st_ino;
}

// -1 with errno, or 0.
int ErrnoOf(int rc) { return rc == 0 ? 0 : errno; }

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

TEST_F(FsNamespaceTest, RenameOverAnExistingFileReplacesItsContentAndKeepsTheSourceInode) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("src"), "source content"));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("dst"), "old target content, longer than the source"));
  const ino_t src_ino = InodeOf(P("src"));
  const ino_t dst_ino = InodeOf(P("dst"));
  ASSERT_NE(src_ino, dst_ino);
  ASSERT_EQ(::rename(P("src").c_str(), P("dst").c_str()), 0) << ErrnoText();
  EXPECT_FALSE(Exists(P("src")));
  EXPECT_EQ(InodeOf(P("dst")), src_ino);
  EXPECT_EQ(ReadFile(P("dst")), "source content");
  EXPECT_EQ(ListDir(vol_.root()), std::vector<std::string>{"dst"});
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_FALSE(Exists(P("src")));
  EXPECT_EQ(InodeOf(P("dst")), src_ino);
  EXPECT_EQ(ReadFile(P("dst")), "source content");
}

TEST_F(FsNamespaceTest, RenameAcrossDirectoriesMovesTheFileWithItsInodeAndContent) {
  ASSERT_EQ(::mkdir(P("a").c_str(), 0755), 0) << ErrnoText();
  ASSERT_EQ(::mkdir(P("b").c_str(), 0755), 0) << ErrnoText();
  const std::string content = Pattern(1, 0, 3 * vol_.chunk_size() + 5);
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("a/f"), content));
  const ino_t ino = InodeOf(P("a/f"));
  ASSERT_EQ(::rename(P("a/f").c_str(), P("b/g").c_str()), 0) << ErrnoText();
  EXPECT_TRUE(ListDir(P("a")).empty());
  EXPECT_EQ(ListDir(P("b")), std::vector<std::string>{"g"});
  EXPECT_EQ(InodeOf(P("b/g")), ino);
  EXPECT_EQ(ReadFile(P("b/g")), content);
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_FALSE(Exists(P("a/f")));
  EXPECT_EQ(InodeOf(P("b/g")), ino);
  EXPECT_EQ(ReadFile(P("b/g")), content);
}

TEST_F(FsNamespaceTest, RenameOfADirectoryMovesItsWholeSubtreeAndUpdatesDotDot) {
  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(P("d/sub").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(P("other").c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("d/x"), "x"));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("d/sub/y"), "y"));
  const ino_t dir_ino = InodeOf(P("d"));
  ASSERT_EQ(::rename(P("d").c_str(), P("other/moved").c_str()), 0) << ErrnoText();
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before remount" : "after remount");
    EXPECT_FALSE(Exists(P("d")));
    EXPECT_EQ(ListDir(vol_.root()), std::vector<std::string>{"other"});
    EXPECT_EQ(InodeOf(P("other/moved")), dir_ino);
    EXPECT_EQ(ListDir(P("other/moved")), (std::vector<std::string>{"sub", "x"}));
    EXPECT_EQ(ReadFile(P("other/moved/x")), "x");
    EXPECT_EQ(ReadFile(P("other/moved/sub/y")), "y");
    EXPECT_EQ(InodeOf(P("other/moved/sub/..")), dir_ino);
    EXPECT_EQ(InodeOf(P("other/moved/..")), InodeOf(P("other")));
    // Link counts of directories: 2 + subdirectories.
    struct stat st {};
    ASSERT_EQ(::stat(vol_.root().c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 3u) << "root: lost a subdirectory";
    ASSERT_EQ(::stat(P("other").c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 3u) << "'other' gained a subdirectory";
    ASSERT_EQ(::stat(P("other/moved").c_str(), &st), 0);
    EXPECT_EQ(st.st_nlink, 3u) << "'moved' has one subdirectory";
    if (pass == 0) {
      ASSERT_NO_FATAL_FAILURE(vol_.Remount());
    }
  }
}

TEST_F(FsNamespaceTest, RenameNoreplaceFailsWithEexistWhenTheTargetExistsAndChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("a"), "A"));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("b"), "B"));
  errno = 0;
  EXPECT_EQ(::renameat2(AT_FDCWD, P("a").c_str(), AT_FDCWD, P("b").c_str(), RENAME_NOREPLACE), -1);
  EXPECT_EQ(errno, EEXIST) << ErrnoText();
  EXPECT_EQ(ReadFile(P("a")), "A");
  EXPECT_EQ(ReadFile(P("b")), "B");
  // To a free name it is a plain rename.
  ASSERT_EQ(::renameat2(AT_FDCWD, P("a").c_str(), AT_FDCWD, P("c").c_str(), RENAME_NOREPLACE), 0)
      << ErrnoText();
  EXPECT_EQ(ListDir(vol_.root()), (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(ReadFile(P("c")), "A");
}

TEST_F(FsNamespaceTest, RenameExchangeSwapsTheContentsAndInodesOfTwoFiles) {
  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("one"), "first file"));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("d/two"), "second"));
  const ino_t one = InodeOf(P("one"));
  const ino_t two = InodeOf(P("d/two"));
  ASSERT_EQ(::renameat2(AT_FDCWD, P("one").c_str(), AT_FDCWD, P("d/two").c_str(), RENAME_EXCHANGE),
            0)
      << "RENAME_EXCHANGE: " << ErrnoText();
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before remount" : "after remount");
    EXPECT_EQ(ReadFile(P("one")), "second");
    EXPECT_EQ(ReadFile(P("d/two")), "first file");
    EXPECT_EQ(InodeOf(P("one")), two);
    EXPECT_EQ(InodeOf(P("d/two")), one);
    if (pass == 0) {
      ASSERT_NO_FATAL_FAILURE(vol_.Remount());
    }
  }
  // Exchanging with a missing name fails and changes nothing.
  errno = 0;
  EXPECT_EQ(
      ::renameat2(AT_FDCWD, P("one").c_str(), AT_FDCWD, P("missing").c_str(), RENAME_EXCHANGE), -1);
  EXPECT_EQ(errno, ENOENT) << ErrnoText();
  EXPECT_EQ(ReadFile(P("one")), "second");
}

TEST_F(FsNamespaceTest, RenameOverDirectoriesAndFilesFollowsPosixErrors) {
  ASSERT_EQ(::mkdir(P("full1").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(P("full2").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(P("empty").c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("full1/a"), "1"));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("full2/b"), "2"));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("file"), "f"));

  EXPECT_EQ(ErrnoOf(::rename(P("full1").c_str(), P("full2").c_str())), ENOTEMPTY)
      << "non-empty directory over a non-empty directory";
  EXPECT_EQ(ReadFile(P("full2/b")), "2");
  EXPECT_EQ(ReadFile(P("full1/a")), "1");
  EXPECT_EQ(ErrnoOf(::rename(P("file").c_str(), P("full1").c_str())), EISDIR)
      << "file over a directory";
  EXPECT_EQ(ErrnoOf(::rename(P("full1").c_str(), P("file").c_str())), ENOTDIR)
      << "directory over a file";
  EXPECT_EQ(ErrnoOf(::rename(P("full1").c_str(), P("full1/inside").c_str())), EINVAL)
      << "directory into itself";
  // A directory over an empty directory replaces it.
  const ino_t ino = InodeOf(P("full1"));
  EXPECT_EQ(ErrnoOf(::rename(P("full1").c_str(), P("empty").c_str())), 0);
  EXPECT_EQ(InodeOf(P("empty")), ino);
  EXPECT_EQ(ReadFile(P("empty/a")), "1");
  EXPECT_EQ(ListDir(vol_.root()), (std::vector<std::string>{"empty", "file", "full2"}));
}

TEST_F(FsNamespaceTest, TenThousandSmallFilesAreListedExactlyReadBackAndRemovedAcrossRemount) {
  vol_.SetWatchdog(std::chrono::seconds(560));
  constexpr int kFiles = 10000;
  const std::string dir = P("many");
  ASSERT_EQ(::mkdir(dir.c_str(), 0755), 0) << ErrnoText();
  auto name = [](int i) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "file-%05d", i);
    return std::string(buf);
  };
  auto content = [](int i) { return "content of " + std::to_string(i * 7919); };
  std::vector<std::string> expected;
  for (int i = 0; i < kFiles; ++i) {
    const std::string path = dir + "/" + name(i);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << "create " << path << ": " << ErrnoText();
    const std::string c = content(i);
    ASSERT_EQ(::write(fd, c.data(), c.size()), static_cast<ssize_t>(c.size())) << ErrnoText();
    ASSERT_EQ(::close(fd), 0) << "close " << path << ": " << ErrnoText();
    expected.push_back(name(i));
  }
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before remount" : "after remount");
    std::vector<std::string> listed = ListDir(dir);
    ASSERT_EQ(listed.size(), expected.size());
    EXPECT_TRUE(listed == expected) << "readdir lists other names";
    for (int i = 0; i < kFiles; i += 487) {
      struct stat st {};
      ASSERT_EQ(::stat((dir + "/" + name(i)).c_str(), &st), 0) << name(i) << ": " << ErrnoText();
      EXPECT_TRUE(S_ISREG(st.st_mode));
      EXPECT_EQ(static_cast<size_t>(st.st_size), content(i).size()) << name(i);
      EXPECT_EQ(ReadFile(dir + "/" + name(i)), content(i));
    }
    EXPECT_EQ(ReadFile(dir + "/" + name(kFiles - 1)), content(kFiles - 1));
    struct stat st {};
    EXPECT_EQ(ErrnoOf(::stat((dir + "/" + name(kFiles)).c_str(), &st)), ENOENT);
    if (pass == 0) {
      ASSERT_NO_FATAL_FAILURE(vol_.Remount());
    }
  }
  for (int i = 0; i < kFiles; ++i) {
    ASSERT_EQ(::unlink((dir + "/" + name(i)).c_str()), 0) << name(i) << ": " << ErrnoText();
  }
  EXPECT_TRUE(ListDir(dir).empty());
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_TRUE(ListDir(dir).empty()) << "unlinked files came back after remount";
  EXPECT_EQ(ErrnoOf(::rmdir(dir.c_str())), 0);
  EXPECT_FALSE(Exists(dir));
}

TEST_F(FsNamespaceTest, NameOf255BytesWorksAnd256BytesFailsWithEnametoolong) {
  const std::string ok(255, 'n');
  const std::string too_long(256, 'n');
  ASSERT_NO_FATAL_FAILURE(WriteFile(P(ok), "long name"));
  EXPECT_EQ(ReadFile(P(ok)), "long name");
  EXPECT_EQ(ListDir(vol_.root()), std::vector<std::string>{ok});
  // 255 bytes of multi-byte UTF-8 (85 x 3 bytes).
  std::string utf8;
  for (int i = 0; i < 85; ++i) utf8 += "\xE2\x82\xAC";  // U+20AC
  ASSERT_EQ(utf8.size(), 255u);
  EXPECT_EQ(ErrnoOf(::mkdir(P(utf8).c_str(), 0755)), 0);

  errno = 0;
  EXPECT_EQ(::open(P(too_long).c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644), -1);
  EXPECT_EQ(errno, ENAMETOOLONG) << "create: " << ErrnoText();
  EXPECT_EQ(ErrnoOf(::mkdir(P(too_long).c_str(), 0755)), ENAMETOOLONG);
  EXPECT_EQ(ErrnoOf(::rename(P(ok).c_str(), P(too_long).c_str())), ENAMETOOLONG);
  EXPECT_EQ(ErrnoOf(::symlink("x", P(too_long).c_str())), ENAMETOOLONG);
  EXPECT_EQ(ErrnoOf(::link(P(ok).c_str(), P(too_long).c_str())), ENAMETOOLONG);
  struct stat st {};
  EXPECT_EQ(ErrnoOf(::stat(P(too_long).c_str(), &st)), ENAMETOOLONG);
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_EQ(ReadFile(P(ok)), "long name");
  EXPECT_EQ(ListDir(vol_.root()), (std::vector<std::string>{ok, utf8}));
}

TEST_F(FsNamespaceTest, MkdirRmdirAndTheirErrorsOnNonEmptyDirectoriesFilesAndDuplicates) {
  ASSERT_EQ(ErrnoOf(::mkdir(P("d").c_str(), 0755)), 0);
  struct stat st {};
  ASSERT_EQ(::stat(P("d").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(ErrnoOf(::mkdir(P("d").c_str(), 0755)), EEXIST);
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("d/f"), "f"));
  EXPECT_EQ(ErrnoOf(::rmdir(P("d").c_str())), ENOTEMPTY);
  EXPECT_EQ(ErrnoOf(::unlink(P("d").c_str())), EISDIR);
  EXPECT_EQ(ErrnoOf(::rmdir(P("d/f").c_str())), ENOTDIR);
  EXPECT_EQ(ErrnoOf(::mkdir(P("d/f/x").c_str(), 0755)), ENOTDIR);
  EXPECT_EQ(ErrnoOf(::mkdir(P("missing/x").c_str(), 0755)), ENOENT);
  EXPECT_EQ(ErrnoOf(::rmdir(P("missing").c_str())), ENOENT);
  EXPECT_EQ(ErrnoOf(::unlink(P("missing").c_str())), ENOENT);
  errno = 0;
  EXPECT_EQ(::open(P("d/f").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644), -1);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_EQ(ErrnoOf(::unlink(P("d/f").c_str())), 0);
  EXPECT_EQ(ErrnoOf(::rmdir(P("d").c_str())), 0);
  EXPECT_FALSE(Exists(P("d")));
  // A subdirectory counts in the parent's link count.
  ASSERT_EQ(ErrnoOf(::mkdir(P("p").c_str(), 0755)), 0);
  ASSERT_EQ(ErrnoOf(::mkdir(P("p/c").c_str(), 0755)), 0);
  ASSERT_EQ(::stat(P("p").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 3u) << "nlink of a directory with one subdirectory";
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_FALSE(Exists(P("d")));
  EXPECT_EQ(ListDir(vol_.root()), std::vector<std::string>{"p"});
  EXPECT_EQ(ListDir(P("p")), std::vector<std::string>{"c"});
}

TEST_F(FsNamespaceTest, ChmodChownAndUtimensatShowInStatAndAreKeptAfterRemount) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("f"), "data"));
  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0);
  ASSERT_EQ(::chmod(P("f").c_str(), 0640), 0) << ErrnoText();
  ASSERT_EQ(::chmod(P("d").c_str(), 01770), 0) << ErrnoText();
  ASSERT_EQ(::chown(P("f").c_str(), 1234, 5678), 0) << ErrnoText();
  ASSERT_EQ(::lchown(P("d").c_str(), 4321, -1), 0) << ErrnoText();
  struct timespec times[2];
  times[0] = {1000000000, 123456789};  // atime
  times[1] = {1200000000, 987654321};  // mtime
  ASSERT_EQ(::utimensat(AT_FDCWD, P("f").c_str(), times, 0), 0) << ErrnoText();
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before remount" : "after remount");
    struct stat st {};
    ASSERT_EQ(::stat(P("f").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode, S_IFREG | 0640);
    EXPECT_EQ(st.st_uid, 1234u);
    EXPECT_EQ(st.st_gid, 5678u);
    EXPECT_EQ(st.st_atim.tv_sec, 1000000000);
    EXPECT_EQ(st.st_atim.tv_nsec, 123456789);
    EXPECT_EQ(st.st_mtim.tv_sec, 1200000000);
    EXPECT_EQ(st.st_mtim.tv_nsec, 987654321);
    EXPECT_EQ(st.st_size, 4);
    ASSERT_EQ(::stat(P("d").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode, S_IFDIR | 01770);
    EXPECT_EQ(st.st_uid, 4321u);
    EXPECT_EQ(st.st_gid, 0u);
    if (pass == 0) {
      ASSERT_NO_FATAL_FAILURE(vol_.Remount());
    }
  }
  // A write moves mtime forward to now; UTIME_NOW does too.
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("g"), "x"));
  struct timespec now[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  ASSERT_EQ(::utimensat(AT_FDCWD, P("f").c_str(), now, 0), 0) << ErrnoText();
  struct stat st {};
  ASSERT_EQ(::stat(P("f").c_str(), &st), 0);
  EXPECT_GT(st.st_mtim.tv_sec, 1600000000) << "UTIME_NOW";
  EXPECT_EQ(st.st_atim.tv_sec, 1000000000) << "UTIME_OMIT changed atime";
}

TEST_F(FsNamespaceTest, InodeNumbersOfFilesDirectoriesAndLinksAreStableAcrossRemount) {
  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(P("d/e").c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("d/e/f"), "f"));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("g"), "g"));
  ASSERT_EQ(::symlink("g", P("s").c_str()), 0);
  std::map<std::string, ino_t> inos;
  for (const char* n : {"", "d", "d/e", "d/e/f", "g", "s"}) inos[n] = InodeOf(P(n));
  std::set<ino_t> distinct;
  for (auto& [n, ino] : inos) distinct.insert(ino);
  EXPECT_EQ(distinct.size(), inos.size()) << "two objects share an inode number";
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  for (auto& [n, ino] : inos) EXPECT_EQ(InodeOf(P(n)), ino) << "'" << n << "'";
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  for (auto& [n, ino] : inos) EXPECT_EQ(InodeOf(P(n)), ino) << "'" << n << "' (2nd remount)";
}

TEST_F(FsNamespaceTest, SymlinkReadsBackItsTargetLstatsAsALinkAndIsFollowed) {
  ASSERT_EQ(::mkdir(P("dir").c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("dir/target.txt"), "through the link"));
  ASSERT_EQ(::symlink("dir/target.txt", P("link").c_str()), 0) << ErrnoText();
  ASSERT_EQ(::symlink("dir", P("dirlink").c_str()), 0) << ErrnoText();
  ASSERT_EQ(::symlink("nowhere", P("dangling").c_str()), 0) << ErrnoText();
  const std::string long_target(4000, 't');
  ASSERT_EQ(::symlink(long_target.c_str(), P("longlink").c_str()), 0) << ErrnoText();
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before remount" : "after remount");
    char buf[8192];
    ssize_t n = ::readlink(P("link").c_str(), buf, sizeof buf);
    ASSERT_GE(n, 0) << ErrnoText();
    EXPECT_EQ(std::string(buf, n), "dir/target.txt");
    n = ::readlink(P("longlink").c_str(), buf, sizeof buf);
    ASSERT_GE(n, 0) << ErrnoText();
    EXPECT_EQ(std::string(buf, n), long_target);
    struct stat st {};
    ASSERT_EQ(::lstat(P("link").c_str(), &st), 0);
    EXPECT_TRUE(S_ISLNK(st.st_mode));
    EXPECT_EQ(st.st_size, 14);
    ASSERT_EQ(::stat(P("link").c_str(), &st), 0);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_ino, InodeOf(P("dir/target.txt")));
    EXPECT_EQ(ReadFile(P("link")), "through the link");
    EXPECT_EQ(ReadFile(P("dirlink/target.txt")), "through the link");
    errno = 0;
    EXPECT_EQ(::open(P("dangling").c_str(), O_RDONLY | O_CLOEXEC), -1);
    EXPECT_EQ(errno, ENOENT);
    EXPECT_EQ(ErrnoOf(::readlink(P("dir/target.txt").c_str(), buf, sizeof buf) < 0 ? -1 : 0),
              EINVAL)
        << "readlink of a regular file";
    if (pass == 0) {
      ASSERT_NO_FATAL_FAILURE(vol_.Remount());
    }
  }
  // Writing through the link changes the target; unlinking the link keeps the target.
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("link"), "rewritten"));
  EXPECT_EQ(ReadFile(P("dir/target.txt")), "rewritten");
  ASSERT_EQ(::unlink(P("link").c_str()), 0);
  EXPECT_EQ(ReadFile(P("dir/target.txt")), "rewritten");
}

TEST_F(FsNamespaceTest, HardLinkSharesInodeAndContentAndSurvivesUnlinkOfTheOtherName) {
  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0);
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("a"), "shared"));
  ASSERT_EQ(::link(P("a").c_str(), P("d/b").c_str()), 0) << ErrnoText();
  struct stat sa {
  }, sb{};
  ASSERT_EQ(::stat(P("a").c_str(), &sa), 0);
  ASSERT_EQ(::stat(P("d/b").c_str(), &sb), 0);
  EXPECT_EQ(sa.st_ino, sb.st_ino);
  EXPECT_EQ(sa.st_nlink, 2u);
  EXPECT_EQ(sb.st_nlink, 2u);
  // A write through one name is read through the other, open or not.
  int fd = ::open(P("d/b").c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, "SH", 0));
  EXPECT_EQ(ReadFile(P("a")), "SHared") << "before close";
  ASSERT_EQ(::close(fd), 0);
  EXPECT_EQ(ReadFile(P("a")), "SHared");
  EXPECT_EQ(ErrnoOf(::link(P("d").c_str(), P("dlink").c_str())), EPERM) << "hard link to a dir";
  EXPECT_EQ(ErrnoOf(::link(P("a").c_str(), P("d/b").c_str())), EEXIST);
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_EQ(::stat(P("a").c_str(), &sa), 0);
  EXPECT_EQ(sa.st_nlink, 2u) << "after remount";
  EXPECT_EQ(InodeOf(P("d/b")), sa.st_ino);
  ASSERT_EQ(::unlink(P("a").c_str()), 0) << ErrnoText();
  ASSERT_EQ(::stat(P("d/b").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_nlink, 1u);
  EXPECT_EQ(ReadFile(P("d/b")), "SHared");
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_FALSE(Exists(P("a")));
  ASSERT_EQ(::stat(P("d/b").c_str(), &sb), 0);
  EXPECT_EQ(sb.st_nlink, 1u);
  EXPECT_EQ(ReadFile(P("d/b")), "SHared");
}

TEST_F(FsNamespaceTest, AnUnlinkedFileStaysReadableAndWritableThroughAnOpenDescriptor) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("f"), "still here"));
  int fd = ::open(P("f").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  ASSERT_EQ(::unlink(P("f").c_str()), 0) << ErrnoText();
  EXPECT_FALSE(Exists(P("f")));
  EXPECT_EQ(PreadUpTo(fd, 0, 100), "still here");
  ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, "STILL", 0));
  EXPECT_EQ(PreadUpTo(fd, 0, 100), "STILL here");
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0) << ErrnoText();
  EXPECT_EQ(st.st_nlink, 0u);
  EXPECT_EQ(::close(fd), 0) << ErrnoText();
  EXPECT_TRUE(ListDir(vol_.root()).empty());
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_TRUE(ListDir(vol_.root()).empty());
}

TEST_F(FsNamespaceTest, UnlinkingEntriesWhileReadingTheDirectoryRemovesEveryOne) {
  // What `rm -rf` does: read a batch of names, unlink them, read on.
  constexpr int kFiles = 1200;
  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0);
  for (int i = 0; i < kFiles; ++i) {  // empty files: no data commit each, so it is quick
    const std::string path = P("d/entry-with-a-longer-name-" + std::to_string(i));
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << path << ": " << ErrnoText();
    ASSERT_EQ(::close(fd), 0) << ErrnoText();
  }
  DIR* dir = ::opendir(P("d").c_str());
  ASSERT_NE(dir, nullptr) << ErrnoText();
  std::set<std::string> seen;
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(dir);
    if (e == nullptr) {
      EXPECT_EQ(errno, 0) << "readdir: " << ErrnoText();
      break;
    }
    const std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    EXPECT_TRUE(seen.insert(name).second) << name << " returned twice";
    EXPECT_EQ(::unlinkat(::dirfd(dir), name.c_str(), 0), 0) << name << ": " << ErrnoText();
  }
  ::closedir(dir);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kFiles)) << "readdir skipped entries";
  EXPECT_TRUE(ListDir(P("d")).empty());
  EXPECT_EQ(ErrnoOf(::rmdir(P("d").c_str())), 0);
}

TEST_F(FsNamespaceTest, WritesThroughADescriptorLandInTheFileAfterItWasRenamed) {
  ASSERT_EQ(::mkdir(P("a").c_str(), 0755), 0);
  ASSERT_EQ(::mkdir(P("b").c_str(), 0755), 0);
  int fd = ::open(P("a/f").c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, "before ", 0));
  ASSERT_EQ(::rename(P("a/f").c_str(), P("b/g").c_str()), 0) << ErrnoText();
  ASSERT_EQ(::rename(P("a").c_str(), P("b/a2").c_str()), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, "after", 7));
  ASSERT_EQ(::close(fd), 0) << "close (commit): " << ErrnoText();
  EXPECT_EQ(ReadFile(P("b/g")), "before after");
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_EQ(ReadFile(P("b/g")), "before after");
  EXPECT_EQ(ListDir(vol_.root()), std::vector<std::string>{"b"});
  EXPECT_EQ(ListDir(P("b")), (std::vector<std::string>{"a2", "g"}));
  EXPECT_TRUE(ListDir(P("b/a2")).empty());
}

TEST_F(FsNamespaceTest, ConcurrentExclusiveCreatesOfOneNameLetExactlyOneWin) {
  constexpr int kThreads = 4;
  constexpr int kRounds = 25;
  for (int round = 0; round < kRounds; ++round) {
    const std::string path = P("race" + std::to_string(round));
    std::atomic<int> winners{0}, eexist{0}, other{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        while (!go) std::this_thread::yield();
        int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0) {
          ++winners;
          const std::string me = std::to_string(t);
          if (::write(fd, me.data(), me.size()) != 1) ++other;
          if (::close(fd) != 0) ++other;
        } else if (errno == EEXIST) {
          ++eexist;
        } else {
          ++other;
        }
      });
    }
    go = true;
    for (auto& t : threads) t.join();
    EXPECT_EQ(winners.load(), 1) << "round " << round;
    EXPECT_EQ(eexist.load(), kThreads - 1) << "round " << round;
    EXPECT_EQ(other.load(), 0) << "round " << round;
    EXPECT_EQ(ReadFile(path).size(), 1u) << "round " << round;
  }
  EXPECT_EQ(ListDir(vol_.root()).size(), static_cast<size_t>(kRounds));
}

TEST_F(FsNamespaceTest, RenameBetweenTwoHardLinksOfOneFileChangesNothing) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("a"), "one inode"));
  ASSERT_EQ(::link(P("a").c_str(), P("b").c_str()), 0) << ErrnoText();
  // POSIX: when old and new are links to the same file, rename does nothing.
  ASSERT_EQ(::rename(P("a").c_str(), P("b").c_str()), 0) << ErrnoText();
  EXPECT_EQ(ListDir(vol_.root()), (std::vector<std::string>{"a", "b"}));
  struct stat st {};
  ASSERT_EQ(::stat(P("b").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(ReadFile(P("a")), "one inode");
  // Renaming a name onto itself is a no-op too.
  ASSERT_EQ(::rename(P("a").c_str(), P("a").c_str()), 0) << ErrnoText();
  EXPECT_EQ(ReadFile(P("a")), "one inode");
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_EQ(ListDir(vol_.root()), (std::vector<std::string>{"a", "b"}));
  ASSERT_EQ(::stat(P("a").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 2u);
}

TEST_F(FsNamespaceTest, WritesAndEntryChangesMoveMtimeAndCtimeForward) {
  const struct timespec old_times[2] = {{1000000000, 0}, {1000000000, 0}};
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("f"), "data"));
  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0);
  ASSERT_EQ(::utimensat(AT_FDCWD, P("f").c_str(), old_times, 0), 0) << ErrnoText();
  ASSERT_EQ(::utimensat(AT_FDCWD, P("d").c_str(), old_times, 0), 0) << ErrnoText();
  struct stat before {};
  ASSERT_EQ(::stat(P("f").c_str(), &before), 0);
  ASSERT_EQ(before.st_mtim.tv_sec, 1000000000);

  // A write and a truncate move the file's mtime and ctime.
  int fd = ::open(P("f").c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, "DATA", 0));
  ASSERT_EQ(::close(fd), 0) << ErrnoText();
  struct stat st {};
  ASSERT_EQ(::stat(P("f").c_str(), &st), 0);
  EXPECT_GT(st.st_mtim.tv_sec, 1600000000) << "write did not update mtime";
  EXPECT_GT(st.st_ctim.tv_sec, 1600000000) << "write did not update ctime";
  ASSERT_EQ(::utimensat(AT_FDCWD, P("f").c_str(), old_times, 0), 0) << ErrnoText();
  ASSERT_EQ(::truncate(P("f").c_str(), 2), 0) << ErrnoText();
  ASSERT_EQ(::stat(P("f").c_str(), &st), 0);
  EXPECT_GT(st.st_mtim.tv_sec, 1600000000) << "truncate did not update mtime";

  // Creating, renaming and removing entries move the directory's mtime.
  auto dir_mtime = [&] {
    struct stat d {};
    EXPECT_EQ(::stat(P("d").c_str(), &d), 0);
    return d.st_mtim.tv_sec;
  };
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("d/new"), "n"));
  EXPECT_GT(dir_mtime(), 1600000000) << "create did not update the directory's mtime";
  ASSERT_EQ(::utimensat(AT_FDCWD, P("d").c_str(), old_times, 0), 0);
  ASSERT_EQ(::rename(P("d/new").c_str(), P("d/renamed").c_str()), 0);
  EXPECT_GT(dir_mtime(), 1600000000) << "rename did not update the directory's mtime";
  ASSERT_EQ(::utimensat(AT_FDCWD, P("d").c_str(), old_times, 0), 0);
  ASSERT_EQ(::unlink(P("d/renamed").c_str()), 0);
  EXPECT_GT(dir_mtime(), 1600000000) << "unlink did not update the directory's mtime";

  // chmod moves ctime, not mtime.
  ASSERT_EQ(::utimensat(AT_FDCWD, P("f").c_str(), old_times, 0), 0);
  ASSERT_EQ(::stat(P("f").c_str(), &before), 0);
  ASSERT_EQ(::chmod(P("f").c_str(), 0600), 0);
  ASSERT_EQ(::stat(P("f").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1000000000) << "chmod changed mtime";
  EXPECT_GE(st.st_ctim.tv_sec, before.st_ctim.tv_sec);
  EXPECT_GT(st.st_ctim.tv_sec, 1600000000) << "chmod did not update ctime";
}

TEST_F(FsNamespaceTest, WritesThroughAnOpenReplacedFileDoNotReachTheNewFileOfThatName) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("target"), "old target"));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("src"), "replacement"));
  int old_fd = ::open(P("target").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(old_fd, 0) << ErrnoText();
  // Replaced by rename: the open descriptor keeps the old, now nameless, file.
  ASSERT_EQ(::rename(P("src").c_str(), P("target").c_str()), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(PwriteAll(old_fd, "OLD", 0));
  EXPECT_EQ(PreadUpTo(old_fd, 0, 100), "OLD target");
  EXPECT_EQ(ReadFile(P("target")), "replacement") << "before the old file's close";
  ASSERT_EQ(::close(old_fd), 0) << ErrnoText();
  EXPECT_EQ(ReadFile(P("target")), "replacement") << "after the old file's close";

  // Replaced by unlink and a new create of the same name.
  old_fd = ::open(P("target").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(old_fd, 0) << ErrnoText();
  ASSERT_EQ(::unlink(P("target").c_str()), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("target"), "brand new"));
  ASSERT_NO_FATAL_FAILURE(PwriteAll(old_fd, "XXXXXXXXXXXXXXXXXXXX", 0));
  ASSERT_EQ(::close(old_fd), 0) << ErrnoText();
  EXPECT_EQ(ReadFile(P("target")), "brand new");
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_EQ(ReadFile(P("target")), "brand new");
  EXPECT_EQ(ListDir(vol_.root()), std::vector<std::string>{"target"});
}

TEST_F(FsNamespaceTest, SeekdirBackToATelldirPositionReturnsTheSameEntriesAgain) {
  ASSERT_EQ(::mkdir(P("d").c_str(), 0755), 0);
  for (int i = 0; i < 300; ++i) {
    const std::string path = P("d/name-" + std::to_string(i));
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0) << ErrnoText();
    ::close(fd);
  }
  DIR* dir = ::opendir(P("d").c_str());
  ASSERT_NE(dir, nullptr) << ErrnoText();
  std::vector<std::string> first;
  long mark = -1;
  for (int n = 0;; ++n) {
    if (n == 170) mark = ::telldir(dir);
    struct dirent* e = ::readdir(dir);
    if (e == nullptr) break;
    if (n >= 170) first.push_back(e->d_name);
  }
  ASSERT_GE(mark, 0);
  ::seekdir(dir, mark);
  std::vector<std::string> again;
  while (struct dirent* e = ::readdir(dir)) again.push_back(e->d_name);
  ::closedir(dir);
  EXPECT_EQ(first.size(), 302u - 170u);
  EXPECT_EQ(again, first);
}

TEST_F(FsNamespaceTest, RewinddirListsTheDirectoryAsItIsNow) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("a"), "a"));
  DIR* d = ::opendir(vol_.root().c_str());
  ASSERT_NE(d, nullptr) << ErrnoText();
  auto names = [&] {
    std::set<std::string> out;
    while (dirent* e = ::readdir(d)) out.insert(e->d_name);
    return out;
  };
  EXPECT_EQ(names(), (std::set<std::string>{".", "..", "a"}));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("b"), "b"));
  ASSERT_EQ(::unlink(P("a").c_str()), 0);
  ::rewinddir(d);
  EXPECT_EQ(names(), (std::set<std::string>{".", "..", "b"}));
  ::closedir(d);
}

}  // namespace
}  // namespace sopfs::fusetest
