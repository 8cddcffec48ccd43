// Fixed-width little-endian encoding of integers in on-disk formats (shard headers,
// registry blocks, the commit log). Formats are little endian by definition; this
// machine is too (checked at compile time), so the bytes are copied as they are.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace sopfs {

static_assert(std::endian::native == std::endian::little, "on-disk formats are little endian");

template <class T>
inline void PutFixed(uint8_t* p, T v) {
  static_assert(std::is_integral_v<T>);
  std::memcpy(p, &v, sizeof v);
}

template <class T>
inline T GetFixed(const uint8_t* p) {
  static_assert(std::is_integral_v<T>);
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace sopfs
