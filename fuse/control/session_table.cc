#include "fuse/control/session_table.h"

#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <utility>
#include <vector>

#include "fuse/control/json_text.h"
#include "fuse/fs/fs_txn.h"

namespace sopfs {
namespace {

using Clock = std::chrono::steady_clock;

int64_t NowSteadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Every session some process is in now (from /proc/PID/stat: the session is the
// sixth field, after the command name in parentheses).
std::set<pid_t> LiveSessions() {
  std::set<pid_t> live;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return live;
  while (dirent* e = readdir(proc)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream in(std::string("/proc/") + e->d_name + "/stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    char state;
    int ppid, pgrp, session;
    if (std::sscanf(stat.c_str() + paren + 1, " %c %d %d %d", &state, &ppid, &pgrp, &session) ==
        4) {
      if (state != 'Z') live.insert(session);
    }
  }
  closedir(proc);
  return live;
}

// The command as written: one line end (echo's \n, or \r\n, or \r) is not part of it.
std::string_view Trim(std::string_view text) {
  if (text.ends_with("\r\n")) return text.substr(0, text.size() - 2);
  if (text.ends_with("\n") || text.ends_with("\r")) return text.substr(0, text.size() - 1);
  return text;
}

std::string Printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, 40)) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (text.size() > 40) out += "...";
  return out;
}

}  // namespace

SessionTable::SessionTable(FileSystem* fs, CacheInvalidator* notifier,
                           std::chrono::seconds idle_timeout)
    : fs_(fs), notifier_(notifier), idle_timeout_(idle_timeout) {
  reaper_ = std::thread([this] { ReaperLoop(); });
}

SessionTable::~SessionTable() {
  std::vector<std::shared_ptr<FsTxn>> open;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    for (auto& [sid, s] : sessions_) {
      if (s.txn && !s.txn->ended) open.push_back(std::move(s.txn));
    }
  }
  reaper_cv_.notify_all();
  reaper_.join();
  for (const auto& txn : open) Rollback(*txn);
}

pid_t SessionTable::SessionOf(pid_t pid) {
  if (pid <= 0) return -1;
  return getsid(pid);
}

std::shared_ptr<FsTxn> SessionTable::Find(pid_t sid) {
  if (sid < 0 || open_count_.load() == 0) return nullptr;
  std::lock_guard lock(mu_);
  auto it = sessions_.find(sid);
  return it == sessions_.end() ? nullptr : it->second.txn;
}

Status SessionTable::Refuse(pid_t sid, Session& s, const std::string& message) {
  ++counters_.bad_commands;
  s.last_error = message;
  const int64_t now = NowSteadyNs();
  if (now - log_window_ns_ >= 1000000000) {
    log_window_ns_ = now;
    logged_in_window_ = 0;
  }
  if (logged_in_window_ < kLogLinesPerSecond) {
    ++logged_in_window_;
    std::string more;
    if (not_logged_ != 0) {
      more = " (and " + std::to_string(std::exchange(not_logged_, 0)) +
             " refused control writes not logged)";
    }
    std::fprintf(stderr, "sopfs: .sopfs: session %d: %s%s\n", static_cast<int>(sid),
                 message.c_str(), more.c_str());
  } else {
    ++not_logged_;
  }
  return Status::Error(EINVAL, message);
}

Status SessionTable::RefuseWrite(pid_t sid, std::string_view file) {
  if (sid < 0) return Status::Error(EINVAL, "the writer's session is unknown");
  std::lock_guard lock(mu_);
  return Refuse(sid, sessions_[sid],
                ".sopfs/" + std::string(file) + " is read-only: only .sopfs/txn takes commands");
}

