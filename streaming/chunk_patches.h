// ChunkPatches: bytes written into chunks that are not in memory, kept as byte ranges
// instead of reading each chunk to change a few bytes of it. A 4 KiB write into a big
// file then costs a copy, not a read of its whole chunk; the chunk is read once, when
// its patches are applied (Take) before it is stored.
//
// Per chunk, the ranges never overlap and never touch: a new range replaces what it
// covers and merges with its neighbours. `cost()` counts the bytes held plus a little
// per range, which is what the caller bounds.
//
// Threads: one thread at a time (BufferedFile's).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>

namespace sopfs {

// Memory the patches of many files share: a file keeps more than its own budget only
// while all of them together stay within `limit` (so they hold at most `limit` plus
// each file's own budget).
struct PatchBudget {
  explicit PatchBudget(size_t limit_bytes) : limit(limit_bytes) {}
  const size_t limit;
  std::atomic<size_t> used{0};
};

class ChunkPatches {
 public:
  // Per range held, beside its bytes (what a map node and its string cost).
  static constexpr size_t kRangeCost = 96;

  // Bytes `data` at `within` of chunk `index`.
  void Put(uint64_t index, size_t within, std::span<const uint8_t> data);
  bool Has(uint64_t index) const { return chunks_.count(index) != 0; }
  bool empty() const { return chunks_.empty(); }
  size_t cost() const { return cost_; }
  // Copies the patched bytes of chunk `index` that fall in [within, within + out.size())
  // over `out` (out[0] is byte `within` of the chunk).
  void Overlay(uint64_t index, size_t within, std::span<uint8_t> out) const;
  // Applies chunk `index`'s patches to `chunk` (its bytes as stored, grown with zeros
  // where a patch reaches past them) and forgets them.
  void Take(uint64_t index, std::string& chunk);
  // The chunk holding the most patched bytes (the one worth reading to apply them).
  uint64_t Heaviest() const;
  // The lowest chunk patched (not empty()).
  uint64_t First() const { return chunks_.begin()->first; }
  // Forgets chunk `index`'s patches (it is written whole).
  void Forget(uint64_t index);
  // f(index, within, bytes) for every range, chunk by chunk, ascending.
  template <class F>
  void ForEachRange(F&& f) const {
    for (const auto& [index, ranges] : chunks_) {
      for (const auto& [within, bytes] : ranges) f(index, within, bytes);
    }
  }
  // The chunks patched, ascending.
  template <class F>
  void ForEachChunk(F&& f) const {
    for (const auto& [index, ranges] : chunks_) f(index);
  }
  void Clear() {
    chunks_.clear();
    cost_ = 0;
  }

 private:
  using Ranges = std::map<size_t, std::string>;  // offset within the chunk -> bytes
  static size_t CostOf(const Ranges& ranges);

  std::map<uint64_t, Ranges> chunks_;
  size_t cost_ = 0;
};

}  // namespace sopfs
