// sopfs bench btree: the transactional B-Tree engine against SQLite on the same disk.
//
// The same workload runs on both: insert N items in transactions of B Adds (one durable
// commit per batch), read every item back in random order in read-only transactions of
// B Finds (values verified), then remove every item in random order in transactions of
// B Removes. SQLite runs in WAL mode with synchronous=FULL, so its commits are durable
// too; its reads also run in BEGIN/COMMIT batches. Each phase is timed on its own and
// reported as operations per second, with the ratio to SQLite and to the figures SOP
// (the Go original) publishes for its B-Tree.
#include <sqlite3.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/blob/erasure_layout.h"
#include "engine/btree/btree.h"
#include "engine/io/posix_env.h"
#include "engine/txn/engine.h"
#include "engine/txn/transaction.h"
#include "fuse/volume/layout_arg.h"
#include "tools/bench/json_line.h"
#include "tools/cli_args.h"
#include "tools/commands.h"

namespace sopfs::tools {
namespace {

namespace po = boost::program_options;
using Clock = std::chrono::steady_clock;

// SOP's published B-Tree figures (operations per second), for reference.
constexpr double kSopInsertOps = 145000;
constexpr double kSopReadOps = 143000;
constexpr double kSopDeleteOps = 52000;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string Key(size_t i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "key%012zu", i);
  return buf;
}

// The value of item i: `size` bytes, the same on every run.
std::string Value(size_t i, size_t size) {
  std::string v(size, '\0');
  uint64_t x = 0x9e3779b97f4a7c15ull * (i + 1);
  for (size_t p = 0; p < size; p += 8) {
    // splitmix64
    uint64_t z = (x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    std::memcpy(v.data() + p, &z, std::min<size_t>(8, size - p));
  }
  return v;
}

std::vector<size_t> Order(size_t n, bool shuffled, uint64_t seed) {
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  if (shuffled) {
    std::mt19937_64 gen(seed);
    std::shuffle(order.begin(), order.end(), gen);
  }
  return order;
}

struct Phase {
  double seconds = 0;
  size_t ops = 0;
  double OpsPerSec() const { return seconds > 0 ? static_cast<double>(ops) / seconds : 0; }
};

// Runs `batch_fn(begin, end)` over [0, n) in batches of `batch`, timing the whole run.
Status RunPhase(const char* name, size_t n, size_t batch, Phase& phase,
                const std::function<Status(size_t, size_t)>& batch_fn) {
  const bool progress = isatty(STDERR_FILENO);
  const size_t step = std::max<size_t>(batch, n / 100);
  size_t next_report = step;
  const auto start = Clock::now();
  for (size_t begin = 0; begin < n; begin += batch) {
    const size_t end = std::min(n, begin + batch);
    SOPFS_RETURN_IF_ERROR(batch_fn(begin, end));
    if (progress && (end >= next_report || end == n)) {
      std::fprintf(stderr, "\r%-24s %zu of %zu", name, end, n);
      next_report = end + step;
    }
  }
  phase.seconds = Seconds(Clock::now() - start);
  phase.ops = n;
  if (progress) std::fprintf(stderr, "\n");
  return Status::Ok();
}

// A failure of the work itself: exit 1 with one line.
int Fail(const std::string& what) {
  std::fprintf(stderr, "sopfs bench btree: %s\n", what.c_str());
  return 1;
}
int Fail(const Status& st) { return Fail(st.ToString()); }

// ---- SQLite ---------------------------------------------------------------------

class Sqlite {
 public:
  ~Sqlite() {
    for (sqlite3_stmt* s : {insert_, select_, remove_, count_}) sqlite3_finalize(s);
    sqlite3_close(db_);
  }

  Status Open(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
      return Error("open " + path);
    }
    SOPFS_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
    SOPFS_RETURN_IF_ERROR(Exec("PRAGMA synchronous=FULL"));
    SOPFS_RETURN_IF_ERROR(Exec("CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID"));
    SOPFS_RETURN_IF_ERROR(Prepare("INSERT INTO kv(k, v) VALUES(?1, ?2)", &insert_));
    SOPFS_RETURN_IF_ERROR(Prepare("SELECT v FROM kv WHERE k = ?1", &select_));
    SOPFS_RETURN_IF_ERROR(Prepare("DELETE FROM kv WHERE k = ?1", &remove_));
    SOPFS_RETURN_IF_ERROR(Prepare("SELECT count(*) FROM kv", &count_));
    return Status::Ok();
  }

  Status Exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
      std::string what = std::string(sql) + ": " + (msg ? msg : "?");
      sqlite3_free(msg);
      return Status::Error(EIO, "sqlite: " + what);
    }
    return Status::Ok();
  }

  Status Insert(std::string_view k, std::string_view v) {
    Bind(insert_, 1, k);
    Bind(insert_, 2, v);
    return StepDone(insert_, "insert");
  }

  // The value of `k`, or nullopt when there is none.
  Result<std::optional<std::string>> Find(std::string_view k) {
    Bind(select_, 1, k);
    const int rc = sqlite3_step(select_);
    std::optional<std::string> out;
    if (rc == SQLITE_ROW) {
      const void* p = sqlite3_column_blob(select_, 0);
      const int n = sqlite3_column_bytes(select_, 0);
      out.emplace(static_cast<const char*>(p), static_cast<size_t>(n));
    } else if (rc != SQLITE_DONE) {
      sqlite3_reset(select_);
      return Error("select");
    }
    sqlite3_reset(select_);
    return out;
  }

  Status Remove(std::string_view k) {
    Bind(remove_, 1, k);
    SOPFS_RETURN_IF_ERROR(StepDone(remove_, "delete"));
    if (sqlite3_changes(db_) != 1) return Status::Error(ENOENT, "sqlite: delete found no row");
    return Status::Ok();
  }

  Result<long long> Count() {
    if (sqlite3_step(count_) != SQLITE_ROW) {
      sqlite3_reset(count_);
      return Error("count");
    }
    const long long n = sqlite3_column_int64(count_, 0);
    sqlite3_reset(count_);
    return n;
  }

 private:
  Status Error(const std::string& what) {
    return Status::Error(EIO, "sqlite: " + what + ": " + (db_ ? sqlite3_errmsg(db_) : "?"));
  }
  Status Prepare(const char* sql, sqlite3_stmt** stmt) {
    if (sqlite3_prepare_v2(db_, sql, -1, stmt, nullptr) != SQLITE_OK) {
      return Error(std::string("prepare ") + sql);
    }
    return Status::Ok();
  }
  static void Bind(sqlite3_stmt* s, int i, std::string_view b) {
    sqlite3_bind_blob(s, i, b.data(), static_cast<int>(b.size()), SQLITE_STATIC);
  }
  Status StepDone(sqlite3_stmt* s, const char* what) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? Status::Ok() : Error(what);
  }

  sqlite3* db_ = nullptr;
  sqlite3_stmt* insert_ = nullptr;
  sqlite3_stmt* select_ = nullptr;
  sqlite3_stmt* remove_ = nullptr;
  sqlite3_stmt* count_ = nullptr;
};

}  // namespace

