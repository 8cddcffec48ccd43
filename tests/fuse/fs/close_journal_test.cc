// CloseJournal on its own: records come back in order across rotations, files whose
// records are committed are dropped, a record damaged in one copy is read from the
// other, and a record unreadable in every copy (torn or damaged) ends the replay there
// (later records, in its file or later files, are not returned: a replay is a prefix).
#include "fuse/fs/close_journal.h"

#include <gtest/gtest.h>

#include "engine/io/fault_env.h"

namespace sopfs {
namespace {

const std::vector<std::string> kDirs = {"/vol/log/close-journal", "/vol/registry-b/close-journal"};

std::vector<std::string> ReadAll(CloseJournal& j, std::vector<std::string>* problems = nullptr) {
  auto r = j.ReadAll();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (problems != nullptr && r.ok()) *problems = r->problems;
  return r.ok() ? r->records : std::vector<std::string>{};
}

void FlipByte(FaultEnv& env, const std::string& path, uint64_t at) {
  auto file = env.Open(path, {.mode = OpenMode::kReadWrite});
  ASSERT_TRUE(file.ok()) << path;
  char c = 0;
  iovec iov{&c, 1};
  ASSERT_EQ((*file)->ReadV(at, &iov, 1), 1);
  c = static_cast<char>(c ^ 0x5a);
  ASSERT_EQ((*file)->WriteV(at, &iov, 1), 1);
}

TEST(CloseJournalTest, RecordsComeBackInOrderAcrossRotationsAndDroppedFilesGo) {
  FaultEnv env;
  auto j = CloseJournal::Open(&env, kDirs);
  ASSERT_TRUE(j.ok());
  ASSERT_TRUE((*j)->Append("one").ok());
  ASSERT_TRUE((*j)->Append("two").ok());
  auto gen = (*j)->Rotate();
  ASSERT_TRUE(gen.ok());
  ASSERT_TRUE((*j)->Append("three").ok());
  EXPECT_EQ(ReadAll(**j), (std::vector<std::string>{"one", "two", "three"}));
  (*j)->DropBefore(*gen);  // "one" and "two" were committed
  EXPECT_EQ(ReadAll(**j), (std::vector<std::string>{"three"}));
  // A new Open continues after the newest file.
  j->reset();
  auto again = CloseJournal::Open(&env, kDirs);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Append("four").ok());
  EXPECT_EQ(ReadAll(**again), (std::vector<std::string>{"three", "four"}));
}

TEST(CloseJournalTest, EveryByteOfEveryRecordDamagedInOneCopyIsReadFromTheOther) {
  const std::vector<std::string> payloads = {"first", "second record", "3"};
  const uint64_t total = 3 * 12 + 5 + 13 + 1;
  for (size_t copy = 0; copy < kDirs.size(); ++copy) {
    for (uint64_t at = 0; at < total; ++at) {
      FaultEnv env;
      auto j = CloseJournal::Open(&env, kDirs);
      ASSERT_TRUE(j.ok());
      for (const std::string& p : payloads) ASSERT_TRUE((*j)->Append(p).ok());
      ASSERT_NO_FATAL_FAILURE(FlipByte(env, kDirs[copy] + "/journal-0", at));
      std::vector<std::string> problems;
      EXPECT_EQ(ReadAll(**j, &problems), payloads) << "byte " << at << " of copy " << copy;
      ASSERT_EQ(problems.size(), 1u) << "byte " << at;
      EXPECT_NE(problems[0].find(kDirs[copy] + "/journal-0"), std::string::npos) << problems[0];
    }
  }
}

TEST(CloseJournalTest, ALostCopyLosesNothingAndAppendsFailUntilItIsBack) {
  FaultEnv env;
  auto j = CloseJournal::Open(&env, kDirs);
  ASSERT_TRUE(j.ok());
  ASSERT_TRUE((*j)->Append("kept").ok());
  ASSERT_TRUE(env.RemoveAll(kDirs[1]).ok());
  EXPECT_EQ(ReadAll(**j), (std::vector<std::string>{"kept"}));
  // The caller commits the file instead of a record only one copy would hold.
  ASSERT_TRUE((*j)->Rotate().ok());
  EXPECT_FALSE((*j)->Append("one copy only").ok());
}

TEST(CloseJournalTest, ARecordDamagedInEveryCopyEndsTheReplaySoOnlyAPrefixIsApplied) {
  FaultEnv env;
  auto j = CloseJournal::Open(&env, kDirs);
  ASSERT_TRUE(j.ok());
  ASSERT_TRUE((*j)->Append("first").ok());
  ASSERT_TRUE((*j)->Append("second").ok());
  ASSERT_TRUE((*j)->Append("third").ok());
  ASSERT_TRUE((*j)->Rotate().ok());
  ASSERT_TRUE((*j)->Append("in a later file").ok());
  // A byte of "second" (header 12 bytes + "first" 5 bytes, then its header), in both.
  for (const std::string& dir : kDirs) {
    ASSERT_NO_FATAL_FAILURE(FlipByte(env, dir + "/journal-0", 12 + 5 + 12 + 2));
  }
  std::vector<std::string> problems;
  EXPECT_EQ(ReadAll(**j, &problems), (std::vector<std::string>{"first"}));
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("journal-0: the record at byte 17 is unreadable in every copy"),
            std::string::npos)
      << problems[0];
  // A record cut short in every copy (a write torn by a power cut) ends it the same way.
  for (const std::string& dir : kDirs) {
    auto file = env.Open(dir + "/journal-0", {.mode = OpenMode::kReadWrite});
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->Truncate(12 + 5 + 6).ok());
  }
  EXPECT_EQ(ReadAll(**j), (std::vector<std::string>{"first"}));
}

}  // namespace
}  // namespace sopfs
