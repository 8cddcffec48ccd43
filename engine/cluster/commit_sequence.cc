#include "engine/cluster/commit_sequence.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "engine/coding.h"

namespace sopfs {
namespace {

constexpr char kMagic[8] = {'S', 'O', 'P', 'F', 'S', 'S', 'E', 'Q'};
constexpr uint32_t kFormat = 1;
constexpr size_t kHeaderBytes = 48;
constexpr size_t kChecksumBytes = 8;
constexpr size_t kMaxSessionBytes = 64;
constexpr char kTemporaryPrefix[] = "tmp-";

bool ValidSession(const std::string& session) {
  if (session.empty() || session.size() > kMaxSessionBytes) return false;
  return std::all_of(session.begin(), session.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

// The number a name spells in decimal (no sign, no leading zero), or false.
bool ParseNumber(const std::string& name, uint64_t* number) {
  if (name.empty() || (name.size() > 1 && name[0] == '0')) return false;
  const char* end = name.data() + name.size();
  auto [ptr, ec] = std::from_chars(name.data(), end, *number);
  return ec == std::errc() && ptr == end;
}

Status NotABatch(const std::string& why) {
  return Status::Error(EIO, "not a commit sequence batch: " + why);
}

}  // namespace

std::vector<uint8_t> EncodeSequenceBatch(const SequenceBatch& batch) {
  std::vector<uint8_t> out(kHeaderBytes + batch.session.size() + batch.payload.size() +
                           kChecksumBytes);
  uint8_t* p = out.data();
  std::memcpy(p, kMagic, sizeof kMagic);
  PutFixed<uint32_t>(p + 8, kFormat);
  PutFixed<uint32_t>(p + 12, 0);
  PutFixed<uint64_t>(p + 16, batch.number);
  PutFixed<uint64_t>(p + 24, batch.batch);
  PutFixed<uint32_t>(p + 32, static_cast<uint32_t>(batch.session.size()));
  PutFixed<uint32_t>(p + 36, 0);
  PutFixed<uint64_t>(p + 40, batch.payload.size());
  std::memcpy(p + kHeaderBytes, batch.session.data(), batch.session.size());
  if (!batch.payload.empty()) {
    std::memcpy(p + kHeaderBytes + batch.session.size(), batch.payload.data(),
                batch.payload.size());
  }
  const size_t body = out.size() - kChecksumBytes;
  PutFixed<uint64_t>(p + body, XXH3_64bits(p, body));
  return out;
}

Result<SequenceBatch> DecodeSequenceBatch(std::span<const uint8_t> bytes) {
  if (bytes.size() < kHeaderBytes + kChecksumBytes) {
    return NotABatch("cut to " + std::to_string(bytes.size()) + " bytes");
  }
  const uint8_t* p = bytes.data();
  if (std::memcmp(p, kMagic, sizeof kMagic) != 0) return NotABatch("bad magic");
  const uint32_t format = GetFixed<uint32_t>(p + 8);
  if (format != kFormat) {
    return Status::Error(ENOTSUP, "commit sequence batch of format " + std::to_string(format) +
                                      ", which a newer sopfs wrote");
  }
  const uint32_t session_bytes = GetFixed<uint32_t>(p + 32);
  const uint64_t payload_bytes = GetFixed<uint64_t>(p + 40);
  const uint64_t room = bytes.size() - kHeaderBytes - kChecksumBytes;
  if (session_bytes > kMaxSessionBytes || payload_bytes > room ||
      session_bytes + payload_bytes != room) {
    return NotABatch("its lengths (" + std::to_string(session_bytes) + " + " +
                     std::to_string(payload_bytes) + ") do not fill its " +
                     std::to_string(bytes.size()) + " bytes");
  }
  const size_t body = bytes.size() - kChecksumBytes;
  if (GetFixed<uint64_t>(p + body) != XXH3_64bits(p, body)) return NotABatch("checksum mismatch");
  SequenceBatch batch;
  batch.number = GetFixed<uint64_t>(p + 16);
  batch.batch = GetFixed<uint64_t>(p + 24);
  batch.session.assign(reinterpret_cast<const char*>(p + kHeaderBytes), session_bytes);
  batch.payload.assign(p + kHeaderBytes + session_bytes, p + body);
  return batch;
}

Result<std::unique_ptr<CommitSequence>> CommitSequence::Open(Env* env, std::string folder,
                                                             std::string session,
                                                             CommitSequenceOptions options) {
  if (!ValidSession(session)) {
    return Status::Error(EINVAL, "commit sequence session \"" + session +
                                     "\" must be 1 to 64 letters, digits, '-' or '_'");
  }
  if (options.per_folder == 0) {
    return Status::Error(EINVAL, "commit sequence: per_folder must be positive");
  }
  if (options.first_poll.count() <= 0 || options.max_poll < options.first_poll) {
    return Status::Error(EINVAL, "commit sequence: need 0 < first_poll <= max_poll");
  }
  while (folder.size() > 1 && folder.back() == '/') folder.pop_back();
  SOPFS_RETURN_IF_ERROR(env->MkDirsDurably(folder));
  std::unique_ptr<CommitSequence> sequence(
      new CommitSequence(env, std::move(folder), std::move(session), options));
  SOPFS_RETURN_IF_ERROR(sequence->RemoveOwnTemporaries());
  return sequence;
}

std::string CommitSequence::FolderOf(uint64_t number) const {
  return folder_ + "/" + std::to_string(number / options_.per_folder);
}

std::string CommitSequence::PathOf(uint64_t number) const {
  return FolderOf(number) + "/" + std::to_string(number);
}

Result<std::vector<uint64_t>> CommitSequence::Numbers(const std::string& dir) {
  auto entries = env_->List(dir);
  if (!entries.ok()) return entries.status();
  std::vector<uint64_t> numbers;
  for (const DirEntry& e : *entries) {
    uint64_t n = 0;
    if (ParseNumber(e.name, &n)) numbers.push_back(n);
  }
  std::sort(numbers.begin(), numbers.end());
  return numbers;
}

Status CommitSequence::RemoveOwnTemporaries() {
  auto folders = Numbers(folder_);
  if (!folders.ok()) return folders.status();
  // Claims happen at the head: only the last two folders can hold this session's.
  const std::string prefix = std::string(kTemporaryPrefix) + session_ + "-";
  const size_t first = folders->size() > 2 ? folders->size() - 2 : 0;
  for (size_t i = first; i < folders->size(); ++i) {
    const std::string dir = folder_ + "/" + std::to_string((*folders)[i]);
    auto entries = env_->List(dir);
    if (!entries.ok()) return entries.status();
    for (const DirEntry& e : *entries) {
      if (!e.name.starts_with(prefix)) continue;
      Status st = env_->Unlink(dir + "/" + e.name);
      if (!st.ok() && st.code() != ENOENT) return st;
    }
  }
  return Status::Ok();
}

Status CommitSequence::WriteTemporary(const std::string& path, uint64_t number, uint64_t batch,
                                      std::span<const uint8_t> payload) {
  SequenceBatch b{.number = number,
                  .session = session_,
                  .batch = batch,
                  .payload = std::vector<uint8_t>(payload.begin(), payload.end())};
  std::vector<uint8_t> bytes = EncodeSequenceBatch(b);
  auto file = env_->Open(path, {.mode = OpenMode::kCreateTruncate});
  if (!file.ok()) return file.status();
  iovec iov{bytes.data(), bytes.size()};
  IoOp ops[2] = {
      {.kind = IoKind::kWrite, .file = file->get(), .iov = &iov, .iovcnt = 1, .link_next = true},
      {.kind = IoKind::kFdatasync, .file = file->get()},
  };
  SOPFS_RETURN_IF_ERROR(env_->Submit(ops));
  for (const IoOp& op : ops) {
    if (!op.Complete()) {
      const int err = op.result < 0 ? static_cast<int>(-op.result) : EIO;
      return Status::Error(err, "writing " + path);
    }
  }
  return Status::Ok();
}

Status CommitSequence::Claim(uint64_t number, std::span<const uint8_t> payload) {
  std::lock_guard<std::mutex> lock(claim_mu_);
  if (number < kFirst) return Status::Error(EINVAL, "commit sequence numbers start at 1");
  if (number > kFirst && !env_->Exists(PathOf(number - 1))) {
    return Status::Error(EINVAL, "cannot claim " + std::to_string(number) + " before " +
                                     std::to_string(number - 1) + " exists (" + PathOf(number - 1) +
                                     ")");
  }
  const std::string dir = FolderOf(number);
  if (number % options_.per_folder == 0 || number == kFirst || !env_->Exists(dir)) {
    // The first number of a folder: its predecessor's folder is flushed too, so that
    // no power cut can keep N and lose N-1 (a claimer that died may not have).
    if (number > kFirst) SOPFS_RETURN_IF_ERROR(env_->SyncDir(FolderOf(number - 1)));
    SOPFS_RETURN_IF_ERROR(env_->MkDirsDurably(dir));
  }
  const uint64_t batch = next_batch_++;
  const std::string temporary =
      dir + "/" + kTemporaryPrefix + session_ + "-" + std::to_string(batch);
  const std::string path = PathOf(number);
  Status written = WriteTemporary(temporary, number, batch, payload);
  Status linked = written.ok() ? env_->Link(temporary, path) : written;
  if (linked.code() == EEXIST) {
    // Taken, unless a retransmitted link (NFS) reports our own success as EEXIST.
    auto holder = Read(number);
    if (!holder.ok() || holder->session != session_ || holder->batch != batch) {
      (void)env_->Unlink(temporary);
      return Status::Error(EEXIST,
                           "commit sequence number " + std::to_string(number) + " is taken" +
                               (holder.ok() ? " by session " + holder->session : std::string()));
    }
    linked = Status::Ok();
  }
  if (!linked.ok()) {
    (void)env_->Unlink(temporary);
    return linked;
  }
  SOPFS_RETURN_IF_ERROR(env_->SyncDir(dir));
  // A leftover temporary costs only space; the session's next Open removes it.
  (void)env_->Unlink(temporary);
  Notify();  // local waiters need no pub/sub
  return Status::Ok();
}

Status CommitSequence::WaitFor(uint64_t number, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string path = PathOf(number);
  std::chrono::milliseconds backoff = options_.first_poll;
  std::unique_lock<std::mutex> lock(wait_mu_);
  for (;;) {
    // Taken before looking: a notice that comes while we look is not slept through.
    const uint64_t seen = notices_;
    ++polls_;
    lock.unlock();
    const bool claimed = env_->Exists(path);  // the name appears only whole (Claim)
    lock.lock();
    if (claimed) return Status::Ok();
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return Status::Error(ETIMEDOUT, "commit sequence number " + std::to_string(number) +
                                          " not claimed after " + std::to_string(timeout.count()) +
                                          " ms");
    }
    if (woken_.wait_until(lock, std::min(now + backoff, deadline),
                          [&] { return notices_ != seen; })) {
      backoff = options_.first_poll;  // something moved: look closely again
    } else {
      backoff = std::min(backoff * 2, options_.max_poll);
    }
  }
}

void CommitSequence::Notify() {
  {
    std::lock_guard<std::mutex> lock(wait_mu_);
    ++notices_;
  }
  woken_.notify_all();
}

uint64_t CommitSequence::polls() const {
  std::lock_guard<std::mutex> lock(wait_mu_);
  return polls_;
}

Result<SequenceBatch> CommitSequence::Read(uint64_t number) {
  const std::string path = PathOf(number);
  auto bytes = env_->ReadFile(path);
  if (!bytes.ok()) {
    return Status::Error(bytes.status().code(),
                         "commit sequence batch " + path + ": " + bytes.status().message());
  }
  auto batch = DecodeSequenceBatch(*bytes);
  if (!batch.ok()) {
    return Status::Error(batch.status().code(), path + ": " + batch.status().message());
  }
  if (batch->number != number) {
    return Status::Error(EIO, path + ": holds batch " + std::to_string(batch->number));
  }
  return batch;
}

Result<uint64_t> CommitSequence::Head() {
  auto folders = Numbers(folder_);
  if (!folders.ok()) return folders.status();
  for (auto it = folders->rbegin(); it != folders->rend(); ++it) {
    auto numbers = Numbers(folder_ + "/" + std::to_string(*it));
    if (!numbers.ok()) return numbers.status();
    if (!numbers->empty()) return numbers->back();
  }
  return uint64_t{0};
}

Status CommitSequence::RemoveBefore(uint64_t number) {
  auto folders = Numbers(folder_);
  if (!folders.ok()) return folders.status();
  bool removed_folder = false;
  for (uint64_t f : *folders) {
    const std::string dir = folder_ + "/" + std::to_string(f);
    if ((f + 1) * options_.per_folder <= number) {
      SOPFS_RETURN_IF_ERROR(env_->RemoveAll(dir));
      removed_folder = true;
      continue;
    }
    if (f * options_.per_folder >= number) break;
    auto numbers = Numbers(dir);
    if (!numbers.ok()) return numbers.status();
    bool removed = false;
    for (uint64_t n : *numbers) {
      if (n >= number) break;
      Status st = env_->Unlink(dir + "/" + std::to_string(n));
      if (!st.ok() && st.code() != ENOENT) return st;
      removed = true;
    }
    if (removed) SOPFS_RETURN_IF_ERROR(env_->SyncDir(dir));
  }
  return removed_folder ? env_->SyncDir(folder_) : Status::Ok();
}

}  // namespace sopfs
