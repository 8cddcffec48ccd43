// FileSystem's intent log: what makes a small durable write cost one flush of a few
// KiB instead of a commit that rewrites a whole chunk.
//
// An fsync of a file whose changes since its last commit are only writes (at most
// BufferedFile::kMaxLoggedWrites bytes of them) appends one record with the bytes
// written since the file's previous record, its size and times, and flushes it in
// every copy (CloseJournal with the prefix "intent-": checksummed, one copy in each of
// the close journal's folders). The file stays pending in memory; the fold (the
// committer, when the log passes kFoldBytes or a record is kFoldAge old; and at
// unmount) commits it like any file, and the inode record then stores the number of
// the last record its content holds (InodeRecord::intent_seq).
//
// A mount replays, file by file and in order, the records past that number on top of
// the committed content, and commits. So after a crash or a power cut a file has
// exactly what its last fsync (or commit) acknowledged. Record numbers only grow: the
// highest one handed out is stored in the volume tree (kIntentSeqKey) before log
// files are dropped.
//
// Not logged (committed as before): files whose record is not committed yet (new, or
// with attribute changes pending), truncates, hole punches, preallocation, writes of
// more than the bound between two fsyncs, files of an explicit transaction.
#include <cstdio>
#include <cstring>

#include "fuse/fs/file_system.h"
#include "fuse/fs/volume_layout.h"

namespace sopfs {
namespace {

constexpr uint32_t kIntentFormat = 1;
// The fold runs once this much was logged, or once a record is this old.
constexpr uint64_t kFoldBytes = uint64_t{64} << 20;
constexpr auto kFoldAge = std::chrono::seconds(30);

template <class T>
void Put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(T));
}

using IntentRecord = FileSystem::IntentRecord;

std::string Encode(const IntentRecord& r) {
  std::string out;
  Put(out, kIntentFormat);
  Put(out, r.seq);
  Put(out, r.ino);
  Put(out, r.size);
  Put(out, r.mtime_ns);
  Put(out, r.ctime_ns);
  Put(out, static_cast<uint32_t>(r.writes.size()));
  for (const auto& w : r.writes) {
    Put(out, w.offset);
    Put(out, static_cast<uint32_t>(w.bytes.size()));
    out += w.bytes;
  }
  return out;
}

std::optional<IntentRecord> Decode(std::string_view in) {
  bool ok = true;
  auto get = [&]<class T>(T& v) {
    if (in.size() < sizeof(T)) {
      ok = false;
      return;
    }
    std::memcpy(&v, in.data(), sizeof(T));
    in.remove_prefix(sizeof(T));
  };
  uint32_t format = 0, n = 0;
  IntentRecord r;
  get(format);
  get(r.seq);
  get(r.ino);
  get(r.size);
  get(r.mtime_ns);
  get(r.ctime_ns);
  get(n);
  for (uint32_t i = 0; ok && i < n; ++i) {
    uint64_t offset = 0;
    uint32_t length = 0;
    get(offset);
    get(length);
    if (!ok || in.size() < length) return std::nullopt;
    r.writes.push_back({offset, std::string(in.substr(0, length))});
    in.remove_prefix(length);
  }
  if (!ok || format != kIntentFormat || !in.empty()) return std::nullopt;
  return r;
}

}  // namespace

bool FileSystem::LogIntent(const InodePtr& inode) {
  if (!intents_) return false;
  std::lock_guard content(inode->content_mu);
  if (!inode->content) return false;
  IntentRecord r;
  {
    std::lock_guard lock(mu_);
    // Its record must be in the engine already, or a replay would find no file; and
    // nothing but its content and times may be pending (the record says nothing else).
    const bool record_pending =
        dirty_inodes_.count(inode->ino) != 0 || journal_inodes_.count(inode->ino) != 0 ||
        (inflight_ != nullptr && inflight_->dirty.count(inode->ino)) ||
        inode->committed.version == 0 || doomed_.count(inode->ino) || inode->rec.nlink == 0;
    if (record_pending) return false;
    r.size = inode->content->size();
    r.mtime_ns = inode->rec.mtime_ns;
    r.ctime_ns = inode->rec.ctime_ns;
  }
  std::optional<std::vector<BufferedFile::WrittenRange>> writes = inode->content->TakeWrites();
  if (!writes) return false;
  if (writes->empty()) return inode->intent_appended != 0;  // logged already, or commit
  r.ino = inode->ino;
  r.writes = std::move(*writes);
  std::lock_guard log(intent_mu_);
  // Above every number handed out, and above what the file's commits hold (a log left
  // unreadable cannot make a number come back).
  r.seq = std::max({intent_seq_.load(), inode->intent_appended, inode->committed.intent_seq}) + 1;
  const std::string payload = Encode(r);
  Status st = intents_->AppendDurably(payload);
  // The number is used even when the append failed: a copy may hold the record, and the
  // commit that replaces it must say it holds these writes.
  intent_seq_ = r.seq;
  inode->intent_appended = r.seq;
  if (unfolded_.empty()) oldest_unfolded_ = std::chrono::steady_clock::now();
  unfolded_[r.ino] = r.seq;
  if (!st.ok()) {
    std::fprintf(stderr, "sopfs: intent log: %s; committing the file instead\n",
                 st.ToString().c_str());
    // Its writes since the last record were taken: until a commit, no fsync may log.
    inode->content->StopLoggingWrites();
    return false;  // the file's content is intact: the caller commits it
  }
  intent_bytes_ += payload.size();
  ++intent_counts_.records;
  intent_counts_.bytes += payload.size();
  return true;
}

