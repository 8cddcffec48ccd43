// ErasureLayout: k data + m parity shards. Set per call, so different stores
// (directories) may use different layouts over the same data folders.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "engine/status.h"

namespace sopfs {

struct ErasureLayout {
  static constexpr int kMaxData = 32;
  static constexpr int kMaxParity = 16;

  int k = 1;  // data shards
  int m = 0;  // parity shards

  int total() const { return k + m; }
  // Shards that must be durable before a write reports success: k + 1 when parity
  // exists (one lost folder right after the write still leaves every byte readable),
  // all k when m == 0.
  int write_quorum() const { return m == 0 ? k : k + 1; }
  std::string ToString() const { return std::to_string(k) + "+" + std::to_string(m); }

  Status Validate(int folders) const {
    if (k < 1 || k > kMaxData || m < 0 || m > kMaxParity) {
      return Status::Error(EINVAL, "erasure layout " + ToString() + ": need 1<=k<=32, 0<=m<=16");
    }
    if (total() > folders) {
      return Status::Error(EINVAL, "erasure layout " + ToString() + " needs " +
                                       std::to_string(total()) + " data folders, the volume has " +
                                       std::to_string(folders));
    }
    return Status::Ok();
  }

  friend bool operator==(const ErasureLayout&, const ErasureLayout&) = default;
};

// The data folders a blob's shards may use: [first, first + count), count 0 for all of
// them. Shard i of a blob sits in folder (start + i) mod N with start from the blob's
// ID (ShardPlacement), so a span needs nothing but blob IDs whose start keeps every
// shard inside it: reads, repairs and removals find the shards from the ID alone.
struct FolderSpan {
  int first = 0;
  int count = 0;
  bool all() const { return count == 0; }
  std::string ToString() const {
    return std::to_string(first) + "-" + std::to_string(first + count - 1);
  }
  // EINVAL unless the span lies within `folders` and holds `layout`'s shards.
  Status Validate(int folders, const ErasureLayout& layout) const {
    if (all()) return Status::Ok();
    if (first < 0 || count < 1 || first + count > folders) {
      return Status::Error(EINVAL, "data folders " + ToString() + ": the volume has folders 0-" +
                                       std::to_string(folders - 1));
    }
    if (count < layout.total()) {
      return Status::Error(EINVAL, "data folders " + ToString() + " are " + std::to_string(count) +
                                       ", layout " + layout.ToString() + " needs " +
                                       std::to_string(layout.total()));
    }
    return Status::Ok();
  }
  friend bool operator==(const FolderSpan&, const FolderSpan&) = default;
};

// The layout of metadata (B-Tree nodes) by default for data in `data` over `folders`
// folders: m + 2 parity shards (at most folders - 1), k what the other folders allow,
// at most data.k. 4+2 over 6 folders gives 2+4: metadata outlives 4 lost folders.
inline ErasureLayout DefaultMetadataLayout(ErasureLayout data, int folders) {
  const int m = std::max(0, std::min(data.m + 2, folders - 1));
  return {.k = std::max(1, std::min(data.k, folders - m)), .m = m};
}

}  // namespace sopfs
