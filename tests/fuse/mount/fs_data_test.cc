// File data through a real mount: large sequential files, random overwrites and reads
// against a model, truncate, sparse files and holes, punch hole, shared handle state.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>

#include "tests/fuse/mount/mount_fixture.h"

namespace sopfs::fusetest {
namespace {

class FsDataTest : public FuseFsTest {};

// Reads the whole file (size taken from fstat) and compares it with `model`.
void ExpectFileEquals(const std::string& path, const std::string& model) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << "open " << path << ": " << ErrnoText();
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0) << ErrnoText();
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), model.size()) << path << " size";
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  std::string got = PreadUpTo(fd, 0, model.size() + 4096);
  ::close(fd);
  ASSERT_EQ(got.size(), model.size()) << path << ": bytes read";
  int64_t at = FirstDifference(got, model);
  ASSERT_EQ(at, -1) << path << ": first wrong byte at offset " << at;
}

TEST_F(FsDataTest, OneGibFileWrittenInMibBlocksReadsBackIdenticalBeforeAndAfterRemount) {
  vol_.SetWatchdog(std::chrono::seconds(560));
  constexpr uint64_t kSize = 1024 * kMiB;
  const std::string path = P("big.bin");
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(path, 42, kSize, kMiB));
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(path, 42, kSize));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(path, 42, kSize));
}

// A count of the daemon's so far, from .sopfs/stats ("reads": READ requests, "ops":
// requests of every kind).
uint64_t DaemonCount(const MountedVolume& vol, const std::string& key) {
  const std::string value = StatsField(vol, key);
  EXPECT_FALSE(value.empty()) << "no \"" << key << "\" in .sopfs/stats";
  return value.empty() ? 0 : std::stoull(value);
}

uint64_t ReadRequests(const MountedVolume& vol) { return DaemonCount(vol, "reads"); }

TEST_F(FsDataTest, SequentialReadsReachTheDaemonInMibRequestsNotThe128KibDefault) {
  if (NativeMode()) GTEST_SKIP() << "counts the daemon's requests (native mode)";
  if (::geteuid() != 0) GTEST_SKIP() << "raising a mount's read-ahead needs root";
  constexpr uint64_t kSize = 16 * kMiB;
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("seq.bin"), 9, kSize, kMiB));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());  // nothing of the file in the page cache
  const uint64_t before = ReadRequests(vol_);
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(P("seq.bin"), 9, kSize));
  // 16 at 1 MiB a request; the kernel's default read-ahead would send 128.
  EXPECT_LE(ReadRequests(vol_) - before, 24u);
}

