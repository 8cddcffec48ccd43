// CloseJournal on its own: records come back in order across rotations, files whose
// records are committed are dropped, and a torn or damaged record ends the replay there
// (later records, in its file or later files, are not returned: a replay is a prefix).
#include "fuse/fs/close_journal.h"

#include <gtest/gtest.h>

#include "engine/io/fault_env.h"

namespace sopfs {
namespace {

std::vector<std::string> ReadAll(CloseJournal& j) {
  auto r = j.ReadAll();
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : std::vector<std::string>{};
}

TEST(CloseJournalTest, RecordsComeBackInOrderAcrossRotationsAndDroppedFilesGo) {
  FaultEnv env;
  auto j = CloseJournal::Open(&env, "/vol/log/close-journal");
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
  auto again = CloseJournal::Open(&env, "/vol/log/close-journal");
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Append("four").ok());
  EXPECT_EQ(ReadAll(**again), (std::vector<std::string>{"three", "four"}));
}

TEST(CloseJournalTest, ADamagedRecordEndsTheReplaySoOnlyAPrefixIsApplied) {
  FaultEnv env;
  const std::string dir = "/vol/log/close-journal";
  auto j = CloseJournal::Open(&env, dir);
  ASSERT_TRUE(j.ok());
  ASSERT_TRUE((*j)->Append("first").ok());
  ASSERT_TRUE((*j)->Append("second").ok());
  ASSERT_TRUE((*j)->Append("third").ok());
  ASSERT_TRUE((*j)->Rotate().ok());
  ASSERT_TRUE((*j)->Append("in a later file").ok());
  // Flip a byte of "second" (header 12 bytes + "first" 5 bytes, then its header).
  auto file = env.Open(dir + "/journal-0", {.mode = OpenMode::kReadWrite});
  ASSERT_TRUE(file.ok());
  char x = 'X';
  iovec iov{&x, 1};
  ASSERT_EQ((*file)->WriteV(12 + 5 + 12 + 2, &iov, 1), 1);
  EXPECT_EQ(ReadAll(**j), (std::vector<std::string>{"first"}));
  // A record cut short (a write torn by a power cut) ends it the same way.
  ASSERT_TRUE((*file)->Truncate(12 + 5 + 6).ok());
  EXPECT_EQ(ReadAll(**j), (std::vector<std::string>{"first"}));
}

}  // namespace
}  // namespace sopfs
