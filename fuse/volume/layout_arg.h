// ParseLayout: "K+M" -> an erasure layout, for command lines and sopfs.conf alike.
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include "engine/blob/erasure_layout.h"

namespace sopfs {

// "K+M" as an erasure layout (not yet validated against a folder count).
inline std::optional<ErasureLayout> ParseLayout(const std::string& s) {
  int k = 0, m = 0;
  char plus = 0, extra = 0;
  if (std::sscanf(s.c_str(), "%d%c%d%c", &k, &plus, &m, &extra) != 3 || plus != '+') {
    return std::nullopt;
  }
  return ErasureLayout{k, m};
}

}  // namespace sopfs
