// ShardPlacement: where the shards of a blob live.
//
// Shard i of a blob goes to data folder (start + i) mod N, where start comes from the
// blob ID, so shards (and the read load) spread evenly over the N folders and no folder
// holds two shards of one blob (a layout needs k + m <= N). Inside a folder, shard
// files fan out over two directory levels of 256 (first four hex digits of the ID):
//   <folder>/3f/a0/3fa0...e1.<shard index>
// which keeps directories at a few hundred entries per million blobs.
//
// Fan-out directories are created on first use. Until their parent has been fsynced
// once in this process (an existing directory may come from a process that stopped
// before that), writers fsync the parent in the same batch as the shard (PrepareDirs),
// then MarkDurable.
//
// Threads: all methods may be called concurrently.
#pragma once

#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "engine/blob/blob_id.h"
#include "engine/io/env.h"

namespace sopfs {

class ShardPlacement {
 public:
  explicit ShardPlacement(std::vector<std::string> folders);

  int folder_count() const { return static_cast<int>(folders_.size()); }
  const std::string& folder(int f) const { return folders_[f]; }

  int FolderOf(const BlobId& id, int shard) const;
  std::string DirOf(const BlobId& id, int shard) const;
  std::string PathOf(const BlobId& id, int shard) const;

  // Creates the fan-out directories of this shard where missing, and appends to
  // `parents_to_sync` each parent that must be fsynced before the shard is durable.
  Status PrepareDirs(Env* env, const BlobId& id, int shard,
                     std::vector<std::string>* parents_to_sync);
  // Records that the fan-out directories of this shard are durable.
  void MarkDurable(const BlobId& id, int shard);
  // Forgets that record (the directories vanished, e.g. a replaced drive), so the next
  // PrepareDirs makes them again.
  void Forget(const BlobId& id, int shard);

 private:
  std::vector<std::string> folders_;
  std::mutex durable_dirs_mu_;
  std::unordered_set<std::string> durable_dirs_;  // guarded by durable_dirs_mu_
};

}  // namespace sopfs
