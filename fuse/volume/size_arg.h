// ParseSize: "4096", "64K", "1M", "2G" (binary units) -> bytes, for command lines and
// sopfs.conf alike.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace sopfs {

inline std::optional<uint64_t> ParseSize(const std::string& text) {
  if (text.empty()) return std::nullopt;
  size_t used = 0;
  uint64_t value = 0;
  try {
    if (text[0] == '-') return std::nullopt;
    value = std::stoull(text, &used, 10);
  } catch (...) {
    return std::nullopt;
  }
  std::string unit = text.substr(used);
  int shift = 0;
  if (unit.empty() || unit == "B") {
    shift = 0;
  } else if (unit == "K" || unit == "KiB" || unit == "k") {
    shift = 10;
  } else if (unit == "M" || unit == "MiB") {
    shift = 20;
  } else if (unit == "G" || unit == "GiB") {
    shift = 30;
  } else {
    return std::nullopt;
  }
  if (shift && value > (UINT64_MAX >> shift)) return std::nullopt;
  return value << shift;
}

}  // namespace sopfs
