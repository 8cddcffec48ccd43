// Tests of FaultEnv: the Env contract in memory, the strict durability model that
// Crash() enforces, and every kind of injected fault.
#include "engine/io/fault_env.h"

#include <gtest/gtest.h>

#include <bit>
#include <string>
#include <thread>
#include <vector>

namespace sopfs {
namespace {

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

class FaultEnvTest : public ::testing::Test {
 protected:
  std::unique_ptr<File> OpenOrDie(const std::string& path, OpenMode mode) {
    auto file = env_.Open(path, {.mode = mode});
    EXPECT_TRUE(file.ok()) << file.status().ToString();
    return file.ok() ? std::move(file).value() : nullptr;
  }

  // One write through Env::Submit; returns IoOp::result.
  int64_t Write(File* file, uint64_t offset, const std::string& data) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    IoOp op{.kind = IoKind::kWrite, .file = file, .offset = offset, .iov = &iov, .iovcnt = 1};
    EXPECT_TRUE(env_.Submit({&op, 1}).ok());
    return op.result;
  }

  int64_t Fsync(File* file) {
    IoOp op{.kind = IoKind::kFsync, .file = file};
    EXPECT_TRUE(env_.Submit({&op, 1}).ok());
    return op.result;
  }

  // Current content as a string, or "<missing>".
  std::string Content(const std::string& path) {
    auto data = env_.ReadRaw(path);
    return data.ok() ? std::string(data->begin(), data->end()) : "<missing>";
  }

  void WriteDurably(const std::string& path, const std::string& data) {
    ASSERT_TRUE(env_.WriteFileDurably(path, Bytes(data)).ok());
  }

