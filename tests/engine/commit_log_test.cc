// CommitLog on FaultEnv: records survive reopen in order, a crash at any point keeps a
// prefix (every acknowledged record included), torn tails are dropped, corruption in
// the middle is an error, concurrent appends share flushes, a failed flush stops the
// log, a record that finds no room fails alone.
#include "engine/txn/commit_log.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "engine/io/fault_env.h"

namespace sopfs {
namespace {

constexpr const char* kFolder = "/vol/registry-a";

// Holds the first flush of a log until released, so appends can queue behind it.
class FlushGate {
 public:
  CommitLogOptions Options() {
    CommitLogOptions options;
    options.before_flush = [this] {
      if (calls_++ != 0) return;
      held_ = true;
      while (!released_) std::this_thread::yield();
    };
    return options;
  }
  void WaitUntilHeld() {
    while (!held_) std::this_thread::yield();
  }
  void Release() { released_ = true; }

 private:
  std::atomic<bool> held_{false}, released_{false};
  std::atomic<int> calls_{0};
};

class CommitLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env_.MkDirs(kFolder).ok());
    ASSERT_TRUE(env_.SyncDir(kFolder).ok());
    ASSERT_TRUE(env_.SyncDir("/vol").ok());
    ASSERT_TRUE(env_.SyncDir("/").ok());
    Reopen();
  }

  void Reopen(CommitLogOptions options = {}) {
    log_.reset();
    auto log = CommitLog::Open(&env_, kFolder, std::move(options));
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    log_ = std::move(*log);
  }

  std::vector<std::string> Recovered() {
    std::vector<std::string> out;
    for (const CommitRecord& r : log_->recovered()) out.push_back(r.payload);
    return out;
  }

  FaultEnv env_;
  std::unique_ptr<CommitLog> log_;
};

TEST_F(CommitLogTest, TxnCommitLogRecordsSurviveReopenInOrderWithRisingSequences) {
  auto a = log_->Append("alpha");
  auto b = log_->Append(std::string(100000, 'b'));
  auto c = log_->Append("");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_LT(*a, *b);
  EXPECT_LT(*b, *c);
  Reopen();
  EXPECT_EQ(Recovered(), (std::vector<std::string>{"alpha", std::string(100000, 'b'), ""}));
  auto d = log_->Append("delta");
  ASSERT_TRUE(d.ok());
  EXPECT_GT(*d, *c);
}

TEST_F(CommitLogTest, TxnCrashAtEveryPositionOfAnAppendRecoversAPrefix) {
  for (uint64_t n = 0;; ++n) {
    ASSERT_LT(n, 200u);
    env_.Crash();
    ASSERT_TRUE(env_.RemoveAll(kFolder).ok());
    SetUp();
    ASSERT_TRUE(log_->Append("one").ok());
    ASSERT_TRUE(log_->Append("two").ok());
    const uint64_t target = env_.op_count() + n;
    env_.CrashAtOp(target);
    auto three = log_->Append("three");
    const bool reached = env_.op_count() > target;
    env_.Crash();
    Reopen();
    const auto got = Recovered();
    if (three.ok()) {
      EXPECT_EQ(got, (std::vector<std::string>{"one", "two", "three"})) << "n=" << n;
    } else {
      EXPECT_TRUE(got == (std::vector<std::string>{"one", "two"}) ||
                  got == (std::vector<std::string>{"one", "two", "three"}))
          << "n=" << n;
    }
    // The log goes on after recovery.
    ASSERT_TRUE(log_->Append("four").ok());
    Reopen();
    EXPECT_EQ(Recovered().back(), "four");
    if (!reached) break;
  }
}