// A write-only handle bypasses the page cache: the kernel would precede each buffered
// write() with a GETXATTR of security.capability, a second round trip per write. A
// reader's cached pages still see what it writes.
TEST_F(FsDataTest, WriteOnlyHandlesCostOneRequestPerWriteAndReadersSeeTheirWrites) {
  if (NativeMode()) GTEST_SKIP() << "counts the daemon's requests (native mode)";
  constexpr int kWrites = 64;
  const std::string path = P("w.bin");
  const uint64_t before = DaemonCount(vol_, "ops");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << ErrnoText();
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, Pattern(5, i * 4 * kKiB, 4 * kKiB), i * 4 * kKiB));
  }
  ASSERT_EQ(::close(fd), 0) << ErrnoText();
  // One WRITE each, plus the create's few (the directory's attributes, LOOKUP,
  // CREATE, FLUSH, RELEASE) and the read of .sopfs/stats; buffered, there were 2 each.
  EXPECT_LE(DaemonCount(vol_, "ops") - before, kWrites + 12u);
  EXPECT_EQ(DaemonCount(vol_, "direct_io_opens"), 1u);
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(path, 5, kWrites * 4 * kKiB));

  // A reader caches the file; a write-only handle overwrites the middle of a page.
  int rfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(rfd, 0) << ErrnoText();
  std::string cached(kWrites * 4 * kKiB, '\0');
  ASSERT_EQ(::pread(rfd, cached.data(), cached.size(), 0), static_cast<ssize_t>(cached.size()));
  int wfd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(wfd, 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(PwriteAll(wfd, "overwritten", 10 * kKiB + 100));
  std::string seen(cached.size(), '\0');
  ASSERT_EQ(::pread(rfd, seen.data(), seen.size(), 0), static_cast<ssize_t>(seen.size()));
  EXPECT_EQ(seen.substr(10 * kKiB + 100, 11), "overwritten");
  EXPECT_EQ(seen.substr(0, 10 * kKiB + 100), cached.substr(0, 10 * kKiB + 100));
  ASSERT_EQ(::close(wfd), 0) << ErrnoText();
  ASSERT_EQ(::close(rfd), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  EXPECT_EQ(ReadFile(path).substr(10 * kKiB + 95, 21),
            cached.substr(10 * kKiB + 95, 5) + "overwritten" + cached.substr(10 * kKiB + 111, 5));
}

// With FUSE_HANDLE_KILLPRIV_V2 (asked for at INIT) the kernel checks security.capability
// once per inode, not before every buffered write: a read-write handle's writes cost one
// request each too. (The set-id bits it then leaves to the daemon: FsPermissionTest.)
TEST_F(FsDataTest, ReadWriteHandlesCostOneRequestPerWrite) {
  if (NativeMode()) GTEST_SKIP() << "counts the daemon's requests (native mode)";
  utsname u{};
  ASSERT_EQ(::uname(&u), 0);
  int major = 0, minor = 0;
  ASSERT_EQ(std::sscanf(u.release, "%d.%d", &major, &minor), 2) << u.release;
  if (major < 5 || (major == 5 && minor < 11)) {
    GTEST_SKIP() << "Linux " << u.release << " predates FUSE_HANDLE_KILLPRIV_V2 (5.11)";
  }
  EXPECT_EQ(StatsField(vol_, "handle_killpriv_v2"), "true");
  constexpr int kWrites = 64;
  const std::string path = P("rw.bin");
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(path, 8, kWrites * 4 * kKiB, kMiB));
  const uint64_t before = DaemonCount(vol_, "ops");
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, Pattern(9, i * 4 * kKiB, 4 * kKiB), i * 4 * kKiB));
  }
  ASSERT_EQ(::close(fd), 0) << ErrnoText();
  // One WRITE each, plus the open's few and the read of .sopfs/stats; there were 2 each.
  EXPECT_LE(DaemonCount(vol_, "ops") - before, kWrites + 12u);
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(path, 9, kWrites * 4 * kKiB));
}

