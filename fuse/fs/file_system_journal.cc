// FileSystem's close journal: a small file's close is made durable against a crash
// of the daemon by one journal record (CloseJournal) instead of an engine commit; the
// next namespace commit (every commit_interval, or any fsync) puts it in the engine.
//
// A record holds, as of its append: the names, inode records and deletions changed
// since the previous record, the next inode number, and the whole content of each
// small file closed since. Records are appended under mu_, so their order is the order
// of the changes, and a replay of a prefix of them is a prefix of the operations.
// Every commit stores the sequence number of the last record it includes; a mount
// replays only later ones, then commits them.
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "fuse/fs/file_system.h"
#include "fuse/fs/volume_layout.h"

namespace sopfs {
namespace {

constexpr uint8_t kJournalFormat = 1;

void Put64(std::string& out, uint64_t v) { out.append(reinterpret_cast<const char*>(&v), 8); }
void Put32(std::string& out, uint32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); }
void PutBytes(std::string& out, std::string_view b) {
  Put32(out, static_cast<uint32_t>(b.size()));
  out.append(b);
}

class Cursor {
 public:
  explicit Cursor(std::string_view b) : b_(b) {}
  uint64_t U64() { return Fixed<uint64_t>(); }
  uint32_t U32() { return Fixed<uint32_t>(); }
  uint8_t U8() { return Fixed<uint8_t>(); }
  std::string Bytes() {
    const uint32_t n = U32();
    if (!ok_ || b_.size() < n) {
      ok_ = false;
      return {};
    }
    std::string s(b_.substr(0, n));
    b_.remove_prefix(n);
    return s;
  }
  bool ok() const { return ok_ && b_.empty(); }

 private:
  template <class T>
  T Fixed() {
    T v{};
    if (b_.size() < sizeof(T)) {
      ok_ = false;
      return v;
    }
    std::memcpy(&v, b_.data(), sizeof(T));
    b_.remove_prefix(sizeof(T));
    return v;
  }
  std::string_view b_;
  bool ok_ = true;
};

}  // namespace

const std::string* FileSystem::SmallPending(uint64_t ino) const {
  auto it = small_content_.find(ino);
  if (it != small_content_.end()) return &it->second;
  if (inflight_) {
    auto flying = inflight_->small.find(ino);
    if (flying != inflight_->small.end()) return &flying->second;
  }
  return nullptr;
}

void FileSystem::PutSmall(uint64_t ino, std::string bytes) {
  DropSmall(ino);
  small_bytes_ += bytes.size();
  small_disk_cost_ += SmallDiskCost(bytes.size());
  small_content_[ino] = std::move(bytes);
}

void FileSystem::DropSmall(uint64_t ino) {
  auto it = small_content_.find(ino);
  if (it == small_content_.end()) return;
  small_bytes_ -= it->second.size();
  small_disk_cost_ -= SmallDiskCost(it->second.size());
  small_content_.erase(it);
  small_room_cv_.notify_all();
}

uint64_t FileSystem::SmallDiskCost(uint64_t bytes) const {
  constexpr uint64_t kBlock = 4096;
  if (bytes <= ChunkFile::kInNodeBytes) return bytes + 64;
  const uint64_t k = static_cast<uint64_t>(options_.k);
  const uint64_t shard = (bytes + k - 1) / k;
  return static_cast<uint64_t>(options_.k + options_.m) * ((shard + kBlock - 1) / kBlock + 1) *
         kBlock;
}

bool FileSystem::SmallRoomLocked(uint64_t numerator, uint64_t denominator) const {
  const uint64_t bytes_limit = options_.small_file_buffer * numerator / denominator;
  const uint64_t cost_limit = engine_->options().reserve_bytes / 2 * numerator / denominator;
  return small_bytes_ < bytes_limit && (cost_limit == 0 || small_disk_cost_ < cost_limit);
}

void FileSystem::CommitSoon() {
  std::lock_guard lock(committer_mu_);
  commit_soon_ = true;
  committer_cv_.notify_all();
}

bool FileSystem::WaitForSmallRoom() {
  std::unique_lock lock(mu_);
  // Half the buffer fills while the other half commits: the committer starts at half.
  if (SmallRoomLocked(1, 2)) return true;
  lock.unlock();
  CommitSoon();
  lock.lock();
  if (SmallRoomLocked(1, 1)) return true;
  return small_room_cv_.wait_for(lock, options_.small_room_wait,
                                 [&] { return SmallRoomLocked(1, 1); });
}

