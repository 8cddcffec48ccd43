// The daemon's memory under a flood of small files (issue 17.5), through a real mount:
// 50,000 files of 64 KiB written as fast as four writers can. Files up to 64 KiB close
// through the journal and wait in memory for a namespace commit; that memory is bounded
// (small_file_buffer), so closes wait for commits instead of the daemon growing.
//  - the daemon's peak RSS stays under 256 MiB (measured in builds without ASan, whose
//    shadow memory and quarantine are not the daemon's);
//  - the unmount takes under 5 s (it commits at most the bound);
//  - every file reads back exact after a remount, and after kill -9 at the peak every
//    file whose close returned 0 does.
// SOPFS_TEST_MEMORY_FILES overrides the count (tools/test.sh lowers it for the slow
// ASan and io_uring passes).
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

constexpr size_t kFileBytes = 64 * kKiB;
constexpr int kWriters = 4;
constexpr uint64_t kRssLimitKiB = 256 * 1024;

size_t FileCount() {
  const char* env = std::getenv("SOPFS_TEST_MEMORY_FILES");
  const long n = env ? std::strtol(env, nullptr, 10) : 0;
  return n > 0 ? static_cast<size_t>(n) : 50000;
}

class FsMemoryTest : public FuseFsTest {
 protected:
  void SetUp() override {
    if (NativeMode()) GTEST_SKIP() << "needs the daemon (native mode)";
    FuseFsTest::SetUp();
    vol_.SetWatchdog(std::chrono::seconds(840));
    for (int w = 0; w < kWriters; ++w) {
      ASSERT_EQ(::mkdir(P("w" + std::to_string(w)).c_str(), 0755), 0) << ErrnoText();
    }
  }

  std::string FilePath(size_t i) const {
    return P("w" + std::to_string(i % kWriters) + "/f" + std::to_string(i));
  }

  // Writes files 0..n-1 with kWriters threads, each file in one write; a writer stops at
  // its first error (the daemon was killed) or when `stop` is set. Returns the files
  // whose close returned 0.
  std::set<size_t> WriteFiles(size_t n, const std::atomic<bool>& stop,
                              std::atomic<size_t>* progress = nullptr) {
    std::mutex mu;
    std::set<size_t> closed;
    std::vector<std::thread> writers;
    for (int w = 0; w < kWriters; ++w) {
      writers.emplace_back([&, w] {
        std::string data(kFileBytes, '\0');
        for (size_t i = static_cast<size_t>(w); i < n && !stop.load(); i += kWriters) {
          FillPattern(i, 0, data.data(), data.size());
          const int fd = ::open(FilePath(i).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
          if (fd < 0) return;
          const bool written = ::write(fd, data.data(), data.size()) == ssize_t(data.size());
          if (::close(fd) != 0 || !written) return;
          std::lock_guard lock(mu);
          closed.insert(i);
          if (progress) ++*progress;
        }
      });
    }
    for (std::thread& t : writers) t.join();
    return closed;
  }

  // Every file of `files` holds its pattern; reports at most a few bad ones.
  void ExpectFiles(const std::set<size_t>& files) {
    int bad = 0;
    for (size_t i : files) {
      const std::string got = ReadFile(FilePath(i));
      const int64_t at = FirstDifference(got, Pattern(i, 0, kFileBytes));
      if (at != -1) {
        ADD_FAILURE() << FilePath(i) << " differs at byte " << at << " (" << got.size()
                      << " bytes)";
        if (++bad == 5) return;
      }
    }
  }

  void ExpectRssUnderLimit(const char* when) {
    const uint64_t peak = vol_.DaemonPeakRssKiB();
    std::printf("daemon peak RSS %s: %llu MiB\n", when,
                static_cast<unsigned long long>(peak / 1024));
    ASSERT_GT(peak, 0u) << "no VmHWM for the daemon";
    if (!kSanitized) {
      EXPECT_LT(peak, kRssLimitKiB) << "daemon peak RSS " << when << ": " << peak / 1024 << " MiB";
    }
  }
};

TEST_F(FsMemoryTest, FiftyThousandFilesOf64KiBKeepTheDaemonUnder256MiBAndUnmountIn5s) {
  const size_t n = FileCount();
  std::atomic<bool> stop{false};
  const auto start = std::chrono::steady_clock::now();
  const std::set<size_t> closed = WriteFiles(n, stop);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(closed.size(), n) << "a write or close failed";
  std::printf("%zu files of 64 KiB in %.1f s (%.0f files/s)\n", n, seconds, n / seconds);
  ASSERT_NO_FATAL_FAILURE(ExpectRssUnderLimit("after the writes"));
  const auto unmount_start = std::chrono::steady_clock::now();
  ASSERT_NO_FATAL_FAILURE(vol_.Unmount());
  const double unmount_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - unmount_start).count();
  std::printf("unmount took %.2f s\n", unmount_s);
  EXPECT_LT(unmount_s, 5.0) << "the unmount commits at most small_file_buffer";
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  ExpectFiles(closed);
}

TEST_F(FsMemoryTest, KillNineAtThePeakLosesNoClosedFileOf64KiB) {
  const size_t n = FileCount();
  std::atomic<bool> stop{false};
  std::atomic<size_t> progress{0};
  std::set<size_t> closed;
  std::thread writer([&] { closed = WriteFiles(n, stop, &progress); });
  // At the peak: half the files written, and the daemon holding small contents that
  // wait for a commit (its stats say how many bytes).
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(600);
  uint64_t pending = 0;
  while (std::chrono::steady_clock::now() < limit) {
    if (progress.load() >= n / 2) {
      pending = std::strtoull(StatsField(vol_, "small_pending_bytes").c_str(), nullptr, 10);
      if (pending >= 4 * kMiB) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("kill -9 with %llu KiB of small contents awaiting a commit\n",
              static_cast<unsigned long long>(pending / 1024));
  EXPECT_GE(pending, 4 * kMiB) << "the daemon never held small contents to commit";
  ASSERT_NO_FATAL_FAILURE(ExpectRssUnderLimit("before kill -9"));
  ASSERT_NO_FATAL_FAILURE(vol_.KillDaemon());
  stop = true;
  writer.join();
  std::printf("%zu files closed before the kill\n", closed.size());
  ASSERT_GT(closed.size(), 0u);
  ASSERT_NO_FATAL_FAILURE(vol_.Mount());
  ExpectFiles(closed);
}

}  // namespace
}  // namespace sopfs::fusetest
