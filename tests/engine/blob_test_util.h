// Helpers shared by the blob store tests: deterministic data, shard subsets.
#pragma once

#include <bit>
#include <cstdint>
#include <random>
#include <vector>

namespace sopfs::testing {

inline std::vector<uint8_t> PatternBytes(size_t n, uint64_t seed) {
  std::vector<uint8_t> v(n);
  std::mt19937_64 gen(seed);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x = gen();
    for (int b = 0; b < 8; ++b) v[i + b] = static_cast<uint8_t>(x >> (8 * b));
  }
  for (; i < n; ++i) v[i] = static_cast<uint8_t>(gen());
  return v;
}

// Every subset of {0..n-1} with at most `max_size` members, as bit masks.
inline std::vector<uint32_t> SubsetsUpTo(int n, int max_size) {
  std::vector<uint32_t> out;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    if (std::popcount(mask) <= max_size) out.push_back(mask);
  }
  return out;
}

inline std::vector<uint32_t> SubsetsOfSize(int n, int size) {
  std::vector<uint32_t> out;
  for (uint32_t mask = 0; mask < (1u << n); ++mask) {
    if (std::popcount(mask) == size) out.push_back(mask);
  }
  return out;
}

}  // namespace sopfs::testing
