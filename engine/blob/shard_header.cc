#include "engine/blob/shard_header.h"

#define XXH_STATIC_LINKING_ONLY  // XXH3_state_t on the stack
#include <xxhash.h>

#include <bit>
#include <cstring>

namespace sopfs {
namespace {

constexpr size_t kChecksumOffset = 56;

void Put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, sizeof v); }
void Put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, sizeof v); }
void Put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, sizeof v); }
uint16_t Get16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint32_t Get32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
uint64_t Get64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

uint64_t Checksum(const uint8_t* header, std::span<const uint8_t> payload) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, header, kChecksumOffset);
  XXH3_64bits_update(&state, payload.data(), payload.size());
  return XXH3_64bits_digest(&state);
}

}  // namespace

static_assert(std::endian::native == std::endian::little, "shard headers are little endian");

ShardHeader::Bytes ShardHeader::Encode(std::span<const uint8_t> payload) const {
  Bytes b{};
  Put32(&b[0], kMagic);
  Put16(&b[4], kVersion);
  b[6] = static_cast<uint8_t>(shard_index);
  b[7] = static_cast<uint8_t>(k);
  b[8] = static_cast<uint8_t>(m);
  Put32(&b[12], payload_offset);
  Put64(&b[16], blob.hi);
  Put64(&b[24], blob.lo);
  Put64(&b[32], blob_length);
  Put64(&b[40], shard_length);
  Put64(&b[kChecksumOffset], Checksum(b.data(), payload));
  return b;
}

std::optional<ShardHeader> ShardHeader::Parse(std::span<const uint8_t, kSize> b) {
  if (Get32(&b[0]) != kMagic || Get16(&b[4]) != kVersion) return std::nullopt;
  ShardHeader h;
  h.shard_index = b[6];
  h.k = b[7];
  h.m = b[8];
  h.payload_offset = Get32(&b[12]);
  if (h.payload_offset != kSize && h.payload_offset != kAlignment) return std::nullopt;
  h.blob = BlobId{Get64(&b[16]), Get64(&b[24])};
  h.blob_length = Get64(&b[32]);
  h.shard_length = Get64(&b[40]);
  return h;
}

bool ShardHeader::ChecksumMatches(std::span<const uint8_t, kSize> b,
                                  std::span<const uint8_t> payload) {
  return Get64(&b[kChecksumOffset]) == Checksum(b.data(), payload);
}

}  // namespace sopfs
