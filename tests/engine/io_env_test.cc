// Tests of PosixEnv (engine/io/posix_env.h), UringBatch's chain repair
// (engine/io/uring_batch.h) and AlignedBuffer (engine/io/aligned_buffer.h).
//
// PosixEnvTest runs every test twice: once with batches through io_uring and once
// through the sequential fallback, proving both give the same results. Each test
// works in a fresh temporary directory removed afterwards.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "engine/io/aligned_buffer.h"
#include "engine/io/env.h"
#include "engine/io/posix_env.h"
#include "engine/io/uring_batch.h"

namespace sopfs {
namespace {

// Deterministic bytes that differ for every seed and position.
std::vector<uint8_t> Pattern(size_t n, uint32_t seed) {
  std::vector<uint8_t> v(n);
  uint32_t x = seed * 2654435761u + 12345u;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    v[i] = static_cast<uint8_t>(x >> 16);
  }
  return v;
}

iovec Iov(std::vector<uint8_t>& v) { return {v.data(), v.size()}; }

IoOp ReadOp(File* f, uint64_t offset, const iovec* iov, int iovcnt = 1, bool link = false) {
  return {.kind = IoKind::kRead,
          .file = f,
          .offset = offset,
          .iov = iov,
          .iovcnt = iovcnt,
          .link_next = link};
}

IoOp WriteOp(File* f, uint64_t offset, const iovec* iov, int iovcnt = 1, bool link = false) {
  return {.kind = IoKind::kWrite,
          .file = f,
          .offset = offset,
          .iov = iov,
          .iovcnt = iovcnt,
          .link_next = link};
}

IoOp SyncOp(File* f, bool data_only, bool link = false) {
  return {.kind = data_only ? IoKind::kFdatasync : IoKind::kFsync, .file = f, .link_next = link};
}

// A directory made by mkdtemp under the system temp dir, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sopfs_io_env.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The parameter: true runs batches through io_uring, false through the fallback.
class PosixEnvTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed: " << std::strerror(errno);
    env_ = MakeEnv(256);
  }

  std::unique_ptr<PosixEnv> MakeEnv(unsigned ring_entries) {
    return std::make_unique<PosixEnv>(
        PosixEnvOptions{.use_io_uring = GetParam(), .ring_entries = ring_entries});
  }

  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }

  // Opens through `env` (env_ by default); a failure is recorded and gives nullptr.
  std::unique_ptr<File> OpenFile(const std::string& path, OpenMode mode, bool direct = false,
                                 Env* env = nullptr) {
    auto file = (env ? env : env_.get())->Open(path, {.mode = mode, .direct = direct});
    if (!file.ok()) {
      ADD_FAILURE() << file.status().ToString();
      return nullptr;
    }
    return std::move(file).value();
  }

  void WriteWhole(const std::string& path, std::vector<uint8_t> data) {
    ASSERT_TRUE(env_->WriteFileDurably(path, data).ok());
  }

  std::vector<uint8_t> ReadWhole(const std::string& path) {
    auto data = env_->ReadFile(path);
    EXPECT_TRUE(data.ok()) << data.status().ToString();
    return data.ok() ? std::move(data).value() : std::vector<uint8_t>{};
  }

  TempDir dir_;
  std::unique_ptr<PosixEnv> env_;
};

INSTANTIATE_TEST_SUITE_P(Backends, PosixEnvTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "IoUring" : "Sequential";
                         });

TEST_P(PosixEnvTest, UringIsActiveExactlyWhenAskedForOnThisMachine) {
  // io_uring works on the build machine, so asking for it must really get it.
  EXPECT_EQ(env_->uring_active(), GetParam());
  EXPECT_FALSE(PosixEnv(PosixEnvOptions{.use_io_uring = false}).uring_active());
}

