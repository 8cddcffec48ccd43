// SessionTable: explicit transactions by Linux session (SPEC §3). A request belongs to
// the session of the process that made it (getsid of its pid); every process of a
// shell script or terminal shares one session, `setsid` makes a new one. The table
// holds each session's open transaction, runs the commands written to .sopfs/txn
// (begin, begin readonly, commit, rollback), renders .sopfs/txn, and rolls back
// transactions left idle past the time-out or whose session has ended (checked twice a
// second by a thread of its own; never while the transaction commits). A daemon
// restart loses every open transaction: they were never committed, and recovery frees
// what they had staged.
//
// A transaction the daemon rolled back (time-out) leaves its session "aborted": the
// session reads the shared state, every change it tries fails with ESTALE and `commit`
// with EINVAL, until it writes `rollback` (or `begin`) to say it knows. Otherwise a script that
// went on writing would make its later changes visible while the earlier ones were
// gone: a partial transaction.
//
// Threads: every method may be called concurrently.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "engine/status.h"
#include "fuse/control/cache_invalidator.h"
#include "fuse/fs/file_system.h"

namespace sopfs {

class SessionTable {
 public:
  struct Counters {
    std::atomic<uint64_t> begun{0};
    std::atomic<uint64_t> committed{0};
    std::atomic<uint64_t> rolled_back{0};  // asked for, timed out or session ended
    std::atomic<uint64_t> conflicts{0};
    std::atomic<uint64_t> bad_commands{0};
  };
  static constexpr size_t kMaxCommandBytes = 64;

  SessionTable(FileSystem* fs, CacheInvalidator* notifier, std::chrono::seconds idle_timeout);
  ~SessionTable();  // rolls back every open transaction
  SessionTable(const SessionTable&) = delete;
  SessionTable& operator=(const SessionTable&) = delete;

  // The session of a process; -1 when unknown (pid 0, or the process is gone).
  static pid_t SessionOf(pid_t pid);

  // The session's open transaction, or null.
  std::shared_ptr<FsTxn> Find(pid_t sid);
  // True while any transaction is open (the kernel may then cache nothing for long).
  // (Aborted sessions' stand-ins do not count: those sessions read the shared view.)
  bool any_open() const { return open_count_.load() - aborted_count_.load() > 0; }
  // True while any session has a transaction or an aborted stand-in: requests must be
  // looked up by session (Find).
  bool any_bound() const { return open_count_.load() > 0; }

  // Runs one write to .sopfs/txn. EINVAL for anything but a command that fits the
  // session's state (with a message for the log and the next read of .sopfs/txn),
  // EBUSY for a commit that conflicted (nothing applied; the transaction is over).
  Status Command(pid_t sid, std::string_view text);
  // A write to a read-only control file (`stats`, `health`): EINVAL, a log line and
  // the message in the session's next read of .sopfs/txn.
  Status RefuseWrite(pid_t sid, std::string_view file);
  // What .sopfs/txn shows the session, as JSON.
  std::string Describe(pid_t sid);

  const Counters& counters() const { return counters_; }

 private:
  struct Session {
    std::shared_ptr<FsTxn> txn;
    uint64_t last_id = 0;
    std::string last_outcome = "none";  // committed, rolled back, conflict, failed, ...
    std::string last_error;
    std::string conflict;     // the path the last failed commit named
    bool committing = false;  // a commit runs: the reaper leaves it alone
    // Rolled back by the daemon and not acknowledged: txn is a stand-in (FsTxn::aborted)
    // and last_outcome says why.
    bool aborted() const;
  };

  Status Begin(pid_t sid, Session& s, bool readonly, std::unique_lock<std::mutex>& lock);
  Status Commit(pid_t sid, Session& s, std::unique_lock<std::mutex>& lock);
  // Ends `txn` without applying it and clears the kernel's view of what it changed.
  void Rollback(FsTxn& txn);
  // Records and logs a refused write (mu_ held). At most kLogLinesPerSecond lines a
  // second reach the log; the rest are counted in the next line that does.
  Status Refuse(pid_t sid, Session& s, const std::string& message);
  static constexpr int kLogLinesPerSecond = 10;
  // Ends the aborted state (the stand-in goes; the session's requests work again).
  void ClearAborted(Session& s);
  void ReaperLoop();

  FileSystem* fs_;
  CacheInvalidator* notifier_;
  std::chrono::seconds idle_timeout_;
  Counters counters_;
  std::atomic<int> open_count_{0};     // sessions with a transaction or a stand-in
  std::atomic<int> aborted_count_{0};  // of which stand-ins of aborted transactions

  std::mutex mu_;  // guards sessions_, stopping_ and the log limit's state
  int64_t log_window_ns_ = 0;
  int logged_in_window_ = 0;
  uint64_t not_logged_ = 0;
  std::map<pid_t, Session> sessions_;
  bool stopping_ = false;
  std::condition_variable reaper_cv_;
  std::thread reaper_;
};

}  // namespace sopfs
