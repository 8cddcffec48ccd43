// CheckFileSystem, the file-system half of `sopfs fsck`, on a FileSystem over an
// in-memory volume: what the file system writes checks clean (hard links, symlinks,
// renamed directories, sparse and cut files, a file removed while open); damage made
// through engine transactions is found by kind, repaired, and a second check finds
// nothing; what a mount then serves agrees.
#include "fuse/fs/fs_check.h"

#include <sys/stat.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "engine/txn/transaction.h"
#include "fuse/fs/inode_record.h"
#include "streaming/chunk_file.h"
#include "tests/fuse/fs/file_system_fixture.h"

namespace sopfs::testing {
namespace {

using Kinds = std::map<std::string, uint64_t>;

class FsckTest : public FileSystemTest {
 protected:
  struct Trees {
    TxnTree* inodes = nullptr;
    TxnTree* names = nullptr;
    TxnTree* chunks = nullptr;
  };

  // A volume with one of everything the file system writes.
  void Populate() {
    const uint64_t dir = Mkdir(kRoot, "dir");
    const uint64_t sub = Mkdir(dir, "sub");
    Mkdir(kRoot, "other");
    file_ = WriteFile(dir, "file", "hello");
    big_ = WriteFile(kRoot, "big", std::string(200 << 10, 'b'));  // 4 chunks
    ASSERT_TRUE(fs_->Link(file_, sub, "hard", {}).ok());
    auto link = fs_->Symlink(kRoot, "ln", "dir/file", {});
    ASSERT_TRUE(link.ok());
    symlink_ = link->st_ino;
    ASSERT_TRUE(fs_->MakeNode(kRoot, "fifo", S_IFIFO | 0644, 0, {}).ok());
    auto empty = fs_->MakeNode(kRoot, "empty", S_IFREG | 0644, 0, {});
    ASSERT_TRUE(empty.ok());
    empty_ = empty->st_ino;
    // A hole before the data, and a file cut in its second chunk.
    auto sparse = fs_->MakeNode(kRoot, "sparse", S_IFREG | 0644, 0, {});
    ASSERT_TRUE(sparse.ok());
    ASSERT_TRUE(WriteAt(sparse->st_ino, 3 * kChunkSize, "tail").ok());
    const uint64_t cut = WriteFile(kRoot, "cut", std::string(150 << 10, 'c'));
    AttrChange truncate;
    truncate.size = 70 << 10;
    ASSERT_TRUE(fs_->SetAttr(cut, truncate, {}).ok());
    // Directories moved across parents and removed; a file removed.
    Mkdir(kRoot, "moving");
    ASSERT_TRUE(fs_->Rename(kRoot, "moving", dir, "moved", 0, {}).ok());
    Mkdir(sub, "gone");
    ASSERT_TRUE(fs_->Rmdir(sub, "gone", {}).ok());
    WriteFile(kRoot, "deleted", "x");
    ASSERT_TRUE(fs_->Unlink(kRoot, "deleted", {}).ok());
    // Removed while open, and the daemon stops without closing it: an orphan.
    const uint64_t open = WriteFile(kRoot, "open", "still open");
    ASSERT_TRUE(fs_->Open(open, false, {}).ok());
    ASSERT_TRUE(fs_->Unlink(kRoot, "open", {}).ok());
    ASSERT_TRUE(fs_->Sync().ok());
  }

  // Stops the file system (its engine stays open for the check).
  void Unmount() {
    ASSERT_TRUE(fs_->Sync().ok());
    fs_.reset();
  }
  void Mount() {
    fs_.reset();
    engine_.reset();
    Open();
  }

  std::unique_ptr<CheckReport> Fsck(bool repair) {
    auto report = std::make_unique<CheckReport>();
    Status st = CheckFileSystem(*engine_, FsCheckOptions{.repair = repair}, report.get());
    EXPECT_TRUE(st.ok()) << st.ToString();
    return report;
  }

  static std::string Listed(const CheckReport& report) {
    std::string out;
    for (const CheckProblem& p : report.listed()) {
      out += (p.fixed ? "fixed " : "found ") + p.kind + " [" + p.where + "] " + p.detail + "\n";
    }
    return out;
  }

