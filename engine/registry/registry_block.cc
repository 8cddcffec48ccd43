#include "engine/registry/registry_block.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <cstring>

namespace sopfs {
namespace {

constexpr uint32_t kMagic = 0x52504f53;  // "SOPR"
constexpr uint16_t kVersion = 1;

template <class T>
void Put(uint8_t* p, T v) {
  std::memcpy(p, &v, sizeof v);
}
template <class T>
T Get(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

uint64_t Checksum(const uint8_t* block) {
  return XXH3_64bits(block + RegistryBlock::kHeaderSize,
                     RegistryBlock::kSize - RegistryBlock::kHeaderSize);
}

}  // namespace

void RegistryBlock::Encode(std::span<uint8_t, kSize> out) const {
  std::fill(out.begin(), out.end(), 0);
  uint8_t* b = out.data();
  Put<uint32_t>(b, kMagic);
  Put<uint16_t>(b + 4, kVersion);
  Put<uint64_t>(b + 8, number);
  Put<uint64_t>(b + 16, sequence);
  for (size_t i = 0; i < kEntriesPerBlock; ++i) {
    uint8_t* e = b + kHeaderSize + i * kEntrySize;
    Put<uint64_t>(e, entries[i].blob.hi);
    Put<uint64_t>(e + 8, entries[i].blob.lo);
    Put<uint64_t>(e + 16, entries[i].version);
    Put<uint32_t>(e + 24, entries[i].flags);
  }
  Put<uint64_t>(b + 24, Checksum(b));
}

RegistryBlock::Decoded RegistryBlock::Decode(std::span<const uint8_t, kSize> in, uint64_t want) {
  const uint8_t* b = in.data();
  *this = RegistryBlock{};
  number = want;
  if (std::all_of(in.begin(), in.end(), [](uint8_t c) { return c == 0; })) return Decoded::kEmpty;
  if (Get<uint32_t>(b) != kMagic || Get<uint16_t>(b + 4) != kVersion ||
      Get<uint64_t>(b + 8) != want || Get<uint64_t>(b + 24) != Checksum(b)) {
    return Decoded::kCorrupt;
  }
  sequence = Get<uint64_t>(b + 16);
  for (size_t i = 0; i < kEntriesPerBlock; ++i) {
    const uint8_t* e = b + kHeaderSize + i * kEntrySize;
    entries[i].blob = BlobId{Get<uint64_t>(e), Get<uint64_t>(e + 8)};
    entries[i].version = Get<uint64_t>(e + 16);
    entries[i].flags = Get<uint32_t>(e + 24);
  }
  return Decoded::kValid;
}

}  // namespace sopfs