// Before Linux 6.6 (FUSE 7.39) the kernel kept what other handles had cached of a range
// a direct write covered: there write-only handles stay buffered, and the daemon drops
// the pages after each direct write (an append) itself. The daemon is told the kernel is older than
// it is (SOPFS_TEST_FUSE_MINOR).
TEST_F(FsDataTest, OnKernelsBefore66WriteOnlyHandlesStayBufferedAndCachedReadersSeeAppends) {
  if (NativeMode()) GTEST_SKIP() << "counts the daemon's requests (native mode)";
  ASSERT_EQ(::setenv("SOPFS_TEST_FUSE_MINOR", "38", 1), 0);
  struct Restore {
    ~Restore() { ::unsetenv("SOPFS_TEST_FUSE_MINOR"); }
  } restore;
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  constexpr int kWrites = 16;
  int fd = ::open(P("w.bin").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << ErrnoText();
  for (int i = 0; i < kWrites; ++i) {
    ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, Pattern(6, i * 4 * kKiB, 4 * kKiB), i * 4 * kKiB));
  }
  ASSERT_EQ(::close(fd), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(P("w.bin"), 6, kWrites * 4 * kKiB));
  EXPECT_EQ(DaemonCount(vol_, "direct_io_opens"), 0u) << "a write-only handle went direct";

  // A reader caches the last, partial page; an append through a direct-I/O handle
  // fills it.
  int afd = ::open(P("log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  ASSERT_GE(afd, 0) << ErrnoText();
  ASSERT_EQ(::write(afd, "first line\n", 11), 11) << ErrnoText();
  int rfd = ::open(P("log").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(rfd, 0) << ErrnoText();
  char buf[64] = {};
  ASSERT_EQ(::pread(rfd, buf, sizeof buf, 0), 11);
  ASSERT_EQ(::write(afd, "second line\n", 12), 12) << ErrnoText();
  ASSERT_EQ(::pread(rfd, buf, sizeof buf, 0), 23);
  EXPECT_EQ(std::string(buf, 23), "first line\nsecond line\n");
  ASSERT_EQ(::close(rfd), 0) << ErrnoText();
  ASSERT_EQ(::close(afd), 0) << ErrnoText();
  EXPECT_EQ(DaemonCount(vol_, "direct_io_opens"), 1u) << "the append handle";
}

TEST_F(FsDataTest, RandomUnalignedWritesAndReadsAcrossChunkBoundariesMatchAnInMemoryModel) {
  const uint64_t chunk = vol_.chunk_size();
  const std::string path = P("model.bin");
  std::string model = Pattern(7, 0, 24 * chunk);
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(path, 7, model.size(), kMiB));

  int wfd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(wfd, 0) << ErrnoText();
  int rfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);  // a second handle for reads
  ASSERT_GE(rfd, 0) << ErrnoText();
  std::mt19937_64 rng(20240611);
  uint64_t seed = 100;
  for (int op = 0; op < 600; ++op) {
    const uint64_t kind = rng() % 8;
    if (kind < 4) {
      // 4 KiB at an unaligned offset; sometimes straddling a chunk boundary, sometimes
      // extending the file at its end.
      uint64_t off;
      if (kind == 0) {
        off = (1 + rng() % (model.size() / chunk)) * chunk - rng() % (4 * kKiB);
      } else if (kind == 1 && rng() % 16 == 0) {  // past EOF: leaves a hole of zeros
        off = model.size() + rng() % (2 * chunk);
      } else {
        off = rng() % (model.size() + 1);
      }
      std::string data = Pattern(++seed, off, 4 * kKiB);
      ASSERT_NO_FATAL_FAILURE(PwriteAll(wfd, data, off)) << "op " << op;
      if (model.size() < off + data.size()) model.resize(off + data.size(), '\0');
      model.replace(off, data.size(), data);
    } else {
      uint64_t off;
      size_t len;
      if (kind == 4) {  // around a chunk boundary
        const uint64_t boundary = (1 + rng() % (model.size() / chunk)) * chunk;
        off = boundary - std::min<uint64_t>(boundary, rng() % (64 * kKiB));
        len = 1 + rng() % (128 * kKiB);
      } else if (kind == 5) {  // long, across several chunks, maybe past EOF
        off = rng() % (model.size() + kMiB);
        len = 1 + rng() % (3 * chunk);
      } else {
        off = rng() % (model.size() + 8 * kKiB);
        len = 1 + rng() % (64 * kKiB);
      }
      const int fd = (rng() % 2) ? rfd : wfd;
      std::string got = PreadUpTo(fd, off, len);
      std::string want = off >= model.size() ? std::string() : model.substr(off, len);
      ASSERT_EQ(got.size(), want.size()) << "op " << op << ": pread(" << off << ", " << len
                                         << ") size, file size " << model.size();
      int64_t at = FirstDifference(got, want);
      ASSERT_EQ(at, -1) << "op " << op << ": pread(" << off << ", " << len
                        << ") wrong at file offset " << off + at;
    }
  }
  struct stat st {};
  ASSERT_EQ(::fstat(rfd, &st), 0) << ErrnoText();
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), model.size());
  ASSERT_EQ(::close(rfd), 0) << ErrnoText();
  ASSERT_EQ(::close(wfd), 0) << "close (commit): " << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(ExpectFileEquals(path, model));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_NO_FATAL_FAILURE(ExpectFileEquals(path, model));
}

