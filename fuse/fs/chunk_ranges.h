// ChunkRanges: a set of chunk indexes kept as disjoint runs [first, end), so that a
// promise over a terabyte costs one entry, not a million.
//
// Threads: not thread-safe; its owner guards it.
#pragma once

#include <cstdint>
#include <map>

namespace sopfs {

class ChunkRanges {
 public:
  // Adds [first, end); returns how many of them were not in the set.
  uint64_t Add(uint64_t first, uint64_t end);
  // Removes [first, end); returns how many of them were in the set.
  uint64_t Remove(uint64_t first, uint64_t end);
  // How many of [first, end) are not in the set.
  uint64_t Missing(uint64_t first, uint64_t end) const;
  uint64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  std::map<uint64_t, uint64_t> runs_;  // first -> end, disjoint and not touching
  uint64_t size_ = 0;
};

}  // namespace sopfs
