#include "engine/blob/shard_header.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <cstring>

#include "engine/coding.h"

namespace sopfs {
namespace {

constexpr size_t kBlockSizeOffset = 48;
constexpr size_t kChecksumOffset = 56;

// The header's checksum: bytes 0..55, then `rest` (the payload in version 1, the
// block table in version 2).
uint64_t Checksum(const uint8_t* header, std::span<const uint8_t> rest) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, header, kChecksumOffset);
  XXH3_64bits_update(&state, rest.data(), rest.size());
  return XXH3_64bits_digest(&state);
}

uint64_t BlockChecksum(std::span<const uint8_t> block, uint64_t index) {
  return XXH3_64bits_withSeed(block.data(), block.size(), index);
}

}  // namespace

uint32_t ShardHeader::BlockSizeFor(uint64_t shard_length) {
  if (shard_length < kAlignedShardMin) return 0;
  uint64_t size = kMinBlockSize;
  while ((shard_length + size - 1) / size > kMaxBlocks) size *= 2;
  return static_cast<uint32_t>(size);
}

void ShardHeader::Encode(std::span<uint8_t> area, std::span<const uint8_t> payload) const {
  uint8_t* b = area.data();
  std::memset(b, 0, kSize);
  PutFixed<uint32_t>(&b[0], kMagic);
  PutFixed<uint16_t>(&b[4], block_size == 0 ? kVersionWhole : kVersionBlocks);
  b[6] = static_cast<uint8_t>(shard_index);
  b[7] = static_cast<uint8_t>(k);
  b[8] = static_cast<uint8_t>(m);
  PutFixed<uint32_t>(&b[12], payload_offset);
  PutFixed<uint64_t>(&b[16], blob.hi);
  PutFixed<uint64_t>(&b[24], blob.lo);
  PutFixed<uint64_t>(&b[32], blob_length);
  PutFixed<uint64_t>(&b[40], shard_length);
  PutFixed<uint32_t>(&b[kBlockSizeOffset], block_size);
  if (block_size == 0) {
    PutFixed<uint64_t>(&b[kChecksumOffset], Checksum(b, payload));
    return;
  }
  const uint64_t blocks = BlockCount();
  for (uint64_t i = 0; i < blocks; ++i) {
    const uint64_t from = i * block_size;
    const uint64_t n = std::min<uint64_t>(block_size, shard_length - from);
    PutFixed<uint64_t>(&b[kSize + i * 8], BlockChecksum(payload.subspan(from, n), i));
  }
  PutFixed<uint64_t>(&b[kChecksumOffset], Checksum(b, {b + kSize, blocks * 8}));
}

std::optional<ShardHeader> ShardHeader::Parse(std::span<const uint8_t, kSize> b) {
  const uint16_t version = GetFixed<uint16_t>(&b[4]);
  if (GetFixed<uint32_t>(&b[0]) != kMagic ||
      (version != kVersionWhole && version != kVersionBlocks)) {
    return std::nullopt;
  }
  ShardHeader h;
  h.shard_index = b[6];
  h.k = b[7];
  h.m = b[8];
  h.payload_offset = GetFixed<uint32_t>(&b[12]);
  if (h.payload_offset != kSize && h.payload_offset != kAlignment) return std::nullopt;
  h.blob = BlobId{GetFixed<uint64_t>(&b[16]), GetFixed<uint64_t>(&b[24])};
  h.blob_length = GetFixed<uint64_t>(&b[32]);
  h.shard_length = GetFixed<uint64_t>(&b[40]);
  h.block_size = GetFixed<uint32_t>(&b[kBlockSizeOffset]);
  if (version == kVersionWhole) return h.block_size == 0 ? std::optional(h) : std::nullopt;
  // Version 2 exists only in the aligned shape, with the one block size its length has.
  if (h.shard_length > kMaxBlobLength || h.payload_offset != kAlignment || h.block_size == 0 ||
      h.block_size != BlockSizeFor(h.shard_length)) {
    return std::nullopt;
  }
  return h;
}

bool ShardHeader::Matches(std::span<const uint8_t> area, std::span<const uint8_t> payload) const {
  if (block_size == 0) {
    return area.size() >= kSize && GetFixed<uint64_t>(&area[kChecksumOffset]) ==
                                       Checksum(area.data(), payload.first(shard_length));
  }
  if (!TableMatches(area) || payload.size() < shard_length) return false;
  for (uint64_t i = 0, blocks = BlockCount(); i < blocks; ++i) {
    const uint64_t from = i * block_size;
    if (!BlockMatches(area, i,
                      payload.subspan(from, std::min<uint64_t>(block_size, shard_length - from)))) {
      return false;
    }
  }
  return true;
}

bool ShardHeader::TableMatches(std::span<const uint8_t> area) const {
  const uint64_t table = BlockCount() * 8;
  if (block_size == 0 || area.size() < kSize + table) return false;
  return GetFixed<uint64_t>(&area[kChecksumOffset]) ==
         Checksum(area.data(), area.subspan(kSize, table));
}

bool ShardHeader::BlockMatches(std::span<const uint8_t> area, uint64_t index,
                               std::span<const uint8_t> block) const {
  if (index >= BlockCount() || area.size() < kSize + (index + 1) * 8) return false;
  const uint64_t from = index * block_size;
  if (block.size() != std::min<uint64_t>(block_size, shard_length - from)) return false;
  return GetFixed<uint64_t>(&area[kSize + index * 8]) == BlockChecksum(block, index);
}

}  // namespace sopfs