TEST_F(FsDataTest, FtruncateDownThenUpReadsZerosInTheGrownPartNotTheOldData) {
  const uint64_t chunk = vol_.chunk_size();
  const std::string path = P("trunc.bin");
  const uint64_t full = 3 * chunk + chunk / 2;
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(path, 3, full, kMiB));
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  const uint64_t small = chunk + chunk / 4 + 100;  // inside the second chunk
  ASSERT_EQ(::ftruncate(fd, small), 0) << "ftruncate down: " << ErrnoText();
  struct stat st {};
  ASSERT_EQ(::fstat(fd, &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), small);
  EXPECT_EQ(PreadUpTo(fd, 0, full), Pattern(3, 0, small));
  const uint64_t grown = 5 * chunk;
  ASSERT_EQ(::ftruncate(fd, grown), 0) << "ftruncate up: " << ErrnoText();
  std::string model = Pattern(3, 0, small) + std::string(grown - small, '\0');
  std::string got = PreadUpTo(fd, 0, grown + 10);
  ASSERT_EQ(got.size(), grown);
  EXPECT_EQ(FirstDifference(got, model), -1) << "old bytes came back after truncate down+up";
  ASSERT_EQ(::close(fd), 0) << "close (commit): " << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_NO_FATAL_FAILURE(ExpectFileEquals(path, model));
}

TEST_F(FsDataTest, TruncateByPathDownUpAndToZeroIsVisibleAndKeptAfterRemount) {
  const uint64_t chunk = vol_.chunk_size();
  const std::string path = P("trunc_path.bin");
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(path, 5, 2 * chunk + 777, kMiB));
  ASSERT_EQ(::truncate(path.c_str(), chunk - 1), 0) << "truncate down: " << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(ExpectFileEquals(path, Pattern(5, 0, chunk - 1)));
  ASSERT_EQ(::truncate(path.c_str(), 3 * chunk + 5), 0) << "truncate up: " << ErrnoText();
  std::string model = Pattern(5, 0, chunk - 1) + std::string(2 * chunk + 6, '\0');
  ASSERT_NO_FATAL_FAILURE(ExpectFileEquals(path, model));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_NO_FATAL_FAILURE(ExpectFileEquals(path, model));
  ASSERT_EQ(::truncate(path.c_str(), 0), 0) << "truncate to 0: " << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(ExpectFileEquals(path, ""));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_NO_FATAL_FAILURE(ExpectFileEquals(path, ""));
}

TEST_F(FsDataTest, WriteAtHundredMibOffsetMakesASparseFileThatReadsZerosAndUsesFewBlocks) {
  const uint64_t chunk = vol_.chunk_size();
  const std::string path = P("sparse.bin");
  const uint64_t at = 100 * kMiB;
  const std::string data = Pattern(9, at, 64 * kKiB);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, data, at));
  ASSERT_EQ(::close(fd), 0) << "close (commit): " << ErrnoText();
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "before remount" : "after remount");
    struct stat st {};
    ASSERT_EQ(::stat(path.c_str(), &st), 0) << ErrnoText();
    EXPECT_EQ(static_cast<uint64_t>(st.st_size), at + data.size());
    EXPECT_LT(static_cast<uint64_t>(st.st_blocks) * 512, data.size() + chunk)
        << "st_blocks " << st.st_blocks << ": the hole takes space";
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << ErrnoText();
    EXPECT_EQ(PreadUpTo(fd, 0, kMiB), std::string(kMiB, '\0')) << "start of the hole";
    EXPECT_EQ(PreadUpTo(fd, 50 * kMiB + 123, 3 * chunk), std::string(3 * chunk, '\0'))
        << "middle of the hole";
    EXPECT_EQ(PreadUpTo(fd, at - 4096, 8192), std::string(4096, '\0') + data.substr(0, 4096))
        << "hole/data boundary";
    EXPECT_EQ(PreadUpTo(fd, at, data.size() + 100), data) << "the written data";
    ::close(fd);
    if (pass == 0) {
      ASSERT_NO_FATAL_FAILURE(vol_.Remount());
    }
  }
}

