// Many threads committing at once on a real disk: bank transfers keep every balance
// equal to a serial replay of the transfers that committed; concurrent commits share
// log flushes; a commit whose lock lease ran out is refused (fencing), also in recovery.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <utility>

#include "engine/io/fault_env.h"
#include "engine/io/posix_env.h"
#include "engine/lock/in_process_locker.h"
#include "tests/engine/engine_test_util.h"
#include "tests/engine/temp_dir.h"

namespace sopfs {
namespace {

using testing::EngineOptionsUnder;
using testing::ReadAll;

// Lock leases on a clock the test moves by hand, and a hook that runs `on_pause` once
// when a commit reaches `pause_at`: how a commit that stalls past its lease is staged.
struct LeaseRig {
  explicit LeaseRig(std::string pause_point) : pause_at(std::move(pause_point)) {}
  EngineOptions Options() {
    EngineOptions options = EngineOptionsUnder("/vol");
    options.locker = &locker;
    options.checkpoint_on_close = false;
    options.test_hook = [this](std::string_view point) {
      if (point == pause_at && on_pause) {
        auto run = std::move(on_pause);
        on_pause = nullptr;
        run();
      }
    };
    return options;
  }

  std::atomic<int64_t> now_ms{0};
  InProcessLocker locker{{.clock = [this] {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms.load()));
  }}};
  std::string pause_at;
  std::function<void()> on_pause;
};

std::string Account(int i) { return "acct" + std::to_string(i); }

TEST(TxnConcurrencyTest, BankTransfersKeepTheSumAndMatchASerialModel) {
  testing::TempDir dir;
  PosixEnv env;
  EngineOptions options = EngineOptionsUnder(dir.path());
  options.checkpoint_commits = 50;  // checkpoints run under load too
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  constexpr int kAccounts = 12, kThreads = 8, kTransfers = 40, kStart = 1000;
  LogicalId root;
  {
    auto txn = (*engine)->Begin();
    root = *txn->CreateTree();
    for (int i = 0; i < kAccounts; ++i) {
      ASSERT_TRUE((*txn->Tree(root))->Add(Account(i), std::to_string(kStart)).ok());
    }
    ASSERT_TRUE(txn->Commit().ok());
  }
  std::atomic<int> conflicts{0};
  std::vector<std::vector<std::tuple<int, int, int>>> committed(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int n = 0; n < kTransfers; ++n) {
        const int from = static_cast<int>(rng() % kAccounts);
        const int to = (from + 1 + static_cast<int>(rng() % (kAccounts - 1))) % kAccounts;
        const int amount = 1 + static_cast<int>(rng() % 50);
        while (true) {
          auto txn = (*engine)->Begin();
          TxnTree* tree = *txn->Tree(root);
          auto a = tree->Find(Account(from));
          auto b = tree->Find(Account(to));
          ASSERT_TRUE(a.ok() && b.ok());
          ASSERT_TRUE(tree->Update(Account(from), std::to_string(std::stoi(*a) - amount)).ok());
          ASSERT_TRUE(tree->Update(Account(to), std::to_string(std::stoi(*b) + amount)).ok());
          Status st = txn->Commit();
          if (st.ok()) {
            committed[t].emplace_back(from, to, amount);
            break;
          }
          ASSERT_EQ(st.code(), kConflictErrno) << st.ToString();
          ++conflicts;
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  std::map<std::string, std::string> model;
  std::vector<int> balance(kAccounts, kStart);
  for (const auto& list : committed) {
    for (auto [from, to, amount] : list) {
      balance[from] -= amount;
      balance[to] += amount;
    }
  }
  for (int i = 0; i < kAccounts; ++i) model[Account(i)] = std::to_string(balance[i]);
  {
    auto txn = (*engine)->Begin(TxnMode::kReader);
    EXPECT_EQ(ReadAll(*txn, root), model);
  }
  EngineStats stats = (*engine)->Stats();
  EXPECT_EQ(stats.commits, 1u + kThreads * kTransfers);
  EXPECT_EQ(stats.conflicts, static_cast<uint64_t>(conflicts.load()));
  std::printf("bank: %d commits, %d conflicts retried, %llu log records in %llu flushes\n",
              kThreads * kTransfers, conflicts.load(),
              static_cast<unsigned long long>(stats.log_records),
              static_cast<unsigned long long>(stats.log_flushes));
  engine->reset();
  auto reopened = Engine::Open(&env, options);
  ASSERT_TRUE(reopened.ok());
  auto txn = (*reopened)->Begin(TxnMode::kReader);
  EXPECT_EQ(ReadAll(*txn, root), model);
}

TEST(TxnConcurrencyTest, TxnGroupCommitSharesLogFlushesBetweenConcurrentCommits) {
  testing::TempDir dir;
  PosixEnv env;
  EngineOptions options = EngineOptionsUnder(dir.path());
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok());
  constexpr int kThreads = 8, kCommits = 30;
  std::vector<LogicalId> roots;
  {
    auto txn = (*engine)->Begin();
    for (int t = 0; t < kThreads; ++t) roots.push_back(*txn->CreateTree());
    ASSERT_TRUE(txn->Commit().ok());
  }
  const EngineStats before = (*engine)->Stats();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < kCommits; ++n) {
        auto txn = (*engine)->Begin();
        ASSERT_TRUE((*txn->Tree(roots[t]))->Upsert("k" + std::to_string(n), "v").ok());
        Status st = txn->Commit();
        ASSERT_TRUE(st.ok()) << st.ToString();  // disjoint trees never conflict
      }
    });
  }
  for (std::thread& th : threads) th.join();
  const EngineStats after = (*engine)->Stats();
  const uint64_t records = after.log_records - before.log_records;
  const uint64_t flushes = after.log_flushes - before.log_flushes;
  EXPECT_GE(records, 1u * kThreads * kCommits);  // a commit record each (carrying its blobs)
  EXPECT_LT(flushes, records);
  std::printf("group commit: %llu records in %llu flushes (%.2f records per flush)\n",
              static_cast<unsigned long long>(records), static_cast<unsigned long long>(flushes),
              static_cast<double>(records) / static_cast<double>(flushes));
}

