// The control files on a real mount (SPEC §3): garbage written to .sopfs/txn gets
// EINVAL, a log line and a message in the next read, and changes nothing; the
// control directory is virtual (not listed, not removable, nothing created in it);
// stats and health read as JSON; user.sopfs.* attributes are virtual and read-only.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/fuse/mount/mount_fixture.h"
#include "tests/fuse/mount/shell_session.h"

namespace sopfs::fusetest {
namespace {

class FsControlTest : public FuseFsTest {
 protected:
  void SetUp() override {
    if (NativeMode()) GTEST_SKIP() << "needs the daemon (native mode has no .sopfs)";
    FuseFsTest::SetUp();
  }
  // One write(2) of `bytes` to .sopfs/txn from this process; the errno, or 0.
  int WriteTxn(std::string_view bytes, const char* file = ".sopfs/txn") {
    int fd = ::open(P(file).c_str(), O_WRONLY | O_TRUNC);
    EXPECT_GE(fd, 0) << ErrnoText();
    if (fd < 0) return -1;
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    const int err = n < 0 ? errno : 0;
    if (n >= 0) {
      EXPECT_EQ(static_cast<size_t>(n), bytes.size());
    }
    ::close(fd);
    return err;
  }
  std::string Txn() { return ReadFile(P(".sopfs/txn")); }
};

TEST_F(FsControlTest, ControlGarbageCommandsGetEinvalAndChangeNothing) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("f"), "old\n"));
  std::string binary;
  for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
  const std::vector<std::string> garbage = {"foo",
                                            "commit",
                                            "rollback",
                                            "BEGIN",
                                            "begin\n\n",
                                            "begin readonly x",
                                            " begin",
                                            "begin now",
                                            binary,
                                            std::string(1 << 20, 'b'),
                                            std::string("begin\0", 6),
                                            "commit\r",
                                            "begin\nrollback"};
  for (const std::string& g : garbage) {
    EXPECT_EQ(WriteTxn(g), EINVAL) << "'" << g.substr(0, 20) << "'";
    const std::string state = Txn();
    EXPECT_NE(state.find("\"state\":\"none\""), std::string::npos) << state;
    EXPECT_EQ(state.find("\"last_error\":null"), std::string::npos) << state;
  }
  EXPECT_NE(vol_.DaemonLog().find(".sopfs: session"), std::string::npos) << vol_.DaemonLog();
  // With a transaction open, garbage leaves it open and its changes intact.
  ASSERT_EQ(WriteTxn("begin\n"), 0);
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("f"), "in txn\n"));
  // Counts: one data write, one namespace change (the truncate of O_TRUNC).
  EXPECT_NE(Txn().find("\"writes\":1,"), std::string::npos) << Txn();
  EXPECT_NE(Txn().find("\"namespace_ops\":1}"), std::string::npos) << Txn();
  EXPECT_EQ(WriteTxn("begin"), EINVAL);  // a second begin
  EXPECT_NE(Txn().find("already open"), std::string::npos) << Txn();
  EXPECT_EQ(WriteTxn("comit"), EINVAL);
  EXPECT_EQ(WriteTxn(binary), EINVAL);
  const std::string state = Txn();
  EXPECT_NE(state.find("\"state\":\"active\""), std::string::npos) << state;
  EXPECT_EQ(ReadFile(P("f")), "in txn\n");
  ShellSession other(vol_.root());
  EXPECT_EQ(other.Run("cat f").output, "old\n");
  ASSERT_EQ(WriteTxn("commit"), 0);  // no newline: accepted too
  EXPECT_EQ(ReadFile(P("f")), "in txn\n");
  EXPECT_EQ(other.Run("cat f").output, "in txn\n");
  const std::string stats = ReadFile(P(".sopfs/stats"));
  EXPECT_NE(stats.find("\"bad_commands\":16"), std::string::npos) << stats;
}

