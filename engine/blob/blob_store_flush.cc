// BlobStore's deferred flushes: blobs a Put wrote with defer_flush, made durable later
// by FlushDeferred (see blob_store.h).
#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "engine/blob/blob_store.h"

namespace sopfs {

void BlobStore::NoteDeferred(const BlobId& id, ErasureLayout layout,
                             std::span<const ShardWrite> shards) {
  DeferredBlob blob;
  blob.layout = layout;
  for (const ShardWrite& s : shards) {
    if (!s.status.ok()) continue;
    DeferredShard& shard = blob.shards.emplace_back();
    shard.index = s.index;
    shard.dirs.push_back(placement_.DirOf(id, s.index));
    shard.dirs.insert(shard.dirs.end(), s.sync_dirs.begin(), s.sync_dirs.end());
  }
  std::lock_guard<std::mutex> lock(deferred_mu_);
  deferred_[id] = std::move(blob);
}

void BlobStore::ForgetDeferred(const BlobId& id) {
  std::lock_guard<std::mutex> lock(deferred_mu_);
  deferred_.erase(id);
}

size_t BlobStore::deferred_count() const {
  std::lock_guard<std::mutex> lock(deferred_mu_);
  return deferred_.size();
}

namespace {

// One shard file or directory flush of a group, and the shards whose durability it
// decides (blob index in the group, slot in that blob's shard list).
struct FlushOp {
  std::unique_ptr<File> file;
  std::vector<std::pair<size_t, size_t>> shards;
};

// A full disk or quota says so; anything else (a shard file gone, a failed flush) is
// an I/O error to the writer, not the errno of one shard's open.
int FlushFailureCode(const Status& failure) {
  const int code = failure.code();
  return code == ENOSPC || code == EDQUOT ? code : EIO;
}

}  // namespace

Status BlobStore::FlushDeferred(std::span<const BlobId> ids) {
  std::vector<std::pair<BlobId, DeferredBlob>> blobs;
  {
    std::lock_guard<std::mutex> lock(deferred_mu_);
    for (const BlobId& id : ids) {
      auto it = deferred_.find(id);
      if (it == deferred_.end()) continue;
      blobs.emplace_back(it->first, std::move(it->second));
      deferred_.erase(it);
    }
  }
  Status first_failure;
  // In bounded groups, so the open files stay few whatever the number of blobs.
  constexpr size_t kBlobsPerGroup = 16;
  for (size_t begin = 0; begin < blobs.size(); begin += kBlobsPerGroup) {
    const size_t count = std::min(kBlobsPerGroup, blobs.size() - begin);
    std::span<std::pair<BlobId, DeferredBlob>> group(blobs.data() + begin, count);
    // status[b][slot]: the outcome of shard group[b].second.shards[slot].
    std::vector<std::vector<Status>> status(count);
    std::vector<FlushOp> flushes;
    std::map<std::string, std::vector<std::pair<size_t, size_t>>> dirs;
    for (size_t b = 0; b < count; ++b) {
      const auto& [id, blob] = group[b];
      status[b].resize(blob.shards.size());
      for (size_t slot = 0; slot < blob.shards.size(); ++slot) {
        const DeferredShard& shard = blob.shards[slot];
        auto file = env_->Open(placement_.PathOf(id, shard.index), {.mode = OpenMode::kRead});
        if (!file.ok()) {
          status[b][slot] = file.status();
          continue;
        }
        flushes.push_back({std::move(*file), {{b, slot}}});
        for (const std::string& dir : shard.dirs) dirs[dir].push_back({b, slot});
      }
    }
    const size_t file_flushes = flushes.size();
    for (auto& [dir, members] : dirs) {
      auto file = env_->Open(dir, {.mode = OpenMode::kDirectory});
      if (!file.ok()) {
        for (const auto& [b, slot] : members) {
          if (status[b][slot].ok()) status[b][slot] = file.status();
        }
        continue;
      }
      flushes.push_back({std::move(*file), std::move(members)});
    }
    std::vector<IoOp> ops;
    ops.reserve(flushes.size());
    for (size_t j = 0; j < flushes.size(); ++j) {
      ops.push_back({.kind = j < file_flushes ? IoKind::kFdatasync : IoKind::kFsync,
                     .file = flushes[j].file.get()});
    }
    Status batch = env_->Submit(ops);
    for (size_t j = 0; j < ops.size(); ++j) {
      if (batch.ok() && ops[j].Complete()) continue;
      const Status st =
          batch.ok() ? Status::Error(ops[j].result < 0 ? static_cast<int>(-ops[j].result) : EIO,
                                     "flushing " + ops[j].file->path())
                     : batch;
      for (const auto& [b, slot] : flushes[j].shards) {
        if (status[b][slot].ok()) status[b][slot] = st;
      }
    }
    for (size_t b = 0; b < count; ++b) {
      const auto& [id, blob] = group[b];
      int durable = 0;
      Status failure;
      for (size_t slot = 0; slot < blob.shards.size(); ++slot) {
        const int i = blob.shards[slot].index;
        if (status[b][slot].ok()) {
          ++durable;
          placement_.MarkDurable(id, i);
        } else {
          NoteFailure(placement_.FolderOf(id, i), status[b][slot]);
          if (failure.ok()) failure = status[b][slot];
        }
      }
      if (durable < blob.layout.write_quorum() && first_failure.ok()) {
        first_failure = Status::Error(
            FlushFailureCode(failure),
            "blob " + id.ToHex() + ": only " + std::to_string(durable) + " of " +
                std::to_string(blob.layout.total()) + " shards durable after the flush, " +
                std::to_string(blob.layout.write_quorum()) +
                " needed: " + (failure.ok() ? "shards missing" : failure.ToString()));
      }
    }
  }
  return first_failure;
}

}  // namespace sopfs