// A commit that paused past its lock lease while another transaction took the lock and
// committed: refused with ESTALE, live and after recovery alike.
TEST(TxnConcurrencyTest, TxnCommitWithAnExpiredLeaseIsRefusedLiveAndInRecovery) {
  for (const char* pause_at : {"commit:before-record", "commit:lease-checked"}) {
    SCOPED_TRACE(pause_at);
    FaultEnv env;
    LeaseRig rig(pause_at);
    EngineOptions options = rig.Options();
    std::atomic<int64_t>& now_ms = rig.now_ms;
    std::function<void()>& on_pause = rig.on_pause;
    LogicalId root;
    {
      auto engine = Engine::Open(&env, options);
      ASSERT_TRUE(engine.ok()) << engine.status().ToString();
      {
        auto txn = (*engine)->Begin();
        root = *txn->CreateTree();
        ASSERT_TRUE((*txn->Tree(root))->Add("k", "0").ok());
        Status st = txn->Commit();
        ASSERT_TRUE(st.ok()) << st.ToString();
      }
      auto slow = (*engine)->Begin(TxnMode::kNoCheck);
      ASSERT_TRUE((*slow->Tree(root))->Upsert("k", "slow").ok());
      on_pause = [&] {
        now_ms += options.lock_lease.count() + 1;  // the slow commit's lease runs out
        auto fast = (*engine)->Begin(TxnMode::kNoCheck);
        ASSERT_TRUE((*fast->Tree(root))->Upsert("k", "fast").ok());
        Status st = fast->Commit();
        ASSERT_TRUE(st.ok()) << st.ToString();
      };
      Status st = slow->Commit();
      EXPECT_EQ(st.code(), ESTALE) << st.ToString();
      auto check = (*engine)->Begin(TxnMode::kReader);
      EXPECT_EQ(*(*check->Tree(root))->Find("k"), "fast");
    }
    env.Crash();
    auto engine = Engine::Open(&env, options);
    ASSERT_TRUE(engine.ok());
    auto check = (*engine)->Begin(TxnMode::kReader);
    EXPECT_EQ(*(*check->Tree(root))->Find("k"), "fast");
    // Its record never reached the log: the lease check (or, once past it, the newer
    // holder that began checking first) kept it out.
    EXPECT_EQ((*engine)->recovery().commits_refused, 0u);
  }
}