  FaultEnv env_;
};

// ---- Env contract -----------------------------------------------------------------

TEST_F(FaultEnvTest, OpenModesFollowTheEnvContract) {
  ASSERT_TRUE(env_.MkDir("/d").ok());
  EXPECT_EQ(env_.Open("/d/f", {.mode = OpenMode::kRead}).status().code(), ENOENT);
  EXPECT_EQ(env_.Open("/d/f", {.mode = OpenMode::kReadWrite}).status().code(), ENOENT);
  EXPECT_EQ(env_.Open("/nope/f", {.mode = OpenMode::kCreate}).status().code(), ENOENT);
  auto f = OpenOrDie("/d/f", OpenMode::kCreateExclusive);
  ASSERT_NE(f, nullptr);
  EXPECT_FALSE(f->direct());
  EXPECT_EQ(env_.Open("/d/f", {.mode = OpenMode::kCreateExclusive}).status().code(), EEXIST);
  EXPECT_EQ(env_.Open("/d", {.mode = OpenMode::kRead}).status().code(), EISDIR);
  EXPECT_EQ(env_.Open("/d/f", {.mode = OpenMode::kDirectory}).status().code(), ENOTDIR);
  EXPECT_EQ(env_.Open("/d/f/g", {.mode = OpenMode::kCreate}).status().code(), ENOTDIR);
  EXPECT_EQ(env_.Open("relative", {.mode = OpenMode::kCreate}).status().code(), EINVAL);
  EXPECT_TRUE(env_.Open("/", {.mode = OpenMode::kDirectory}).ok());

  EXPECT_EQ(Write(f.get(), 0, "hello"), 5);
  EXPECT_EQ(Content("/d/f"), "hello");
  ASSERT_NE(OpenOrDie("/d/f", OpenMode::kCreate), nullptr);  // keeps contents
  EXPECT_EQ(Content("/d/f"), "hello");
  auto ro = OpenOrDie("/d/f", OpenMode::kRead);
  ASSERT_NE(ro, nullptr);
  EXPECT_EQ(Write(ro.get(), 0, "x"), -EBADF);
  ASSERT_NE(OpenOrDie("/d/f", OpenMode::kCreateTruncate), nullptr);
  EXPECT_EQ(Content("/d/f"), "");
}

TEST_F(FaultEnvTest, WriteBeyondEndZeroFillsAndReadsArePositional) {
  auto f = OpenOrDie("/f", OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(Write(f.get(), 4, "ab"), 2);
  EXPECT_EQ(Content("/f"), std::string("\0\0\0\0ab", 6));
  EXPECT_EQ(f->Size().value(), 6u);

  char head[3] = {}, tail[8] = {};
  iovec iov[2] = {{head, sizeof(head)}, {tail, sizeof(tail)}};
  EXPECT_EQ(f->ReadV(3, iov, 2), 3);  // short at end of file
  EXPECT_EQ(std::string(head, 3), std::string("\0ab", 3));
  EXPECT_EQ(f->ReadV(6, iov, 2), 0);

  ASSERT_TRUE(f->Truncate(1).ok());
  EXPECT_EQ(f->Size().value(), 1u);
  ASSERT_TRUE(f->Truncate(3).ok());
  EXPECT_EQ(Content("/f"), std::string(3, '\0'));
}

TEST_F(FaultEnvTest, NamespaceOperationsReportPosixErrors) {
  ASSERT_TRUE(env_.MkDirs("/a/b").ok());
  EXPECT_EQ(env_.MkDir("/a").code(), EEXIST);
  EXPECT_EQ(env_.MkDir("/x/y").code(), ENOENT);
  EXPECT_EQ(env_.RmDir("/a").code(), ENOTEMPTY);
  EXPECT_EQ(env_.Unlink("/a").code(), EISDIR);
  EXPECT_EQ(env_.Unlink("/a/missing").code(), ENOENT);
  EXPECT_EQ(env_.Rename("/a", "/a/b/c").code(), EINVAL);
  WriteDurably("/a/f", "1");
  EXPECT_EQ(env_.RmDir("/a/f").code(), ENOTDIR);
  EXPECT_EQ(env_.Rename("/a/f", "/a/b").code(), EISDIR);
  EXPECT_EQ(env_.List("/a/f").status().code(), ENOTDIR);

  WriteDurably("/a/g", "2");
  ASSERT_TRUE(env_.Rename("/a/g", "/a/f").ok());  // replaces the target file
  EXPECT_EQ(Content("/a/f"), "2");
  ASSERT_TRUE(env_.Rename("/a/b", "/c").ok());  // directories move too
  ASSERT_TRUE(env_.RmDir("/c").ok());

  WriteDurably("/a/0", "0");
  ASSERT_TRUE(env_.MkDir("/a/m").ok());
  auto list = env_.List("/a");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);
  EXPECT_EQ((*list)[0].name, "0");
  EXPECT_EQ((*list)[1].name, "f");
  EXPECT_FALSE((*list)[1].is_dir);
  EXPECT_EQ((*list)[2].name, "m");
  EXPECT_TRUE((*list)[2].is_dir);
  EXPECT_TRUE(env_.Exists("/a/m"));
  EXPECT_FALSE(env_.Exists("/a/zz"));
}

// ---- Durability model -------------------------------------------------------------

TEST_F(FaultEnvTest, SyncedFileSurvivesCrash) {
  ASSERT_TRUE(env_.MkDir("/d").ok());
  ASSERT_TRUE(env_.SyncDir("/").ok());
  WriteDurably("/d/f", "payload");
  env_.Crash();
  auto data = env_.ReadFile("/d/f");
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(*data, Bytes("payload"));
}

TEST_F(FaultEnvTest, UnsyncedWritesVanishOnCrash) {
  WriteDurably("/f", "aaaa");
  auto f = OpenOrDie("/f", OpenMode::kReadWrite);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(Write(f.get(), 2, "bbbbbb"), 6);
  EXPECT_EQ(Content("/f"), "aabbbbbb");
  // A new file whose name is durable but whose bytes were never flushed comes back empty.
  auto g = OpenOrDie("/g", OpenMode::kCreate);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(Write(g.get(), 0, "lost"), 4);
  ASSERT_TRUE(env_.SyncDir("/").ok());

  env_.Crash();
  EXPECT_EQ(Content("/f"), "aaaa");
  EXPECT_EQ(Content("/g"), "");
}

TEST_F(FaultEnvTest, NewFileWithSyncedDataButUnsyncedDirectoryVanishesOnCrash) {
  auto f = OpenOrDie("/new", OpenMode::kCreateExclusive);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(Write(f.get(), 0, "data"), 4);
  EXPECT_EQ(Fsync(f.get()), 0);
  env_.Crash();
  EXPECT_FALSE(env_.Exists("/new"));
}

TEST_F(FaultEnvTest, DirectoryFsyncCoversOnlyItsOwnEntries) {
  ASSERT_TRUE(env_.MkDir("/a").ok());
  ASSERT_TRUE(env_.MkDir("/a/b").ok());
  ASSERT_TRUE(env_.SyncDir("/").ok());
  ASSERT_TRUE(env_.SyncDir("/a").ok());
  auto f = OpenOrDie("/a/b/f", OpenMode::kCreate);  // /a/b is never synced
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(Fsync(f.get()), 0);
  env_.Crash();
  EXPECT_TRUE(env_.Exists("/a/b"));
  EXPECT_FALSE(env_.Exists("/a/b/f"));
}

TEST_F(FaultEnvTest, UnlinkIsDurableOnlyAfterDirectoryFsync) {
  WriteDurably("/f", "keep");
  ASSERT_TRUE(env_.Unlink("/f").ok());
  env_.Crash();
  EXPECT_EQ(Content("/f"), "keep");

  ASSERT_TRUE(env_.Unlink("/f").ok());
  ASSERT_TRUE(env_.SyncDir("/").ok());
  env_.Crash();
  EXPECT_FALSE(env_.Exists("/f"));
}

TEST_F(FaultEnvTest, RenameIsDurableOnlyAfterDirectoryFsync) {
  ASSERT_TRUE(env_.MkDir("/a").ok());
  ASSERT_TRUE(env_.MkDir("/b").ok());
  ASSERT_TRUE(env_.SyncDir("/").ok());
  WriteDurably("/a/x", "X");

  ASSERT_TRUE(env_.Rename("/a/x", "/a/y").ok());
  env_.Crash();
  EXPECT_EQ(Content("/a/x"), "X");
  EXPECT_FALSE(env_.Exists("/a/y"));

  ASSERT_TRUE(env_.Rename("/a/x", "/a/y").ok());
  ASSERT_TRUE(env_.SyncDir("/a").ok());
  env_.Crash();
  EXPECT_FALSE(env_.Exists("/a/x"));
  EXPECT_EQ(Content("/a/y"), "X");

  // Between directories, syncing only the target leaves the old name durable too.
  ASSERT_TRUE(env_.Rename("/a/y", "/b/y").ok());
  ASSERT_TRUE(env_.SyncDir("/b").ok());
  env_.Crash();
  EXPECT_EQ(Content("/a/y"), "X");
  EXPECT_EQ(Content("/b/y"), "X");
}

TEST_F(FaultEnvTest, LinkNeverReplacesAndIsDurableOnlyAfterDirectoryFsync) {
  ASSERT_TRUE(env_.MkDir("/a").ok());
  ASSERT_TRUE(env_.SyncDir("/").ok());
  WriteDurably("/a/x", "X");
  WriteDurably("/a/y", "Y");
  EXPECT_EQ(env_.Link("/a/x", "/a/y").code(), EEXIST);
  EXPECT_EQ(Content("/a/y"), "Y");
  EXPECT_EQ(env_.Link("/a/none", "/a/z").code(), ENOENT);
  EXPECT_EQ(env_.Link("/a", "/z").code(), EPERM);

  ASSERT_TRUE(env_.Link("/a/x", "/a/z").ok());
  env_.Crash();
  EXPECT_FALSE(env_.Exists("/a/z")) << "the link was not flushed";
  EXPECT_EQ(Content("/a/x"), "X");

  ASSERT_TRUE(env_.Link("/a/x", "/a/z").ok());
  ASSERT_TRUE(env_.SyncDir("/a").ok());
  ASSERT_TRUE(env_.Unlink("/a/x").ok());
  EXPECT_EQ(Content("/a/z"), "X") << "one name gone, the other keeps the bytes";
  env_.Crash();
  EXPECT_EQ(Content("/a/x"), "X");
  EXPECT_EQ(Content("/a/z"), "X");
  // Both names share the bytes (one inode): a write through one shows through the other.
  auto f = OpenOrDie("/a/z", OpenMode::kReadWrite);
  ASSERT_EQ(Write(f.get(), 0, "Q"), 1);
  EXPECT_EQ(Content("/a/x"), "Q");
}

TEST_F(FaultEnvTest, CrashKeepsOneNameOfADirectoryDurablyNamedTwiceEvenInACycle) {
  ASSERT_TRUE(env_.MkDirs("/x/y").ok());
  ASSERT_TRUE(env_.SyncDir("/").ok());
  ASSERT_TRUE(env_.SyncDir("/x").ok());
  // /x keeps a durable entry for y after y moves to /z, and /x then moves under it.
  ASSERT_TRUE(env_.Rename("/x/y", "/z").ok());
  ASSERT_TRUE(env_.Rename("/x", "/z/x").ok());
  ASSERT_TRUE(env_.SyncDir("/").ok());
  ASSERT_TRUE(env_.SyncDir("/z").ok());
  env_.Crash();
  EXPECT_TRUE(env_.Exists("/z/x"));
  EXPECT_FALSE(env_.Exists("/z/x/y"));  // would close the cycle /z/x/y == /z
  EXPECT_FALSE(env_.Exists("/x"));
}

// ---- Injected faults --------------------------------------------------------------

TEST_F(FaultEnvTest, FailOpFailsExactlyThatOpAndNothingElse) {
  const uint64_t n = env_.op_count();
  env_.FailOp(n + 1, EIO);
  EXPECT_TRUE(env_.MkDir("/a").ok());  // op n
  EXPECT_EQ(env_.MkDir("/b").code(), EIO);
  EXPECT_FALSE(env_.ExistsRaw("/b"));
  EXPECT_TRUE(env_.MkDir("/c").ok());
  EXPECT_TRUE(env_.MkDir("/b").ok());  // a retry is a new op
  EXPECT_EQ(env_.op_count(), n + 4);

  WriteDurably("/f", "same");
  auto f = OpenOrDie("/f", OpenMode::kReadWrite);
  ASSERT_NE(f, nullptr);
  env_.FailOp(env_.op_count(), ENOSPC);
  EXPECT_EQ(Write(f.get(), 0, "different"), -ENOSPC);
  EXPECT_EQ(Content("/f"), "same");
}

TEST_F(FaultEnvTest, FailedFsyncLosesTheUnflushedBytesEvenIfARetrySucceeds) {
  WriteDurably("/f", "old!");
  auto f = OpenOrDie("/f", OpenMode::kReadWrite);
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(Write(f.get(), 0, "new!"), 4);
  env_.FailOp(env_.op_count(), EIO);
  EXPECT_EQ(Fsync(f.get()), -EIO);
  // As after a failed writeback on Linux: a second fsync "works" but the new bytes
  // never reach the disk, so retrying a failed flush cannot make them durable.
  EXPECT_EQ(Fsync(f.get()), 0);
  env_.Crash();
  EXPECT_EQ(Content("/f"), "old!");
}

TEST_F(FaultEnvTest, FailFolderFailsEveryOpUnderItUntilHealed) {
  ASSERT_TRUE(env_.MkDirs("/vol/data0").ok());
  ASSERT_TRUE(env_.MkDirs("/vol/data00").ok());
  WriteDurably("/vol/data0/x", "x");
  auto f = OpenOrDie("/vol/data0/x", OpenMode::kReadWrite);
  ASSERT_NE(f, nullptr);

  env_.FailFolder("/vol/data0", EIO);
  EXPECT_EQ(env_.Open("/vol/data0/x", {.mode = OpenMode::kRead}).status().code(), EIO);
  EXPECT_EQ(Write(f.get(), 0, "y"), -EIO);  // opened before the fault
  EXPECT_EQ(Fsync(f.get()), -EIO);
  EXPECT_EQ(env_.List("/vol/data0").status().code(), EIO);
  EXPECT_EQ(env_.MkDir("/vol/data0/sub").code(), EIO);
  EXPECT_EQ(env_.Rename("/vol/data00", "/vol/data0/z").code(), EIO);
  EXPECT_FALSE(env_.Exists("/vol/data0/x"));
  // A sibling whose name merely starts with the prefix is healthy.
  EXPECT_TRUE(env_.MkDir("/vol/data00/sub").ok());
  EXPECT_EQ(Content("/vol/data0/x"), "x");

  env_.HealFolder("/vol/data0");
  EXPECT_EQ(Write(f.get(), 0, "y"), 1);
  EXPECT_TRUE(env_.List("/vol/data0").ok());
  EXPECT_EQ(Content("/vol/data0/x"), "y");
}

TEST_F(FaultEnvTest, ShortWriteOpReturnsHalfAndSubmitCompletesTheRest) {
  auto f = OpenOrDie("/f", OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  std::string data = "0123456789";
  iovec iov{data.data(), data.size()};
  env_.ShortWriteOp(env_.op_count());
  EXPECT_EQ(f->WriteV(0, &iov, 1), 5);
  EXPECT_EQ(Content("/f"), "01234");

  const uint64_t before = env_.op_count();
  env_.ShortWriteOp(before);
  EXPECT_EQ(Write(f.get(), 100, data), static_cast<int64_t>(data.size()));
  EXPECT_EQ(env_.op_count(), before + 2);  // the short write and its retry
  EXPECT_EQ(Content("/f").substr(100), data);
}

TEST_F(FaultEnvTest, FlipBitOnWriteOpCorruptsExactlyOneBit) {
  auto f = OpenOrDie("/f", OpenMode::kCreate);
  ASSERT_NE(f, nullptr);
  std::string data(4096, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  env_.FlipBitOnWriteOp(env_.op_count());
  EXPECT_EQ(Write(f.get(), 0, data), 4096);
  std::string stored = Content("/f");
  ASSERT_EQ(stored.size(), data.size());
  int flipped_bits = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    flipped_bits += std::popcount(static_cast<uint8_t>(data[i] ^ stored[i]));
  }
  EXPECT_EQ(flipped_bits, 1);
}

TEST_F(FaultEnvTest, CrashAtOpFailsLaterOpsAndCrashRestoresDurableState) {
  WriteDurably("/f", "old");
  auto f = OpenOrDie("/f", OpenMode::kReadWrite);
  ASSERT_NE(f, nullptr);
  const uint64_t n = env_.op_count();
  env_.CrashAtOp(n + 1);
  std::string update = "new!";
  iovec iov{update.data(), update.size()};
  EXPECT_EQ(f->WriteV(0, &iov, 1), 4);  // op n still runs
  EXPECT_EQ(f->Sync(false), -EIO);      // the process dies here
  EXPECT_EQ(env_.MkDir("/x").code(), EIO);
  EXPECT_EQ(env_.Open("/f", {.mode = OpenMode::kRead}).status().code(), EIO);
  EXPECT_FALSE(env_.Exists("/f"));
  EXPECT_FALSE(env_.ExistsRaw("/x"));

  env_.Crash();
  EXPECT_EQ(Content("/f"), "old");
  EXPECT_EQ(f->WriteV(0, &iov, 1), -EIO);  // a handle of the dead process
  EXPECT_TRUE(env_.MkDir("/x").ok());
  auto data = env_.ReadFile("/f");
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(*data, Bytes("old"));
}

TEST_F(FaultEnvTest, SetCapacityGivesEnospcAndStatFsReportsIt) {
  env_.SetCapacity(100);
  auto a = OpenOrDie("/a", OpenMode::kCreate);
  auto b = OpenOrDie("/b", OpenMode::kCreate);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(Write(a.get(), 0, std::string(60, 'a')), 60);
  EXPECT_EQ(Write(b.get(), 0, std::string(60, 'b')), -ENOSPC);
  EXPECT_EQ(Content("/b"), "");
  auto stats = env_.StatFs("/");
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->total_bytes, 100u);
  EXPECT_EQ(stats->free_bytes, 40u);
  EXPECT_EQ(b->Truncate(41).code(), ENOSPC);

  ASSERT_TRUE(env_.Unlink("/a").ok());  // frees its bytes
  EXPECT_EQ(Write(b.get(), 0, std::string(60, 'b')), 60);
  EXPECT_EQ(env_.StatFs("/")->free_bytes, 40u);
}

TEST_F(FaultEnvTest, VanishFolderRemovesTheSubtreeDurably) {
  ASSERT_TRUE(env_.MkDirs("/vol/data0/ab").ok());
  ASSERT_TRUE(env_.MkDir("/vol/data1").ok());
  for (const char* dir : {"/", "/vol", "/vol/data0"}) ASSERT_TRUE(env_.SyncDir(dir).ok());
  WriteDurably("/vol/data0/ab/x", "shard");
  auto f = OpenOrDie("/vol/data0/ab/x", OpenMode::kRead);
  ASSERT_NE(f, nullptr);

  env_.VanishFolder("/vol/data0");
  EXPECT_FALSE(env_.Exists("/vol/data0"));
  EXPECT_EQ(env_.Open("/vol/data0/ab/x", {.mode = OpenMode::kRead}).status().code(), ENOENT);
  EXPECT_EQ(env_.MkDir("/vol/data0/ab").code(), ENOENT);
  char buf[5];
  iovec iov{buf, sizeof(buf)};
  EXPECT_EQ(f->ReadV(0, &iov, 1), -ENOENT);
  auto list = env_.List("/vol");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "data1");

