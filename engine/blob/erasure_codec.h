// ErasureCodec: Reed-Solomon over GF(2^8) with ISA-L, for one ErasureLayout.
//
// Shards are equal-length buffers: k data shards (the blob split into k contiguous
// pieces, the last zero-padded) and m parity shards. The encode matrix is a Cauchy
// matrix, so any k of the k+m shards are enough to rebuild the others.
//
// Threads: const methods may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/blob/erasure_layout.h"
#include "engine/status.h"

namespace sopfs {

class ErasureCodec {
 public:
  explicit ErasureCodec(ErasureLayout layout);

  const ErasureLayout& layout() const { return layout_; }

  // data: k pointers to len bytes; parity: m pointers to len writable bytes.
  void Encode(size_t len, const uint8_t* const* data, uint8_t* const* parity) const;

  // shards: k+m pointers to len bytes each (null where neither present nor rebuilt).
  // present[i] != 0 says shard i holds good bytes; every shard with rebuild[i] != 0 is
  // recomputed in place from k present ones. Fails (EIO) with fewer than k present.
  Status Rebuild(size_t len, std::span<uint8_t* const> shards, std::span<const uint8_t> present,
                 std::span<const uint8_t> rebuild) const;

 private:
  ErasureLayout layout_;
  std::vector<uint8_t> matrix_;         // (k+m) x k, the first k rows are the identity
  std::vector<uint8_t> parity_tables_;  // ISA-L tables for the m parity rows
};

}  // namespace sopfs
