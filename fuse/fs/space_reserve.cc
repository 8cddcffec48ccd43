#include "fuse/fs/space_reserve.h"

#include <cerrno>
#include <cstdio>

namespace sopfs {

Result<std::unique_ptr<SpaceReserve>> SpaceReserve::Open(
    Env* env, const std::vector<std::string>& data_folders, int k, uint32_t chunk_size) {
  constexpr uint64_t kBlock = 4096;  // a shard's header and alignment fit one more block
  const uint64_t shard = (chunk_size + static_cast<uint64_t>(k) - 1) / static_cast<uint64_t>(k);
  const uint64_t share = (shard + kBlock - 1) / kBlock * kBlock + kBlock;
  std::unique_ptr<SpaceReserve> reserve(new SpaceReserve(share));
  for (const std::string& folder : data_folders) {
    OpenOptions options;
    options.mode = OpenMode::kCreateTruncate;  // a new mount starts with no promise
    Result<std::unique_ptr<File>> file = env->Open(folder + "/" + kFileName, options);
    if (!file.ok()) {
      std::fprintf(stderr, "sopfs: no space can be promised in %s: %s\n", folder.c_str(),
                   file.status().ToString().c_str());
      continue;
    }
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
    for (size_t i = 0; i < files_.size(); ++i) {
      Status st = files_[i]->Allocate(0, bytes);
      if (!st.ok()) {
        for (size_t j = 0; j <= i; ++j) (void)files_[j]->Truncate(shares_ * share_);
        return Status::Error(st.code(), "cannot keep room for the range in " + files_[i]->path() +
                                            ": " + st.message());
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

Status SpaceReserve::Promise(uint64_t ino, const std::vector<uint64_t>& chunks) {
  std::lock_guard lock(mu_);
  std::set<uint64_t>& mine = promised_[ino];
  std::vector<uint64_t> added;
  for (uint64_t c : chunks) {
    if (!mine.count(c)) added.push_back(c);
  }
  if (added.empty()) {
    if (mine.empty()) promised_.erase(ino);
    return Status::Ok();
  }
  const bool new_allowance = allowances_.count(ino) == 0;
  Status st = Resize(SharesLocked() + added.size() + (new_allowance ? 1 : 0));
  if (!st.ok()) {
    if (mine.empty()) promised_.erase(ino);
    return st;
  }
  mine.insert(added.begin(), added.end());
  chunks_ += added.size();
  allowances_.insert(ino);
  return Status::Ok();
}

void SpaceReserve::Release(uint64_t ino, uint64_t first, uint64_t last) {
  std::lock_guard lock(mu_);
  auto it = promised_.find(ino);
  if (it == promised_.end()) return;
  std::set<uint64_t>& mine = it->second;
  const auto from = mine.lower_bound(first);
  const auto to = last == UINT64_MAX ? mine.end() : mine.lower_bound(last);
  const uint64_t dropped = static_cast<uint64_t>(std::distance(from, to));
  if (dropped == 0) return;
  mine.erase(from, to);
  if (mine.empty()) promised_.erase(it);
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