Status SessionTable::Command(pid_t sid, std::string_view text) {
  if (sid < 0) return Status::Error(EINVAL, "the writer's session is unknown");
  std::unique_lock lock(mu_);
  Session& s = sessions_[sid];
  if (text.size() > kMaxCommandBytes) {
    return Refuse(sid, s,
                  "command of " + std::to_string(text.size()) +
                      " bytes refused: expected begin, begin readonly, commit or rollback");
  }
  const std::string_view command = Trim(text);
  if (s.committing) {
    // One command at a time per transaction: a rollback or second commit racing the
    // running commit would end the transaction twice. (The kernel already serializes
    // writes to .sopfs/txn, one inode; this does not rely on it.)
    return Refuse(sid, s,
                  "'" + Printable(command) + "' refused: transaction " + std::to_string(s.last_id) +
                      " is committing");
  }
  if (s.aborted()) {
    if (command == "rollback") {
      ClearAborted(s);
      return Status::Ok();
    }
    if (command != "begin" && command != "begin readonly") {
      return Refuse(sid, s,
                    "'" + Printable(command) + "' refused: transaction " +
                        std::to_string(s.last_id) + " was " + s.last_outcome +
                        ", nothing of it was applied; write rollback or begin to go on");
    }
    ClearAborted(s);
  }
  if (s.txn && s.txn->ended) {
    return Refuse(sid, s,
                  "'" + Printable(command) + "' refused: the transaction is still beginning");
  }
  if (command == "begin" || command == "begin readonly") {
    if (s.txn) {
      return Refuse(sid, s,
                    "begin refused: transaction " + std::to_string(s.txn->id) + " is already open");
    }
    return Begin(sid, s, command != "begin", lock);
  }
  if (command == "commit" || command == "rollback") {
    if (!s.txn) return Refuse(sid, s, std::string(command) + " refused: no transaction is open");
    if (command == "commit") return Commit(sid, s, lock);
    std::shared_ptr<FsTxn> txn = std::move(s.txn);
    s.last_outcome = "rolled back";
    s.last_error.clear();
    lock.unlock();
    Rollback(*txn);
    return Status::Ok();
  }
  return Refuse(sid, s,
                "unknown command '" + Printable(command) +
                    "': expected begin, begin readonly, commit or rollback");
}

bool SessionTable::Session::aborted() const { return txn && txn->aborted; }

void SessionTable::ClearAborted(Session& s) {
  s.last_error.clear();
  s.txn.reset();
  --aborted_count_;
  --open_count_;
}

Status SessionTable::Begin(pid_t sid, Session& s, bool readonly,
                           std::unique_lock<std::mutex>& lock) {
  (void)sid;
  // Begin commits what is pending first: not under the table's lock. The session's
  // other processes cannot begin meanwhile: a placeholder holds its place.
  auto placeholder = std::make_shared<FsTxn>();
  placeholder->ended = true;  // requests routed to it get ESTALE until it is replaced
  s.txn = placeholder;
  ++open_count_;
  lock.unlock();
  Result<std::shared_ptr<FsTxn>> txn = fs_->BeginTxn(readonly);
  lock.lock();
  Session& now = sessions_[sid];
  if (!txn.ok()) {
    now.txn.reset();
    --open_count_;
    now.last_outcome = "failed";
    now.last_error = "begin failed: " + txn.status().ToString();
    return txn.status();
  }
  now.txn = *txn;
  now.last_id = (*txn)->id;
  now.last_outcome = "open";
  now.last_error.clear();
  now.conflict.clear();
  ++counters_.begun;
  return Status::Ok();
}

Status SessionTable::Commit(pid_t sid, Session& s, std::unique_lock<std::mutex>& lock) {
  std::shared_ptr<FsTxn> txn = s.txn;
  if (txn->ended) {
    return Refuse(sid, s, "commit refused: the transaction is still beginning");
  }
  s.committing = true;
  lock.unlock();
  FileSystem::TxnChanges touched;
  const Status st = fs_->CommitTxn(*txn, &touched);
  // Every session sees the outcome once `commit` returns: the kernel's pages and
  // attributes of what the transaction touched are dropped now.
  for (uint64_t ino : touched.inodes) notifier_->InvalidateInode(ino);
  for (auto& [parent, name] : touched.names) notifier_->InvalidateEntryLater(parent, name);
  lock.lock();
  Session& now = sessions_[sid];
  now.committing = false;
  if (now.txn == txn) now.txn.reset();
  --open_count_;
  if (st.ok()) {
    ++counters_.committed;
    now.last_outcome = "committed";
    now.last_error.clear();
    now.conflict.clear();
    return Status::Ok();
  }
  ++counters_.rolled_back;
  if (st.code() == kConflictErrno) ++counters_.conflicts;
  now.last_outcome = st.code() == kConflictErrno ? "conflict" : "failed";
  now.last_error = "commit failed, nothing was applied: " + st.message();
  now.conflict = txn->conflict;
  return st;
}

void SessionTable::Rollback(FsTxn& txn) {
  FileSystem::TxnChanges changes = fs_->RollbackTxn(txn);
  for (uint64_t ino : changes.inodes) notifier_->InvalidateInode(ino);
  for (auto& [parent, name] : changes.names) notifier_->InvalidateEntryLater(parent, name);
  ++counters_.rolled_back;
  --open_count_;
}

