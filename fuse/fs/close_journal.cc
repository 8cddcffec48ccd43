#include "fuse/fs/close_journal.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <set>

namespace sopfs {
namespace {

constexpr size_t kHeader = 12;  // u32 length, u64 checksum

// A record's header: the payload's length and checksum.
void FillHeader(std::string_view payload, char (&header)[kHeader]) {
  const uint32_t length = static_cast<uint32_t>(payload.size());
  const uint64_t sum = XXH3_64bits(payload.data(), payload.size());
  std::memcpy(header, &length, 4);
  std::memcpy(header + 4, &sum, 8);
}

// The intact record at `at` of one copy, if there is one.
std::optional<std::string_view> RecordAt(const std::string& bytes, size_t at) {
  if (bytes.size() < at || bytes.size() - at < kHeader) return std::nullopt;
  uint32_t length;
  uint64_t sum;
  std::memcpy(&length, bytes.data() + at, 4);
  std::memcpy(&sum, bytes.data() + at + 4, 8);
  if (length > bytes.size() - at - kHeader) return std::nullopt;  // torn, or a bad length
  std::string_view payload(bytes.data() + at + kHeader, length);
  if (XXH3_64bits(payload.data(), payload.size()) != sum) return std::nullopt;
  return payload;
}

}  // namespace

Result<std::unique_ptr<CloseJournal>> CloseJournal::Open(Env* env, std::vector<std::string> dirs,
                                                         std::string prefix) {
  if (dirs.empty()) return Status::Error(EINVAL, "the close journal needs a folder");
  for (const std::string& dir : dirs) SOPFS_RETURN_IF_ERROR(env->MkDirsDurably(dir));
  std::unique_ptr<CloseJournal> journal(new CloseJournal(env, std::move(dirs), std::move(prefix)));
  Result<std::vector<uint64_t>> gens = journal->Generations();
  if (!gens.ok()) return gens.status();
  // Appends start a file of their own: copies of an older one may differ in length.
  journal->generation_ = gens->empty() ? 0 : gens->back() + 1;
  return journal;
}

std::string CloseJournal::PathOf(size_t copy, uint64_t generation) const {
  return dirs_[copy] + "/" + prefix_ + std::to_string(generation);
}

Result<std::vector<uint64_t>> CloseJournal::Generations() {
  std::set<uint64_t> gens;
  for (const std::string& dir : dirs_) {
    Result<std::vector<DirEntry>> entries = env_->List(dir);
    if (!entries.ok()) {
      if (dirs_.size() > 1) continue;  // a lost copy: the others have the records
      return entries.status();
    }
    for (const DirEntry& e : *entries) {
      if (e.is_dir || e.name.rfind(prefix_, 0) != 0) continue;
      const std::string digits = e.name.substr(prefix_.size());
      if (digits.empty() || digits.size() > 19 ||
          digits.find_first_not_of("0123456789") != std::string::npos) {
        continue;
      }
      gens.insert(std::stoull(digits));
    }
  }
  return std::vector<uint64_t>(gens.begin(), gens.end());
}

std::string CloseJournal::ReadCopy(size_t copy, uint64_t gen, std::vector<std::string>* problems) {
  const std::string path = PathOf(copy, gen);
  Result<std::unique_ptr<File>> file = env_->Open(path, {.mode = OpenMode::kRead});
  if (!file.ok()) {
    if (file.status().code() != ENOENT) problems->push_back(file.status().ToString());
    return {};
  }
  Result<uint64_t> size = (*file)->Size();
  if (!size.ok()) {
    problems->push_back(size.status().ToString());
    return {};
  }
  std::string bytes(*size, '\0');
  iovec iov{bytes.data(), bytes.size()};
  const int64_t n = bytes.empty() ? 0 : (*file)->ReadV(0, &iov, 1);
  if (n < 0) {
    problems->push_back("reading " + path + ": " + std::strerror(static_cast<int>(-n)));
    return {};
  }
  bytes.resize(static_cast<size_t>(n));
  return bytes;
}

Result<CloseJournal::Contents> CloseJournal::ReadAll() {
  Result<std::vector<uint64_t>> gens = Generations();
  if (!gens.ok()) return gens.status();
  Contents out;
  for (uint64_t gen : *gens) {
    std::vector<std::string> copies;
    size_t longest = 0;
    for (size_t c = 0; c < dirs_.size(); ++c) {
      copies.push_back(ReadCopy(c, gen, &out.problems));
      longest = std::max(longest, copies.back().size());
    }
    size_t at = 0;
    while (at < longest) {
      std::optional<std::string_view> record;
      for (size_t c = 0; c < copies.size() && !record; ++c) record = RecordAt(copies[c], at);
      if (!record) {
        // Torn by a power cut, or damaged in every copy: nothing after it may be
        // replayed, in this file or a later one, or the replay would not be a prefix.
        out.problems.push_back("journal " + prefix_ + std::to_string(gen) +
                               ": the record at byte " + std::to_string(at) +
                               " is unreadable in every copy (torn by a power cut, or "
                               "damaged); it and the " +
                               std::to_string(longest - at) + " bytes after it are not replayed");
        return out;
      }
      for (size_t c = 0; c < copies.size(); ++c) {
        if (copies[c].size() > at && !RecordAt(copies[c], at)) {
          out.problems.push_back("journal " + PathOf(c, gen) + ": the record at byte " +
                                 std::to_string(at) + " is damaged; read from another copy");
        }
      }
      out.records.emplace_back(*record);
      at += kHeader + record->size();
    }
  }
  return out;
}

Status CloseJournal::OpenFiles() {
  if (files_.empty()) {
    for (size_t c = 0; c < dirs_.size(); ++c) {
      Result<std::unique_ptr<File>> file =
          env_->Open(PathOf(c, generation_), {.mode = OpenMode::kCreate});
      if (!file.ok()) {
        files_.clear();
        return file.status();
      }
      files_.push_back(std::move(*file));
    }
    end_ = 0;
    entries_synced_ = false;
    for (auto& file : files_) SOPFS_RETURN_IF_ERROR(file->Truncate(0));
  }
  return Status::Ok();
}

Status CloseJournal::Append(std::string_view payload) {
  SOPFS_RETURN_IF_ERROR(OpenFiles());
  char header[kHeader];
  FillHeader(payload, header);
  iovec iov[2] = {{header, kHeader}, {const_cast<char*>(payload.data()), payload.size()}};
  const int64_t want = static_cast<int64_t>(kHeader + payload.size());
  for (auto& file : files_) {
    const int64_t n = file->WriteV(end_, iov, 2);
    if (n != want) {
      // A part of a record may be on disk: the next record must not follow it.
      for (auto& f : files_) (void)f->Truncate(end_);
      return Status::Error(n < 0 ? static_cast<int>(-n) : ENOSPC,
                           "writing the close journal " + file->path());
    }
  }
  end_ += static_cast<uint64_t>(want);
  return Status::Ok();
}

Status CloseJournal::AppendDurably(std::string_view payload) {
  SOPFS_RETURN_IF_ERROR(OpenFiles());
  char header[kHeader];
  FillHeader(payload, header);
  iovec iov[2] = {{header, kHeader}, {const_cast<char*>(payload.data()), payload.size()}};
  // Every copy written and flushed at once: one flush's wait, not one per copy.
  std::vector<IoOp> ops;
  for (auto& file : files_) {
    ops.push_back({.kind = IoKind::kWrite,
                   .file = file.get(),
                   .offset = end_,
                   .iov = iov,
                   .iovcnt = 2,
                   .link_next = true});
    ops.push_back({.kind = IoKind::kFdatasync, .file = file.get()});
  }
  Status st = env_->Submit(ops);
  for (size_t i = 0; st.ok() && i < ops.size(); ++i) {
    if (!ops[i].Complete()) {
      const int64_t r = ops[i].result;
      st = Status::Error(r < 0 && r != -ECANCELED ? static_cast<int>(-r) : EIO,
                         "writing the journal " + ops[i].file->path());
    }
  }
  if (!st.ok()) {
    for (auto& f : files_) (void)f->Truncate(end_);  // no part of it may stay
    return st;
  }
  end_ += kHeader + payload.size();
  if (!entries_synced_) {
    for (const std::string& dir : dirs_) SOPFS_RETURN_IF_ERROR(env_->SyncDir(dir));
    entries_synced_ = true;
  }
  return Status::Ok();
}

Result<uint64_t> CloseJournal::Rotate() {
  files_.clear();
  end_ = 0;
  return ++generation_;
}

void CloseJournal::DropBefore(uint64_t generation) {
  Result<std::vector<uint64_t>> gens = Generations();
  if (!gens.ok()) return;
  for (uint64_t gen : *gens) {
    if (gen >= generation) continue;
    for (size_t c = 0; c < dirs_.size(); ++c) (void)env_->Unlink(PathOf(c, gen));
  }
}

}  // namespace sopfs
