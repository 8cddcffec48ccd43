#include "engine/blob/erasure_codec.h"

#include <isa-l/erasure_code.h>

namespace sopfs {

ErasureCodec::ErasureCodec(ErasureLayout layout)
    : layout_(layout), matrix_(static_cast<size_t>(layout.total() * layout.k)) {
  const int k = layout_.k, m = layout_.m;
  gf_gen_cauchy1_matrix(matrix_.data(), k + m, k);
  if (m > 0) {
    parity_tables_.resize(static_cast<size_t>(32 * k * m));
    ec_init_tables(k, m, matrix_.data() + k * k, parity_tables_.data());
  }
}

void ErasureCodec::Encode(size_t len, const uint8_t* const* data, uint8_t* const* parity) const {
  if (layout_.m == 0 || len == 0) return;
  // ISA-L's signature is not const-correct; it only reads the data shards.
  ec_encode_data(static_cast<int>(len), layout_.k, layout_.m,
                 const_cast<uint8_t*>(parity_tables_.data()), const_cast<uint8_t**>(data),
                 const_cast<uint8_t**>(parity));
}

Status ErasureCodec::Rebuild(size_t len, std::span<uint8_t* const> shards,
                             std::span<const uint8_t> present,
                             std::span<const uint8_t> rebuild) const {
  const int k = layout_.k, n = layout_.total();
  std::vector<int> sources;
  std::vector<int> targets;
  for (int i = 0; i < n; ++i) {
    // A shard being rebuilt is never a source: it is overwritten in place.
    if (present[i] && !rebuild[i] && static_cast<int>(sources.size()) < k) sources.push_back(i);
    if (rebuild[i]) targets.push_back(i);
  }
  if (static_cast<int>(sources.size()) < k) {
    return Status::Error(EIO, "only " + std::to_string(sources.size()) + " of the " +
                                  std::to_string(k) + " shards needed are readable");
  }
  if (targets.empty() || len == 0) return Status::Ok();

  // Rows of the encode matrix for the source shards, inverted, map the sources back to
  // the data shards; a parity row times that inverse maps them to that parity shard.
  std::vector<uint8_t> sub(static_cast<size_t>(k * k)), inverse(static_cast<size_t>(k * k));
  for (int r = 0; r < k; ++r) {
    for (int c = 0; c < k; ++c) sub[r * k + c] = matrix_[sources[r] * k + c];
  }
  if (gf_invert_matrix(sub.data(), inverse.data(), k) != 0) {
    return Status::Error(EIO, "erasure decode matrix is singular");  // cannot happen (Cauchy)
  }
  const int rows = static_cast<int>(targets.size());
  std::vector<uint8_t> decode(static_cast<size_t>(rows * k), 0);
  for (int t = 0; t < rows; ++t) {
    const int target = targets[t];
    for (int c = 0; c < k; ++c) {
      if (target < k) {
        decode[t * k + c] = inverse[target * k + c];
      } else {
        uint8_t acc = 0;
        for (int j = 0; j < k; ++j) acc ^= gf_mul(matrix_[target * k + j], inverse[j * k + c]);
        decode[t * k + c] = acc;
      }
    }
  }
  std::vector<uint8_t> tables(static_cast<size_t>(32 * k * rows));
  ec_init_tables(k, rows, decode.data(), tables.data());
  std::vector<uint8_t*> src(static_cast<size_t>(k)), dst(static_cast<size_t>(rows));
  for (int i = 0; i < k; ++i) src[i] = shards[sources[i]];
  for (int t = 0; t < rows; ++t) dst[t] = shards[targets[t]];
  ec_encode_data(static_cast<int>(len), k, rows, tables.data(), src.data(), dst.data());
  return Status::Ok();
}

}  // namespace sopfs