TEST_P(PosixEnvTest, ManyWritesAndFdatasyncsToManyFilesReadBackExactBytes) {
  constexpr int kFiles = 16, kBlocks = 8;
  constexpr size_t kBlock = 4096;
  std::vector<std::unique_ptr<File>> files;
  std::vector<std::vector<uint8_t>> blocks;
  blocks.reserve(kFiles * kBlocks);
  std::vector<iovec> iovs(kFiles * kBlocks);
  std::vector<IoOp> ops;
  for (int f = 0; f < kFiles; ++f) {
    files.push_back(OpenFile(Path("f" + std::to_string(f)), OpenMode::kCreateTruncate));
    ASSERT_NE(files.back(), nullptr);
    for (int b = 0; b < kBlocks; ++b) {
      blocks.push_back(Pattern(kBlock, f * 100 + b));
      iovs[f * kBlocks + b] = Iov(blocks.back());
      ops.push_back(WriteOp(files[f].get(), b * kBlock, &iovs[f * kBlocks + b], 1, true));
    }
    ops.push_back(SyncOp(files[f].get(), /*data_only=*/true));
  }
  ASSERT_TRUE(env_->Submit(ops).ok());
  for (const IoOp& op : ops) ASSERT_TRUE(op.Complete()) << op.result;

  std::vector<std::vector<uint8_t>> back(kFiles, std::vector<uint8_t>(kBlock * kBlocks));
  std::vector<iovec> back_iovs(kFiles);
  std::vector<IoOp> reads;
  for (int f = 0; f < kFiles; ++f) {
    back_iovs[f] = Iov(back[f]);
    reads.push_back(ReadOp(files[f].get(), 0, &back_iovs[f]));
  }
  ASSERT_TRUE(env_->Submit(reads).ok());
  for (int f = 0; f < kFiles; ++f) {
    ASSERT_EQ(reads[f].result, static_cast<int64_t>(kBlock * kBlocks));
    for (int b = 0; b < kBlocks; ++b) {
      ASSERT_EQ(0, std::memcmp(back[f].data() + b * kBlock, blocks[f * kBlocks + b].data(), kBlock))
          << "file " << f << " block " << b;
    }
  }
}

TEST_P(PosixEnvTest, WriteVAndReadVWithSeveralIovecsRoundTrip) {
  auto file = OpenFile(Path("vec"), OpenMode::kCreateTruncate);
  ASSERT_NE(file, nullptr);
  std::vector<uint8_t> whole = Pattern(1 + 4096 + 7 + 10000 + 3, 7);
  // Write it as five uneven pieces at offset 100, read it back as three other pieces.
  const size_t write_cuts[] = {0, 1, 4097, 4104, 14104, whole.size()};
  std::vector<iovec> wiov;
  for (int i = 0; i < 5; ++i) {
    wiov.push_back({whole.data() + write_cuts[i], write_cuts[i + 1] - write_cuts[i]});
  }
  IoOp write = WriteOp(file.get(), 100, wiov.data(), static_cast<int>(wiov.size()));
  ASSERT_TRUE(env_->Submit({&write, 1}).ok());
  ASSERT_EQ(write.result, static_cast<int64_t>(whole.size()));

  std::vector<uint8_t> a(333), b(5000), c(whole.size() - 333 - 5000);
  iovec riov[] = {Iov(a), Iov(b), Iov(c)};
  IoOp read = ReadOp(file.get(), 100, riov, 3);
  ASSERT_TRUE(env_->Submit({&read, 1}).ok());
  ASSERT_EQ(read.result, static_cast<int64_t>(whole.size()));
  std::vector<uint8_t> joined(a);
  joined.insert(joined.end(), b.begin(), b.end());
  joined.insert(joined.end(), c.begin(), c.end());
  EXPECT_EQ(joined, whole);
  auto size = file->Size();
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 100 + whole.size());
}

TEST_P(PosixEnvTest, FailedFirstOpCancelsItsChainButNotIndependentOps) {
  WriteWhole(Path("ro"), Pattern(10, 1));
  auto ro = OpenFile(Path("ro"), OpenMode::kRead);
  auto good = OpenFile(Path("good"), OpenMode::kCreateTruncate);
  auto other = OpenFile(Path("other"), OpenMode::kCreateTruncate);
  ASSERT_TRUE(ro && good && other);
  std::vector<uint8_t> data = Pattern(4096, 2);
  iovec iov = Iov(data);
  IoOp ops[] = {
      WriteOp(ro.get(), 0, &iov, 1, true),  // EBADF: opened read only
      SyncOp(ro.get(), false, true),
      WriteOp(good.get(), 0, &iov, 1, false),  // end of the failed chain
      WriteOp(other.get(), 0, &iov, 1, true),  // an independent chain
      SyncOp(other.get(), true, false),
  };
  ASSERT_TRUE(env_->Submit(ops).ok());
  EXPECT_EQ(ops[0].result, -EBADF);
  EXPECT_EQ(ops[1].result, -ECANCELED);
  EXPECT_EQ(ops[2].result, -ECANCELED);
  EXPECT_EQ(ops[3].result, 4096);
  EXPECT_EQ(ops[4].result, 0);
  // The cancelled write never reached the disk; the independent one did.
  EXPECT_EQ(*good->Size(), 0u);
  EXPECT_EQ(ReadWhole(Path("other")), data);
}

