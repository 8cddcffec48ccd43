// CommitSequence (engine/cluster/commit_sequence.h), the shared commit order of a
// clustered volume: claims are put-if-absent and gap-free, a number has exactly one
// winner among racing claimers (real link(2) on a real folder, several threads and
// sequences), a claim survives a power cut once it returned and is never seen half
// (a crash at every I/O operation of a claim), damaged batches are refused naming the
// file, and old batches go without taking the one a next claim needs. WaitFor sees a
// claim at once, by polling (capped at 100 ms), or when Notify() or a local claim wakes
// it, and times out with ETIMEDOUT.
#include "engine/cluster/commit_sequence.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "engine/io/fault_env.h"
#include "engine/io/posix_env.h"
#include "tests/engine/temp_dir.h"

namespace sopfs {
namespace {

using namespace std::chrono_literals;

std::vector<uint8_t> Payload(const std::string& s) { return {s.begin(), s.end()}; }
std::string Text(const std::vector<uint8_t>& b) { return {b.begin(), b.end()}; }

constexpr char kSeq[] = "/vol/log/cluster/seq";

class ClusterCommitSequenceTest : public ::testing::Test {
 protected:
  std::unique_ptr<CommitSequence> OpenOrDie(const std::string& session,
                                            CommitSequenceOptions options = {}) {
    auto seq = CommitSequence::Open(&env_, kSeq, session, options);
    EXPECT_TRUE(seq.ok()) << seq.status().ToString();
    return seq.ok() ? std::move(seq).value() : nullptr;
  }
  std::string ReadText(CommitSequence& seq, uint64_t n) {
    auto batch = seq.Read(n);
    return batch.ok() ? Text(batch->payload) : "<" + batch.status().ToString() + ">";
  }
  // Names in the folder of batch 1 that are not batches.
  std::vector<std::string> Temporaries(CommitSequence& seq) {
    std::vector<std::string> out;
    auto entries = env_.List(DirName(seq.PathOf(1)));
    if (!entries.ok()) return out;
    for (const DirEntry& e : *entries) {
      if (e.name.starts_with("tmp-")) out.push_back(e.name);
    }
    return out;
  }