int RunBenchBtree(int argc, char** argv) {
  po::options_description opts("usage: sopfs bench btree [OPTIONS]\n\noptions");
  opts.add_options()("help,h", "show this help")(
      "json", "print the figures as one JSON object on the last line")(
      "dir", po::value<std::string>(),
      "work in a fresh folder inside DIR (default: the current directory); removed afterwards")(
      "items", po::value<long long>()->default_value(100000), "items to insert, read and delete")(
      "batch", po::value<long long>()->default_value(10000),
      "operations per transaction (one durable commit per batch; SOP's figures are batch "
      "writes; --batch 1000 shows small batches)")(
      "ec", po::value<std::string>()->default_value("4+2"), "erasure layout K+M of the nodes")(
      "slot-length", po::value<int>()->default_value(500), "items per B-Tree node")(
      "value-size", po::value<long long>()->default_value(32), "bytes per value")(
      "order", po::value<std::string>()->default_value("random"),
      "insert order: sequential or random (a fixed-seed shuffle); reads and deletes always "
      "run in random order");
  po::variables_map vm;
  if (auto done = ParseCommandLine("sopfs bench btree", opts, argc, argv, vm)) return *done;
  const bool json = vm.count("json") > 0;
  const long long items_arg = vm["items"].as<long long>();
  const long long batch_arg = vm["batch"].as<long long>();
  const long long value_size_arg = vm["value-size"].as<long long>();
  const std::string order_name = vm["order"].as<std::string>();
  auto layout = ParseLayout(vm["ec"].as<std::string>());
  BtreeOptions tree_options;
  tree_options.slot_length = vm["slot-length"].as<int>();
  if (items_arg < 1) {
    std::fprintf(stderr, "sopfs bench btree: --items must be at least 1\n");
    return 2;
  }
  if (batch_arg < 1) {
    std::fprintf(stderr, "sopfs bench btree: --batch must be at least 1\n");
    return 2;
  }
  if (value_size_arg < 0 || value_size_arg > (64ll << 20)) {
    std::fprintf(stderr, "sopfs bench btree: --value-size must be 0 to 64M bytes\n");
    return 2;
  }
  if (order_name != "random" && order_name != "sequential") {
    std::fprintf(stderr, "sopfs bench btree: --order must be sequential or random, not '%s'\n",
                 order_name.c_str());
    return 2;
  }
  if (!layout || !layout->Validate(ErasureLayout::kMaxData + ErasureLayout::kMaxParity).ok()) {
    std::fprintf(stderr, "sopfs bench btree: --ec needs K+M with 1<=K<=32, 0<=M<=16\n");
    return 2;
  }
  if (Status st = tree_options.Validate(); !st.ok()) {
    std::fprintf(stderr, "sopfs bench btree: --slot-length must be %d to %d\n",
                 BtreeOptions::kMinSlotLength, BtreeOptions::kMaxSlotLength);
    return 2;
  }
  const size_t items = static_cast<size_t>(items_arg);
  const size_t batch = static_cast<size_t>(batch_arg);
  const size_t value_size = static_cast<size_t>(value_size_arg);
  const bool random_inserts = order_name == "random";

  PosixEnv env;
  const std::string parent = vm.count("dir") ? vm["dir"].as<std::string>() : ".";
  // Every commit rewrites the leaves it touched (at worst half full, at worst one per
  // Add) and old nodes are only removed at checkpoints: a generous upper bound, plus
  // SQLite's database and WAL.
  const double item_bytes = 16.0 + static_cast<double>(value_size) + 16.0;
  const double leaf_bytes = item_bytes * tree_options.slot_length;
  const double leaves = std::ceil(static_cast<double>(items) / (tree_options.slot_length / 2.0));
  const double batches = std::ceil(static_cast<double>(items) / static_cast<double>(batch));
  const double touched = std::min(static_cast<double>(batch), leaves) + 2;
  const double ec_factor = static_cast<double>(layout->total()) / static_cast<double>(layout->k);
  const double need = 2.0 * batches * touched * leaf_bytes * ec_factor +
                      4.0 * item_bytes * static_cast<double>(items) + (64 << 20);
  if (auto fs = env.StatFs(parent); !fs.ok()) {
    std::fprintf(stderr, "sopfs bench btree: %s\n", fs.status().ToString().c_str());
    return 2;
  } else if (static_cast<double>(fs->free_bytes) < need) {
    std::fprintf(stderr, "sopfs bench btree: %s has %.1f GiB free, the run may need %.1f GiB\n",
                 parent.c_str(), fs->free_bytes / 1073741824.0, need / 1073741824.0);
    return 1;
  }
  std::string work = parent + "/sopfs-bench-btree-XXXXXX";
  if (mkdtemp(work.data()) == nullptr) {
    std::fprintf(stderr, "sopfs bench btree: cannot make a work folder in %s: %s\n", parent.c_str(),
                 std::strerror(errno));
    return 2;
  }
  // Declared before the engine and the database, so it runs after they are closed.
  struct Cleanup {
    Env& env;
    std::string dir;
    ~Cleanup() { (void)env.RemoveAll(dir); }
  } cleanup{env, work};

  EngineOptions options;
  for (int i = 0; i < layout->total(); ++i) {
    options.data_folders.push_back(work + "/data" + std::to_string(i));
  }
  options.registry_a = work + "/registry-a";
  options.registry_b = work + "/registry-b";
  options.log_folder = work + "/log";
  options.layout = *layout;
  auto opened = Engine::Open(&env, options);
  if (!opened.ok()) return Fail(opened.status());
  std::unique_ptr<Engine> engine = std::move(*opened);

  LogicalId root = 0;
  {
    auto txn = engine->Begin();
    Result<LogicalId> created = txn->CreateTree(tree_options);
    if (!created.ok()) return Fail(created.status());
    root = *created;
    if (Status st = txn->Commit(); !st.ok()) return Fail(st);
  }

  const std::vector<size_t> insert_order = Order(items, random_inserts, 1);
  const std::vector<size_t> read_order = Order(items, true, 2);
  const std::vector<size_t> delete_order = Order(items, true, 3);
  std::vector<std::string> keys(items);
  for (size_t i = 0; i < items; ++i) keys[i] = Key(i);
  // Values are built inside the timed loops (as a caller would hand them over) for
  // both sides alike; building one costs far less than storing it.

  auto mismatch = [&](const char* who, size_t i, const std::string& got) {
    return Status::Error(EIO, std::string(who) + ": " + keys[i] + " read back " +
                                  std::to_string(got.size()) + " bytes that differ from the " +
                                  std::to_string(value_size) + " written");
  };

  // ---- the engine ----
  Phase insert, read, remove;
  auto writer_batch = [&](const std::vector<size_t>& order_ref, bool adding) {
    return [&, order = &order_ref, adding](size_t begin, size_t end) -> Status {
      auto txn = engine->Begin(TxnMode::kWriter);
      Result<TxnTree*> tree = txn->Tree(root, tree_options);
      if (!tree.ok()) return tree.status();
      for (size_t n = begin; n < end; ++n) {
        const size_t i = (*order)[n];
        SOPFS_RETURN_IF_ERROR(adding ? (*tree)->Add(keys[i], Value(i, value_size))
                                     : (*tree)->Remove(keys[i]));
      }
      return txn->Commit();
    };
  };
  if (Status st = RunPhase("sopfs insert:", items, batch, insert, writer_batch(insert_order, true));
      !st.ok()) {
    return Fail(st);
  }
  Status st = RunPhase("sopfs read:", items, batch, read, [&](size_t begin, size_t end) -> Status {
    auto txn = engine->Begin(TxnMode::kReader);
    Result<TxnTree*> tree = txn->Tree(root, tree_options);
    if (!tree.ok()) return tree.status();
    for (size_t n = begin; n < end; ++n) {
      const size_t i = read_order[n];
      Result<std::string> got = (*tree)->Find(keys[i]);
      if (!got.ok()) return got.status();
      if (*got != Value(i, value_size)) return mismatch("sopfs", i, *got);
    }
    return txn->Commit();
  });
  if (!st.ok()) return Fail(st);
  st = RunPhase("sopfs delete:", items, batch, remove, writer_batch(delete_order, false));
  if (!st.ok()) return Fail(st);
  {
    auto txn = engine->Begin(TxnMode::kReader);
    Result<TxnTree*> tree = txn->Tree(root, tree_options);
    if (!tree.ok()) return Fail(tree.status());
    auto cursor = (*tree)->NewCursor();
    if (Status cst = cursor->First(); !cst.ok()) return Fail(cst);
    if (cursor->Valid()) {
      return Fail("sopfs: the tree still holds '" + std::string(cursor->key()) +
                  "' after every item was removed");
    }
  }
  const EngineStats stats = engine->Stats();

  // Group commit: small transactions (one key each, one tree per thread) committed by
  // one thread, then by kCommitThreads at once; concurrent commits share log flushes.
  constexpr int kCommitThreads = 8;
  constexpr int kSmallCommits = 400;
  std::vector<LogicalId> small_trees;
  {
    auto txn = engine->Begin();
    for (int t = 0; t < kCommitThreads; ++t) {
      Result<LogicalId> tree = txn->CreateTree(tree_options);
      if (!tree.ok()) return Fail(tree.status());
      small_trees.push_back(*tree);
    }
    if (Status cst = txn->Commit(); !cst.ok()) return Fail(cst);
  }
  struct SmallCommits {
    double per_sec = 0;
    double records_per_flush = 0;
  };
  auto small_commits = [&](int threads) -> Result<SmallCommits> {
    const EngineStats before = engine->Stats();
    std::vector<Status> failures(threads);
    const auto start = Clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int n = 0; n < kSmallCommits / threads && failures[t].ok(); ++n) {
          auto txn = engine->Begin();
          Result<TxnTree*> tree = txn->Tree(small_trees[t], tree_options);
          failures[t] = tree.ok() ? (*tree)->Upsert(Key(n), Value(n, value_size)) : tree.status();
          if (failures[t].ok()) failures[t] = txn->Commit();
        }
      });
    }
    for (std::thread& w : workers) w.join();
    const double seconds = Seconds(Clock::now() - start);
    for (const Status& f : failures) {
      if (!f.ok()) return f;
    }
    const EngineStats after = engine->Stats();
    const double records = static_cast<double>(after.log_records - before.log_records);
    const double flushes = static_cast<double>(after.log_flushes - before.log_flushes);
    return SmallCommits{kSmallCommits / seconds, flushes > 0 ? records / flushes : 0};
  };
  Result<SmallCommits> alone = small_commits(1);
  if (!alone.ok()) return Fail(alone.status());
  Result<SmallCommits> together = small_commits(kCommitThreads);
  if (!together.ok()) return Fail(together.status());

  // A last checkpoint (registry written, every freed node removed durably), timed on
  // its own and not part of any phase. Its failure is reported but does not void the
  // figures above: recovery would redo it on the next open.
  const auto checkpoint_start = Clock::now();
  const Status checkpointed = engine->Checkpoint();
  const double checkpoint_seconds = Seconds(Clock::now() - checkpoint_start);
  if (!checkpointed.ok()) return Fail("the final checkpoint failed: " + checkpointed.ToString());
  engine.reset();

  // ---- SQLite ----
  Phase sq_insert, sq_read, sq_remove;
  {
    Sqlite db;
    if (Status ost = db.Open(work + "/bench.sqlite"); !ost.ok()) return Fail(ost);
    auto sq_batch = [&](const std::vector<size_t>& order_ref, int what) {
      return [&, order = &order_ref, what](size_t begin, size_t end) -> Status {
        SOPFS_RETURN_IF_ERROR(db.Exec("BEGIN"));
        for (size_t n = begin; n < end; ++n) {
          const size_t i = (*order)[n];
          if (what == 0) {
            SOPFS_RETURN_IF_ERROR(db.Insert(keys[i], Value(i, value_size)));
          } else if (what == 1) {
            auto got = db.Find(keys[i]);
            if (!got.ok()) return got.status();
            if (!got->has_value()) return Status::Error(ENOENT, "sqlite: " + keys[i] + " missing");
            if (**got != Value(i, value_size)) return mismatch("sqlite", i, **got);
          } else {
            SOPFS_RETURN_IF_ERROR(db.Remove(keys[i]));
          }
        }
        return db.Exec("COMMIT");
      };
    };
    st = RunPhase("sqlite insert:", items, batch, sq_insert, sq_batch(insert_order, 0));
    if (st.ok()) st = RunPhase("sqlite read:", items, batch, sq_read, sq_batch(read_order, 1));
    if (st.ok())
      st = RunPhase("sqlite delete:", items, batch, sq_remove, sq_batch(delete_order, 2));
    if (!st.ok()) return Fail(st);
    auto left = db.Count();
    if (!left.ok()) return Fail(left.status());
    if (*left != 0) return Fail("sqlite: " + std::to_string(*left) + " rows left after deletes");
  }

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double rss_mib = static_cast<double>(usage.ru_maxrss) / 1024.0;
  auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
  const double insert_ratio = ratio(insert.OpsPerSec(), sq_insert.OpsPerSec());
  const double read_ratio = ratio(read.OpsPerSec(), sq_read.OpsPerSec());
  const double delete_ratio = ratio(remove.OpsPerSec(), sq_remove.OpsPerSec());

  std::printf("%zu items, %zu per transaction, %s, slot length %d, %zu-byte values, %s inserts\n",
              items, batch, layout->ToString().c_str(), tree_options.slot_length, value_size,
              order_name.c_str());
  std::printf("%-8s %12s %12s %8s %12s %8s\n", "phase", "sopfs op/s", "sqlite op/s", "ratio",
              "SOP op/s", "vs SOP");
  auto row = [&](const char* name, const Phase& ours, const Phase& theirs, double sop) {
    std::printf("%-8s %12.0f %12.0f %8.2f %12.0f %8.2f\n", name, ours.OpsPerSec(),
                theirs.OpsPerSec(), ratio(ours.OpsPerSec(), theirs.OpsPerSec()), sop,
                ours.OpsPerSec() / sop);
  };
  row("insert", insert, sq_insert, kSopInsertOps);
  row("read", read, sq_read, kSopReadOps);
  row("delete", remove, sq_remove, kSopDeleteOps);
  std::printf(
      "engine: %llu commits, %llu log records in %llu flushes, %llu checkpoints, "
      "node cache %llu hits / %llu misses; peak RSS %.0f MiB\n",
      static_cast<unsigned long long>(stats.commits),
      static_cast<unsigned long long>(stats.log_records),
      static_cast<unsigned long long>(stats.log_flushes),
      static_cast<unsigned long long>(stats.checkpoints),
      static_cast<unsigned long long>(stats.node_cache_hits),
      static_cast<unsigned long long>(stats.node_cache_misses), rss_mib);
  std::printf("final checkpoint (not in the figures): %.1f s\n", checkpoint_seconds);
  std::printf(
      "group commit: one-key commits, 1 thread %.0f/s (%.2f log records per flush), %d threads "
      "%.0f/s (%.2f records per flush): %.2fx\n",
      alone->per_sec, alone->records_per_flush, kCommitThreads, together->per_sec,
      together->records_per_flush, ratio(together->per_sec, alone->per_sec));
  if (json) {
    JsonLine j;
    j.Add("insert_ops", insert.OpsPerSec())
        .Add("read_ops", read.OpsPerSec())
        .Add("delete_ops", remove.OpsPerSec())
        .Add("sqlite_insert_ops", sq_insert.OpsPerSec())
        .Add("sqlite_read_ops", sq_read.OpsPerSec())
        .Add("sqlite_delete_ops", sq_remove.OpsPerSec())
        .Add("insert_ratio_vs_sqlite", insert_ratio)
        .Add("read_ratio_vs_sqlite", read_ratio)
        .Add("delete_ratio_vs_sqlite", delete_ratio)
        .Add("insert_seconds", insert.seconds)
        .Add("read_seconds", read.seconds)
        .Add("delete_seconds", remove.seconds)
        .Add("items", static_cast<long long>(items))
        .Add("batch", static_cast<long long>(batch))
        .Add("ec", layout->ToString())
        .Add("slot_length", static_cast<long long>(tree_options.slot_length))
        .Add("value_size", static_cast<long long>(value_size))
        .Add("order", order_name)
        .Add("commits", static_cast<long long>(stats.commits))
        .Add("log_records", static_cast<long long>(stats.log_records))
        .Add("log_flushes", static_cast<long long>(stats.log_flushes))
        .Add("checkpoints", static_cast<long long>(stats.checkpoints))
        .Add("node_cache_hits", static_cast<long long>(stats.node_cache_hits))
        .Add("node_cache_misses", static_cast<long long>(stats.node_cache_misses))
        .Add("final_checkpoint_seconds", checkpoint_seconds)
        .Add("small_commits_1_thread_per_s", alone->per_sec)
        .Add("small_commits_8_threads_per_s", together->per_sec)
        .Add("group_commit_speedup", ratio(together->per_sec, alone->per_sec))
        .Add("log_records_per_flush_1_thread", alone->records_per_flush)
        .Add("log_records_per_flush_8_threads", together->records_per_flush)
        .Add("peak_rss_mib", rss_mib)
        .Add("sop_insert_ops", kSopInsertOps)
        .Add("sop_read_ops", kSopReadOps)
        .Add("sop_delete_ops", kSopDeleteOps)
        .Add("insert_vs_sop", insert.OpsPerSec() / kSopInsertOps)
        .Add("read_vs_sop", read.OpsPerSec() / kSopReadOps)
        .Add("delete_vs_sop", remove.OpsPerSec() / kSopDeleteOps);
    std::printf("%s\n", j.str().c_str());
  }
  return 0;
}

}  // namespace sopfs::tools
