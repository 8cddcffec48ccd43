#include "engine/txn/commit_log.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <cstring>

#include "engine/coding.h"

namespace sopfs {
namespace {

constexpr uint32_t kMagic = 0x4c504f53;  // "SOPL"
constexpr uint16_t kVersion = 1;
constexpr size_t kHeaderSize = 32;
constexpr size_t kRecordHeaderSize = 24;
constexpr uint32_t kMaxPayload = CommitLog::kMaxRecordBytes;

std::vector<uint8_t> Header(uint64_t first_sequence) {
  std::vector<uint8_t> h(kHeaderSize, 0);
  PutFixed<uint32_t>(h.data(), kMagic);
  PutFixed<uint16_t>(h.data() + 4, kVersion);
  PutFixed<uint64_t>(h.data() + 8, first_sequence);
  PutFixed<uint64_t>(h.data() + 24, XXH3_64bits(h.data(), 24));
  return h;
}

// Covers the record header's length, batch index and sequence, and the payload.
uint64_t RecordSum(const uint8_t* header, const uint8_t* payload, size_t len) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, header, 16);
  XXH3_64bits_update(&state, payload, len);
  return XXH3_64bits_digest(&state);
}

struct ParsedRecord {
  uint64_t sequence = 0;
  uint32_t index_in_batch = 0;  // records of the same flush before this one
  size_t payload_offset = 0;
  size_t end = 0;
};

// A whole, valid record at `offset` of `bytes`, whatever its sequence.
bool ParseRecord(const std::vector<uint8_t>& bytes, size_t offset, ParsedRecord* out) {
  if (bytes.size() - offset < kRecordHeaderSize) return false;
  const uint8_t* p = bytes.data() + offset;
  const uint32_t len = GetFixed<uint32_t>(p);
  if (len > kMaxPayload || bytes.size() - offset - kRecordHeaderSize < len ||
      GetFixed<uint64_t>(p + 16) != RecordSum(p, p + kRecordHeaderSize, len)) {
    return false;
  }
  out->sequence = GetFixed<uint64_t>(p + 8);
  out->index_in_batch = GetFixed<uint32_t>(p + 4);
  out->payload_offset = offset + kRecordHeaderSize;
  out->end = out->payload_offset + len;
  return true;
}

// Records for `payloads`, numbered from `first_sequence`, as one flush batch.
std::vector<uint8_t> EncodeBatch(const std::vector<const std::string*>& payloads,
                                 uint64_t first_sequence) {
  std::vector<uint8_t> buf;
  uint32_t index = 0;
  for (const std::string* payload : payloads) {
    const size_t at = buf.size();
    buf.resize(at + kRecordHeaderSize + payload->size());
    uint8_t* p = buf.data() + at;
    const auto* bytes = reinterpret_cast<const uint8_t*>(payload->data());
    PutFixed<uint32_t>(p, static_cast<uint32_t>(payload->size()));
    PutFixed<uint32_t>(p + 4, index);
    PutFixed<uint64_t>(p + 8, first_sequence + index);
    PutFixed<uint64_t>(p + 16, RecordSum(p, bytes, payload->size()));
    std::memcpy(p + kRecordHeaderSize, bytes, payload->size());
    ++index;
  }
  return buf;
}

}  // namespace

CommitLog::CommitLog(Env* env, std::string folder, CommitLogOptions options)
    : env_(env), folder_(std::move(folder)), options_(std::move(options)) {}

Result<std::unique_ptr<CommitLog>> CommitLog::Open(Env* env, const std::string& folder,
                                                   CommitLogOptions options) {
  std::unique_ptr<CommitLog> log(new CommitLog(env, folder, std::move(options)));
  SOPFS_RETURN_IF_ERROR(log->Load());
  return log;
}