TEST_P(PosixEnvTest, ReadPastEndOfFileReturnsShortCountAndBreaksItsChain) {
  std::vector<uint8_t> data = Pattern(100, 3);
  WriteWhole(Path("short"), data);
  auto file = OpenFile(Path("short"), OpenMode::kRead);
  ASSERT_NE(file, nullptr);
  std::vector<uint8_t> big(4096), small(10), far(10);
  iovec big_iov = Iov(big), small_iov = Iov(small), far_iov = Iov(far);
  IoOp ops[] = {
      ReadOp(file.get(), 0, &big_iov, 1, true),  // crosses end of file
      ReadOp(file.get(), 0, &small_iov, 1, false),
      ReadOp(file.get(), 1000, &far_iov, 1, false),  // starts past end of file
  };
  ASSERT_TRUE(env_->Submit(ops).ok());
  EXPECT_EQ(ops[0].result, 100);
  EXPECT_EQ(0, std::memcmp(big.data(), data.data(), data.size()));
  EXPECT_EQ(ops[1].result, -ECANCELED);
  EXPECT_EQ(ops[2].result, 0);
}

TEST_P(PosixEnvTest, BatchLargerThanRingCompletesEveryChainInOrder) {
  auto env = MakeEnv(8);
  EXPECT_EQ(env->uring_active(), GetParam());
  constexpr int kFiles = 10, kChains = 250, kRegion = 512;
  std::vector<std::unique_ptr<File>> files;
  for (int f = 0; f < kFiles; ++f) {
    files.push_back(
        OpenFile(Path("r" + std::to_string(f)), OpenMode::kCreateTruncate, false, env.get()));
    ASSERT_NE(files.back(), nullptr);
  }
  // Each chain overwrites one region three times, then flushes; only if the chain ran
  // in order does the region end with the third write's bytes.
  std::vector<std::vector<uint8_t>> data;
  data.reserve(kChains * 3);
  std::vector<iovec> iovs(kChains * 3);
  std::vector<IoOp> ops;
  for (int c = 0; c < kChains; ++c) {
    File* f = files[c % kFiles].get();
    uint64_t offset = static_cast<uint64_t>(c / kFiles) * kRegion;
    for (int k = 0; k < 3; ++k) {
      data.push_back(Pattern(kRegion, c * 3 + k));
      iovs[c * 3 + k] = Iov(data.back());
      ops.push_back(WriteOp(f, offset, &iovs[c * 3 + k], 1, true));
    }
    ops.push_back(SyncOp(f, c % 2 == 0, false));
  }
  ASSERT_EQ(ops.size(), 1000u);
  ASSERT_TRUE(env->Submit(ops).ok());
  for (size_t i = 0; i < ops.size(); ++i)
    ASSERT_TRUE(ops[i].Complete()) << i << ": " << ops[i].result;

  for (int c = 0; c < kChains; ++c) {
    std::vector<uint8_t> back(kRegion);
    iovec iov = Iov(back);
    IoOp read = ReadOp(files[c % kFiles].get(), static_cast<uint64_t>(c / kFiles) * kRegion, &iov);
    ASSERT_TRUE(env->Submit({&read, 1}).ok());
    ASSERT_EQ(read.result, kRegion);
    ASSERT_EQ(back, data[c * 3 + 2]) << "chain " << c;
  }
}