  // Changes the trees in one engine transaction, as damage would.
  void Damage(const std::function<void(Trees&)>& change) {
    auto layout = ReadVolumeLayout(*engine_);
    ASSERT_TRUE(layout.ok());
    auto txn = engine_->Begin(TxnMode::kWriter);
    Trees t{*txn->Tree(layout->inode_tree), *txn->Tree(layout->names_tree),
            *txn->Tree(layout->chunk_tree, ChunkFile::TreeOptions())};
    change(t);
    ASSERT_TRUE(txn->Commit().ok());
  }
  static InodeRecord Record(Trees& t, uint64_t ino) {
    auto bytes = t.inodes->Find(InodeKey(ino));
    EXPECT_TRUE(bytes.ok());
    auto rec = InodeRecord::Decode(bytes.ok() ? *bytes : "", ino);
    EXPECT_TRUE(rec.ok());
    return rec.ok() ? *rec : InodeRecord{};
  }
  static void Put(Trees& t, uint64_t ino, const InodeRecord& rec) {
    ASSERT_TRUE(t.inodes->Upsert(InodeKey(ino), rec.Encode()).ok());
  }
  void PutChunk(Trees& t, uint64_t ino, uint64_t index, std::string_view bytes) {
    ASSERT_TRUE(ChunkFile(t.chunks, ino, kChunkSize).WriteChunk(index, bytes).ok());
  }

