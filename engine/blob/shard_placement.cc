#include "engine/blob/shard_placement.h"

namespace sopfs {

ShardPlacement::ShardPlacement(std::vector<std::string> folders) : folders_(std::move(folders)) {}

int ShardPlacement::FolderOf(const BlobId& id, int shard) const {
  const auto n = static_cast<uint64_t>(folders_.size());
  return static_cast<int>((id.lo % n + static_cast<uint64_t>(shard)) % n);
}

std::string ShardPlacement::DirOf(const BlobId& id, int shard) const {
  const std::string hex = id.ToHex();
  return folders_[FolderOf(id, shard)] + "/" + hex.substr(0, 2) + "/" + hex.substr(2, 2);
}

std::string ShardPlacement::PathOf(const BlobId& id, int shard) const {
  return DirOf(id, shard) + "/" + id.ToHex() + "." + std::to_string(shard);
}

Status ShardPlacement::PrepareDirs(Env* env, const BlobId& id, int shard,
                                   std::vector<std::string>* parents_to_sync) {
  const std::string leaf = DirOf(id, shard);
  for (const std::string& dir : {DirName(leaf), leaf}) {
    {
      std::lock_guard<std::mutex> lock(durable_dirs_mu_);
      if (durable_dirs_.count(dir)) continue;
    }
    Status st = env->MkDir(dir);
    if (!st.ok() && st.code() != EEXIST) return st;
    parents_to_sync->push_back(DirName(dir));
  }
  return Status::Ok();
}

void ShardPlacement::MarkDurable(const BlobId& id, int shard) {
  const std::string leaf = DirOf(id, shard);
  std::lock_guard<std::mutex> lock(durable_dirs_mu_);
  durable_dirs_.insert(leaf);
  durable_dirs_.insert(DirName(leaf));
}

void ShardPlacement::Forget(const BlobId& id, int shard) {
  const std::string leaf = DirOf(id, shard);
  std::lock_guard<std::mutex> lock(durable_dirs_mu_);
  durable_dirs_.erase(leaf);
  durable_dirs_.erase(DirName(leaf));
}

}  // namespace sopfs