TEST_F(FsDataTest, SeekDataAndSeekHoleFindTheWrittenChunkOfASparseFile) {
  const uint64_t chunk = vol_.chunk_size();
  const std::string path = P("seek.bin");
  const uint64_t at = 100 * kMiB;
  const uint64_t size = at + 64 * kKiB;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, Pattern(11, at, size - at), at));
  ASSERT_EQ(::close(fd), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  // Data/hole granularity may be the chunk: the data starts within the chunk holding `at`.
  off_t data = ::lseek(fd, 0, SEEK_DATA);
  ASSERT_GE(data, 0) << "SEEK_DATA from 0: " << ErrnoText();
  EXPECT_LE(static_cast<uint64_t>(data), at) << "SEEK_DATA went past the data";
  EXPECT_GT(static_cast<uint64_t>(data) + chunk, at) << "SEEK_DATA found data in the hole";
  off_t hole = ::lseek(fd, 0, SEEK_HOLE);
  EXPECT_EQ(hole, 0) << "SEEK_HOLE from 0 (the file starts with a 100 MiB hole)";
  hole = ::lseek(fd, at, SEEK_HOLE);
  EXPECT_EQ(static_cast<uint64_t>(hole), size) << "SEEK_HOLE from the data: the implicit hole "
                                                  "at EOF";
  errno = 0;
  EXPECT_EQ(::lseek(fd, size, SEEK_DATA), -1) << "SEEK_DATA at EOF";
  EXPECT_EQ(errno, ENXIO);
  ::close(fd);
}

TEST_F(FsDataTest, PunchHoleZeroesExactlyTheRangeAndKeepsSizeAndOtherBytes) {
  const uint64_t chunk = vol_.chunk_size();
  const std::string path = P("punch.bin");
  const uint64_t size = 4 * chunk;
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(path, 13, size, kMiB));
  std::string model = Pattern(13, 0, size);
  const uint64_t off = chunk - 1000;              // ends of two partial chunks
  const uint64_t len = chunk + chunk / 2 + 3000;  // and one whole chunk
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  int rc = ::fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
  const int err = errno;
  if (rc != 0) {
    ASSERT_EQ(err, EOPNOTSUPP) << "fallocate(PUNCH_HOLE|KEEP_SIZE): " << ErrnoText(err);
    RecordProperty("punch_hole", "EOPNOTSUPP");
  } else {
    model.replace(off, len, std::string(len, '\0'));
  }
  std::string got = PreadUpTo(fd, 0, size + 10);
  EXPECT_EQ(got.size(), size);
  EXPECT_EQ(FirstDifference(got, model), -1)
      << (rc == 0 ? "punched file" : "file after an unsupported punch (must be unchanged)");
  ASSERT_EQ(::close(fd), 0) << "close (commit): " << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_NO_FATAL_FAILURE(ExpectFileEquals(path, model));
}