  uint64_t file_ = 0, big_ = 0, symlink_ = 0, empty_ = 0;
};

TEST_F(FsckTest, FsckFindsNothingOnWhatTheFileSystemWrites) {
  Populate();
  Unmount();
  auto report = Fsck(false);
  EXPECT_EQ(report->left(), 0u) << Listed(*report);
  EXPECT_EQ(report->repaired(), 0u);
  Kinds checked = report->checked();
  EXPECT_EQ(checked["orphans-pending"], 1u);
  // root, dir, sub, other, file, big, ln, fifo, empty, sparse, cut, moved, open
  EXPECT_EQ(checked["inodes"], 13u);
  // dir sub other file big hard ln fifo empty sparse cut moved
  EXPECT_EQ(checked["names"], 12u);
  EXPECT_EQ(checked["chunks"], 1u + 4u + 1u + 2u + 1u);  // file big sparse cut open
  // A repair of a clean volume changes nothing.
  auto repaired = Fsck(true);
  EXPECT_EQ(repaired->left() + repaired->repaired(), 0u) << Listed(*repaired);
}

TEST_F(FsckTest, FsckFindsDamageByKindRepairsItAndTheMountServesTheResult) {
  Populate();
  Unmount();
  uint64_t lost = 0;
  Damage([&](Trees& t) {
    // A name whose inode record is gone.
    ASSERT_TRUE(t.inodes->Remove(InodeKey(empty_)).ok());
    // A wrong link count.
    InodeRecord big = Record(t, big_);
    big.nlink = 5;
    Put(t, big_, big);
    // A chunk past the end of a 5-byte file.
    PutChunk(t, file_, 7, "junk");
    // A file with content that no name points to.
    auto counter = t.inodes->Find(InodeKey(0));
    ASSERT_TRUE(counter.ok());
    lost = ReadBigEndian64(*counter);
    std::string next;
    AppendBigEndian64(next, lost + 1);
    ASSERT_TRUE(t.inodes->Upsert(InodeKey(0), next).ok());
    InodeRecord rec;
    rec.mode = S_IFREG | 0640;
    rec.nlink = 3;
    rec.size = 12;
    rec.stored_chunks = 1;
    Put(t, lost, rec);
    PutChunk(t, lost, 0, "lost content");
  });

  auto found = Fsck(false);
  const Kinds damage = {{"name-without-inode", 1},
                        {"link-count-wrong", 1},
                        {"chunk-beyond-size", 1},
                        {"inode-unreachable", 1}};
  EXPECT_EQ(found->found(), damage) << Listed(*found);
  EXPECT_TRUE(found->fixed().empty());
  bool named = false;
  for (const CheckProblem& p : found->listed()) {
    if (p.kind == "link-count-wrong") {
      EXPECT_EQ(p.where, "inode " + std::to_string(big_) + " /big");
    }
    if (p.kind == "chunk-beyond-size") {
      named = p.where == "inode " + std::to_string(file_) + " /dir/file" ||
              p.where == "inode " + std::to_string(file_) + " /dir/sub/hard";
    }
    if (p.kind == "name-without-inode") {
      EXPECT_EQ(p.where, "inode " + std::to_string(empty_) + " /empty");
    }
  }
  EXPECT_TRUE(named) << Listed(*found);

  auto repaired = Fsck(true);
  EXPECT_EQ(repaired->fixed(), damage) << Listed(*repaired);
  EXPECT_EQ(repaired->left(), 0u) << Listed(*repaired);
  auto again = Fsck(false);
  EXPECT_EQ(again->left() + again->repaired(), 0u) << Listed(*again);

  // What a mount serves: the lost file in /lost+found, the rest as it was.
  Mount();
  auto lost_found = Ino(kRoot, "lost+found");
  ASSERT_TRUE(lost_found.ok()) << lost_found.status().ToString();
  const struct stat lf = Stat(*lost_found);
  EXPECT_EQ(lf.st_mode, S_IFDIR | 0700u);
  EXPECT_EQ(lf.st_uid, 0u);
  EXPECT_EQ(lf.st_nlink, 2u);
  EXPECT_EQ(Stat(kRoot).st_nlink, 5u);  // dir, other, lost+found
  EXPECT_EQ(List(*lost_found), std::vector<std::string>{"#" + std::to_string(lost)});
  auto moved = Ino(*lost_found, "#" + std::to_string(lost));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, lost);
  EXPECT_EQ(Stat(lost).st_nlink, 1u);
  EXPECT_EQ(ReadFile(lost), "lost content");
  EXPECT_EQ(Errno(Ino(kRoot, "empty")), ENOENT);
  EXPECT_EQ(Stat(big_).st_nlink, 1u);
  EXPECT_EQ(ReadFile(file_), "hello");
  // New inodes are numbered past lost+found's.
  const uint64_t after = WriteFile(kRoot, "after", "a");
  EXPECT_GT(after, *lost_found);
  ASSERT_TRUE(fs_->Sync().ok());
  auto mounted = Fsck(false);
  EXPECT_EQ(mounted->left(), 0u) << Listed(*mounted);
  EXPECT_EQ(mounted->checked()["orphans-pending"], 0u);  // the mount deleted it
}

TEST_F(FsckTest, FsckRepairsEntryTypesStrayChunksAndChunkCounts) {
  Populate();
  Unmount();
  Damage([&](Trees& t) {
    ASSERT_TRUE(
        t.names->Upsert(DirEntryKey(kRoot, "ln"), EncodeNameEntry({symlink_, S_IFREG})).ok());
    PutChunk(t, symlink_, 0, "not a file");  // chunks of a symlink
    PutChunk(t, 999999, 2, "nobody's");      // chunks of no inode
    InodeRecord big = Record(t, big_);
    big.stored_chunks = 9;
    Put(t, big_, big);
    // A named file listed as removed while open (a mount would delete it).
    ASSERT_TRUE(t.inodes->Upsert(OrphanKey(big_), "").ok());
    // An entry in a directory that does not exist.
    ASSERT_TRUE(t.names->Upsert(DirEntryKey(888888, "x"), EncodeNameEntry({file_, S_IFREG})).ok());
  });
  const Kinds damage = {{"name-type-mismatch", 1},
                        {"chunk-without-inode", 2},
                        {"chunk-count-wrong", 1},
                        {"name-without-inode", 1},
                        {"orphan-named", 1}};
  auto found = Fsck(false);
  EXPECT_EQ(found->found(), damage) << Listed(*found);
  auto repaired = Fsck(true);
  EXPECT_EQ(repaired->fixed(), damage) << Listed(*repaired);
  EXPECT_EQ(repaired->left(), 0u);
  auto again = Fsck(false);
  EXPECT_EQ(again->left() + again->repaired(), 0u) << Listed(*again);
  Mount();
  EXPECT_EQ(Stat(big_).st_blocks, (200 << 10) / 512);
  auto target = fs_->ReadLink(symlink_, {});
  ASSERT_TRUE(target.ok());
  EXPECT_EQ(*target, "dir/file");
}

TEST_F(FsckTest, FsckReportsDirectoryCyclesAndLeavesThem) {
  Populate();
  const uint64_t dir = *Ino(kRoot, "dir");
  const uint64_t sub = *Ino(dir, "sub");
  const uint64_t moved = *Ino(dir, "moved");
  Unmount();
  // dir leaves the root and is named in its own subdirectory: dir -> sub -> dir.
  Damage([&](Trees& t) {
    ASSERT_TRUE(t.names->Remove(DirEntryKey(kRoot, "dir")).ok());
    ASSERT_TRUE(t.names->Add(DirEntryKey(sub, "loop"), EncodeNameEntry({dir, S_IFDIR})).ok());
  });
  // The root lost a subdirectory and sub gained one.
  const Kinds damage = {
      {"directory-cycle", 2}, {"directory-unreachable", 1}, {"link-count-wrong", 2}};
  auto found = Fsck(false);
  EXPECT_EQ(found->found(), damage) << Listed(*found);
  bool listed_moved = false;
  for (const CheckProblem& p : found->listed()) {
    if (p.kind == "directory-unreachable") {
      listed_moved = p.where == "inode " + std::to_string(moved);
    }
  }
  EXPECT_TRUE(listed_moved) << Listed(*found);
  // Repair sets the link counts and leaves the cycle, saying why.
  auto repaired = Fsck(true);
  EXPECT_EQ(repaired->fixed(), (Kinds{{"link-count-wrong", 2}})) << Listed(*repaired);
  EXPECT_EQ(repaired->found(), (Kinds{{"directory-cycle", 2}, {"directory-unreachable", 1}}));
  for (const CheckProblem& p : repaired->listed()) {
    if (!p.fixed) {
      EXPECT_NE(p.detail.find("not repaired"), std::string::npos) << p.detail;
    }
  }
}

TEST_F(FsckTest, FsckPutsAnUnreachableDirectoryTreeIntoLostFound) {
  Populate();
  const uint64_t dir = *Ino(kRoot, "dir");
  Unmount();
  Damage([&](Trees& t) { ASSERT_TRUE(t.names->Remove(DirEntryKey(kRoot, "dir")).ok()); });
  // What is below the directory is reached through it: only it and the root's count.
  const Kinds damage = {{"inode-unreachable", 1}, {"link-count-wrong", 1}};
  auto found = Fsck(false);
  EXPECT_EQ(found->found(), damage) << Listed(*found);
  auto repaired = Fsck(true);
  EXPECT_EQ(repaired->fixed(), damage) << Listed(*repaired);
  auto again = Fsck(false);
  EXPECT_EQ(again->left() + again->repaired(), 0u) << Listed(*again);
  Mount();
  auto lost_found = Ino(kRoot, "lost+found");
  ASSERT_TRUE(lost_found.ok());
  EXPECT_EQ(Stat(*lost_found).st_nlink, 3u);
  EXPECT_EQ(Stat(kRoot).st_nlink, 4u);  // other, lost+found
  auto moved = Ino(*lost_found, "#" + std::to_string(dir));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(ReadFile(*Ino(*moved, "file")), "hello");
  EXPECT_EQ(List(*moved), (std::vector<std::string>{"file", "moved", "sub"}));
}

TEST_F(FsckTest, FsckRepairsNothingWithoutTheRoot) {
  Populate();
  Unmount();
  Damage([&](Trees& t) { ASSERT_TRUE(t.inodes->Remove(InodeKey(kRoot)).ok()); });
  // The root's eight entries have no directory, and what they named no name.
  const Kinds damage = {{"root-bad", 1}, {"name-without-inode", 8}, {"inode-unreachable", 8}};
  auto found = Fsck(false);
  EXPECT_EQ(found->found(), damage) << Listed(*found);
  auto repaired = Fsck(true);
  EXPECT_EQ(repaired->found(), damage) << Listed(*repaired);
  EXPECT_TRUE(repaired->fixed().empty());
  auto again = Fsck(false);
  EXPECT_EQ(again->found(), damage);
}

}  // namespace
}  // namespace sopfs::testing