Status CommitLog::Load() {
  const std::string path = folder_ + kFileName;
  if (!env_->Exists(path) && !options_.read_only) {
    SOPFS_RETURN_IF_ERROR(env_->WriteFileDurably(path + ".new", Header(1)));
    SOPFS_RETURN_IF_ERROR(env_->Rename(path + ".new", path));
    SOPFS_RETURN_IF_ERROR(env_->SyncDir(folder_));
  }
  auto bytes = env_->ReadFile(path);
  if (!bytes.ok()) return bytes.status();
  const std::vector<uint8_t>& b = *bytes;
  if (b.size() < kHeaderSize || GetFixed<uint32_t>(b.data()) != kMagic ||
      GetFixed<uint16_t>(b.data() + 4) != kVersion ||
      GetFixed<uint64_t>(b.data() + 24) != XXH3_64bits(b.data(), 24)) {
    return Status::Error(EIO, "commit log " + path + " has a corrupt header");
  }
  uint64_t sequence = GetFixed<uint64_t>(b.data() + 8);
  size_t offset = kHeaderSize;
  ParsedRecord r;
  while (ParseRecord(b, offset, &r) && r.sequence == sequence) {
    CommitRecord record;
    record.sequence = sequence;
    record.payload.assign(reinterpret_cast<const char*>(b.data() + r.payload_offset),
                          r.end - r.payload_offset);
    recovered_.push_back(std::move(record));
    offset = r.end;
    ++sequence;
  }
  // Past the last good record: a crash tears only the batch that was being flushed (a
  // batch goes out only after the previous one is durable). A good record further on
  // that belongs to a later batch means committed records were damaged: refuse.
  for (size_t at = offset + 1; at + kRecordHeaderSize <= b.size(); ++at) {
    if (ParseRecord(b, at, &r) && r.sequence > sequence &&
        r.sequence - r.index_in_batch > sequence) {
      return Status::Error(EIO, "commit log " + path + ": record " + std::to_string(sequence) +
                                    " is corrupt and committed records follow it");
    }
  }
  auto file = env_->Open(path, {.mode = OpenMode::kReadWrite});
  if (!file.ok()) return file.status();
  file_ = std::move(*file);
  if (offset < b.size() && !options_.read_only) {
    // Drop the torn tail durably, so new records never follow garbage.
    SOPFS_RETURN_IF_ERROR(file_->Truncate(offset));
    IoOp sync{.kind = IoKind::kFsync, .file = file_.get()};
    SOPFS_RETURN_IF_ERROR(env_->Submit({&sync, 1}));
    if (sync.result < 0) {
      return Status::Error(static_cast<int>(-sync.result), "truncating the torn tail of " + path);
    }
  }
  end_ = allocated_ = offset;
  next_sequence_ = sequence;
  return Status::Ok();
}

Status CommitLog::WriteBatch(std::vector<Request*>& batch, uint64_t offset, uint64_t* bytes,
                             bool* intact) {
  *intact = true;
  std::vector<const std::string*> payloads;
  for (const Request* r : batch) payloads.push_back(&r->payload);
  std::vector<uint8_t> buf = EncodeBatch(payloads, batch.front()->sequence);
  if (offset + buf.size() > allocated_) {
    // Room ahead of the records, taken while there is some: a full disk then fails this
    // allocation, before anything is written, not a write or a flush of the log.
    const uint64_t want = (offset + buf.size() + kAllocateAhead) / kAllocateAhead * kAllocateAhead;
    Status room = file_->Allocate(allocated_, want - allocated_);
    if (!room.ok()) {
      return Status::Error(room.code(),
                           "no room to grow the commit log in " + folder_ + ": " + room.message());
    }
    allocated_ = want;
  }
  iovec iov{buf.data(), buf.size()};
  IoOp ops[2] = {
      {.kind = IoKind::kWrite,
       .file = file_.get(),
       .offset = offset,
       .iov = &iov,
       .iovcnt = 1,
       .link_next = true},
      {.kind = IoKind::kFdatasync, .file = file_.get()},
  };
  SOPFS_RETURN_IF_ERROR(env_->Submit(ops));
  for (const IoOp& op : ops) {
    if (!op.Complete()) {
      const int err = op.result < 0 ? static_cast<int>(-op.result) : EIO;
      // A write refused for room flushed nothing: the next batch goes over it (a crash
      // first leaves at most a torn tail). A failed flush may have lost what it wrote.
      *intact = op.kind == IoKind::kWrite && (err == ENOSPC || err == EDQUOT);
      return Status::Error(err, std::string(op.kind == IoKind::kWrite ? "writing" : "flushing") +
                                    " the commit log in " + folder_);
    }
  }
  *bytes = buf.size();
  return Status::Ok();
}