TEST_F(FsDataTest, WriteThroughOneDescriptorIsSeenAtOnceThroughAnotherBeforeClose) {
  const uint64_t chunk = vol_.chunk_size();
  const std::string path = P("shared.bin");
  int a = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(a, 0) << ErrnoText();
  int b = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(b, 0) << ErrnoText();
  int c = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(c, 0) << ErrnoText();

  ASSERT_NO_FATAL_FAILURE(PwriteAll(a, "hello", 0));
  EXPECT_EQ(PreadUpTo(b, 0, 100), "hello");
  struct stat st {};
  ASSERT_EQ(::fstat(b, &st), 0);
  EXPECT_EQ(st.st_size, 5);

  // A larger write across chunks through a, then an overwrite in the middle through c.
  std::string model = "hello";
  std::string big = Pattern(17, chunk - 3, 2 * chunk);
  ASSERT_NO_FATAL_FAILURE(PwriteAll(a, big, chunk - 3));
  model.resize(chunk - 3, '\0');
  model += big;
  std::string patch = Pattern(18, 0, 9000);
  ASSERT_NO_FATAL_FAILURE(PwriteAll(c, patch, 2 * chunk - 4500));
  model.replace(2 * chunk - 4500, patch.size(), patch);
  EXPECT_EQ(FirstDifference(PreadUpTo(b, 0, 4 * chunk), model), -1) << "read through b";
  EXPECT_EQ(FirstDifference(PreadUpTo(a, 0, 4 * chunk), model), -1) << "read through a";

  // A truncate through one handle is seen by the others.
  ASSERT_EQ(::ftruncate(c, chunk + 10), 0) << ErrnoText();
  model.resize(chunk + 10);
  ASSERT_EQ(::fstat(b, &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), model.size());
  EXPECT_EQ(FirstDifference(PreadUpTo(b, 0, 4 * chunk), model), -1) << "after ftruncate";

  EXPECT_EQ(::close(c), 0) << ErrnoText();
  EXPECT_EQ(::close(b), 0) << ErrnoText();
  // The remaining writer still sees and extends the same state.
  ASSERT_NO_FATAL_FAILURE(PwriteAll(a, "tail", model.size()));
  model += "tail";
  ASSERT_EQ(::close(a), 0) << "last close (commit): " << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_NO_FATAL_FAILURE(ExpectFileEquals(path, model));
}

TEST_F(FsDataTest, AppendModeWritesLandAtTheEndEvenAfterAnotherHandleGrewTheFile) {
  const std::string path = P("append.log");
  int app = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  ASSERT_GE(app, 0) << ErrnoText();
  int other = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  ASSERT_GE(other, 0) << ErrnoText();
  ASSERT_EQ(::write(app, "one\n", 4), 4) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(PwriteAll(other, "XXXXXXXX", 4));
  ASSERT_EQ(::write(app, "two\n", 4), 4) << ErrnoText();
  EXPECT_EQ(::close(other), 0);
  EXPECT_EQ(::close(app), 0);
  EXPECT_EQ(ReadFile(path), "one\nXXXXXXXXtwo\n");
}

// O_APPEND is the file's flag at the time of each write: cleared with fcntl, writes go
// to the offset asked for; set with fcntl, to the end; and a reader with the file's
// pages cached sees every byte.
TEST_F(FsDataTest, AppendFollowsTheFlagAsFcntlChangesItAndReadersSeeEveryByte) {
  const std::string path = P("flags.log");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, "0123456789"));
  const int reader = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(reader, 0) << ErrnoText();
  EXPECT_EQ(PreadUpTo(reader, 0, 100), "0123456789");  // its pages are cached now
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  ASSERT_EQ(::write(fd, "ab", 2), 2) << ErrnoText();
  ASSERT_EQ(::fcntl(fd, F_SETFL, 0), 0) << ErrnoText();
  ASSERT_EQ(::pwrite(fd, "X", 1, 3), 1) << ErrnoText();
  ASSERT_EQ(::fcntl(fd, F_SETFL, O_APPEND), 0) << ErrnoText();
  ASSERT_EQ(::pwrite(fd, "cd", 2, 0), 2) << ErrnoText();  // O_APPEND: offset ignored
  EXPECT_EQ(::close(fd), 0);
  EXPECT_EQ(ReadFile(path), "012X456789abcd");
  EXPECT_EQ(PreadUpTo(reader, 0, 100), "012X456789abcd");
  ::close(reader);
}