TEST_F(CommitLogTest, TxnRecoverDropsATornTailAndTruncatesIt) {
  ASSERT_TRUE(log_->Append("kept-1").ok());
  ASSERT_TRUE(log_->Append("kept-2").ok());
  Reopen();  // drops the room allocated ahead: the file ends with the last record
  const std::string path = std::string(kFolder) + "/commit.log";
  auto raw = env_.ReadRaw(path);
  ASSERT_TRUE(raw.ok());
  const size_t good_size = raw->size();
  // Half a record: a header claiming 1000 bytes, then only 10 of them.
  std::vector<uint8_t> torn = *raw;
  uint8_t header[24] = {0xe8, 0x03};
  torn.insert(torn.end(), header, header + 24);
  torn.insert(torn.end(), 10, 0x77);
  ASSERT_TRUE(env_.WriteFileDurably(path, torn).ok());
  Reopen();
  EXPECT_EQ(Recovered(), (std::vector<std::string>{"kept-1", "kept-2"}));
  EXPECT_EQ(env_.ReadRaw(path)->size(), good_size);
  ASSERT_TRUE(log_->Append("after").ok());
  Reopen();
  EXPECT_EQ(Recovered(), (std::vector<std::string>{"kept-1", "kept-2", "after"}));
}

TEST_F(CommitLogTest, TxnRecoverRefusesACorruptRecordFollowedByGoodOnes) {
  ASSERT_TRUE(log_->Append("first").ok());
  ASSERT_TRUE(log_->Append("second").ok());
  ASSERT_TRUE(log_->Append("third").ok());
  // The payload of "first" starts after the 32-byte header and a 24-byte record header.
  ASSERT_TRUE(env_.CorruptByte(std::string(kFolder) + "/commit.log", 32 + 24 + 2).ok());
  log_.reset();
  auto log = CommitLog::Open(&env_, kFolder);
  EXPECT_EQ(log.status().code(), EIO);
  EXPECT_NE(log.status().message().find("record 1"), std::string::npos);
}

TEST_F(CommitLogTest, TxnRecoverRefusesWhenTheFirstRecordsLengthIsDamaged) {
  ASSERT_TRUE(log_->Append("first").ok());
  ASSERT_TRUE(log_->Append("second").ok());
  ASSERT_TRUE(log_->Append("third").ok());
  // Byte 32 is the low byte of record 1's length: the damage must not pass for a torn
  // tail (which would drop three committed records).
  ASSERT_TRUE(env_.CorruptByte(std::string(kFolder) + "/commit.log", 32).ok());
  log_.reset();
  auto log = CommitLog::Open(&env_, kFolder);
  EXPECT_EQ(log.status().code(), EIO);
}

TEST_F(CommitLogTest, TxnRecoverTreatsDamageInsideTheLastBatchAsATornTail) {
  // Batch 1: "solo". Batch 2: three records flushed together (a leader held back until
  // two more queued: "held" alone, then "x" and "y" together).
  ASSERT_TRUE(log_->Append("solo").ok());
  FlushGate gate;
  Reopen(gate.Options());
  std::thread leader([&] { ASSERT_TRUE(log_->Append("held").ok()); });
  gate.WaitUntilHeld();
  std::thread x([&] { ASSERT_TRUE(log_->Append("x").ok()); });
  while (log_->queued() < 1) std::this_thread::yield();
  std::thread y([&] { ASSERT_TRUE(log_->Append("y").ok()); });
  while (log_->queued() < 2) std::this_thread::yield();
  gate.Release();
  leader.join();
  x.join();
  y.join();
  ASSERT_EQ(log_->flushes(), 2u);  // "held", then "x"+"y"
  // Damage the first record of the last batch ("x"), as a crash in the middle of that
  // flush would leave it (pages of one write reach the disk in any order): a good "y"
  // after it belongs to the same batch, so this is a torn tail, not corruption.
  const std::string path = std::string(kFolder) + "/commit.log";
  const size_t x_payload = 32 + (24 + 4) + (24 + 4) + 24;  // after "solo" and "held"
  ASSERT_EQ(env_.ReadRaw(path)->at(x_payload), 'x');
  ASSERT_TRUE(env_.CorruptByte(path, x_payload).ok());
  Reopen();
  EXPECT_EQ(Recovered(), (std::vector<std::string>{"solo", "held"}));
}

