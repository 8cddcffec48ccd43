// Extended attributes through a real mount: user.* set/get/list/remove, their flags and
// errors, kept across a remount. sopfs lists virtual read-only user.sopfs.* attributes
// too (SPEC §3), so listings are compared without those.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

class FsXattrTest : public FuseFsTest {};

std::vector<std::string> ListUserXattrs(const std::string& path, bool follow = true) {
  std::vector<char> buf(65536);
  ssize_t n = follow ? ::listxattr(path.c_str(), buf.data(), buf.size())
                     : ::llistxattr(path.c_str(), buf.data(), buf.size());
  if (n < 0) {
    ADD_FAILURE() << "listxattr " << path << ": " << ErrnoText();
    return {};
  }
  std::vector<std::string> names;
  for (ssize_t i = 0; i < n;) {
    std::string name(buf.data() + i);
    i += name.size() + 1;
    if (name.rfind("user.sopfs.", 0) == 0) continue;  // virtual, per SPEC §3
    if (name.rfind("security.", 0) == 0) continue;    // e.g. SELinux labels natively
    names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string GetXattr(const std::string& path, const std::string& name) {
  std::vector<char> buf(65536);
  ssize_t n = ::getxattr(path.c_str(), name.c_str(), buf.data(), buf.size());
  if (n < 0) {
    ADD_FAILURE() << "getxattr " << path << " " << name << ": " << ErrnoText();
    return "<error>";
  }
  return std::string(buf.data(), n);
}

TEST_F(FsXattrTest, UserXattrsAreSetReadListedRemovedAndKeptAfterRemount) {
  const std::string f = P("file");
  ASSERT_NO_FATAL_FAILURE(WriteFile(f, "content"));
  ASSERT_EQ(::mkdir(P("dir").c_str(), 0755), 0);
  const std::string binary("\0\x01\xff\x80 binary\n", 11);
  const std::string big(3000, 'v');
  ASSERT_EQ(::setxattr(f.c_str(), "user.alpha", "one", 3, 0), 0) << ErrnoText();
  ASSERT_EQ(::setxattr(f.c_str(), "user.beta", binary.data(), binary.size(), 0), 0) << ErrnoText();
  ASSERT_EQ(::setxattr(f.c_str(), "user.empty", "", 0, 0), 0) << ErrnoText();
  ASSERT_EQ(::setxattr(f.c_str(), "user.big", big.data(), big.size(), 0), 0) << ErrnoText();
  ASSERT_EQ(::setxattr(P("dir").c_str(), "user.ondir", "d", 1, 0), 0) << ErrnoText();
  // Overwrite without flags replaces the value.
  ASSERT_EQ(::setxattr(f.c_str(), "user.alpha", "uno", 3, 0), 0) << ErrnoText();
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before remount" : "after remount");
    EXPECT_EQ(GetXattr(f, "user.alpha"), "uno");
    EXPECT_EQ(GetXattr(f, "user.beta"), binary);
    EXPECT_EQ(GetXattr(f, "user.empty"), "");
    EXPECT_EQ(GetXattr(f, "user.big"), big);
    EXPECT_EQ(GetXattr(P("dir"), "user.ondir"), "d");
    EXPECT_EQ(ListUserXattrs(f),
              (std::vector<std::string>{"user.alpha", "user.beta", "user.big", "user.empty"}));
    EXPECT_EQ(ListUserXattrs(P("dir")), std::vector<std::string>{"user.ondir"});
    EXPECT_EQ(ReadFile(f), "content") << "xattrs changed the data";
    if (pass == 0) {
      ASSERT_NO_FATAL_FAILURE(vol_.Remount());
    }
  }
  ASSERT_EQ(::removexattr(f.c_str(), "user.beta"), 0) << ErrnoText();
  EXPECT_EQ(ListUserXattrs(f), (std::vector<std::string>{"user.alpha", "user.big", "user.empty"}));
  char buf[16];
  errno = 0;
  EXPECT_EQ(::getxattr(f.c_str(), "user.beta", buf, sizeof buf), -1);
  EXPECT_EQ(errno, ENODATA) << "removed attribute: " << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_EQ(ListUserXattrs(f), (std::vector<std::string>{"user.alpha", "user.big", "user.empty"}));
  errno = 0;
  EXPECT_EQ(::getxattr(f.c_str(), "user.beta", buf, sizeof buf), -1);
  EXPECT_EQ(errno, ENODATA) << "removed attribute came back after remount";
}

TEST_F(FsXattrTest, XattrFlagsAndBufferSizesGiveTheDocumentedErrors) {
  const std::string f = P("file");
  ASSERT_NO_FATAL_FAILURE(WriteFile(f, "x"));
  ASSERT_EQ(::setxattr(f.c_str(), "user.k", "value", 5, XATTR_CREATE), 0) << ErrnoText();
  errno = 0;
  EXPECT_EQ(::setxattr(f.c_str(), "user.k", "other", 5, XATTR_CREATE), -1);
  EXPECT_EQ(errno, EEXIST) << "XATTR_CREATE on an existing name: " << ErrnoText();
  EXPECT_EQ(GetXattr(f, "user.k"), "value");
  errno = 0;
  EXPECT_EQ(::setxattr(f.c_str(), "user.missing", "v", 1, XATTR_REPLACE), -1);
  EXPECT_EQ(errno, ENODATA) << "XATTR_REPLACE on a missing name: " << ErrnoText();
  EXPECT_EQ(::setxattr(f.c_str(), "user.k", "replaced", 8, XATTR_REPLACE), 0) << ErrnoText();
  EXPECT_EQ(GetXattr(f, "user.k"), "replaced");

  char buf[64];
  errno = 0;
  EXPECT_EQ(::getxattr(f.c_str(), "user.nothere", buf, sizeof buf), -1);
  EXPECT_EQ(errno, ENODATA) << "get of a missing name: " << ErrnoText();
  errno = 0;
  EXPECT_EQ(::removexattr(f.c_str(), "user.nothere"), -1);
  EXPECT_EQ(errno, ENODATA) << "remove of a missing name: " << ErrnoText();

  // Size query, then a buffer too small.
  EXPECT_EQ(::getxattr(f.c_str(), "user.k", nullptr, 0), 8) << ErrnoText();
  errno = 0;
  EXPECT_EQ(::getxattr(f.c_str(), "user.k", buf, 3), -1);
  EXPECT_EQ(errno, ERANGE) << "getxattr into 3 bytes: " << ErrnoText();
  ssize_t list_size = ::listxattr(f.c_str(), nullptr, 0);
  ASSERT_GE(list_size, static_cast<ssize_t>(sizeof("user.k"))) << ErrnoText();
  errno = 0;
  EXPECT_EQ(::listxattr(f.c_str(), buf, 2), -1);
  EXPECT_EQ(errno, ERANGE) << "listxattr into 2 bytes: " << ErrnoText();
  // Nothing changed by the failed calls.
  EXPECT_EQ(ListUserXattrs(f), std::vector<std::string>{"user.k"});
}

}  // namespace
}  // namespace sopfs::fusetest
