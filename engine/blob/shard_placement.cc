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

Status ShardPlacement::EnsureDir(Env* env, const BlobId& id, int shard) {
  const std::string leaf = DirOf(id, shard);
  // Even a directory that exists already may not be durable (an earlier process may
  // have made it and stopped before its parent reached the disk), so each level's
  // parent is fsynced once per process.
  for (const std::string& dir : {DirName(leaf), leaf}) {
    {
      std::lock_guard<std::mutex> lock(durable_dirs_mu_);
      if (durable_dirs_.count(dir)) continue;
    }
    Status st = env->MkDir(dir);
    if (!st.ok() && st.code() != EEXIST) return st;
    SOPFS_RETURN_IF_ERROR(env->SyncDir(DirName(dir)));
    std::lock_guard<std::mutex> lock(durable_dirs_mu_);
    durable_dirs_.insert(dir);
  }
  return Status::Ok();
}

}  // namespace sopfs
