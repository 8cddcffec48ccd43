// The intent log inside FileSystem (file_system_intent.cc): an fsync of a few writes
// flushes only a log record, no engine commit, and the file survives a power cut with
// exactly what each fsync acknowledged; a power cut at any I/O step of an fsync leaves
// the state before it or after it; the fold commits and drops the log, and records
// written after it still replay.
#include <random>

#include "tests/fuse/fs/file_system_fixture.h"

namespace sopfs::testing {
namespace {

class FileSystemIntentTest : public FileSystemTest {
 protected:
  static constexpr size_t kFileBytes = 5 * kChunkSize + 1234;

  void SetUp() override {
    FileSystemTest::SetUp();
    model_.resize(kFileBytes);
    for (size_t i = 0; i < model_.size(); ++i) model_[i] = static_cast<char>('a' + i % 26);
    ino_ = WriteFile(kRoot, "db", model_);  // committed at close (too big for the journal)
    ASSERT_NE(ino_, 0u);
    ASSERT_TRUE(fs_->Open(ino_, true, {}).ok());
  }
  // A page write somewhere in the file (sometimes past its end), in the model too.
  Status WritePage(std::mt19937& rng, char fill) {
    const uint64_t offset = rng() % (model_.size() + 100);
    const std::string page(1 + rng() % 4096, fill);
    Result<size_t> wrote = fs_->Write(
        ino_, offset, std::span(reinterpret_cast<const uint8_t*>(page.data()), page.size()), {});
    if (!wrote.ok()) return wrote.status();
    if (model_.size() < offset + page.size()) model_.resize(offset + page.size(), '\0');
    model_.replace(offset, page.size(), page);
    return Status::Ok();
  }
  // The intent log's files (with any record in them) in its first folder.
  size_t IntentFiles() {
    auto list = env_.List("/vol/log/close-journal");
    size_t n = 0;
    if (list.ok()) {
      for (const DirEntry& e : *list) n += e.name.rfind("intent-", 0) == 0;
    }
    return n;
  }

  std::string model_;
  uint64_t ino_ = 0;
};

TEST_F(FileSystemIntentTest, IntentFsyncOfAFewWritesCommitsNothingAndSurvivesAPowerCut) {
  std::mt19937 rng(1);
  const EngineStats before = engine_->Stats();
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(WritePage(rng, static_cast<char>('A' + i % 26)).ok());
    ASSERT_TRUE(fs_->Fsync(ino_, {}).ok());
  }
  const EngineStats after = engine_->Stats();
  EXPECT_EQ(after.commits, before.commits) << "an fsync of a few writes committed";
  EXPECT_EQ(after.blobs_written, before.blobs_written) << "an fsync rewrote a chunk";
  EXPECT_EQ(Stat(ino_).st_size, static_cast<off_t>(model_.size()));
  Crash();  // a power cut: only what was flushed is left
  EXPECT_EQ(Stat(ino_).st_size, static_cast<off_t>(model_.size()));
  EXPECT_TRUE(ReadFile(ino_) == model_) << "the file is not what the fsyncs acknowledged";
  // Replayed and committed at the mount: a second power cut changes nothing.
  Crash();
  EXPECT_TRUE(ReadFile(ino_) == model_);
}

TEST_F(FileSystemIntentTest, IntentPowerCutAtEveryStepOfAnFsyncLeavesTheStateBeforeOrAfter) {
  std::mt19937 rng(2);
  // How many I/O steps one fsync takes.
  ASSERT_TRUE(WritePage(rng, '1').ok());
  const uint64_t start = env_.op_count();
  ASSERT_TRUE(fs_->Fsync(ino_, {}).ok());
  const uint64_t steps = env_.op_count() - start;
  ASSERT_GT(steps, 0u);
  for (uint64_t step = 0; step <= steps; ++step) {
    const std::string acknowledged = model_;
    ASSERT_TRUE(WritePage(rng, static_cast<char>('a' + step % 26)).ok());
    env_.CrashAtOp(env_.op_count() + step);
    const bool synced = fs_->Fsync(ino_, {}).ok();
    Crash();
    const std::string got = ReadFile(ino_);
    if (synced) {
      EXPECT_TRUE(got == model_) << "an acknowledged fsync was lost at step " << step;
    } else {
      EXPECT_TRUE(got == model_ || got == acknowledged)
          << "a power cut at step " << step << " of " << steps << " left a mix";
    }
    model_ = got;
    ASSERT_TRUE(fs_->Open(ino_, true, {}).ok());
  }
}

TEST_F(FileSystemIntentTest, IntentLogIsFoldedAndDroppedAndLaterRecordsStillReplay) {
  std::mt19937 rng(3);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(WritePage(rng, 'x').ok());
    ASSERT_TRUE(fs_->Fsync(ino_, {}).ok());
  }
  EXPECT_GT(IntentFiles(), 0u);
  ASSERT_TRUE(fs_->Release(ino_, true, {}).ok());  // commits the file
  Reopen();                                        // unmount: the fold drops every log file
  EXPECT_EQ(IntentFiles(), 0u) << "the intent log was not dropped";
  EXPECT_TRUE(ReadFile(ino_) == model_);
  // Record numbers go on from where they were, though no log file is left to say so:
  // a record numbered at or below what the file's commit holds would be skipped.
  ASSERT_TRUE(fs_->Open(ino_, true, {}).ok());
  ASSERT_TRUE(WritePage(rng, 'y').ok());
  ASSERT_TRUE(fs_->Fsync(ino_, {}).ok());
  Crash();
  EXPECT_TRUE(ReadFile(ino_) == model_) << "a record written after a fold was not replayed";
}

// The commit after a logged fsync fails (its chunks cannot be written): the content
// goes back to the last commit, but the writes the fsync acknowledged are laid over it
// again from the log, for reads now and for the mount after a crash.
TEST_F(FileSystemIntentTest, IntentAFailedCommitKeepsTheWritesAnFsyncAcknowledged) {
  std::mt19937 rng(4);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(WritePage(rng, 'f').ok());
    ASSERT_TRUE(fs_->Fsync(ino_, {}).ok());
  }
  const std::vector<std::string> failing = {"/vol/data-0", "/vol/data-1", "/vol/data-2"};
  for (const std::string& folder : failing) env_.FailFolder(folder, EIO);
  EXPECT_FALSE(fs_->Release(ino_, true, {}).ok()) << "the commit was expected to fail";
  for (const std::string& folder : failing) env_.HealFolder(folder);
  EXPECT_TRUE(ReadFile(ino_) == model_) << "acknowledged writes vanished with a failed commit";
  Crash();
  EXPECT_TRUE(ReadFile(ino_) == model_);
  ASSERT_TRUE(fs_->Open(ino_, true, {}).ok());  // for TearDown's symmetry
}

TEST_F(FileSystemIntentTest, IntentATruncateIsCommittedNotLogged) {
  const EngineStats before = engine_->Stats();
  AttrChange cut;
  cut.size = kChunkSize + 10;
  cut.via_handle = true;
  ASSERT_TRUE(fs_->SetAttr(ino_, cut, {}).ok());
  model_.resize(kChunkSize + 10);
  ASSERT_TRUE(fs_->Fsync(ino_, {}).ok());
  EXPECT_GT(engine_->Stats().commits, before.commits) << "a truncate was not committed";
  Crash();
  EXPECT_TRUE(ReadFile(ino_) == model_);
}

}  // namespace
}  // namespace sopfs::testing