TEST_P(PosixEnvTest, ChainLongerThanRingStillRunsInOrder) {
  auto env = MakeEnv(8);
  auto file = OpenFile(Path("long"), OpenMode::kCreateTruncate, false, env.get());
  ASSERT_NE(file, nullptr);
  constexpr int kWrites = 40;
  std::vector<std::vector<uint8_t>> data;
  std::vector<iovec> iovs(kWrites);
  std::vector<IoOp> ops;
  for (int k = 0; k < kWrites; ++k) data.push_back(Pattern(1000, 500 + k));
  for (int k = 0; k < kWrites; ++k) {
    iovs[k] = Iov(data[k]);
    ops.push_back(WriteOp(file.get(), 0, &iovs[k], 1, true));
  }
  ops.push_back(SyncOp(file.get(), false));
  ASSERT_TRUE(env->Submit(ops).ok());
  for (const IoOp& op : ops) ASSERT_TRUE(op.Complete()) << op.result;
  EXPECT_EQ(ReadWhole(Path("long")), data.back());
}

TEST_P(PosixEnvTest, DirectOpenWithAlignedBufferWritesAndReadsBack) {
  auto file = OpenFile(Path("direct"), OpenMode::kCreateTruncate, /*direct=*/true);
  ASSERT_NE(file, nullptr);
  RecordProperty("direct", file->direct() ? "true" : "false");
  AlignedBuffer out(3 * kDirectIoAlignment);
  std::vector<uint8_t> data = Pattern(out.size(), 11);
  std::memcpy(out.data(), data.data(), data.size());
  iovec out_iov = out.iov();
  IoOp writes[] = {WriteOp(file.get(), kDirectIoAlignment, &out_iov, 1, true),
                   SyncOp(file.get(), true)};
  ASSERT_TRUE(env_->Submit(writes).ok());
  EXPECT_EQ(writes[0].result, static_cast<int64_t>(out.size()));
  EXPECT_EQ(writes[1].result, 0);

  AlignedBuffer in(out.size());
  iovec in_iov = in.iov();
  IoOp read = ReadOp(file.get(), kDirectIoAlignment, &in_iov);
  ASSERT_TRUE(env_->Submit({&read, 1}).ok());
  ASSERT_EQ(read.result, static_cast<int64_t>(in.size()));
  EXPECT_EQ(0, std::memcmp(in.data(), data.data(), data.size()));
  EXPECT_EQ(*file->Size(), kDirectIoAlignment + out.size());
}

TEST_P(PosixEnvTest, DirectOpenFallsBackToBufferedWhereTheFileSystemRefusesIt) {
  // procfs has no O_DIRECT: the open must still succeed, buffered, and read fine.
  auto file = OpenFile("/proc/self/status", OpenMode::kRead, /*direct=*/true);
  ASSERT_NE(file, nullptr);
  EXPECT_FALSE(file->direct());
  std::vector<uint8_t> head(5);
  iovec iov = Iov(head);
  IoOp read = ReadOp(file.get(), 0, &iov);
  ASSERT_TRUE(env_->Submit({&read, 1}).ok());
  ASSERT_EQ(read.result, 5);
  EXPECT_EQ(std::string(head.begin(), head.end()), "Name:");
}

TEST_P(PosixEnvTest, ShortWriteAtFileSizeLimitEndsWithEfbigAndCancelsItsChain) {
  auto file = OpenFile(Path("limited"), OpenMode::kCreateTruncate);
  auto other = OpenFile(Path("free"), OpenMode::kCreateTruncate);
  ASSERT_TRUE(file && other);
  std::vector<uint8_t> data = Pattern(16384, 4);
  iovec iov = Iov(data);
  iovec small = {data.data(), 100};
  IoOp ops[] = {WriteOp(file.get(), 0, &iov, 1, true), SyncOp(file.get(), true),
                WriteOp(other.get(), 0, &small)};

  // RLIMIT_FSIZE makes the kernel write up to the limit (a short write) and refuse
  // the remainder with EFBIG: the short transfer is finished, and fails, exactly as
  // the sequential retry loop does it.
  rlimit old_limit{};
  ASSERT_EQ(0, ::getrlimit(RLIMIT_FSIZE, &old_limit));
  rlimit limit = old_limit;
  limit.rlim_cur = 10000;
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(0, ::setrlimit(RLIMIT_FSIZE, &limit));
  Status st = env_->Submit(ops);
  ASSERT_EQ(0, ::setrlimit(RLIMIT_FSIZE, &old_limit));
  ::signal(SIGXFSZ, old_handler);

  ASSERT_TRUE(st.ok());
  EXPECT_EQ(ops[0].result, -EFBIG);
  EXPECT_EQ(ops[1].result, -ECANCELED);
  EXPECT_EQ(ops[2].result, 100);
  EXPECT_EQ(*file->Size(), 10000u);
}

