#include "engine/blob/shard_scan.h"

#include <algorithm>

#include "engine/blob/erasure_layout.h"
#include "engine/blob/shard_placement.h"

namespace sopfs {
namespace {

constexpr int kMaxShards = ErasureLayout::kMaxData + ErasureLayout::kMaxParity;

bool IsHexDigit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// A fan-out directory name: two lowercase hex digits, as ShardPlacement::DirOf makes.
bool IsFanOutName(const std::string& name) {
  return name.size() == 2 && IsHexDigit(name[0]) && IsHexDigit(name[1]);
}

// The state of one walk.
class Walker {
 public:
  Walker(Env* env, const std::vector<std::string>& folders)
      : env_(env), placement_(folders), folders_(folders) {}

  // Lists `dir`; a directory that vanished meanwhile reads as empty, any other error is
  // returned.
  Result<std::vector<DirEntry>> ListOrGone(const std::string& dir) {
    auto list = env_->List(dir);
    if (!list.ok() && list.status().code() == ENOENT) return std::vector<DirEntry>{};
    if (!list.ok()) return Status::Error(list.status().code(), "scanning shards: " + dir);
    return list;
  }

  // The top level of data folder `f` (already listed): fan-out directories are walked,
  // a stray shard file is misplaced, anything else is not the store's.
  Status Folder(int f, const std::vector<DirEntry>& top) {
    for (const DirEntry& e : top) {
      const std::string path = folders_[f] + "/" + e.name;
      if (e.is_dir && IsFanOutName(e.name)) {
        SOPFS_RETURN_IF_ERROR(First(f, e.name, path));
      } else if (!e.is_dir && ParseShardFileName(e.name)) {
        scan_.misplaced.push_back(path);
      }
    }
    return Status::Ok();
  }

  // <folder>/xx: only fan-out directories belong here.
  Status First(int f, const std::string& xx, const std::string& dir) {
    auto list = ListOrGone(dir);
    if (!list.ok()) return list.status();
    for (const DirEntry& e : *list) {
      const std::string path = dir + "/" + e.name;
      if (e.is_dir && IsFanOutName(e.name)) {
        SOPFS_RETURN_IF_ERROR(Second(f, xx + e.name, path));
      } else {
        scan_.stray_files.push_back(path + (e.is_dir ? "/" : ""));
      }
    }
    return Status::Ok();
  }

  // <folder>/xx/yy: only shard files belong here, and only those whose blob ID starts
  // with `prefix` (xxyy) and whose placement is folder `f`.
  Status Second(int f, const std::string& prefix, const std::string& dir) {
    auto list = ListOrGone(dir);
    if (!list.ok()) return list.status();
    for (const DirEntry& e : *list) {
      const std::string path = dir + "/" + e.name;
      auto parsed = e.is_dir ? std::nullopt : ParseShardFileName(e.name);
      if (!parsed) {
        scan_.stray_files.push_back(path + (e.is_dir ? "/" : ""));
        continue;
      }
      const auto& [id, shard] = *parsed;
      if (e.name.compare(0, 4, prefix) != 0 || placement_.FolderOf(id, shard) != f) {
        scan_.misplaced.push_back(path);
        continue;
      }
      auto size = env_->FileSize(path);
      if (!size.ok() && size.status().code() == ENOENT) continue;  // removed meanwhile
      if (!size.ok()) return Status::Error(size.status().code(), "scanning shards: " + path);
      scan_.blobs[id].push_back({.shard = shard, .folder = f, .size = *size});
    }
    return Status::Ok();
  }

  ShardScan Finish() {
    // Folders are walked in order, so a blob's shards arrive by folder; callers want
    // them by index.
    for (auto& [id, shards] : scan_.blobs) {
      std::sort(shards.begin(), shards.end(),
                [](const StoredShard& a, const StoredShard& b) { return a.shard < b.shard; });
    }
    return std::move(scan_);
  }

 private:
  Env* env_;
  ShardPlacement placement_;
  const std::vector<std::string>& folders_;
  ShardScan scan_;
};

}  // namespace

std::optional<std::pair<BlobId, int>> ParseShardFileName(std::string_view name) {
  constexpr size_t kHexDigits = 32;
  if (name.size() < kHexDigits + 2 || name[kHexDigits] != '.') return std::nullopt;
  auto id = BlobId::FromHex(name.substr(0, kHexDigits));
  if (!id) return std::nullopt;
  const std::string_view digits = name.substr(kHexDigits + 1);
  // Plain decimal as std::to_string writes it: no sign, no leading zero, and short
  // enough not to overflow before the bound check.
  if (digits.size() > 2 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  int shard = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    shard = shard * 10 + (c - '0');
  }
  if (shard >= kMaxShards) return std::nullopt;
  return std::make_pair(*id, shard);
}

Result<ShardScan> ScanShards(Env* env, const std::vector<std::string>& data_folders,
                             std::vector<std::string>* missing_folders) {
  Walker walker(env, data_folders);
  for (size_t f = 0; f < data_folders.size(); ++f) {
    auto top = env->List(data_folders[f]);
    if (!top.ok()) {
      // Missing, or a lost drive: the store works on without it, so does the scan.
      if (missing_folders) missing_folders->push_back(data_folders[f]);
      continue;
    }
    SOPFS_RETURN_IF_ERROR(walker.Folder(static_cast<int>(f), *top));
  }
  return walker.Finish();
}

}  // namespace sopfs
