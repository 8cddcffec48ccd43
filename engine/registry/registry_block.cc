#include "engine/registry/registry_block.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "engine/coding.h"

namespace sopfs {
namespace {

constexpr uint32_t kMagic = 0x52504f53;  // "SOPR"
constexpr uint16_t kVersion = 1;

// Covers everything but the checksum field itself: magic, version, block number,
// sequence (a rotted sequence must not make an old slot look newest) and entries.
uint64_t Checksum(const uint8_t* block) {
  return XXH3_64bits_withSeed(block + RegistryBlock::kHeaderSize,
                              RegistryBlock::kSize - RegistryBlock::kHeaderSize,
                              XXH3_64bits(block, 24));
}

}  // namespace

void RegistryBlock::Encode(std::span<uint8_t, kSize> out) const {
  std::fill(out.begin(), out.end(), 0);
  uint8_t* b = out.data();
  PutFixed<uint32_t>(b, kMagic);
  PutFixed<uint16_t>(b + 4, kVersion);
  PutFixed<uint64_t>(b + 8, number);
  PutFixed<uint64_t>(b + 16, sequence);
  for (size_t i = 0; i < kEntriesPerBlock; ++i) {
    uint8_t* e = b + kHeaderSize + i * kEntrySize;
    PutFixed<uint64_t>(e, entries[i].blob.hi);
    PutFixed<uint64_t>(e + 8, entries[i].blob.lo);
    PutFixed<uint64_t>(e + 16, entries[i].version);
    PutFixed<uint32_t>(e + 24, entries[i].flags);
    PutFixed<uint32_t>(e + 28, entries[i].slot);
  }
  PutFixed<uint64_t>(b + 24, Checksum(b));
}

RegistryBlock::Decoded RegistryBlock::Decode(std::span<const uint8_t, kSize> in, uint64_t want) {
  const uint8_t* b = in.data();
  *this = RegistryBlock{};
  number = want;
  if (std::all_of(in.begin(), in.end(), [](uint8_t c) { return c == 0; })) return Decoded::kEmpty;
  if (GetFixed<uint32_t>(b) != kMagic || GetFixed<uint16_t>(b + 4) != kVersion ||
      GetFixed<uint64_t>(b + 8) != want || GetFixed<uint64_t>(b + 24) != Checksum(b)) {
    return Decoded::kCorrupt;
  }
  sequence = GetFixed<uint64_t>(b + 16);
  for (size_t i = 0; i < kEntriesPerBlock; ++i) {
    const uint8_t* e = b + kHeaderSize + i * kEntrySize;
    entries[i].blob = BlobId{GetFixed<uint64_t>(e), GetFixed<uint64_t>(e + 8)};
    entries[i].version = GetFixed<uint64_t>(e + 16);
    entries[i].flags = GetFixed<uint32_t>(e + 24);
    entries[i].slot = GetFixed<uint32_t>(e + 28);
  }
  return Decoded::kValid;
}

}  // namespace sopfs