FileSystem::IntentCounts FileSystem::intent_counts() {
  std::lock_guard log(intent_mu_);
  return intent_counts_;
}

Status FileSystem::ApplyIntent(Inode& inode, const IntentRecord& r) {
  SOPFS_RETURN_IF_ERROR(StartContent(inode));
  for (const auto& w : r.writes) {
    SOPFS_RETURN_IF_ERROR(inode.content->Write(
        w.offset, {reinterpret_cast<const uint8_t*>(w.bytes.data()), w.bytes.size()}));
  }
  std::lock_guard lock(mu_);
  inode.rec.size = inode.content->size();
  inode.rec.stored_chunks = inode.content->stored_chunks();
  inode.rec.mtime_ns = r.mtime_ns;
  inode.rec.ctime_ns = r.ctime_ns;
  inode.intent_appended = std::max(inode.intent_appended, r.seq);
  return Status::Ok();
}

void FileSystem::ReapplyIntents(Inode& inode) {
  if (std::max(inode.intent_appended, inode.committed.intent_seq) <= inode.committed.intent_seq) {
    return;  // nothing logged past its last commit
  }
  Result<CloseJournal::Contents> contents = Status::Ok();
  {
    std::lock_guard log(intent_mu_);
    if (!intents_) return;
    contents = intents_->ReadAll();
  }
  Status st = contents.status();
  for (size_t i = 0; st.ok() && i < contents->records.size(); ++i) {
    std::optional<IntentRecord> r = Decode(contents->records[i]);
    if (!r || r->ino != inode.ino || r->seq <= inode.committed.intent_seq) continue;
    st = ApplyIntent(inode, *r);
  }
  if (!st.ok()) {
    std::fprintf(stderr,
                 "sopfs: intent log: inode %llu: its fsync'd writes could not be laid over its "
                 "last commit again (a mount will): %s\n",
                 static_cast<unsigned long long>(inode.ino), st.ToString().c_str());
  }
}

Status FileSystem::StoreIntentSeq(uint64_t seq) {
  auto txn = engine_->Begin(TxnMode::kNoCheck);
  Result<TxnTree*> volume = txn->Tree(VolumeLayout::kVolumeTree);
  if (!volume.ok()) return volume.status();
  std::string bytes;
  AppendBigEndian64(bytes, seq);
  SOPFS_RETURN_IF_ERROR((*volume)->Upsert(kIntentSeqKey, bytes));
  return txn->Commit();
}

