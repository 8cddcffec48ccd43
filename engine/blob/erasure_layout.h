// ErasureLayout: k data + m parity shards. Set per call, so different stores
// (directories) may use different layouts over the same data folders.
#pragma once

#include <cstdint>
#include <string>

#include "engine/status.h"

namespace sopfs {

struct ErasureLayout {
  static constexpr int kMaxData = 32;
  static constexpr int kMaxParity = 16;

  int k = 1;  // data shards
  int m = 0;  // parity shards

  int total() const { return k + m; }
  // Shards that must be durable before a write reports success: k + 1 when parity
  // exists (one lost folder right after the write still leaves every byte readable),
  // all k when m == 0.
  int write_quorum() const { return m == 0 ? k : k + 1; }
  std::string ToString() const { return std::to_string(k) + "+" + std::to_string(m); }

  Status Validate(int folders) const {
    if (k < 1 || k > kMaxData || m < 0 || m > kMaxParity) {
      return Status::Error(EINVAL, "erasure layout " + ToString() + ": need 1<=k<=32, 0<=m<=16");
    }
    if (total() > folders) {
      return Status::Error(EINVAL, "erasure layout " + ToString() + " needs " +
                                       std::to_string(total()) + " data folders, the volume has " +
                                       std::to_string(folders));
    }
    return Status::Ok();
  }

  friend bool operator==(const ErasureLayout&, const ErasureLayout&) = default;
};

}  // namespace sopfs