TEST_F(FsDataTest, OffsetsPastFourGibAreStoredAndReadBackExactly) {
  const std::string path = P("far.bin");
  const uint64_t at = 5 * 1024 * kMiB + 12345;  // past 2^32, unaligned
  const std::string data = Pattern(23, at, 3 * vol_.chunk_size() / 2);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, "head", 0));
  ASSERT_NO_FATAL_FAILURE(PwriteAll(fd, data, at));
  ASSERT_EQ(::close(fd), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0) << ErrnoText();
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), at + data.size());
  fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  EXPECT_EQ(PreadUpTo(fd, 0, 4), "head");
  EXPECT_EQ(PreadUpTo(fd, at, data.size() + 10), data) << "data at 5 GiB";
  EXPECT_EQ(PreadUpTo(fd, at - (1ULL << 32), 4096), std::string(4096, '\0'))
      << "the same offset modulo 2^32 must be a hole";
  EXPECT_EQ(PreadUpTo(fd, (1ULL << 32) - 2048, 4096), std::string(4096, '\0'))
      << "across the 4 GiB boundary";
  ::close(fd);
}

TEST_F(FsDataTest, SharedMmapWritesReachTheFileAndAreKeptAfterRemount) {
  const uint64_t chunk = vol_.chunk_size();
  const std::string path = P("mapped.bin");
  const uint64_t size = 2 * chunk + 8192;
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(path, 29, size, kMiB));
  std::string model = Pattern(29, 0, size);
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0) << ErrnoText();
  void* map = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ASSERT_NE(map, MAP_FAILED) << "mmap: " << ErrnoText();
  char* bytes = static_cast<char*>(map);
  EXPECT_EQ(std::string(bytes + chunk - 10, 20), model.substr(chunk - 10, 20))
      << "mapped bytes differ from the file";
  const std::string patch = Pattern(30, 0, 6000);
  std::memcpy(bytes + chunk - 3000, patch.data(), patch.size());  // across a chunk boundary
  model.replace(chunk - 3000, patch.size(), patch);
  EXPECT_EQ(::msync(map, size, MS_SYNC), 0) << "msync: " << ErrnoText();
  EXPECT_EQ(::munmap(map, size), 0);
  EXPECT_EQ(FirstDifference(PreadUpTo(fd, 0, size), model), -1) << "read after msync";
  ASSERT_EQ(::close(fd), 0) << ErrnoText();
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_NO_FATAL_FAILURE(ExpectFileEquals(path, model));
}

TEST_F(FsDataTest, ParallelWritersToDifferentFilesEachKeepTheirOwnContent) {
  constexpr int kWriters = 4;
  const uint64_t size = 6 * vol_.chunk_size() + 333;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kWriters);
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      const std::string path = P("par" + std::to_string(w));
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      if (fd < 0) {
        errors[w] = "open: " + ErrnoText();
        return;
      }
      std::string block(96 * kKiB, '\0');  // not a divisor of the chunk size
      for (uint64_t off = 0; off < size; off += block.size()) {
        const size_t n = std::min<uint64_t>(block.size(), size - off);
        FillPattern(40 + w, off, block.data(), n);
        if (::pwrite(fd, block.data(), n, off) != static_cast<ssize_t>(n)) {
          errors[w] = "pwrite at " + std::to_string(off) + ": " + ErrnoText();
          break;
        }
      }
      if (::close(fd) != 0) errors[w] = "close: " + ErrnoText();
    });
  }
  for (auto& t : threads) t.join();
  for (int w = 0; w < kWriters; ++w) EXPECT_EQ(errors[w], "") << "writer " << w;
  for (int w = 0; w < kWriters; ++w) {
    ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(P("par" + std::to_string(w)), 40 + w, size));
  }
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  for (int w = 0; w < kWriters; ++w) {
    ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(P("par" + std::to_string(w)), 40 + w, size));
  }
}