Status FileSystem::FoldIntents(bool force) {
  std::map<uint64_t, uint64_t> files;
  uint64_t generation = 0;
  {
    std::lock_guard log(intent_mu_);
    if (!intents_ || unfolded_.empty()) return Status::Ok();
    const bool due = intent_bytes_ >= kFoldBytes ||
                     std::chrono::steady_clock::now() - oldest_unfolded_ >= kFoldAge;
    if (!force && !due) return Status::Ok();
    // Records from now on go to a new file; every file before it is folded below.
    Result<uint64_t> gen = intents_->Rotate();
    if (!gen.ok()) return gen.status();
    generation = *gen;
    files = unfolded_;
    intent_bytes_ = 0;
    oldest_unfolded_ = std::chrono::steady_clock::now();
  }
  Status first;
  for (const auto& [ino, seq] : files) {
    InodePtr inode;
    {
      std::lock_guard lock(mu_);
      if (auto it = inodes_.find(ino); it != inodes_.end()) inode = it->second;
    }
    // Gone from the table: removed and closed; the namespace commit below makes it so.
    Status st = inode ? CommitFile(inode) : Status::Ok();
    if (!st.ok()) {
      if (first.ok()) first = st;
      continue;
    }
    uint64_t folded = seq;
    if (inode) {
      std::lock_guard content(inode->content_mu);
      folded = inode->committed.intent_seq;
    }
    if (folded < seq) {
      // The commit did not take its logged writes (they came back after a failure):
      // the log stays.
      if (first.ok()) first = Status::Error(EAGAIN, "inode " + std::to_string(ino) + " not folded");
      continue;
    }
    std::lock_guard log(intent_mu_);
    auto it = unfolded_.find(ino);
    if (it != unfolded_.end() && it->second <= folded) unfolded_.erase(it);
  }
  if (first.ok()) first = CommitNamespace();
  if (first.ok()) first = StoreIntentSeq(intent_seq_.load());
  if (!first.ok()) {
    std::fprintf(stderr, "sopfs: intent log: fold failed (retried later): %s\n",
                 first.ToString().c_str());
    return first;
  }
  std::lock_guard log(intent_mu_);
  intents_->DropBefore(generation);
  ++intent_counts_.folds;
  return Status::Ok();
}

Status FileSystem::ReplayIntents() {
  if (options_.env == nullptr || options_.journal_dirs.empty()) return Status::Ok();
  Result<std::unique_ptr<CloseJournal>> log =
      CloseJournal::Open(options_.env, options_.journal_dirs, "intent-");
  if (!log.ok()) return log.status();
  uint64_t highest = 0;
  {
    auto txn = engine_->Begin(TxnMode::kReader);
    Result<TxnTree*> volume = txn->Tree(VolumeLayout::kVolumeTree);
    if (!volume.ok()) return volume.status();
    Result<std::string> seq = (*volume)->Find(kIntentSeqKey);
    if (seq.ok()) {
      highest = ReadBigEndian64(*seq);
    } else if (seq.status().code() != ENOENT) {
      return seq.status();
    }
  }
  Result<CloseJournal::Contents> contents = (*log)->ReadAll();
  if (!contents.ok()) return contents.status();
  for (const std::string& problem : contents->problems) {
    std::fprintf(stderr, "sopfs: intent log: %s\n", problem.c_str());
  }
  std::vector<IntentRecord> records;
  for (const std::string& payload : contents->records) {
    std::optional<IntentRecord> r = Decode(payload);
    if (!r) break;  // cannot be: checksummed; stop rather than guess
    highest = std::max(highest, r->seq);
    records.push_back(std::move(*r));
  }
  intent_seq_ = highest;
  if (options_.read_only) {
    intents_ = nullptr;
    if (!records.empty()) {
      std::fprintf(stderr,
                   "sopfs: intent log: %zu record(s) not applied on a read-only mount; a "
                   "read-write mount applies them\n",
                   records.size());
    }
    return Status::Ok();
  }
  std::map<uint64_t, InodePtr> touched;
  for (const IntentRecord& r : records) {
    InodePtr inode;
    {
      std::lock_guard lock(mu_);
      Result<InodePtr> found = Get(r.ino);
      if (!found.ok()) {
        if (found.status().code() == ENOENT) continue;  // removed since: nothing to apply
        return found.status();                          // the log stays for the next mount
      }
      inode = *found;
    }
    std::lock_guard content(inode->content_mu);
    if (r.seq <= inode->committed.intent_seq) continue;  // its commit holds it
    SOPFS_RETURN_IF_ERROR(ApplyIntent(*inode, r));
    touched[r.ino] = inode;
  }
  if (!touched.empty()) {
    std::fprintf(stderr, "sopfs: intent log: applying fsync'd writes of %zu file(s)\n",
                 touched.size());
  }
  for (const auto& [ino, inode] : touched) SOPFS_RETURN_IF_ERROR(CommitFile(inode));
  intents_ = std::move(*log);
  if (records.empty()) return Status::Ok();
  SOPFS_RETURN_IF_ERROR(StoreIntentSeq(highest));
  Result<uint64_t> gen = intents_->Rotate();
  if (gen.ok()) intents_->DropBefore(*gen);
  return Status::Ok();
}

}  // namespace sopfs
