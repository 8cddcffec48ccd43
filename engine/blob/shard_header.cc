#include "engine/blob/shard_header.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <cstring>

#include "engine/coding.h"

namespace sopfs {
namespace {

constexpr size_t kChecksumOffset = 56;

uint64_t Checksum(const uint8_t* header, std::span<const uint8_t> payload) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, header, kChecksumOffset);
  XXH3_64bits_update(&state, payload.data(), payload.size());
  return XXH3_64bits_digest(&state);
}

}  // namespace

ShardHeader::Bytes ShardHeader::Encode(std::span<const uint8_t> payload) const {
  Bytes b{};
  PutFixed<uint32_t>(&b[0], kMagic);
  PutFixed<uint16_t>(&b[4], kVersion);
  b[6] = static_cast<uint8_t>(shard_index);
  b[7] = static_cast<uint8_t>(k);
  b[8] = static_cast<uint8_t>(m);
  PutFixed<uint32_t>(&b[12], payload_offset);
  PutFixed<uint64_t>(&b[16], blob.hi);
  PutFixed<uint64_t>(&b[24], blob.lo);
  PutFixed<uint64_t>(&b[32], blob_length);
  PutFixed<uint64_t>(&b[40], shard_length);
  PutFixed<uint64_t>(&b[kChecksumOffset], Checksum(b.data(), payload));
  return b;
}

std::optional<ShardHeader> ShardHeader::Parse(std::span<const uint8_t, kSize> b) {
  if (GetFixed<uint32_t>(&b[0]) != kMagic || GetFixed<uint16_t>(&b[4]) != kVersion)
    return std::nullopt;
  ShardHeader h;
  h.shard_index = b[6];
  h.k = b[7];
  h.m = b[8];
  h.payload_offset = GetFixed<uint32_t>(&b[12]);
  if (h.payload_offset != kSize && h.payload_offset != kAlignment) return std::nullopt;
  h.blob = BlobId{GetFixed<uint64_t>(&b[16]), GetFixed<uint64_t>(&b[24])};
  h.blob_length = GetFixed<uint64_t>(&b[32]);
  h.shard_length = GetFixed<uint64_t>(&b[40]);
  return h;
}

bool ShardHeader::ChecksumMatches(std::span<const uint8_t, kSize> b,
                                  std::span<const uint8_t> payload) {
  return GetFixed<uint64_t>(&b[kChecksumOffset]) == Checksum(b.data(), payload);
}

}  // namespace sopfs