TEST_F(FsDataTest, CopyFileRangeWithinTheMountCopiesTheBytesExactly) {
  const uint64_t chunk = vol_.chunk_size();
  const uint64_t size = 3 * chunk + 4321;
  ASSERT_NO_FATAL_FAILURE(WritePatternFile(P("from"), 31, size, kMiB));
  int in = ::open(P("from").c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(in, 0) << ErrnoText();
  int out = ::open(P("to").c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  ASSERT_GE(out, 0) << ErrnoText();
  // The whole file, then a sub-range at unaligned offsets over the copy.
  uint64_t copied = 0;
  while (copied < size) {
    ssize_t n = ::copy_file_range(in, nullptr, out, nullptr, size - copied, 0);
    ASSERT_GT(n, 0) << "copy_file_range after " << copied << " bytes: " << ErrnoText();
    copied += n;
  }
  std::string model = Pattern(31, 0, size);
  loff_t src = chunk - 100, dst = 2 * chunk - 50;
  const uint64_t len = chunk / 2;
  uint64_t done = 0;
  while (done < len) {
    ssize_t n = ::copy_file_range(in, &src, out, &dst, len - done, 0);
    ASSERT_GT(n, 0) << "copy_file_range of a range: " << ErrnoText();
    done += n;
  }
  model.replace(2 * chunk - 50, len, Pattern(31, chunk - 100, len));
  ASSERT_EQ(::close(out), 0) << ErrnoText();
  ::close(in);
  ASSERT_NO_FATAL_FAILURE(ExpectFileEquals(P("to"), model));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_NO_FATAL_FAILURE(ExpectFileEquals(P("to"), model));
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(P("from"), 31, size));
}

TEST_F(FsDataTest, StatfsReportsConsistentSizesAndA255ByteNameLimit) {
  struct statvfs sv {};
  ASSERT_EQ(::statvfs(vol_.root().c_str(), &sv), 0) << ErrnoText();
  EXPECT_GT(sv.f_bsize, 0u);
  EXPECT_GT(sv.f_blocks, 0u);
  EXPECT_LE(sv.f_bfree, sv.f_blocks);
  EXPECT_LE(sv.f_bavail, sv.f_bfree);
  EXPECT_EQ(sv.f_namemax, 255u);
}

TEST_F(FsDataTest, ConcurrentWritersToInterleavedBlocksOfOneFileLoseNoUpdate) {
  // Four handles write 4 KiB blocks of one file from four threads; block b belongs to
  // thread b % 4, so every chunk is updated by all threads at once (a lost update in a
  // chunk's read-modify-write shows as stale bytes).
  constexpr int kThreads = 4;
  constexpr uint64_t kBlock = 4 * kKiB;
  const uint64_t size = 4 * vol_.chunk_size();
  const uint64_t blocks = size / kBlock;
  const std::string path = P("interleaved.bin");
  ASSERT_NO_FATAL_FAILURE(WriteFile(path, std::string(size, 'z')));
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
      if (fd < 0) {
        errors[t] = "open: " + ErrnoText();
        return;
      }
      std::mt19937_64 rng(1000 + t);
      std::vector<uint64_t> mine;
      for (uint64_t b = t; b < blocks; b += kThreads) mine.push_back(b);
      std::shuffle(mine.begin(), mine.end(), rng);
      std::string buf(kBlock, '\0');
      for (uint64_t b : mine) {
        FillPattern(50, b * kBlock, buf.data(), kBlock);
        if (::pwrite(fd, buf.data(), kBlock, b * kBlock) != static_cast<ssize_t>(kBlock)) {
          errors[t] = "pwrite block " + std::to_string(b) + ": " + ErrnoText();
          break;
        }
      }
      if (::close(fd) != 0) errors[t] = "close: " + ErrnoText();
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], "") << "thread " << t;
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(path, 50, size));
  ASSERT_NO_FATAL_FAILURE(vol_.Remount());
  ASSERT_NO_FATAL_FAILURE(ExpectPatternFile(path, 50, size));
}

}  // namespace
}  // namespace sopfs::fusetest
