#include "engine/blob/blob_id.h"

#include <random>

namespace sopfs {

BlobId BlobId::Random() {
  // One generator per thread, seeded from the OS: IDs from different threads and
  // processes collide only with negligible probability.
  thread_local std::mt19937_64 gen([] {
    std::random_device rd;
    std::seed_seq seq{rd(), rd(), rd(), rd(), rd(), rd(), rd(), rd()};
    return std::mt19937_64(seq);
  }());
  return BlobId{gen(), gen()};
}

BlobId BlobId::RandomNear(const BlobId& neighbour) {
  constexpr uint64_t kFanOutBits = 0xffff000000000000ULL;  // the first four hex digits
  BlobId id = Random();
  id.hi = (neighbour.hi & kFanOutBits) | (id.hi & ~kFanOutBits);
  return id;
}

std::string BlobId::ToHex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string s(32, '0');
  for (int i = 0; i < 16; ++i) {
    s[15 - i] = kDigits[(hi >> (4 * i)) & 0xf];
    s[31 - i] = kDigits[(lo >> (4 * i)) & 0xf];
  }
  return s;
}

std::optional<BlobId> BlobId::FromHex(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  BlobId id;
  for (size_t i = 0; i < 32; ++i) {
    char c = hex[i];
    uint64_t v;
    if (c >= '0' && c <= '9') {
      v = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      v = static_cast<uint64_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    uint64_t& half = i < 16 ? id.hi : id.lo;
    half = (half << 4) | v;
  }
  return id;
}

}  // namespace sopfs