Status FileSystem::AppendJournal() {
  std::string rec;
  Put32(rec, kJournalFormat);
  Put64(rec, ++journal_seq_);
  Put64(rec, next_ino_);
  Put32(rec, static_cast<uint32_t>(journal_names_.size()));
  for (const std::string& key : journal_names_) {
    PutBytes(rec, key);
    auto it = dirty_entries_.find(key);
    // Not pending any more: taken by a commit in flight; its state is in inflight_.
    const std::optional<NameEntry>* entry = nullptr;
    if (it != dirty_entries_.end()) {
      entry = &it->second;
    } else if (inflight_ && inflight_->entries.count(key)) {
      entry = &inflight_->entries.at(key);
    }
    const bool present = entry != nullptr && entry->has_value();
    rec.push_back(static_cast<char>(present ? 1 : 0));
    if (present) PutBytes(rec, EncodeNameEntry(**entry));
  }
  std::string records;
  uint32_t n_records = 0;
  for (uint64_t ino : journal_inodes_) {
    auto it = inodes_.find(ino);
    if (it == inodes_.end()) continue;
    const Inode& inode = *it->second;
    if (inode.rec.nlink == 0 && inode.open == 0) continue;  // being deleted
    Put64(records, ino);
    PutBytes(records, DurableRecord(inode).Encode());
    ++n_records;
  }
  Put32(rec, n_records);
  rec += records;
  Put32(rec, static_cast<uint32_t>(journal_doomed_.size()));
  for (uint64_t ino : journal_doomed_) Put64(rec, ino);
  std::string smalls;
  uint32_t n_small = 0;
  for (uint64_t ino : journal_small_) {
    const std::string* bytes = nullptr;
    if (auto it = small_content_.find(ino); it != small_content_.end()) {
      bytes = &it->second;
    } else if (inflight_ && inflight_->small.count(ino)) {
      bytes = &inflight_->small.at(ino);  // taken by a commit not durable yet
    } else {
      continue;  // deleted since
    }
    Put64(smalls, ino);
    PutBytes(smalls, *bytes);
    ++n_small;
  }
  Put32(rec, n_small);
  rec += smalls;
  Status st = journal_->Append(rec);
  if (st.ok()) {
    journal_names_.clear();
    journal_inodes_.clear();
    journal_doomed_.clear();
    journal_small_.clear();
  }
  return st;
}

Result<bool> FileSystem::FastClose(const InodePtr& inode) {
  if (!journal_) return false;
  // A full disk: the file commits by itself, and finds out (ENOSPC) there.
  if (!engine_->RoomForNewData().ok()) return false;
  // Full for too long (commits failing): this file commits by itself, holding nothing.
  if (!WaitForSmallRoom()) return false;
  bool stores_a_chunk = false;
  {
    std::lock_guard content(inode->content_mu);
    if (!inode->content) return false;
    std::optional<std::string> bytes = inode->content->SmallContent(kSmallFileBytes);
    if (!bytes) return false;
    std::unique_lock lock(mu_);
    committed_cv_.wait(lock, [&] {
      return std::none_of(journal_inodes_.begin(), journal_inodes_.end(),
                          [&](uint64_t ino) { return committing_.count(ino) != 0; });
    });
    // The content becomes pending by value; what it replaces is kept in case the
    // record cannot be written (then the file commits the slow way, as it was).
    const InodeRecord old_rec = inode->rec;
    const InodeRecord old_committed = inode->committed;
    std::optional<std::string> old_small;
    if (auto it = small_content_.find(inode->ino); it != small_content_.end()) {
      old_small = it->second;
    }
    InodeRecord& r = inode->rec;
    r.size = bytes->size();
    r.stored_chunks = bytes->empty() ? 0 : 1;
    stores_a_chunk = !bytes->empty();
    r.version = inode->committed.version + 1;
    inode->committed.size = r.size;
    inode->committed.stored_chunks = r.stored_chunks;
    inode->committed.mtime_ns = r.mtime_ns;
    inode->committed.version = r.version;
    r.intent_seq = inode->committed.intent_seq =
        std::max(inode->intent_appended, inode->committed.intent_seq);
    PutSmall(inode->ino, std::move(*bytes));
    journal_small_.insert(inode->ino);
    MarkDirty(inode);
    Status appended = AppendJournal();
    if (!appended.ok()) {
      std::fprintf(stderr, "sopfs: %s; committing the file instead\n", appended.ToString().c_str());
      inode->rec.size = old_rec.size;
      inode->rec.stored_chunks = old_rec.stored_chunks;
      inode->rec.version = old_rec.version;
      inode->rec.intent_seq = old_rec.intent_seq;
      inode->committed = old_committed;
      if (old_small) {
        PutSmall(inode->ino, std::move(*old_small));
      } else {
        DropSmall(inode->ino);
        journal_small_.erase(inode->ino);
      }
      return false;  // the caller commits the content transaction, still intact
    }
    // Its changes are now the small content: the transaction has nothing of its own.
    content_pending_.erase(inode->ino);
    lock.unlock();
    inode->content.reset();
    inode->txn.reset();
  }
  // At most 64 KiB, written with the next namespace commit: room fallocate promised to
  // its one chunk goes back now (promises past the end, FALLOC_FL_KEEP_SIZE, stay).
  if (reserve_) {
    if (stores_a_chunk) reserve_->Release(inode->ino, 0, 1);
    reserve_->Settle(inode->ino);
  }
  read_ahead_->Forget(inode->ino);
  return true;
}

