#include "fuse/fs/close_journal.h"

#include <xxhash.h>

#include <algorithm>
#include <cstring>

namespace sopfs {
namespace {

constexpr const char* kPrefix = "journal-";
constexpr size_t kHeader = 12;  // u32 length, u64 checksum

}  // namespace

Result<std::unique_ptr<CloseJournal>> CloseJournal::Open(Env* env, std::string dir) {
  SOPFS_RETURN_IF_ERROR(env->MkDirsDurably(dir));
  std::unique_ptr<CloseJournal> journal(new CloseJournal(env, std::move(dir)));
  Result<std::vector<uint64_t>> gens = journal->Generations();
  if (!gens.ok()) return gens.status();
  journal->generation_ = gens->empty() ? 0 : gens->back();
  return journal;
}

std::string CloseJournal::PathOf(uint64_t generation) const {
  return dir_ + "/" + kPrefix + std::to_string(generation);
}

Result<std::vector<uint64_t>> CloseJournal::Generations() {
  Result<std::vector<DirEntry>> entries = env_->List(dir_);
  if (!entries.ok()) return entries.status();
  std::vector<uint64_t> gens;
  for (const DirEntry& e : *entries) {
    if (e.is_dir || e.name.rfind(kPrefix, 0) != 0) continue;
    const std::string digits = e.name.substr(std::strlen(kPrefix));
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    gens.push_back(std::stoull(digits));
  }
  std::sort(gens.begin(), gens.end());
  return gens;
}

Result<std::vector<std::string>> CloseJournal::ReadAll() {
  Result<std::vector<uint64_t>> gens = Generations();
  if (!gens.ok()) return gens.status();
  std::vector<std::string> records;
  for (uint64_t gen : *gens) {
    Result<std::unique_ptr<File>> file = env_->Open(PathOf(gen), {.mode = OpenMode::kRead});
    if (!file.ok()) return file.status();
    Result<uint64_t> size = (*file)->Size();
    if (!size.ok()) return size.status();
    std::string bytes(*size, '\0');
    iovec iov{bytes.data(), bytes.size()};
    const int64_t n = bytes.empty() ? 0 : (*file)->ReadV(0, &iov, 1);
    if (n < 0) return Status::Error(static_cast<int>(-n), "reading " + PathOf(gen));
    bytes.resize(static_cast<size_t>(n));
    size_t at = 0;
    while (bytes.size() - at >= kHeader) {
      uint32_t length;
      uint64_t sum;
      std::memcpy(&length, bytes.data() + at, 4);
      std::memcpy(&sum, bytes.data() + at + 4, 8);
      if (length > bytes.size() - at - kHeader) break;  // torn
      std::string_view payload(bytes.data() + at + kHeader, length);
      if (XXH3_64bits(payload.data(), payload.size()) != sum) break;  // torn or damaged
      records.emplace_back(payload);
      at += kHeader + length;
    }
    // A torn record (a power cut while it was written): nothing after it may be
    // replayed, in this file or a later one, or the replay would not be a prefix.
    if (at != bytes.size()) break;
  }
  return records;
}

Status CloseJournal::Append(std::string_view payload) {
  if (!file_) {
    Result<std::unique_ptr<File>> file =
        env_->Open(PathOf(generation_), {.mode = OpenMode::kCreate});
    if (!file.ok()) return file.status();
    Result<uint64_t> size = (*file)->Size();
    if (!size.ok()) return size.status();
    file_ = std::move(*file);
    end_ = *size;
  }
  const uint32_t length = static_cast<uint32_t>(payload.size());
  const uint64_t sum = XXH3_64bits(payload.data(), payload.size());
  char header[kHeader];
  std::memcpy(header, &length, 4);
  std::memcpy(header + 4, &sum, 8);
  iovec iov[2] = {{header, kHeader}, {const_cast<char*>(payload.data()), payload.size()}};
  const int64_t want = static_cast<int64_t>(kHeader + payload.size());
  const int64_t n = file_->WriteV(end_, iov, 2);
  if (n != want) {
    // A part of a record may be on disk: the next record must not follow it.
    (void)file_->Truncate(end_);
    return Status::Error(n < 0 ? static_cast<int>(-n) : ENOSPC,
                         "writing the close journal " + file_->path());
  }
  end_ += static_cast<uint64_t>(n);
  return Status::Ok();
}

Result<uint64_t> CloseJournal::Rotate() {
  file_.reset();
  end_ = 0;
  return ++generation_;
}

void CloseJournal::DropBefore(uint64_t generation) {
  Result<std::vector<uint64_t>> gens = Generations();
  if (!gens.ok()) return;
  for (uint64_t gen : *gens) {
    if (gen < generation) (void)env_->Unlink(PathOf(gen));
  }
}

}  // namespace sopfs