  FaultEnv env_;
};

TEST_F(ClusterCommitSequenceTest, ClaimsReadBackInOrderAndHeadFollows) {
  auto seq = OpenOrDie("a");
  ASSERT_NE(seq, nullptr);
  EXPECT_EQ(*seq->Head(), 0u);
  EXPECT_EQ(seq->Read(1).status().code(), ENOENT);
  for (uint64_t n = 1; n <= 5; ++n) {
    ASSERT_TRUE(seq->Claim(n, Payload("batch " + std::to_string(n))).ok()) << n;
    EXPECT_EQ(*seq->Head(), n);
  }
  for (uint64_t n = 1; n <= 5; ++n) {
    auto batch = seq->Read(n);
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    EXPECT_EQ(batch->number, n);
    EXPECT_EQ(batch->session, "a");
    EXPECT_EQ(Text(batch->payload), "batch " + std::to_string(n));
  }
  EXPECT_TRUE(Temporaries(*seq).empty());
  ASSERT_TRUE(seq->Claim(6, {}).ok()) << "an empty batch is a batch";
  EXPECT_EQ(ReadText(*seq, 6), "");
}

TEST_F(ClusterCommitSequenceTest, ATakenNumberIsRefusedWithEexistAndKeepsTheWinnersBatch) {
  auto a = OpenOrDie("a");
  auto b = OpenOrDie("b");
  ASSERT_TRUE(a->Claim(1, Payload("from a")).ok());
  Status lost = b->Claim(1, Payload("from b"));
  EXPECT_EQ(lost.code(), EEXIST);
  EXPECT_NE(lost.message().find("taken by session a"), std::string::npos) << lost.message();
  EXPECT_EQ(ReadText(*b, 1), "from a");
  EXPECT_TRUE(Temporaries(*b).empty()) << "the loser's temporary file was left";
  ASSERT_TRUE(b->Claim(2, Payload("from b")).ok());
  EXPECT_EQ(a->Claim(2, Payload("late")).code(), EEXIST);
  EXPECT_EQ(ReadText(*a, 2), "from b");
}

TEST_F(ClusterCommitSequenceTest, NobodyClaimsPastANumberThatDoesNotExist) {
  auto seq = OpenOrDie("a");
  Status gap = seq->Claim(2, Payload("x"));
  EXPECT_EQ(gap.code(), EINVAL);
  EXPECT_NE(gap.message().find("before 1 exists"), std::string::npos) << gap.message();
  EXPECT_EQ(seq->Claim(0, Payload("x")).code(), EINVAL);
  ASSERT_TRUE(seq->Claim(1, Payload("1")).ok());
  EXPECT_EQ(seq->Claim(3, Payload("3")).code(), EINVAL);
  EXPECT_EQ(*seq->Head(), 1u);
}

TEST_F(ClusterCommitSequenceTest, FoldersRollOverAndRemoveBeforeKeepsTheLastOne) {
  auto seq = OpenOrDie("a", {.per_folder = 4});
  for (uint64_t n = 1; n <= 13; ++n) ASSERT_TRUE(seq->Claim(n, Payload(std::to_string(n))).ok());
  EXPECT_EQ(DirName(seq->PathOf(13)), std::string(kSeq) + "/3");
  EXPECT_EQ(*seq->Head(), 13u);
  ASSERT_TRUE(seq->RemoveBefore(9).ok());
  for (uint64_t n = 1; n < 9; ++n) EXPECT_EQ(seq->Read(n).status().code(), ENOENT) << n;
  for (uint64_t n = 9; n <= 13; ++n) EXPECT_EQ(ReadText(*seq, n), std::to_string(n));
  EXPECT_FALSE(env_.Exists(std::string(kSeq) + "/0"));
  EXPECT_FALSE(env_.Exists(std::string(kSeq) + "/1"));
  ASSERT_TRUE(seq->RemoveBefore(13).ok());
  EXPECT_EQ(*seq->Head(), 13u);
  ASSERT_TRUE(seq->Claim(14, Payload("14")).ok()) << "the predecessor of the next claim stays";
  env_.Crash();
  auto again = OpenOrDie("a", {.per_folder = 4});
  EXPECT_EQ(*again->Head(), 14u);
  EXPECT_EQ(ReadText(*again, 14), "14");
}

TEST_F(ClusterCommitSequenceTest, DamagedOrForeignBatchesAreRefusedNamingTheFile) {
  auto seq = OpenOrDie("a");
  ASSERT_TRUE(seq->Claim(1, Payload("one")).ok());
  ASSERT_TRUE(seq->Claim(2, Payload("two")).ok());
  ASSERT_TRUE(seq->Claim(3, Payload("three")).ok());
  ASSERT_TRUE(env_.CorruptByte(seq->PathOf(1), 50).ok());
  Status bad = seq->Read(1).status();
  EXPECT_EQ(bad.code(), EIO);
  EXPECT_NE(bad.message().find(seq->PathOf(1)), std::string::npos) << bad.message();
  EXPECT_NE(bad.message().find("checksum mismatch"), std::string::npos) << bad.message();
  ASSERT_TRUE(env_.TruncateRaw(seq->PathOf(2), 20).ok());
  EXPECT_NE(seq->Read(2).status().message().find("cut to 20 bytes"), std::string::npos);
  // Batch 3's bytes under the name 2: whole, but not batch 2.
  auto three = env_.ReadRaw(seq->PathOf(3));
  ASSERT_TRUE(three.ok());
  ASSERT_TRUE(env_.WriteFileDurably(seq->PathOf(2), *three).ok());
  EXPECT_NE(seq->Read(2).status().message().find("holds batch 3"), std::string::npos);
}

TEST_F(ClusterCommitSequenceTest, CodecRefusesEveryCutAndEveryFlippedByte) {
  SequenceBatch batch{.number = 7, .session = "s-1", .batch = 3, .payload = Payload("payload")};
  const std::vector<uint8_t> bytes = EncodeSequenceBatch(batch);
  auto back = DecodeSequenceBatch(bytes);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->number, 7u);
  EXPECT_EQ(back->session, "s-1");
  EXPECT_EQ(back->batch, 3u);
  EXPECT_EQ(Text(back->payload), "payload");
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(DecodeSequenceBatch({bytes.data(), cut}).ok()) << "cut at " << cut;
  }
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::vector<uint8_t> flipped = bytes;
    flipped[i] ^= 0x10;
    EXPECT_FALSE(DecodeSequenceBatch(flipped).ok()) << "byte " << i;
  }
}

