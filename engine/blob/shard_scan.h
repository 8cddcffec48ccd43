// ScanShards: every shard file found in the data folders, by blob, for a consistency
// check (sopfs fsck): which shards exist, where, and how big their files are, plus
// what in the fan-out tree is not a shard file where the BlobStore would look for it.
//
// The walk follows ShardPlacement's layout, <folder>/xx/yy/<32 hex digits>.<shard>:
// - top level of a data folder: only directories named by two lowercase hex digits are
//   walked (the fan-out tree); anything else there (metadata-reserve, a file an admin
//   left) is not the store's and is skipped, except a file named like a shard, which is
//   misplaced;
// - inside the tree, any entry that is not a fan-out directory (at the first level) or a
//   shard file (at the second) is a stray; a stray directory is named with a trailing
//   "/" and not walked. Temporary files of an interrupted repair or replace
//   ("<shard path>.new", see shard_io.h) are strays;
// - a shard file whose folder or fan-out directories are not the ones ShardPlacement
//   gives its (blob, shard) is misplaced: it is listed there and not in `blobs`, since
//   the store never reads it where it is.
//
// Memory: one map node per blob plus 16 bytes per shard (a million shard files take a
// few tens of MiB); directories are listed one at a time.
// Threads: one call walks sequentially; concurrent calls are independent.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/blob/blob_id.h"
#include "engine/io/env.h"

namespace sopfs {

struct StoredShard {
  int shard = 0;      // shard index within its blob
  int folder = 0;     // index into the data folders
  uint64_t size = 0;  // file size in bytes
};

struct ShardScan {
  // Per blob, its shard files where ShardPlacement puts them, ordered by shard index.
  std::map<BlobId, std::vector<StoredShard>> blobs;
  // Paths of entries in the fan-out tree that are not shard files (directories end in
  // "/"), e.g. "<shard path>.new" left by an interrupted repair.
  std::vector<std::string> stray_files;
  // Paths of shard files in a folder or fan-out directory where ShardPlacement would not
  // put them.
  std::vector<std::string> misplaced;
};

// The blob and shard index of a shard file name ("<32 lowercase hex>.<shard>", the
// shard in plain decimal below ErasureLayout's limit of 48 shards); nullopt otherwise.
std::optional<std::pair<BlobId, int>> ParseShardFileName(std::string_view name);

// Walks <folder>/xx/yy/ of every data folder (in order: StoredShard::folder indexes
// `data_folders`). A data folder that cannot be listed (missing, or a lost drive) is
// skipped and appended to `missing_folders` (may be null). Below that, an entry that
// vanishes during the walk is skipped; any other error fails the scan, naming the path.
Result<ShardScan> ScanShards(Env* env, const std::vector<std::string>& data_folders,
                             std::vector<std::string>* missing_folders);

}  // namespace sopfs