TEST_P(PosixEnvTest, SizeTruncateAndAdviseWork) {
  auto file = OpenFile(Path("t"), OpenMode::kCreate);
  ASSERT_NE(file, nullptr);
  EXPECT_EQ(*file->Size(), 0u);
  ASSERT_TRUE(file->Truncate(123456).ok());
  EXPECT_EQ(*file->Size(), 123456u);
  ASSERT_TRUE(file->Truncate(7).ok());
  EXPECT_EQ(*file->Size(), 7u);
  EXPECT_TRUE(file->Advise(Advice::kSequential, 0, 0).ok());
  EXPECT_TRUE(file->Advise(Advice::kDontNeed, 0, 7).ok());
  EXPECT_FALSE(file->direct());
}

TEST_P(PosixEnvTest, OpenModesCreateKeepTruncateAndRefuseAsDocumented) {
  WriteWhole(Path("m"), Pattern(50, 5));
  EXPECT_EQ(*OpenFile(Path("m"), OpenMode::kCreate)->Size(), 50u);  // kept
  EXPECT_EQ(*OpenFile(Path("m"), OpenMode::kReadWrite)->Size(), 50u);
  EXPECT_EQ(*OpenFile(Path("m"), OpenMode::kCreateTruncate)->Size(), 0u);

  auto excl = env_->Open(Path("m"), {.mode = OpenMode::kCreateExclusive});
  ASSERT_FALSE(excl.ok());
  EXPECT_EQ(excl.status().code(), EEXIST);
  EXPECT_NE(excl.status().message().find(Path("m")), std::string::npos);

  auto missing = env_->Open(Path("nope"), {.mode = OpenMode::kRead});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ENOENT);
  EXPECT_NE(missing.status().message().find(Path("nope")), std::string::npos);

  auto not_dir = env_->Open(Path("m"), {.mode = OpenMode::kDirectory});
  ASSERT_FALSE(not_dir.ok());
  EXPECT_EQ(not_dir.status().code(), ENOTDIR);

  // A directory opened kDirectory can be flushed, which makes its entries durable.
  auto dir = OpenFile(dir_.path(), OpenMode::kDirectory, /*direct=*/true);
  ASSERT_NE(dir, nullptr);
  IoOp sync = SyncOp(dir.get(), false);
  ASSERT_TRUE(env_->Submit({&sync, 1}).ok());
  EXPECT_EQ(sync.result, 0);
  EXPECT_TRUE(env_->SyncDir(dir_.path()).ok());
}

TEST_P(PosixEnvTest, MkDirsCreatesNestedDirectoriesAndMkDirRefusesExisting) {
  ASSERT_TRUE(env_->MkDirs(Path("a/b/c")).ok());
  EXPECT_TRUE(env_->Exists(Path("a/b/c")));
  EXPECT_TRUE(env_->MkDirs(Path("a/b/c")).ok());  // already there: fine
  Status st = env_->MkDir(Path("a/b"));
  EXPECT_EQ(st.code(), EEXIST);
  EXPECT_NE(st.message().find(Path("a/b")), std::string::npos);
  EXPECT_EQ(env_->MkDir(Path("x/y")).code(), ENOENT);
}

TEST_P(PosixEnvTest, RenameMovesAndReplacesAndUnlinkRemoves) {
  WriteWhole(Path("one"), Pattern(10, 1));
  WriteWhole(Path("two"), Pattern(20, 2));
  ASSERT_TRUE(env_->Rename(Path("one"), Path("two")).ok());
  EXPECT_FALSE(env_->Exists(Path("one")));
  EXPECT_EQ(ReadWhole(Path("two")), Pattern(10, 1));
  EXPECT_EQ(env_->Rename(Path("one"), Path("three")).code(), ENOENT);

  ASSERT_TRUE(env_->Unlink(Path("two")).ok());
  EXPECT_FALSE(env_->Exists(Path("two")));
  Status st = env_->Unlink(Path("two"));
  EXPECT_EQ(st.code(), ENOENT);
  EXPECT_NE(st.message().find(Path("two")), std::string::npos);
}