// A commit whose record is written but not yet applied when its lease runs out: the
// newer holder of the tree must build on it, not on the tree before it (its record,
// later in the log, would otherwise undo the first commit, which was reported done).
TEST(TxnConcurrencyTest, TxnNewerHolderBuildsOnARecordedCommitWhoseLeaseRanOut) {
  FaultEnv env;
  LeaseRig rig("commit:before-apply");
  EngineOptions options = rig.Options();
  std::atomic<int64_t>& now_ms = rig.now_ms;
  std::function<void()>& on_pause = rig.on_pause;
  LogicalId root;
  {
    auto engine = Engine::Open(&env, options);
    ASSERT_TRUE(engine.ok()) << engine.status().ToString();
    {
      auto txn = (*engine)->Begin();
      root = *txn->CreateTree();
      ASSERT_TRUE(txn->Commit().ok());
    }
    auto slow = (*engine)->Begin(TxnMode::kNoCheck);
    ASSERT_TRUE((*slow->Tree(root))->Upsert("slow", "1").ok());
    std::thread fast_thread;
    Status fast_status;
    on_pause = [&] {
      // The slow commit's record is durable; its lease runs out, and another commit
      // takes the lock (a newer fence). Give it time to write its own record (as it
      // would if it did not wait for the slow one).
      now_ms += options.lock_lease.count() + 1;
      const uint64_t records = (*engine)->Stats().log_records;
      fast_thread = std::thread([&] {
        auto fast = (*engine)->Begin(TxnMode::kNoCheck);
        fast_status = (*fast->Tree(root))->Upsert("fast", "1");
        if (fast_status.ok()) fast_status = fast->Commit();
      });
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
      while ((*engine)->Stats().log_records < records + 2 &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    };
    Status st = slow->Commit();
    fast_thread.join();
    EXPECT_TRUE(st.ok()) << st.ToString();
    EXPECT_TRUE(fast_status.ok()) << fast_status.ToString();
    auto check = (*engine)->Begin(TxnMode::kReader);
    EXPECT_EQ(ReadAll(*check, root),
              (std::map<std::string, std::string>{{"fast", "1"}, {"slow", "1"}}));
  }
  env.Crash();
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok());
  auto check = (*engine)->Begin(TxnMode::kReader);
  EXPECT_EQ(ReadAll(*check, root),
            (std::map<std::string, std::string>{{"fast", "1"}, {"slow", "1"}}));
  EXPECT_EQ((*engine)->recovery().commits_refused, 0u);
}

