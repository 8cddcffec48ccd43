// BlobId: the 128-bit name of a blob (random, UUID-like), printed as 32 hex digits.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace sopfs {

struct BlobId {
  uint64_t hi = 0;
  uint64_t lo = 0;

  // A fresh random ID (thread-safe; 122 random bits would do, we keep all 128).
  static BlobId Random();
  // A fresh random ID whose shards go to the same fan-out directories as `neighbour`'s
  // (same first four hex digits; 112 random bits left). Blobs written together then
  // share directories: a batch creates and flushes a few directories, not one per blob.
  static BlobId RandomNear(const BlobId& neighbour);
  static std::optional<BlobId> FromHex(std::string_view hex);
  std::string ToHex() const;

  friend bool operator==(const BlobId&, const BlobId&) = default;
  friend auto operator<=>(const BlobId&, const BlobId&) = default;
};

}  // namespace sopfs

template <>
struct std::hash<sopfs::BlobId> {
  size_t operator()(const sopfs::BlobId& id) const noexcept {
    return static_cast<size_t>(id.hi ^ (id.lo * 0x9e3779b97f4a7c15ULL));
  }
};