  env_.Crash();
  EXPECT_FALSE(env_.Exists("/vol/data0"));
  EXPECT_TRUE(env_.Exists("/vol/data1"));
}

TEST_F(FaultEnvTest, FailedWriteInLinkedChainCancelsItsFsync) {
  WriteDurably("/f", "durable");
  auto f = OpenOrDie("/f", OpenMode::kReadWrite);
  ASSERT_NE(f, nullptr);
  std::string data = "torn";
  iovec iov{data.data(), data.size()};
  IoOp ops[2] = {
      {.kind = IoKind::kWrite, .file = f.get(), .iov = &iov, .iovcnt = 1, .link_next = true},
      {.kind = IoKind::kFsync, .file = f.get()},
  };
  const uint64_t n = env_.op_count();
  env_.FailOp(n, EIO);
  ASSERT_TRUE(env_.Submit(ops).ok());
  EXPECT_EQ(ops[0].result, -EIO);
  EXPECT_EQ(ops[1].result, -ECANCELED);
  EXPECT_EQ(env_.op_count(), n + 1);  // the fsync never reached the file
  env_.Crash();
  EXPECT_EQ(Content("/f"), "durable");
}

TEST_F(FaultEnvTest, RawHelpersBypassFaultsAndAreNotCounted) {
  WriteDurably("/f", "abc");
  env_.FailFolder("/", EIO);
  const uint64_t n = env_.op_count();
  ASSERT_TRUE(env_.CorruptByte("/f", 1).ok());
  EXPECT_EQ(Content("/f"), std::string("a") + static_cast<char>('b' ^ 0xFF) + "c");
  ASSERT_TRUE(env_.TruncateRaw("/f", 1).ok());
  EXPECT_TRUE(env_.ExistsRaw("/f"));
  EXPECT_FALSE(env_.Exists("/f"));
  EXPECT_EQ(env_.CorruptByte("/f", 5).code(), EINVAL);
  EXPECT_EQ(env_.op_count(), n);

  env_.Crash();  // the raw edits hit durable bytes as well
  EXPECT_EQ(Content("/f"), "a");
}

TEST_F(FaultEnvTest, ConcurrentWritersToDifferentFilesAllLand) {
  constexpr int kThreads = 8;
  constexpr int kWrites = 200;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t] {
      const std::string path = "/t" + std::to_string(t);
      auto file = env_.Open(path, {.mode = OpenMode::kCreate});
      if (!file.ok()) return;
      const std::string chunk(64, static_cast<char>('a' + t));
      for (int i = 0; i < kWrites; ++i) Write(file->get(), uint64_t{64} * i, chunk);
      Fsync(file->get());
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(env_.op_count(), uint64_t{kThreads} * (kWrites + 2));
  ASSERT_TRUE(env_.SyncDir("/").ok());
  env_.Crash();
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(Content("/t" + std::to_string(t)),
              std::string(64 * kWrites, static_cast<char>('a' + t)));
  }
}

}  // namespace
}  // namespace sopfs