std::string SessionTable::Describe(pid_t sid) {
  std::lock_guard lock(mu_);
  JsonText j;
  j.Add("session", static_cast<int64_t>(sid));
  auto it = sessions_.find(sid);
  const Session* s = it == sessions_.end() ? nullptr : &it->second;
  const FsTxn* txn = s && s->txn && !s->txn->ended ? s->txn.get() : nullptr;
  if (txn) {
    const int64_t now = NowSteadyNs();
    const int64_t begun =
        std::chrono::duration_cast<std::chrono::nanoseconds>(txn->begun.time_since_epoch()).count();
    j.Add("state", txn->readonly ? "readonly" : "active");
    j.Add("id", txn->id);
    j.Add("age_ms", (now - begun) / 1000000);
    j.Add("idle_ms", (now - txn->last_used_ns.load()) / 1000000);
    j.Add("timeout_s", static_cast<int64_t>(idle_timeout_.count()));
    JsonText counts;
    counts.Add("reads", txn->reads.load());
    counts.Add("writes", txn->writes.load());
    counts.Add("bytes_read", txn->bytes_read.load());
    counts.Add("bytes_written", txn->bytes_written.load());
    counts.Add("namespace_ops", txn->namespace_ops.load());
    j.Raw("counts", counts.str());
  } else if (s && s->aborted()) {
    j.Add("state", "aborted");
    j.Add("id", s->last_id);
  } else {
    j.Add("state", "none");
    if (s && s->last_id != 0) {
      j.Add("id", s->last_id);
    } else {
      j.AddNull("id");
    }
  }
  j.Add("last", s ? std::string_view(s->last_outcome) : std::string_view("none"));
  if (s && !s->conflict.empty()) {
    j.Add("conflict", s->conflict);
  } else {
    j.AddNull("conflict");
  }
  if (s && !s->last_error.empty()) {
    j.Add("last_error", s->last_error);
  } else {
    j.AddNull("last_error");
  }
  return j.str() + "\n";
}

void SessionTable::ReaperLoop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    reaper_cv_.wait_for(lock, std::chrono::milliseconds(500));
    if (stopping_ || sessions_.empty()) continue;
    const int64_t scan_start = NowSteadyNs();
    lock.unlock();
    const std::set<pid_t> live = LiveSessions();
    lock.lock();
    const int64_t now = NowSteadyNs();
    const int64_t limit =
        std::chrono::duration_cast<std::chrono::nanoseconds>(idle_timeout_).count();
    std::vector<std::pair<std::shared_ptr<FsTxn>, std::string>> expired;
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      Session& s = it->second;
      // A session that used its transaction since the scan began is alive whatever
      // the scan saw (its first process may have started during the scan).
      const bool alive = live.count(it->first) != 0 ||
                         (s.txn && !s.txn->aborted && s.txn->last_used_ns.load() >= scan_start);
      if (!alive && s.aborted()) ClearAborted(s);  // nobody left to tell
      if (s.txn && !s.txn->ended && !s.committing) {
        std::string why;
        if (!alive) {
          why = "session ended";
        } else if (now - s.txn->last_used_ns.load() > limit) {
          why = "timed out";
        }
        if (!why.empty()) {
          std::fprintf(stderr, "sopfs: transaction %llu of session %d rolled back: %s\n",
                       static_cast<unsigned long long>(s.txn->id), static_cast<int>(it->first),
                       why.c_str());
          s.last_outcome = "rolled back: " + why;
          s.last_error = "transaction " + std::to_string(s.txn->id) + " was rolled back: " + why;
          expired.emplace_back(std::move(s.txn), why);
          if (alive) {
            // The session goes on: its requests fail until it acknowledges (see .h).
            auto stand_in = std::make_shared<FsTxn>();
            stand_in->id = s.last_id;
            stand_in->ended = true;
            stand_in->aborted = true;
            s.txn = std::move(stand_in);
            ++aborted_count_;
            s.last_error +=
                "; changes by this session fail with ESTALE until it writes "
                "rollback or begin";
            ++open_count_;
          }
        }
      }
      it = !s.txn && !alive ? sessions_.erase(it) : std::next(it);
    }
    lock.unlock();
    for (auto& [txn, why] : expired) Rollback(*txn);
    lock.lock();
  }
}

}  // namespace sopfs