Result<uint64_t> CommitLog::Append(std::string payload) {
  if (payload.size() > kMaxPayload) {
    return Status::Error(EINVAL, "commit record of " + std::to_string(payload.size()) +
                                     " bytes is over the 64 MiB limit");
  }
  Request request;
  request.payload = std::move(payload);
  std::unique_lock<std::mutex> lock(mu_);
  if (!broken_.ok()) return broken_;
  queue_.push_back(&request);
  while (!request.done) {
    if (leader_active_) {
      done_cv_.wait(lock);
      continue;
    }
    // Lead: flush everything queued so far, this request included, in one go.
    leader_active_ = true;
    std::vector<Request*> batch(queue_.begin(), queue_.end());
    queue_.clear();
    Status st = broken_;
    uint64_t bytes = 0;
    bool intact = false;
    if (st.ok()) {
      for (Request* r : batch) r->sequence = next_sequence_++;
      const uint64_t offset = end_;
      lock.unlock();
      if (options_.before_flush) options_.before_flush();
      st = WriteBatch(batch, offset, &bytes, &intact);
      lock.lock();
      ++flushes_;
    }
    if (st.ok()) {
      end_ += bytes;
      appended_ += batch.size();
    } else if (intact && broken_.ok()) {
      // Refused for room before anything was flushed: these records are not in the log,
      // and the next batch takes their place and their sequence numbers.
      next_sequence_ = batch.front()->sequence;
    } else {
      // A failed flush may have lost what it wrote (and a retry cannot tell): the log
      // takes no more records until it is reopened and recovered.
      broken_ = st;
    }
    for (Request* r : batch) {
      r->status = st;
      r->done = true;
    }
    leader_active_ = false;
    done_cv_.notify_all();
  }
  if (!request.status.ok()) return request.status;
  return request.sequence;
}

Status CommitLog::Reset(const std::vector<std::string>& first_records) {
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return !leader_active_ && queue_.empty(); });
  if (!broken_.ok()) return broken_;
  for (const std::string& r : first_records) {
    if (r.size() > kMaxPayload) return Status::Error(EINVAL, "carried record over 64 MiB");
  }
  const std::string path = folder_ + kFileName;
  std::vector<uint8_t> bytes = Header(next_sequence_);
  std::vector<const std::string*> payloads;
  for (const std::string& r : first_records) payloads.push_back(&r);
  std::vector<uint8_t> records = EncodeBatch(payloads, next_sequence_);
  bytes.insert(bytes.end(), records.begin(), records.end());
  SOPFS_RETURN_IF_ERROR(env_->WriteFileDurably(path + ".new", bytes));
  // Opened before the rename, so the handle is the new file whatever happens next.
  auto file = env_->Open(path + ".new", {.mode = OpenMode::kReadWrite});
  if (!file.ok()) return file.status();
  Status st = env_->Rename(path + ".new", path);
  if (st.ok()) st = env_->SyncDir(folder_);
  if (!st.ok()) {
    // Which file a restart finds is unknown now: take no more records until reopened.
    broken_ = Status::Error(st.code(), "resetting the commit log: " + st.ToString());
    return broken_;
  }
  file_ = std::move(*file);
  end_ = allocated_ = bytes.size();
  next_sequence_ += first_records.size();
  appended_ += first_records.size();
  recovered_.clear();
  return Status::Ok();
}

bool CommitLog::broken() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !broken_.ok();
}

uint64_t CommitLog::next_sequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return next_sequence_;
}

uint64_t CommitLog::flushes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return flushes_;
}

size_t CommitLog::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

uint64_t CommitLog::appended() const {
  std::lock_guard<std::mutex> lock(mu_);
  return appended_;
}

}  // namespace sopfs