TEST_P(PosixEnvTest, LinkAddsANameAndNeverReplaces) {
  WriteWhole(Path("one"), Pattern(10, 1));
  WriteWhole(Path("two"), Pattern(20, 2));
  ASSERT_TRUE(env_->Link(Path("one"), Path("three")).ok());
  EXPECT_EQ(ReadWhole(Path("three")), Pattern(10, 1));
  Status taken = env_->Link(Path("one"), Path("two"));
  EXPECT_EQ(taken.code(), EEXIST);
  EXPECT_NE(taken.message().find(Path("two")), std::string::npos) << taken.message();
  EXPECT_EQ(ReadWhole(Path("two")), Pattern(20, 2));
  EXPECT_EQ(env_->Link(Path("gone"), Path("four")).code(), ENOENT);
  ASSERT_TRUE(env_->Unlink(Path("one")).ok());
  EXPECT_EQ(ReadWhole(Path("three")), Pattern(10, 1));
}

TEST_P(PosixEnvTest, RmDirRefusesNonEmptyAndMissingDirectories) {
  ASSERT_TRUE(env_->MkDir(Path("d")).ok());
  WriteWhole(Path("d/f"), Pattern(1, 1));
  EXPECT_EQ(env_->RmDir(Path("d")).code(), ENOTEMPTY);
  ASSERT_TRUE(env_->Unlink(Path("d/f")).ok());
  ASSERT_TRUE(env_->RmDir(Path("d")).ok());
  EXPECT_FALSE(env_->Exists(Path("d")));
  EXPECT_EQ(env_->RmDir(Path("d")).code(), ENOENT);
}

TEST_P(PosixEnvTest, ListReturnsEntriesSortedWithoutDotsAndMarksDirectories) {
  ASSERT_TRUE(env_->MkDir(Path("zeta")).ok());
  ASSERT_TRUE(env_->MkDir(Path("alpha")).ok());
  WriteWhole(Path("mid"), Pattern(1, 1));
  WriteWhole(Path("beta"), Pattern(1, 2));
  ASSERT_EQ(0, ::symlink("alpha", Path("link").c_str()));
  auto list = env_->List(dir_.path());
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  std::vector<std::string> names;
  for (const DirEntry& e : *list) names.push_back(e.name + (e.is_dir ? "/" : ""));
  EXPECT_EQ(names, (std::vector<std::string>{"alpha/", "beta", "link", "mid", "zeta/"}));

  auto missing = env_->List(Path("none"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), ENOENT);
}

TEST_P(PosixEnvTest, FileSizeStatsFilesAndRefusesDirectoriesAndMissingPaths) {
  WriteWhole(Path("f"), Pattern(12345, 3));
  ASSERT_TRUE(env_->MkDir(Path("d")).ok());
  auto size = env_->FileSize(Path("f"));
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(*size, 12345u);
  EXPECT_EQ(env_->FileSize(Path("d")).status().code(), EISDIR);
  EXPECT_EQ(env_->FileSize(Path("none")).status().code(), ENOENT);
  // Env's default (open and ask the File) agrees with PosixEnv's stat.
  EXPECT_EQ(*env_->Env::FileSize(Path("f")), 12345u);
  EXPECT_EQ(env_->Env::FileSize(Path("none")).status().code(), ENOENT);
}

TEST_P(PosixEnvTest, StatFsReportsNonzeroSpaceAndExistsTellsPresence) {
  auto stats = env_->StatFs(dir_.path());
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_GT(stats->total_bytes, 0u);
  EXPECT_GT(stats->free_bytes, 0u);
  EXPECT_LE(stats->free_bytes, stats->total_bytes);
  EXPECT_EQ(env_->StatFs(Path("none")).status().code(), ENOENT);

  EXPECT_TRUE(env_->Exists(dir_.path()));
  EXPECT_FALSE(env_->Exists(Path("none")));
}

TEST_P(PosixEnvTest, WriteFileDurablyThenReadFileRoundTrips) {
  std::vector<uint8_t> data = Pattern(300000, 9);
  ASSERT_TRUE(env_->WriteFileDurably(Path("durable"), data).ok());
  EXPECT_EQ(ReadWhole(Path("durable")), data);
  ASSERT_TRUE(env_->WriteFileDurably(Path("empty"), {}).ok());
  EXPECT_TRUE(ReadWhole(Path("empty")).empty());
}