TEST_F(ClusterCommitSequenceTest, BadSessionsAndOptionsAreRefused) {
  for (const std::string& s : {std::string(), std::string("a/b"), std::string("a b"),
                               std::string(65, 'x'), std::string("..")}) {
    auto seq = CommitSequence::Open(&env_, kSeq, s);
    EXPECT_EQ(seq.status().code(), EINVAL) << "session \"" << s << "\"";
  }
  EXPECT_EQ(CommitSequence::Open(&env_, kSeq, "a", {.per_folder = 0}).status().code(), EINVAL);
}

// A power cut at every I/O operation of a claim: afterwards the number is either not
// claimed (and claiming it again works) or claimed with exactly this batch; a claim that
// returned Ok is always there; no temporary file is left once the session opens again.
TEST_F(ClusterCommitSequenceTest, APowerCutAtEveryOperationOfAClaimLeavesAllOrNothing) {
  for (const uint64_t per_folder : {uint64_t{65536}, uint64_t{2}}) {
    int lost = 0, kept_unacknowledged = 0, acknowledged = 0;
    for (uint64_t k = 0;; ++k) {
      FaultEnv env;
      std::unique_ptr<CommitSequence> seq;
      {
        auto opened = CommitSequence::Open(&env, kSeq, "a", {.per_folder = per_folder});
        ASSERT_TRUE(opened.ok());
        seq = std::move(opened).value();
      }
      ASSERT_TRUE(seq->Claim(1, Payload("first")).ok());
      const uint64_t start = env.op_count();
      env.CrashAtOp(start + k);
      const Status claimed = seq->Claim(2, Payload("second"));
      // The claim ran to its end without meeting the crash planned at op k.
      const bool reached_end = claimed.ok() && env.op_count() <= start + k;
      env.Crash();
      seq.reset();
      auto reopened = CommitSequence::Open(&env, kSeq, "a", {.per_folder = per_folder});
      ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
      CommitSequence& again = **reopened;
      EXPECT_EQ(ReadText(again, 1), "first") << "k=" << k;
      auto second = again.Read(2);
      if (claimed.ok()) {
        ASSERT_TRUE(second.ok()) << "an acknowledged claim was lost at k=" << k;
        ++acknowledged;
      } else {
        ++(second.ok() ? kept_unacknowledged : lost);
      }
      if (second.ok()) {
        EXPECT_EQ(Text(second->payload), "second") << "k=" << k;
        EXPECT_EQ(*again.Head(), 2u);
      } else {
        EXPECT_EQ(second.status().code(), ENOENT)
            << "k=" << k << ": " << second.status().ToString();
        EXPECT_EQ(*again.Head(), 1u);
        ASSERT_TRUE(again.Claim(2, Payload("retry")).ok()) << "k=" << k;
        EXPECT_EQ(ReadText(again, 2), "retry");
      }
      auto leftovers = env.List(DirName(again.PathOf(2)));
      ASSERT_TRUE(leftovers.ok());
      for (const DirEntry& e : *leftovers) {
        EXPECT_FALSE(e.name.starts_with("tmp-")) << e.name << " left at k=" << k;
      }
      if (reached_end) break;
      ASSERT_LT(k, 100u) << "a claim should take a handful of operations";
    }
    // Crashes up to the folder's flush lose the claim; one at the removal of the
    // temporary file comes after the claim is durable, so Claim returns Ok.
    EXPECT_GT(lost, 4) << "per_folder " << per_folder;
    EXPECT_EQ(acknowledged, 2) << "crash at the removal of the temporary file, and none";
    std::printf("per_folder %llu: %d crashes lost the claim, %d kept it\n",
                static_cast<unsigned long long>(per_folder), lost, kept_unacknowledged);
  }
}

