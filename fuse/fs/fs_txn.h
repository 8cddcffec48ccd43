// FsTxn: one explicit transaction of the file system (SPEC §3), as a session opened it
// by writing `begin` to .sopfs/txn. It is a view of the volume of its own: the inodes
// it touched (copies, with their content as BufferedFiles over its chunk tree), and
// its directory entries written straight into its engine transaction, whose snapshot
// (taken at begin) answers everything else. Nothing of it reaches the shared state
// until FileSystem::CommitTxn.
//
// Threads: `mu` is held by every request of the transaction for its whole length (one
// at a time, as an engine Transaction must be used), and by commit and rollback. The
// counters are atomics so .sopfs/txn can be read while a request runs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

#include "engine/txn/transaction.h"
#include "fuse/fs/file_system.h"

namespace sopfs {

struct FsTxn {
  using Clock = std::chrono::steady_clock;

  uint64_t id = 0;
  bool readonly = false;
  Clock::time_point begun = Clock::now();

  std::mutex mu;
  std::atomic<bool> ended{false};  // committed or rolled back: requests get ESTALE
  // A stand-in for a transaction the daemon rolled back: the session's requests see the
  // shared state, its changes are refused (Caller::changes_refused).
  bool aborted = false;
  std::unique_ptr<Transaction> txn;
  TxnTree* inodes = nullptr;
  TxnTree* names = nullptr;
  // The inodes this transaction has seen, as it sees them now.
  std::unordered_map<uint64_t, FileSystem::InodePtr> table;
  // Directories as the snapshot held them: a commit merges their changes (link count,
  // times, attributes) into the shared record instead of checking it for conflicts, so
  // two transactions that add names to one directory both commit.
  std::map<uint64_t, InodeRecord> dirs_loaded;
  std::set<uint64_t> dirty;    // records to write
  std::set<uint64_t> created;  // inodes new in this transaction
  std::set<uint64_t> removed;  // inodes whose last name went
  std::set<std::pair<uint64_t, std::string>> names_written;
  // Directories whose entries it listed (readdir, rmdir's emptiness check): a commit
  // that finds one changed names them.
  std::set<uint64_t> listed;
  // Where each inode was found: (parent, name), for paths in messages.
  std::map<uint64_t, std::pair<uint64_t, std::string>> found_at;

  // What .sopfs/txn shows.
  std::atomic<int64_t> last_used_ns{0};  // steady clock, for the idle time-out
  std::atomic<uint64_t> reads{0};
  std::atomic<uint64_t> writes{0};
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> namespace_ops{0};
  std::string conflict;  // after a failed commit: the path that changed (mu)

  void Touch() {
    last_used_ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
            .count();
  }
};

}  // namespace sopfs