TEST_P(PosixEnvTest, SubmitRejectsAnOpWithoutAFileAndAcceptsAnEmptyBatch) {
  IoOp op = SyncOp(nullptr, false);
  EXPECT_EQ(env_->Submit({&op, 1}).code(), EINVAL);
  EXPECT_TRUE(env_->Submit({}).ok());
}

TEST_P(PosixEnvTest, ConcurrentSubmitFromEightThreadsKeepsEveryBatchIntact) {
  constexpr int kThreads = 8, kRounds = 40;
  constexpr size_t kPiece = 4096;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto file = env_->Open(Path("c" + std::to_string(t)), {.mode = OpenMode::kCreateTruncate});
      if (!file.ok()) {
        ++failures;
        return;
      }
      File* f = file->get();
      for (int round = 0; round < kRounds; ++round) {
        std::vector<uint8_t> data = Pattern(3 * kPiece, t * 1000 + round);
        iovec iov[3] = {{data.data(), kPiece},
                        {data.data() + kPiece, kPiece},
                        {data.data() + 2 * kPiece, kPiece}};
        IoOp writes[] = {WriteOp(f, 0, &iov[0], 1, true), WriteOp(f, kPiece, &iov[1], 1, true),
                         WriteOp(f, 2 * kPiece, &iov[2], 1, true), SyncOp(f, true)};
        if (!env_->Submit(writes).ok()) ++failures;
        for (const IoOp& op : writes) failures += op.Complete() ? 0 : 1;

        std::vector<uint8_t> back(3 * kPiece);
        iovec back_iov = Iov(back);
        IoOp read = ReadOp(f, 0, &back_iov);
        if (!env_->Submit({&read, 1}).ok()) ++failures;
        if (read.result != static_cast<int64_t>(back.size()) || back != data) ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

// RepairChain, fed the results io_uring can produce, must reach what
// RunBatchSequentially would have produced.
class UringBatchRepairTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.path().empty()); }
  std::unique_ptr<File> Open(const std::string& name, OpenMode mode) {
    auto file = env_.Open(dir_.path() + "/" + name, {.mode = mode});
    if (!file.ok()) {
      ADD_FAILURE() << file.status().ToString();
      return nullptr;
    }
    return std::move(file).value();
  }

  TempDir dir_;
  PosixEnv env_{PosixEnvOptions{.use_io_uring = false}};
};

TEST_F(UringBatchRepairTest, ShortWriteIsFinishedAndTheCancelledRestOfItsChainRuns) {
  auto file = Open("w", OpenMode::kCreateTruncate);
  ASSERT_NE(file, nullptr);
  std::vector<uint8_t> first = Pattern(8192, 1), second = Pattern(100, 2);
  // The kernel wrote the first 1000 bytes (two iovecs: the cut lies in the second).
  iovec done = {first.data(), 1000};
  ASSERT_EQ(file->WriteV(0, &done, 1), 1000);
  iovec iov[2] = {{first.data(), 600}, {first.data() + 600, first.size() - 600}};
  iovec iov2 = Iov(second);
  IoOp chain[] = {WriteOp(file.get(), 0, iov, 2, true), WriteOp(file.get(), 8192, &iov2, 1, true),
                  SyncOp(file.get(), true)};
  chain[0].result = 1000;
  chain[1].result = -ECANCELED;
  chain[2].result = -ECANCELED;
  UringBatch::RepairChain(chain);
  EXPECT_EQ(chain[0].result, 8192);
  EXPECT_EQ(chain[1].result, 100);
  EXPECT_EQ(chain[2].result, 0);
  auto back = env_.ReadFile(dir_.path() + "/w");
  ASSERT_TRUE(back.ok());
  std::vector<uint8_t> expected = first;
  expected.insert(expected.end(), second.begin(), second.end());
  EXPECT_EQ(*back, expected);
}