// Real link(2) on a real folder: 4 sessions × 2 threads each race for the next number,
// each retrying on EEXIST after reading the winner's batch. Every batch lands exactly
// once, numbers have no gap, and each number holds one whole batch.
TEST(ClusterCommitSequenceRaceTest, RacingClaimersOnRealFilesGetEveryNumberExactlyOnce) {
  testing::TempDir dir;
  PosixEnv env;
  constexpr int kSessions = 4, kThreadsPerSession = 2, kBatchesPerThread = 40;
  std::vector<std::unique_ptr<CommitSequence>> sessions;
  for (int s = 0; s < kSessions; ++s) {
    auto seq = CommitSequence::Open(&env, dir.path() + "/seq", "s" + std::to_string(s),
                                    {.per_folder = 16});
    ASSERT_TRUE(seq.ok()) << seq.status().ToString();
    sessions.push_back(std::move(seq).value());
  }
  std::atomic<int> failures{0};
  std::atomic<uint64_t> conflicts{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < kSessions; ++s) {
    for (int t = 0; t < kThreadsPerSession; ++t) {
      threads.emplace_back([&, s, t] {
        CommitSequence& seq = *sessions[s];
        for (int i = 0; i < kBatchesPerThread; ++i) {
          const std::string mine =
              std::to_string(s) + "." + std::to_string(t) + "." + std::to_string(i);
          for (int attempt = 0;; ++attempt) {
            auto head = seq.Head();
            if (!head.ok() || attempt > 10000) {
              ++failures;
              return;
            }
            Status st = seq.Claim(*head + 1, Payload(mine));
            if (st.ok()) break;
            // EEXIST: someone won that number; EINVAL: the head moved under the listing
            // of a folder being filled. Both mean "look again".
            if (st.code() != EEXIST && st.code() != EINVAL) {
              ++failures;
              return;
            }
            ++conflicts;
          }
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  CommitSequence& seq = *sessions[0];
  const uint64_t total = kSessions * kThreadsPerSession * kBatchesPerThread;
  EXPECT_EQ(*seq.Head(), total);
  std::set<std::string> seen;
  for (uint64_t n = 1; n <= total; ++n) {
    auto batch = seq.Read(n);
    ASSERT_TRUE(batch.ok()) << n << ": " << batch.status().ToString();
    EXPECT_TRUE(seen.insert(Text(batch->payload)).second) << "batch twice: " << n;
    EXPECT_EQ(batch->session, "s" + Text(batch->payload).substr(0, 1));
  }
  EXPECT_EQ(seen.size(), total);
  std::printf("claims: %llu, lost races: %llu\n", static_cast<unsigned long long>(total),
              static_cast<unsigned long long>(conflicts.load()));
}

// WaitFor: a number already claimed is seen at the first look.
TEST_F(ClusterCommitSequenceTest, WaitForAClaimedNumberReturnsAtOnce) {
  auto seq = OpenOrDie("a");
  ASSERT_TRUE(seq->Claim(1, Payload("x")).ok());
  const uint64_t before = seq->polls();
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(seq->WaitFor(1, 30s).ok());
  EXPECT_EQ(seq->polls(), before + 1);  // one look, no sleep
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_TRUE(seq->WaitFor(1, 0ms).ok());
}

TEST_F(ClusterCommitSequenceTest, WaitForTimesOutWithEtimedout) {
  auto seq = OpenOrDie("a");
  ASSERT_TRUE(seq->Claim(1, Payload("x")).ok());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(seq->WaitFor(2, 300ms).code(), ETIMEDOUT);
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 300ms);
  EXPECT_LT(waited, 5s);  // generous for a loaded machine; the poll is at most 100 ms
  EXPECT_GT(seq->polls(), 3u) << "it polled while it waited";
  const uint64_t before = seq->polls();
  EXPECT_EQ(seq->WaitFor(2, 0ms).code(), ETIMEDOUT);
  EXPECT_EQ(seq->polls(), before + 1) << "a zero timeout is one look";
}

// Waits until `seq` has looked `polls` times in all (10 s at most).
bool PolledAtLeast(CommitSequence& seq, uint64_t polls) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (seq.polls() < polls) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Another daemon's claim with nobody to announce it: the waiter's polling finds it
// within its poll interval (100 ms at most, however long it has waited).
TEST_F(ClusterCommitSequenceTest, WaitForSeesAnotherSessionsClaimByPolling) {
  auto waiter_seq = OpenOrDie("a");
  auto claimer = OpenOrDie("b");
  Status waited = Status::Error(EIO, "not run");
  std::atomic<bool> returned{false};
  std::thread waiter([&] {
    waited = waiter_seq->WaitFor(1, 30s);
    returned = true;
  });
  // 14 looks: from the 8th on, the polls are 100 ms apart (with no cap, the next would
  // come 8 s after the 14th).
  ASSERT_TRUE(PolledAtLeast(*waiter_seq, 14));
  EXPECT_FALSE(returned.load());
  ASSERT_TRUE(claimer->Claim(1, Payload("x")).ok());
  const auto claimed_at = std::chrono::steady_clock::now();
  waiter.join();
  EXPECT_TRUE(waited.ok()) << waited.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - claimed_at, 2s);  // 100 ms, and a loaded host
}

// With polls an hour apart, only a notice can wake the waiter in time: Notify() (what
// pub/sub will call) for another session's claim, and a claim through the waiter's own
// CommitSequence, which notifies by itself.
TEST_F(ClusterCommitSequenceTest, WaitForIsWokenByNotifyAndByALocalClaim) {
  const CommitSequenceOptions slow{.first_poll = 1h, .max_poll = 1h};
  auto seq = OpenOrDie("a", slow);
  auto other = OpenOrDie("b");
  for (const bool local : {false, true}) {
    const uint64_t number = local ? 2 : 1;
    const uint64_t looked = seq->polls();
    Status waited = Status::Error(EIO, "not run");
    std::thread waiter([&] { waited = seq->WaitFor(number, 30s); });
    ASSERT_TRUE(PolledAtLeast(*seq, looked + 1));  // it looked, found nothing: it sleeps
    if (local) {
      ASSERT_TRUE(seq->Claim(number, Payload("x")).ok());
    } else {
      ASSERT_TRUE(other->Claim(number, Payload("x")).ok());
      seq->Notify();
    }
    const auto claimed_at = std::chrono::steady_clock::now();
    waiter.join();
    EXPECT_TRUE(waited.ok()) << local << ": " << waited.ToString();
    EXPECT_LT(std::chrono::steady_clock::now() - claimed_at, 10s) << local;
  }
  EXPECT_EQ(CommitSequence::Open(&env_, kSeq, "c", {.first_poll = 0ms}).status().code(), EINVAL);
  EXPECT_EQ(
      CommitSequence::Open(&env_, kSeq, "c", {.first_poll = 10ms, .max_poll = 5ms}).status().code(),
      EINVAL);
}

}  // namespace
}  // namespace sopfs
