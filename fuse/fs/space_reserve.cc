#include "fuse/fs/space_reserve.h"

#include <cerrno>
#include <cstdio>

namespace sopfs {

Result<std::unique_ptr<SpaceReserve>> SpaceReserve::Open(
    Env* env, const std::vector<std::string>& data_folders, int k, uint32_t chunk_size) {
  constexpr uint64_t kBlock = 4096;  // a shard's header and alignment fit one more block
  const uint64_t shard = (chunk_size + static_cast<uint64_t>(k) - 1) / static_cast<uint64_t>(k);
  const uint64_t share = (shard + kBlock - 1) / kBlock * kBlock + kBlock;
  std::unique_ptr<SpaceReserve> reserve(new SpaceReserve(env, share));
  for (const std::string& folder : data_folders) {
    OpenOptions options;
    options.mode = OpenMode::kCreateTruncate;  // a new mount starts with no promise
    Result<std::unique_ptr<File>> file = env->Open(folder + "/" + kFileName, options);
    if (!file.ok()) {
      std::fprintf(stderr, "sopfs: no space can be promised in %s: %s\n", folder.c_str(),
                   file.status().ToString().c_str());
      continue;
    }
    reserve->folders_.push_back(folder);
    reserve->files_.push_back(std::move(*file));
  }
  return reserve;
}

SpaceReserve::~SpaceReserve() {
  std::lock_guard lock(mu_);
  (void)Resize(0);
}

Status SpaceReserve::Resize(uint64_t shares) {
  const uint64_t bytes = shares * share_;
  if (shares > shares_) {
    // Refused from the free space first: allocating a disk's worth only to give it back
    // would take a while, and a range past the largest file size fails with EFBIG.
    // Folders on one device (the same file system) add their growth up.
    const uint64_t growth = (shares - shares_) * share_;
    std::map<uint64_t, uint64_t> need;  // device -> bytes
    for (const std::string& folder : folders_) {
      Result<FsStats> st = env_->StatFs(folder);
      if (!st.ok()) continue;
      uint64_t& bytes_needed = need[st->device];
      bytes_needed = growth > UINT64_MAX - bytes_needed ? UINT64_MAX : bytes_needed + growth;
      if (st->free_bytes < bytes_needed) {
        return Status::Error(ENOSPC, "no room for the range in " + folder + " (" +
                                         std::to_string(bytes_needed >> 20) + " MiB needed, " +
                                         std::to_string(st->free_bytes >> 20) + " MiB free)");
      }
    }
    for (size_t i = 0; i < files_.size(); ++i) {
      Status st = files_[i]->Allocate(0, bytes);
      if (!st.ok()) {
        for (size_t j = 0; j <= i; ++j) (void)files_[j]->Truncate(shares_ * share_);
        const int code = st.code() == EFBIG ? ENOSPC : st.code();
        return Status::Error(code, "no room for the range in " + folders_[i] + ": " + st.message());
      }
    }
  } else if (shares < shares_) {
    for (const auto& file : files_) {
      Status st = file->Truncate(bytes);
      if (!st.ok()) {
        std::fprintf(stderr, "sopfs: promised room not given back: %s\n", st.ToString().c_str());
      }
    }
  }
  shares_ = shares;
  return Status::Ok();
}

Status SpaceReserve::Promise(uint64_t ino, const std::vector<std::pair<uint64_t, uint64_t>>& runs) {
  std::lock_guard lock(mu_);
  ChunkRanges& mine = promised_[ino];
  uint64_t added = 0;
  for (const auto& [first, end] : runs) added += mine.Missing(first, end);
  if (added == 0) {
    if (mine.empty()) promised_.erase(ino);
    return Status::Ok();
  }
  const bool new_allowance = allowances_.count(ino) == 0;
  Status st = Resize(SharesLocked() + added + (new_allowance ? 1 : 0));
  if (!st.ok()) {
    if (mine.empty()) promised_.erase(ino);
    return st;
  }
  for (const auto& [first, end] : runs) mine.Add(first, end);
  chunks_ += added;
  allowances_.insert(ino);
  return Status::Ok();
}

void SpaceReserve::Release(uint64_t ino, uint64_t first, uint64_t last) {
  std::lock_guard lock(mu_);
  auto it = promised_.find(ino);
  if (it == promised_.end()) return;
  const uint64_t dropped = it->second.Remove(first, last);
  if (dropped == 0) return;
  if (it->second.empty()) promised_.erase(it);
  chunks_ -= dropped;
  (void)Resize(SharesLocked());
}

void SpaceReserve::Settle(uint64_t ino) {
  std::lock_guard lock(mu_);
  if (promised_.count(ino) || allowances_.erase(ino) == 0) return;
  (void)Resize(SharesLocked());
}

void SpaceReserve::Forget(uint64_t ino) {
  std::lock_guard lock(mu_);
  auto it = promised_.find(ino);
  if (it != promised_.end()) {
    chunks_ -= it->second.size();
    promised_.erase(it);
  }
  allowances_.erase(ino);
  (void)Resize(SharesLocked());
}

uint64_t SpaceReserve::promised_chunks() const {
  std::lock_guard lock(mu_);
  return chunks_;
}

}  // namespace sopfs