Status FileSystem::ReplayJournal() {
  if (options_.env == nullptr || options_.journal_dirs.empty()) return Status::Ok();
  Result<std::unique_ptr<CloseJournal>> journal =
      CloseJournal::Open(options_.env, options_.journal_dirs);
  if (!journal.ok()) return journal.status();
  uint64_t applied = 0;
  {
    auto txn = engine_->Begin(TxnMode::kReader);
    Result<TxnTree*> volume = txn->Tree(VolumeLayout::kVolumeTree);
    if (!volume.ok()) return volume.status();
    Result<std::string> seq = (*volume)->Find(kJournalAppliedKey);
    if (seq.ok()) {
      applied = ReadBigEndian64(*seq);
    } else if (seq.status().code() != ENOENT) {
      return seq.status();
    }
  }
  Result<CloseJournal::Contents> contents = (*journal)->ReadAll();
  if (!contents.ok()) return contents.status();
  for (const std::string& problem : contents->problems) {
    std::fprintf(stderr, "sopfs: %s\n", problem.c_str());
  }
  const std::vector<std::string>* records = &contents->records;
  size_t replayed = 0;
  {
    std::lock_guard lock(mu_);
    journal_seq_ = applied;
    for (const std::string& payload : *records) {
      Cursor in(payload);
      const uint32_t format = in.U32();
      const uint64_t seq = in.U64();
      if (format != kJournalFormat) break;
      const uint64_t next_ino = in.U64();
      std::map<std::string, std::optional<NameEntry>> names;
      for (uint32_t n = in.U32(); n > 0; --n) {
        std::string key = in.Bytes();
        std::optional<NameEntry> entry;
        if (in.U8() == 1) entry = DecodeNameEntry(in.Bytes());
        names[std::move(key)] = entry;
      }
      std::map<uint64_t, InodeRecord> inodes;
      for (uint32_t n = in.U32(); n > 0; --n) {
        const uint64_t ino = in.U64();
        Result<InodeRecord> rec = InodeRecord::Decode(in.Bytes(), ino);
        if (rec.ok()) inodes[ino] = std::move(*rec);
      }
      std::set<uint64_t> doomed;
      for (uint32_t n = in.U32(); n > 0; --n) doomed.insert(in.U64());
      std::map<uint64_t, std::string> small;
      for (uint32_t n = in.U32(); n > 0; --n) {
        const uint64_t ino = in.U64();
        small[ino] = in.Bytes();
      }
      if (!in.ok()) break;  // cannot be: checksummed; stop rather than guess
      journal_seq_ = std::max(journal_seq_, seq);
      if (seq <= applied) continue;  // the engine has it
      ++replayed;
      next_ino_ = std::max(next_ino_, next_ino);
      for (auto& [key, entry] : names) dirty_entries_[key] = entry;
      for (auto& [ino, rec] : inodes) {
        auto inode = std::make_shared<Inode>();
        inode->ino = ino;
        inode->rec = rec;
        inode->committed = rec;
        inodes_[ino] = inode;
        dirty_inodes_.insert(ino);
      }
      for (uint64_t ino : doomed) MarkDoomed(ino);
      for (auto& [ino, bytes] : small) PutSmall(ino, std::move(bytes));
    }
    journal_ = std::move(*journal);
  }
  if (options_.read_only) {
    if (replayed != 0) {
      std::fprintf(stderr, "sopfs: %zu close-journal record(s) served from memory (read-only)\n",
                   replayed);
    }
    return Status::Ok();
  }
  if (replayed == 0) {
    Result<uint64_t> gen = journal_->Rotate();
    if (gen.ok()) journal_->DropBefore(*gen);
    return Status::Ok();
  }
  std::fprintf(stderr, "sopfs: replaying %zu close-journal record(s) left by a crash\n", replayed);
  return CommitNamespace();
}

}  // namespace sopfs