// Readers keep seeing whole snapshots while writers commit and checkpoints write the
// registry and prune the version chains underneath them.
TEST(TxnConcurrencyTest, TxnSnapshotsStayWholeWhileCommitsAndCheckpointsRun) {
  FaultEnv env;
  EngineOptions options = EngineOptionsUnder("/vol");
  options.checkpoint_commits = 1;
  options.cache_bytes = 0;  // every read goes through the registry view
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok());
  BtreeOptions opts;
  opts.slot_length = 4;
  constexpr int kKeys = 24, kRounds = 150, kReaders = 3;
  auto key = [](int i) { return "k" + std::to_string(100 + i); };
  LogicalId root;
  {
    auto txn = (*engine)->Begin();
    root = *txn->CreateTree(opts);
    for (int i = 0; i < kKeys; ++i) ASSERT_TRUE((*txn->Tree(root, opts))->Add(key(i), "0").ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  std::atomic<bool> done{false};
  std::atomic<int> snapshots{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      while (!done) {
        auto txn = (*engine)->Begin(TxnMode::kReader);
        TxnTree* tree = *txn->Tree(root, opts);
        std::string first;
        for (int i = 0; i < kKeys && !::testing::Test::HasFailure(); ++i) {
          Result<std::string> value = tree->Find(key(i));
          ASSERT_TRUE(value.ok()) << value.status().ToString();
          if (i == 0) first = *value;
          ASSERT_EQ(*value, first) << "key " << i << " from another commit";
        }
        ++snapshots;
      }
    });
  }
  for (int round = 1; round <= kRounds && !::testing::Test::HasFailure(); ++round) {
    auto txn = (*engine)->Begin();
    TxnTree* tree = *txn->Tree(root, opts);
    for (int i = 0; i < kKeys; ++i) ASSERT_TRUE(tree->Update(key(i), std::to_string(round)).ok());
    Status st = txn->Commit();
    ASSERT_TRUE(st.ok()) << st.ToString();
  }
  done = true;
  for (std::thread& t : readers) t.join();
  EXPECT_GT(snapshots.load(), 0);
}

