// The intent log through a real mount: a database's pattern (page writes at random
// places, each followed by fsync) with the daemon killed at a random moment, again and
// again. After every remount the file holds every page whose fsync returned, and the
// page in flight at the kill entirely or not at all: nothing else, no other bytes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

class FsIntentTest : public FuseFsTest {
 protected:
  void SetUp() override {
    if (NativeMode()) GTEST_SKIP() << "needs the daemon to kill (native mode)";
    FuseFsTest::SetUp();
  }
  // Bytes in the intent log's files (in the log folder's copy).
  uint64_t IntentLogBytes() {
    uint64_t bytes = 0;
    const std::filesystem::path dir = vol_.volume() + "/log/close-journal";
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().filename().string().rfind("intent-", 0) == 0) bytes += e.file_size();
    }
    return bytes;
  }
};

struct Page {
  uint64_t offset;
  std::string bytes;
};

TEST_F(FsIntentTest, IntentKillNineDuringFsyncedPageWritesKeepsEveryAcknowledgedPage) {
  const uint64_t size = 4 * vol_.chunk_size() + 777;
  std::string model = Pattern(1, 0, size);
  ASSERT_NO_FATAL_FAILURE(WriteFile(P("db"), model));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  std::mt19937 rng(7);
  for (int trial = 0; trial < 6; ++trial) {
    SCOPED_TRACE("trial " + std::to_string(trial));
    const int fd = ::open(P("db").c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << ErrnoText();
    std::mutex mu;
    std::vector<Page> acknowledged;
    std::optional<Page> in_flight;
    std::atomic<bool> stop{false};
    std::thread writer([&, seed = rng()] {
      std::mt19937 wrng(seed);
      for (int i = 0; !stop; ++i) {
        Page page{wrng() % (size + 4096), Pattern(seed + i, 0, 1 + wrng() % 8192)};
        {
          std::lock_guard lock(mu);
          in_flight = page;
        }
        const ssize_t n =
            ::pwrite(fd, page.bytes.data(), page.bytes.size(), static_cast<off_t>(page.offset));
        if (n != static_cast<ssize_t>(page.bytes.size()) || ::fsync(fd) != 0) return;
        std::lock_guard lock(mu);
        acknowledged.push_back(std::move(*in_flight));
        in_flight.reset();
      }
    });
    // Kill once some pages are durable, at a moment the writer does not choose.
    const size_t kill_after = 20 + rng() % 80;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mu);
        if (acknowledged.size() >= kill_after) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    const uint64_t logged = IntentLogBytes();
    ASSERT_NO_FATAL_FAILURE(vol_.KillDaemon());
    stop = true;
    writer.join();
    ::close(fd);
    ASSERT_GE(acknowledged.size(), kill_after) << "the writer stopped early: " << ErrnoText();
    EXPECT_GT(logged, 0u) << "the fsyncs did not go through the intent log";
    ASSERT_NO_FATAL_FAILURE(vol_.Mount());
    for (const Page& p : acknowledged) {
      if (model.size() < p.offset + p.bytes.size()) model.resize(p.offset + p.bytes.size(), '\0');
      model.replace(p.offset, p.bytes.size(), p.bytes);
    }
    std::string with_last = model;
    if (in_flight) {
      const Page& p = *in_flight;
      if (with_last.size() < p.offset + p.bytes.size()) {
        with_last.resize(p.offset + p.bytes.size(), '\0');
      }
      with_last.replace(p.offset, p.bytes.size(), p.bytes);
    }
    const std::string got = ReadFile(P("db"));
    ASSERT_TRUE(got == model || got == with_last)
        << acknowledged.size() << " pages acknowledged; " << got.size() << " bytes read, "
        << model.size() << " expected; first difference at " << FirstDifference(got, model) << "\n"
        << vol_.DaemonLog();
    model = got;
  }
  // .sopfs/stats counts what went through the log.
  const int fd = ::open(P("db").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, "one more page", 12345));
  ASSERT_EQ(::fsync(fd), 0) << ErrnoText();
  ::close(fd);
  const std::string stats = ReadFile(P(".sopfs/stats"));
  const size_t at = stats.find("\"intent_log_records\":");
  ASSERT_NE(at, std::string::npos) << stats;
  EXPECT_GE(std::stoll(stats.substr(at + 21)), 1) << stats;
}

}  // namespace
}  // namespace sopfs::fusetest
