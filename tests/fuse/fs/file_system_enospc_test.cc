// A full disk under the file system (FaultEnv's capacity): writes fail with ENOSPC and
// change nothing else, every file written before reads back exactly, and once there is
// room again writes go on without a remount (no "reopen the volume" state).
#include <sys/stat.h>

#include <string>
#include <vector>

#include "tests/fuse/fs/file_system_fixture.h"

namespace sopfs::testing {
namespace {

class FileSystemEnospcTest : public FileSystemTest {
 protected:
  // create + write + close (the content commits at close); the first error.
  Status Write(const std::string& name, const std::string& bytes) {
    auto made = fs_->MakeNode(kRoot, name, S_IFREG | 0644, 0, {});
    if (!made.ok()) return made.status();
    return WriteAt(made->st_ino, 0, bytes);
  }
  static std::string Content(int i) { return std::string(3 * kChunkSize + 100, 'a' + i % 26); }
};

TEST_F(FileSystemEnospcTest, AFullDiskFailsWritesWithEnospcAndWritesGoOnOnceThereIsRoom) {
  env_.SetCapacity(Used() + 4 * 1024 * 1024);
  std::vector<int> written;
  Status full;
  for (int i = 0; i < 200 && full.ok(); ++i) {
    full = Write("f" + std::to_string(i), Content(i));
    if (full.ok()) written.push_back(i);
  }
  ASSERT_FALSE(full.ok()) << "the disk never filled";
  EXPECT_EQ(full.code(), ENOSPC) << full.ToString();
  ASSERT_GE(written.size(), 2u);
  for (int i : written) {
    Result<uint64_t> ino = Ino(kRoot, "f" + std::to_string(i));
    ASSERT_TRUE(ino.ok()) << i;
    EXPECT_EQ(ReadFile(*ino), Content(i)) << i;
  }
  // Room again (the user freed space elsewhere on that disk): no remount needed.
  env_.SetCapacity(uint64_t{1} << 40);
  ASSERT_TRUE(fs_->Sync().ok());
  for (int i = 200; i < 205; ++i) {
    Status st = Write("g" + std::to_string(i), Content(i));
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  ASSERT_NO_FATAL_FAILURE(Reopen());
  for (int i : written) {
    Result<uint64_t> ino = Ino(kRoot, "f" + std::to_string(i));
    ASSERT_TRUE(ino.ok()) << i;
    EXPECT_EQ(ReadFile(*ino), Content(i)) << i;
  }
  for (int i = 200; i < 205; ++i) {
    Result<uint64_t> ino = Ino(kRoot, "g" + std::to_string(i));
    ASSERT_TRUE(ino.ok()) << i;
    EXPECT_EQ(ReadFile(*ino), Content(i)) << i;
  }
}

// The commit log's own disk full (the log folder on a drive of its own): a commit that
// finds no room for its record fails with ENOSPC and the log goes on afterwards.
TEST_F(FileSystemEnospcTest, ACommitLogWithNoRoomFailsCommitsWithEnospcNotTheVolume) {
  ASSERT_TRUE(Write("before", Content(1)).ok());
  // Past the room the log allocated ahead, so its next allocation meets the full disk.
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(Write("pad" + std::to_string(i), "x").ok());
  env_.FailFolder("/vol/log", ENOSPC);
  Status full;
  for (int i = 0; i < 400 && full.ok(); ++i) full = Write("full" + std::to_string(i), Content(2));
  ASSERT_FALSE(full.ok()) << "no commit met the full log folder";
  EXPECT_EQ(full.code(), ENOSPC) << full.ToString();
  env_.HealFolder("/vol/log");
  Status after = Write("after", Content(3));
  ASSERT_TRUE(after.ok()) << "the volume needs a reopen after ENOSPC: " << after.ToString();
  ASSERT_TRUE(fs_->Sync().ok());
  ASSERT_NO_FATAL_FAILURE(Reopen());
  for (const auto& [name, i] : {std::pair<std::string, int>{"before", 1}, {"after", 3}}) {
    Result<uint64_t> ino = Ino(kRoot, name);
    ASSERT_TRUE(ino.ok()) << name;
    EXPECT_EQ(ReadFile(*ino), Content(i)) << name;
  }
}

// The engine keeps a metadata reserve (a file of its own on the disk, as ext4 keeps
// blocks for root): a disk filled with files of shrinking sizes, down to ones kept in
// B-Tree nodes, until nothing more fits, refuses new data, but deletions still commit,
// their room comes back without a remount and writes go on; a full volume mounts.
TEST_F(FileSystemEnospcTest, AtAFullDiskDeletionsCommitAndTheirRoomComesBack) {
  constexpr uint64_t kReserve = 1 << 20;
  adjust_engine_ = [](EngineOptions& o) { o.reserve_bytes = kReserve; };
  ASSERT_NO_FATAL_FAILURE(Reopen());
  env_.SetCapacity(Used() + 8 * kReserve);
  std::vector<std::pair<std::string, std::string>> written;  // name, content
  for (const size_t size : {size_t{3 * kChunkSize + 100}, size_t{kChunkSize}, size_t{8192},
                            size_t{3000}, size_t{100}}) {
    Status full;
    for (int i = 0; i < 4000 && full.ok(); ++i) {
      const std::string name = "s" + std::to_string(size) + "-" + std::to_string(i);
      const std::string content(size, static_cast<char>('a' + i % 26));
      full = Write(name, content);
      if (full.ok()) written.emplace_back(name, content);
    }
    ASSERT_EQ(full.code(), ENOSPC) << size << ": " << full.ToString();
  }
  ASSERT_GE(written.size(), 4u);
  ASSERT_TRUE(fs_->Sync().ok()) << "what was acknowledged must commit at a full disk";
  ASSERT_NO_FATAL_FAILURE(Reopen());  // a full volume mounts, and its files read back
  for (const auto& [name, content] : written) {
    Result<uint64_t> ino = Ino(kRoot, name);
    ASSERT_TRUE(ino.ok()) << name;
    ASSERT_EQ(ReadFile(*ino), content) << name;
  }
  // truncate works at the full disk: into a chunk (its head is written again), and to 0.
  std::string* cut = nullptr;
  for (auto& [name, content] : written) {
    if (content.size() > 2 * kChunkSize && cut == nullptr) {
      Result<uint64_t> ino = Ino(kRoot, name);
      ASSERT_TRUE(ino.ok());
      ASSERT_TRUE(fs_->Open(*ino, true, {}).ok());
      AttrChange change;
      change.size = kChunkSize + kChunkSize / 3;
      change.via_handle = true;
      ASSERT_TRUE(fs_->SetAttr(*ino, change, {}).ok());
      Status closed = fs_->Flush(*ino, true, {});
      ASSERT_TRUE(fs_->Release(*ino, true, {}).ok());
      ASSERT_TRUE(closed.ok()) << "truncate at a full disk: " << closed.ToString();
      content.resize(kChunkSize + kChunkSize / 3);
      EXPECT_EQ(ReadFile(*ino), content);
      cut = &content;
    }
  }
  ASSERT_NE(cut, nullptr);
  // rm of the big files: the commit takes the reserve, the checkpoint frees their room.
  size_t removed = 0;
  for (const auto& [name, content] : written) {
    if (content.size() < kChunkSize) continue;
    ASSERT_TRUE(fs_->Unlink(kRoot, name, {}).ok());
    ++removed;
  }
  ASSERT_GT(removed, 0u);
  Status synced = fs_->Sync();
  ASSERT_TRUE(synced.ok()) << "a deletion could not commit at a full disk: " << synced.ToString();
  ASSERT_TRUE(engine_->Checkpoint().ok());
  Status again = Write("again", Content(7));
  ASSERT_TRUE(again.ok()) << "freed room did not come back: " << again.ToString();
  EXPECT_EQ(engine_->reserve_held(), kReserve) << "the reserve was not refilled";
  ASSERT_NO_FATAL_FAILURE(Reopen());
  Result<uint64_t> ino = Ino(kRoot, "again");
  ASSERT_TRUE(ino.ok());
  EXPECT_EQ(ReadFile(*ino), Content(7));
  for (const auto& [name, content] : written) {
    if (content.size() >= kChunkSize) continue;
    Result<uint64_t> kept = Ino(kRoot, name);
    ASSERT_TRUE(kept.ok()) << name;
    EXPECT_EQ(ReadFile(*kept), content) << name;
  }
}

}  // namespace
}  // namespace sopfs::testing
