// ShardTableCache: the verified headers and block-checksum tables (ShardHeader version
// 2) of shards that range reads met, so that the next read of a few KiB of the same
// shard reads and verifies only its blocks, not the header page again.
//
// Why: a random 4 KiB read of a file is one block of one shard. Without this, each
// such read also reads the shard's header page; when that page is not in the page
// cache it is a second disk read, and otherwise still a second read request.
//
// Why it is safe to keep a table: a blob's ID is never reused, and its shards never
// change in place (a repair rewrites a shard with the bytes it had, so the same table).
// A table is cached only after it matched its header's checksum, and every block read
// later is still verified against it, so every byte returned is checked by a checksum
// of what was read. What a cached table does not notice is damage to the header page
// itself; reads that miss the cache, whole-blob reads and the scrub still find that.
// A shard that went away fails its open, as without the cache.
//
// Bounded by bytes, least recently used out first (a table of a 256 KiB shard costs
// about 700 bytes: 16 MiB hold the tables of about 6 GiB of 1 MiB chunks in 4+2).
//
// Threads: every method may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "engine/blob/blob_id.h"
#include "engine/blob/shard_header.h"
#include "engine/cache/lru_cache.h"

namespace sopfs {

struct ShardTable {
  ShardHeader header;         // verified
  std::vector<uint8_t> area;  // the header page's first 64 + 8 * BlockCount() bytes
};

class ShardTableCache {
 public:
  explicit ShardTableCache(size_t capacity_bytes) : cache_(capacity_bytes) {}

  // The table of shard `shard` of `blob`; null when not cached.
  std::shared_ptr<const ShardTable> Lookup(const BlobId& blob, int shard) {
    return cache_.Lookup({blob, shard});
  }
  // Keeps `header` (verified, version 2) and its table from `page`, the shard's header
  // page, whose TableMatches the caller checked.
  void Insert(const BlobId& blob, int shard, const ShardHeader& header,
              std::span<const uint8_t> page) {
    auto table = std::make_shared<ShardTable>();
    table->header = header;
    const size_t bytes = ShardHeader::kSize + header.BlockCount() * 8;
    if (bytes > page.size()) return;
    table->area.assign(page.begin(), page.begin() + static_cast<std::ptrdiff_t>(bytes));
    cache_.Insert({blob, shard}, std::move(table), bytes + kOverhead);
  }
  CacheStats Stats() const { return cache_.Stats(); }

 private:
  // The entry's own memory besides the table: header, vector, list and map nodes.
  static constexpr size_t kOverhead = 192;
  struct Key {
    BlobId blob;
    int shard = 0;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const noexcept {
      return std::hash<BlobId>()(k.blob) ^ (static_cast<size_t>(k.shard) * 0x9e3779b97f4a7c15ULL);
    }
  };
  LruCache<Key, ShardTable, KeyHash> cache_;
};

}  // namespace sopfs
