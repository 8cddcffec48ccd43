// fsck's progress: under a pseudo-terminal one line updates in place ("\r", erase to
// the end of the line) with blobs done of how many, the percentage, MiB read, the rate
// and the ETA, and ends with the phase's final numbers (all blobs, 100%); into a file
// (not a terminal) the output holds plain lines only, without control characters.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <regex>
#include <string>
#include <vector>

#include "tests/fuse/mount/fsck_output.h"
#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

constexpr int kFiles = 150;

// Runs argv with a new pseudo-terminal as its controlling terminal and stdin, stdout
// and stderr; collects what it writes there (the terminal turns "\n" into "\r\n").
CommandResult RunOnTerminal(const std::vector<std::string>& args, std::chrono::seconds timeout) {
  CommandResult result;
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) {
    result.output = "posix_openpt: " + ErrnoText();
    if (master >= 0) ::close(master);
    return result;
  }
  const std::string slave = ::ptsname(master);
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();  // the terminal opened next becomes the controlling one
    const int fd = ::open(slave.c_str(), O_RDWR);
    if (fd < 0) _exit(126);
    for (int target = 0; target < 3; ++target) ::dup2(fd, target);
    if (fd > 2) ::close(fd);
    ::execv(argv[0], argv.data());
    _exit(127);
  }
  if (pid < 0) {
    result.output = "fork: " + ErrnoText();
    ::close(master);
    return result;
  }
  result.started = true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  while (true) {
    if (std::chrono::steady_clock::now() >= deadline) {
      result.timed_out = true;
      ::kill(pid, SIGKILL);
      break;
    }
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO: every holder of the terminal's other side is gone
    result.output.append(buf, static_cast<size_t>(n));
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  }
  ::close(master);
  return result;
}

class FsFsckProgressTest : public FuseFsTest {
 protected:
  void SetUp() override {
    if (NativeMode()) GTEST_SKIP() << "needs the daemon's volume (native mode)";
    FuseFsTest::SetUp();
  }
};

TEST_F(FsFsckProgressTest, FsckProgressUpdatesOneLineOnATerminalAndIsPlainLinesOtherwise) {
  for (int i = 0; i < kFiles; ++i) {
    ASSERT_NO_FATAL_FAILURE(WriteFile(P("f" + std::to_string(i)), Pattern(i, 0, 100 * kKiB)));
  }
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());

  CommandResult tty = RunOnTerminal({SopfsBin(), "fsck", vol_.volume()}, std::chrono::seconds(300));
  ASSERT_TRUE(tty.started) << tty.output;
  ASSERT_FALSE(tty.timed_out) << tty.output;
  ASSERT_EQ(tty.exit_code, 0) << tty.output;
  const std::string out = tty.output;
  const std::string phase = "sopfs fsck: checking blobs (every shard read)\r\n";
  const size_t begin = out.find(phase);
  ASSERT_NE(begin, std::string::npos) << out;
  // The blobs phase's progress: from its first line to the newline that ends it, only
  // carriage returns, each line starting over with erase-to-end-of-line.
  const size_t first = begin + phase.size();
  const size_t end = out.find("\r\n", first);
  ASSERT_NE(end, std::string::npos) << out;
  const std::string lines = out.substr(first, end - first);
  const std::string redraw = "\r\033[K  blobs (every shard read): ";
  ASSERT_EQ(lines.rfind(redraw, 0), 0u) << "no updating line: " << out;
  std::vector<std::string> shown;
  for (size_t at = 0; at != std::string::npos;) {
    const size_t next = lines.find(redraw, at + 1);
    shown.push_back(lines.substr(at + redraw.size(), next == std::string::npos
                                                         ? std::string::npos
                                                         : next - at - redraw.size()));
    at = next;
  }
  ASSERT_GE(shown.size(), 2u) << "the line was drawn once only: " << lines;
  const std::regex during(R"((\d+) of (\d+) blobs \(\d+%\), \d+ MiB, \d+ MiB/s, ETA \d+ s)");
  std::smatch m;
  ASSERT_TRUE(std::regex_match(shown.front(), m, during)) << "first: " << shown.front();
  const uint64_t total = std::stoull(m[2].str());
  EXPECT_GE(total, static_cast<uint64_t>(kFiles));
  EXPECT_LT(std::stoull(m[1].str()), total);
  const std::regex final_line(R"((\d+) of (\d+) blobs \(100%\), \d+ MiB, \d+ MiB/s)");
  ASSERT_TRUE(std::regex_match(shown.back(), m, final_line)) << "last: " << shown.back();
  EXPECT_EQ(std::stoull(m[1].str()), total);
  EXPECT_EQ(std::stoull(m[2].str()), total);
  EXPECT_GE(std::stoull(shown.back().substr(shown.back().find("), ") + 3)),
            uint64_t{kFiles} * 100 * kKiB / kMiB)
      << "the bytes read: " << shown.back();

  // Not a terminal: plain lines, the phases named, no control characters.
  CommandResult plain = RunCommand({SopfsBin(), "fsck", vol_.volume()}, std::chrono::seconds(300));
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_NE(plain.output.find("sopfs fsck: checking blobs (every shard read)\n"), std::string::npos)
      << plain.output;
  EXPECT_NE(plain.output.find("sopfs fsck: checking file system references\n"), std::string::npos)
      << plain.output;
  EXPECT_EQ(plain.output.find('\r'), std::string::npos) << plain.output;
  EXPECT_EQ(plain.output.find('\033'), std::string::npos) << plain.output;
}

}  // namespace
}  // namespace sopfs::fusetest