TEST_F(CommitLogTest, TxnGroupCommitLetsWaitingAppendsShareOneFlush) {
  // The first append holds its flush until seven more have queued behind it; those
  // seven must then go out together in a single second flush.
  FlushGate gate;
  Reopen(gate.Options());
  std::vector<std::thread> threads;
  std::vector<uint64_t> sequences(8);
  threads.emplace_back([&] { sequences[0] = *log_->Append("leader"); });
  gate.WaitUntilHeld();
  for (int i = 1; i < 8; ++i) {
    threads.emplace_back([&, i] { sequences[i] = *log_->Append("follower" + std::to_string(i)); });
  }
  while (log_->queued() < 7) std::this_thread::yield();
  gate.Release();
  for (auto& t : threads) t.join();
  EXPECT_EQ(log_->appended(), 8u);
  EXPECT_EQ(log_->flushes(), 2u);
  EXPECT_EQ(std::set<uint64_t>(sequences.begin(), sequences.end()).size(), 8u);
  Reopen();
  EXPECT_EQ(Recovered().size(), 8u);
}

TEST_F(CommitLogTest, TxnFailedFlushFailsTheAppendAndStopsTheLogUntilReopened) {
  ASSERT_TRUE(log_->Append("durable").ok());
  // Ops of an append: the write, then the fdatasync.
  env_.FailOp(env_.op_count() + 1, EIO);
  auto failed = log_->Append("lost");
  EXPECT_EQ(failed.status().code(), EIO);
  EXPECT_EQ(log_->Append("refused").status().code(), EIO);
  Reopen();
  EXPECT_EQ(Recovered(), (std::vector<std::string>{"durable"}));
  EXPECT_TRUE(log_->Append("works again").ok());
}

TEST_F(CommitLogTest, TxnResetDropsRecordsAndKeepsSequencesRising) {
  ASSERT_TRUE(log_->Append("a").ok());
  auto b = log_->Append("b");
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE(log_->Reset().ok());
  Reopen();
  EXPECT_TRUE(Recovered().empty());
  auto c = log_->Append("c");
  ASSERT_TRUE(c.ok());
  EXPECT_GT(*c, *b);
  Reopen();
  EXPECT_EQ(Recovered(), (std::vector<std::string>{"c"}));
  // The reset file and what follows it are durable.
  ASSERT_TRUE(log_->Reset().ok());
  ASSERT_TRUE(log_->Append("d").ok());
  env_.Crash();
  Reopen();
  EXPECT_EQ(Recovered(), (std::vector<std::string>{"d"}));
}

// A full disk is not a failed flush: the record that found no room is not in the log,
// the log takes records again once there is room, and nothing needs a reopen.
TEST_F(CommitLogTest, ARecordWithNoRoomFailsWithEnospcAndTheLogGoesOnOnceThereIsRoom) {
  ASSERT_TRUE(log_->Append("before").ok());
  const std::string path = std::string(kFolder) + "/commit.log";
  env_.SetCapacity(env_.ReadRaw(path)->size() + 4096);  // the log is the only file
  auto big = log_->Append(std::string(1 << 20, 'x'));
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), ENOSPC) << big.status().ToString();
  EXPECT_FALSE(log_->broken());
  auto small = log_->Append("fits in the room allocated ahead");
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  env_.SetCapacity(uint64_t{1} << 40);
  auto after = log_->Append(std::string(1 << 20, 'y'));
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_EQ(*after, *small + 1) << "the refused record's sequence number is reused";
  Reopen();
  EXPECT_EQ(Recovered(), (std::vector<std::string>{"before", "fits in the room allocated ahead",
                                                   std::string(1 << 20, 'y')}));
}

}  // namespace
}  // namespace sopfs