TEST_F(FsControlTest, ControlWritesToReadOnlyFilesAndFloodsAreRefusedWithABoundedLog) {
  // stats and health take no commands: EINVAL and a message, as for garbage.
  for (const char* file : {".sopfs/stats", ".sopfs/health"}) {
    EXPECT_EQ(WriteTxn("begin", file), EINVAL) << file;
    EXPECT_NE(Txn().find("read-only"), std::string::npos) << Txn();
  }
  ShellSession shell(vol_.root());
  ShellSession::Result r = shell.Run("echo x > .sopfs/stats");
  EXPECT_NE(r.output.find("Invalid argument"), std::string::npos) << r.output;
  // A flood of refused commands: all refused and counted, few logged.
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 300; ++i) ASSERT_EQ(WriteTxn("flood"), EINVAL);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string log = vol_.DaemonLog();
  size_t lines = 0;
  for (size_t at = log.find("unknown command 'flood'"); at != std::string::npos;
       at = log.find("unknown command 'flood'", at + 1)) {
    ++lines;
  }
  EXPECT_GE(lines, 1u);
  EXPECT_LE(lines, static_cast<size_t>(10 * (seconds + 2))) << "in " << seconds << " s";
  EXPECT_NE(ReadFile(P(".sopfs/stats")).find("\"bad_commands\":303"), std::string::npos);
}

TEST_F(FsControlTest, ControlDirectoryIsVirtualHiddenAndCannotBeChanged) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("f"), "x"));
  EXPECT_EQ(ListDir(vol_.root()), std::vector<std::string>{"f"});  // not listed
  EXPECT_EQ(ListDir(P(".sopfs")), (std::vector<std::string>{"health", "stats", "txn"}));
  struct stat st {};
  ASSERT_EQ(::stat(P(".sopfs").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(::mkdir(P(".sopfs").c_str(), 0755), -1);
  EXPECT_EQ(errno, EEXIST);
  EXPECT_EQ(::rmdir(P(".sopfs").c_str()), -1);
  EXPECT_EQ(::unlink(P(".sopfs/txn").c_str()), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::rename(P("f").c_str(), P(".sopfs").c_str()), -1);
  EXPECT_EQ(::rename(P(".sopfs/stats").c_str(), P("g").c_str()), -1);
  EXPECT_EQ(::open(P(".sopfs/new").c_str(), O_CREAT | O_WRONLY, 0644), -1);
  EXPECT_EQ(::symlink("f", P(".sopfs/l").c_str()), -1);
  EXPECT_EQ(::setxattr(P(".sopfs/txn").c_str(), "user.x", "1", 1, 0), -1);
  // rm -r of the mount's contents and a copy of it never meet the control files.
  CommandResult rm = RunCommand({"sh", "-c",
                                 "rm -rf '" + vol_.root() + "'/* '" + vol_.root() +
                                     "'/.[!.]* 2>&1; ls -A '" + vol_.root() + "'"},
                                std::chrono::seconds(30));
  EXPECT_EQ(rm.output, "") << rm.output;
  EXPECT_EQ(ListDir(P(".sopfs")), (std::vector<std::string>{"health", "stats", "txn"}));
}

TEST_F(FsControlTest, ControlStatsAndHealthReadAsJson) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("f"), std::string(3 * kMiB, 'x')));
  EXPECT_EQ(ReadFile(P("f")).size(), 3 * kMiB);
  const std::string stats = ReadFile(P(".sopfs/stats"));
  ASSERT_FALSE(stats.empty());
  EXPECT_EQ(stats.front(), '{');
  EXPECT_EQ(stats.substr(stats.size() - 2), "}\n");
  for (const char* key : {"\"ops\":", "\"bytes_read\":", "\"bytes_written\":", "\"chunk_reads\":",
                          "\"chunk_writes\":", "\"cache_hits\":", "\"commits\":", "\"conflicts\":",
                          "\"ec_reconstructions\":", "\"errors\":", "\"transactions\":"}) {
    EXPECT_NE(stats.find(key), std::string::npos) << key << " in " << stats;
  }
  EXPECT_EQ(stats.find("\"bytes_written\":0,"), std::string::npos) << stats;
  const std::string health = ReadFile(P(".sopfs/health"));
  EXPECT_NE(health.find("\"state\":\"ok\""), std::string::npos) << health;
  EXPECT_NE(health.find("\"redundancy_left\":2"), std::string::npos) << health;
  EXPECT_NE(health.find("\"active\":"), std::string::npos) << health;
  // A lost data folder shows: degraded, one redundancy less.
  ASSERT_EQ(::rename((vol_.volume() + "/data-5").c_str(), (vol_.volume() + "/gone").c_str()), 0);
  const std::string degraded = ReadFile(P(".sopfs/health"));
  EXPECT_NE(degraded.find("\"state\":\"degraded\""), std::string::npos) << degraded;
  EXPECT_NE(degraded.find("\"redundancy_left\":1"), std::string::npos) << degraded;
  ASSERT_EQ(::rename((vol_.volume() + "/gone").c_str(), (vol_.volume() + "/data-5").c_str()), 0);
}