// A checkpoint removes garbage (old node versions no snapshot sees) while commits go
// on: removing thousands of blobs durably takes seconds, and under the exclusive gate it
// stopped every commit that long. Here a commit starts and finishes while the checkpoint
// is removing garbage; afterwards the garbage is gone and every commit is there, also
// after a power cut.
TEST(TxnConcurrencyTest, TxnCommitsGoOnWhileACheckpointRemovesGarbage) {
  FaultEnv env;
  EngineOptions options = EngineOptionsUnder("/vol");
  options.checkpoint_commits = 1000000;  // only the explicit checkpoint below
  options.carry_bytes = 0;               // blobs on the folders, so garbage is there too
  options.checkpoint_on_close = false;
  std::function<void()> during_removal;
  bool removal_seen = false;
  options.test_hook = [&](std::string_view point) {
    if (point != "checkpoint:removing-garbage") return;
    removal_seen = true;
    if (during_removal) std::exchange(during_removal, nullptr)();
  };
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  LogicalId root;
  {
    auto txn = (*engine)->Begin();
    root = *txn->CreateTree();
    ASSERT_TRUE((*txn->Tree(root))->Add("k", "0").ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  for (int round = 1; round <= 20; ++round) {
    auto txn = (*engine)->Begin();
    ASSERT_TRUE((*txn->Tree(root))->Update("k", std::to_string(round)).ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  auto shard_files = [&] {
    size_t n = 0;
    for (const std::string& folder : options.data_folders) {
      std::vector<std::string> stack{folder};
      while (!stack.empty()) {
        const std::string dir = stack.back();
        stack.pop_back();
        auto entries = env.List(dir);
        if (!entries.ok()) continue;
        for (const DirEntry& e : *entries) {
          if (e.is_dir) {
            stack.push_back(dir + "/" + e.name);
          } else {
            ++n;
          }
        }
      }
    }
    return n;
  };
  const size_t files_before = shard_files();

  Status during_status = Status::Error(EINPROGRESS, "not run");
  bool finished_during_removal = false;
  during_removal = [&] {
    std::thread committer([&] {
      auto txn = (*engine)->Begin();
      during_status = (*txn->Tree(root))->Update("k", "during");
      if (during_status.ok()) during_status = txn->Commit();
    });
    committer.join();  // under the exclusive gate this would wait for the checkpoint
    finished_during_removal = true;
  };
  std::thread checkpoint([&] { EXPECT_TRUE((*engine)->Checkpoint().ok()); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!finished_during_removal && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(finished_during_removal) << "a commit waited for the checkpoint's garbage removal";
  checkpoint.join();
  EXPECT_TRUE(removal_seen);
  ASSERT_TRUE(during_status.ok()) << during_status.ToString();
  EXPECT_LT(shard_files(), files_before) << "the checkpoint removed no garbage";
  {
    auto txn = (*engine)->Begin(TxnMode::kReader);
    EXPECT_EQ(*(*txn->Tree(root))->Find("k"), "during");
  }
  engine->reset();
  env.Crash();
  options.test_hook = nullptr;
  auto reopened = Engine::Open(&env, options);
  ASSERT_TRUE(reopened.ok()) << reopened.status().ToString();
  auto txn = (*reopened)->Begin(TxnMode::kReader);
  EXPECT_EQ(*(*txn->Tree(root))->Find("k"), "during");
}

// With background_checkpoint (the daemon's setting), the commit that makes a checkpoint
// due does not run it: the spiller's thread does, and commits go on meanwhile.
TEST(TxnConcurrencyTest, TxnABackgroundCheckpointKeepsNoCommitWaiting) {
  FaultEnv env;
  EngineOptions options = EngineOptionsUnder("/vol");
  options.checkpoint_commits = 3;
  options.background_checkpoint = true;
  std::mutex mu;
  std::condition_variable cv;
  bool in_checkpoint = false, release = false;
  options.test_hook = [&](std::string_view point) {
    if (point != "checkpoint:removing-garbage") return;
    std::unique_lock<std::mutex> lock(mu);
    in_checkpoint = true;
    cv.notify_all();
    cv.wait_for(lock, std::chrono::seconds(30), [&] { return release; });
  };
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  LogicalId root;
  {
    auto txn = (*engine)->Begin();
    root = *txn->CreateTree();
    ASSERT_TRUE(txn->Commit().ok());
  }
  auto commit = [&](const std::string& value) {
    auto txn = (*engine)->Begin();
    Status st = (*txn->Tree(root))->Upsert("k", value);
    return st.ok() ? txn->Commit() : st;
  };
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(commit(std::to_string(i)).ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return in_checkpoint; }))
        << "no checkpoint started after 4 commits";
  }
  // The checkpoint is held in the middle; commits still return.
  for (int i = 3; i < 10; ++i) ASSERT_TRUE(commit(std::to_string(i)).ok()) << i;
  EXPECT_EQ((*engine)->Stats().checkpoints, 0u);
  {
    std::lock_guard<std::mutex> lock(mu);
    release = true;
  }
  cv.notify_all();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((*engine)->Stats().checkpoints == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_GE((*engine)->Stats().checkpoints, 1u);
  auto txn = (*engine)->Begin(TxnMode::kReader);
  EXPECT_EQ(*(*txn->Tree(root))->Find("k"), "9");
}

// Commits become visible in the order of their records in the log, so a running engine
// never shows a state recovery could not rebuild: a commit on another tree whose record
// follows one not yet applied waits for it, even though the two share nothing.
TEST(TxnConcurrencyTest, TxnCommitsBecomeVisibleInTheOrderOfTheirRecords) {
  FaultEnv env;
  EngineOptions options = EngineOptionsUnder("/vol");
  std::function<void()> on_pause;
  options.test_hook = [&](std::string_view point) {
    if (point == "commit:before-apply" && on_pause) {
      auto run = std::move(on_pause);
      on_pause = nullptr;
      run();
    }
  };
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  LogicalId first_tree, second_tree;
  {
    auto txn = (*engine)->Begin();
    first_tree = *txn->CreateTree();
    second_tree = *txn->CreateTree();
    ASSERT_TRUE(txn->Commit().ok());
  }
  auto first = (*engine)->Begin();
  ASSERT_TRUE((*first->Tree(first_tree))->Upsert("k", "first").ok());
  std::thread second_thread;
  Status second_status;
  bool second_seen_early = false;
  on_pause = [&] {
    // The first commit's record is durable but not applied. A second commit on another
    // tree writes its record after it, and must not become visible before the first.
    const uint64_t records = (*engine)->Stats().log_records;
    second_thread = std::thread([&] {
      auto second = (*engine)->Begin();
      second_status = (*second->Tree(second_tree))->Upsert("k", "second");
      if (second_status.ok()) second_status = second->Commit();
    });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
    while (std::chrono::steady_clock::now() < deadline && !second_seen_early) {
      if ((*engine)->Stats().log_records >= records + 2) {
        auto reader = (*engine)->Begin(TxnMode::kReader);
        second_seen_early = (*reader->Tree(second_tree))->Find("k").ok();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  Status st = first->Commit();
  second_thread.join();
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_TRUE(second_status.ok()) << second_status.ToString();
  EXPECT_FALSE(second_seen_early) << "a later record was applied before an earlier one";
  auto check = (*engine)->Begin(TxnMode::kReader);
  EXPECT_EQ(*(*check->Tree(first_tree))->Find("k"), "first");
  EXPECT_EQ(*(*check->Tree(second_tree))->Find("k"), "second");
}

// A commit whose lease ran out before its record was written is refused, even when no
// other transaction has taken its locks yet.
TEST(TxnConcurrencyTest, TxnCommitWhoseLeaseRanOutBeforeItsRecordIsRefused) {
  FaultEnv env;
  std::atomic<int64_t> now_ms{0};
  InProcessLocker locker({.clock = [&] {
    return std::chrono::steady_clock::time_point(std::chrono::milliseconds(now_ms.load()));
  }});
  EngineOptions options = EngineOptionsUnder("/vol");
  options.locker = &locker;
  bool expire = false;
  options.test_hook = [&](std::string_view point) {
    if (point == "commit:before-record" && expire) now_ms += options.lock_lease.count() + 1;
  };
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok());
  LogicalId root;
  {
    auto txn = (*engine)->Begin();
    root = *txn->CreateTree();
    ASSERT_TRUE((*txn->Tree(root))->Add("k", "0").ok());
    ASSERT_TRUE(txn->Commit().ok());
  }
  expire = true;
  auto txn = (*engine)->Begin();
  ASSERT_TRUE((*txn->Tree(root))->Update("k", "late").ok());
  EXPECT_EQ(txn->Commit().code(), ESTALE);
  auto check = (*engine)->Begin(TxnMode::kReader);
  EXPECT_EQ(*(*check->Tree(root))->Find("k"), "0");
}

TEST(TxnConcurrencyTest, TxnNearAFullDiskTheCommitRunsTheDueCheckpointItself) {
  FaultEnv env;
  // Under kCarryMinFreeBytes free in the data folders: the disk counts as tight.
  env.SetCapacity(uint64_t{128} << 20);
  EngineOptions options = EngineOptionsUnder("/vol");
  options.checkpoint_commits = 3;
  options.background_checkpoint = true;
  std::mutex mu;
  std::set<std::thread::id> checkpoint_threads;
  options.test_hook = [&](std::string_view point) {
    if (point != "checkpoint:removing-garbage") return;
    std::lock_guard<std::mutex> lock(mu);
    checkpoint_threads.insert(std::this_thread::get_id());
  };
  auto engine = Engine::Open(&env, options);
  ASSERT_TRUE(engine.ok()) << engine.status().ToString();
  LogicalId root;
  {
    auto txn = (*engine)->Begin();
    root = *txn->CreateTree();
    ASSERT_TRUE(txn->Commit().ok());
  }
  for (int i = 0; i < 6; ++i) {
    auto txn = (*engine)->Begin();
    ASSERT_TRUE((*txn->Tree(root))->Upsert("k", std::to_string(i)).ok());
    ASSERT_TRUE(txn->Commit().ok()) << i;
  }
  // Every checkpoint ran on this thread, inside the commit that made it due.
  EXPECT_GE((*engine)->Stats().checkpoints, 1u);
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_FALSE(checkpoint_threads.empty());
  EXPECT_EQ(checkpoint_threads, std::set<std::thread::id>{std::this_thread::get_id()});
}

}  // namespace
}  // namespace sopfs