TEST_F(UringBatchRepairTest, ShortReadBeforeEndOfFileIsCompleted) {
  std::vector<uint8_t> data = Pattern(10000, 3);
  ASSERT_TRUE(env_.WriteFileDurably(dir_.path() + "/r", data).ok());
  auto file = Open("r", OpenMode::kRead);
  ASSERT_NE(file, nullptr);
  std::vector<uint8_t> back(10000), next(10);
  std::memcpy(back.data(), data.data(), 300);  // what the kernel had delivered
  iovec iov = Iov(back), next_iov = Iov(next);
  IoOp chain[] = {ReadOp(file.get(), 0, &iov, 1, true), ReadOp(file.get(), 0, &next_iov)};
  chain[0].result = 300;
  chain[1].result = -ECANCELED;
  UringBatch::RepairChain(chain);
  EXPECT_EQ(chain[0].result, 10000);
  EXPECT_EQ(back, data);
  EXPECT_EQ(chain[1].result, 10);
}

TEST_F(UringBatchRepairTest, ShortReadAtEndOfFileStaysShortAndKeepsTheRestCancelled) {
  ASSERT_TRUE(env_.WriteFileDurably(dir_.path() + "/e", Pattern(100, 4)).ok());
  auto file = Open("e", OpenMode::kRead);
  ASSERT_NE(file, nullptr);
  std::vector<uint8_t> back(4096), next(10);
  iovec iov = Iov(back), next_iov = Iov(next);
  IoOp chain[] = {ReadOp(file.get(), 0, &iov, 1, true), ReadOp(file.get(), 0, &next_iov)};
  chain[0].result = 100;
  chain[1].result = -ECANCELED;
  UringBatch::RepairChain(chain);
  EXPECT_EQ(chain[0].result, 100);
  EXPECT_EQ(chain[1].result, -ECANCELED);
}

TEST_F(UringBatchRepairTest, FailedFlushKeepsItsErrorAndIsNotRetried) {
  auto file = Open("s", OpenMode::kCreateTruncate);
  ASSERT_NE(file, nullptr);
  std::vector<uint8_t> data = Pattern(10, 5);
  iovec iov = Iov(data);
  IoOp chain[] = {SyncOp(file.get(), true, true), WriteOp(file.get(), 0, &iov)};
  chain[0].result = -EIO;
  chain[1].result = -ECANCELED;
  UringBatch::RepairChain(chain);
  EXPECT_EQ(chain[0].result, -EIO);
  EXPECT_EQ(chain[1].result, -ECANCELED);
  EXPECT_EQ(*file->Size(), 0u);  // the op after the failed flush never ran
}

TEST_F(UringBatchRepairTest, OpsThatNeverRanAreRunInOrder) {
  auto file = Open("n", OpenMode::kCreateTruncate);
  ASSERT_NE(file, nullptr);
  std::vector<uint8_t> a = Pattern(64, 6), b = Pattern(64, 7);
  iovec ia = Iov(a), ib = Iov(b);
  IoOp chain[] = {WriteOp(file.get(), 0, &ia, 1, true), WriteOp(file.get(), 0, &ib, 1, true),
                  SyncOp(file.get(), false)};
  chain[0].result = 64;  // completed in the kernel
  chain[1].result = UringBatch::kNotRun;
  chain[2].result = UringBatch::kNotRun;
  UringBatch::RepairChain(chain);
  EXPECT_EQ(chain[1].result, 64);
  EXPECT_EQ(chain[2].result, 0);
  auto back = env_.ReadFile(dir_.path() + "/n");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, b);
}

TEST(AlignedBufferTest, IsAlignedRoundedUpZeroFilledAndMovable) {
  AlignedBuffer buf(5000);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(buf.data()) % kDirectIoAlignment, 0u);
  EXPECT_EQ(buf.size(), 8192u);
  for (uint8_t byte : buf.span()) ASSERT_EQ(byte, 0);
  uint8_t* p = buf.data();
  AlignedBuffer moved(std::move(buf));
  EXPECT_EQ(moved.data(), p);
  EXPECT_EQ(moved.size(), 8192u);
  EXPECT_EQ(buf.size(), 0u);  // NOLINT(bugprone-use-after-move): moved-from is empty
  EXPECT_EQ(AlignedBuffer(0).size(), 0u);
  EXPECT_EQ(AlignedBuffer(4096).size(), 4096u);
}

}  // namespace
}  // namespace sopfs