// A control file read in pieces is one version of its text: the state changing between
// two reads of one pass (here: a refused command adds last_error) does not tear it.
TEST_F(FsControlTest, ControlFileReadInPiecesIsOneVersionOfItsText) {
  const int fd = ::open(P(".sopfs/txn").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  std::string first = PreadUpTo(fd, 0, 10);
  ASSERT_EQ(first.size(), 10u);
  const int w = ::open(P(".sopfs/txn").c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(w, 0) << ErrnoText();
  EXPECT_EQ(::write(w, "bogus", 5), -1);
  EXPECT_EQ(errno, EINVAL);
  ::close(w);
  const std::string whole = first + PreadUpTo(fd, 10, 4096);
  EXPECT_EQ(whole.find("bogus"), std::string::npos) << whole;
  EXPECT_EQ(whole.substr(whole.size() - 2), "}\n") << whole;
  EXPECT_NE(PreadUpTo(fd, 0, 4096).find("bogus"), std::string::npos);  // a new pass: new text
  ::close(fd);
  // A first read that does not start at offset 0 still gets the text.
  const int again = ::open(P(".sopfs/txn").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(again, 0) << ErrnoText();
  EXPECT_EQ(PreadUpTo(again, 1, 9), whole.substr(1, 9));
  ::close(again);
}

TEST_F(FsControlTest, ControlUserSopfsXattrsAreVirtualReadOnlyAndListedByGetfattr) {
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("f"), std::string(2 * kMiB + 5, 'x')));
  ASSERT_EQ(::setxattr(P("f").c_str(), "user.mine", "v", 1, 0), 0) << ErrnoText();
  ASSERT_TRUE(HaveProgram("getfattr")) << "getfattr (package attr) is needed";
  CommandResult r = RunCommand({"getfattr", "-d", "-m", "-", P("f")}, std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* line :
       {"user.mine=\"v\"", "user.sopfs.chunk_count=\"3\"", "user.sopfs.chunk_size=\"1048576\"",
        "user.sopfs.erasure=\"4+2\"", "user.sopfs.version="}) {
    EXPECT_NE(r.output.find(line), std::string::npos) << line << " in " << r.output;
  }
  EXPECT_EQ(::setxattr(P("f").c_str(), "user.sopfs.version", "9", 1, 0), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::removexattr(P("f").c_str(), "user.sopfs.erasure"), -1);
  EXPECT_EQ(errno, EPERM);
  char buf[64];
  const ssize_t n = ::getxattr(P("f").c_str(), "user.sopfs.version", buf, sizeof buf);
  ASSERT_GT(n, 0);
  const std::string v1(buf, static_cast<size_t>(n));
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("f"), "rewritten"));
  const ssize_t m = ::getxattr(P("f").c_str(), "user.sopfs.version", buf, sizeof buf);
  ASSERT_GT(m, 0);
  EXPECT_NE(std::string(buf, static_cast<size_t>(m)), v1);  // a new commit, a new version
  // A symlink lists none of them (the kernel refuses user.* of symlinks): getfattr -h
  // of it succeeds with nothing to show.
  ASSERT_EQ(::symlink("f", P("link").c_str()), 0) << ErrnoText();
  r = RunCommand({"getfattr", "-h", "-d", "-m", "-", P("link")}, std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("sopfs"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace sopfs::fusetest
