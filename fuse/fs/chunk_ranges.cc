#include "fuse/fs/chunk_ranges.h"

#include <algorithm>
#include <iterator>

namespace sopfs {

uint64_t ChunkRanges::Missing(uint64_t first, uint64_t end) const {
  if (first >= end) return 0;
  uint64_t covered = 0;
  auto it = runs_.upper_bound(first);
  if (it != runs_.begin()) --it;
  for (; it != runs_.end() && it->first < end; ++it) {
    const uint64_t a = std::max(first, it->first), b = std::min(end, it->second);
    if (a < b) covered += b - a;
  }
  return end - first - covered;
}

uint64_t ChunkRanges::Remove(uint64_t first, uint64_t end) {
  if (first >= end) return 0;
  uint64_t removed = 0;
  auto it = runs_.upper_bound(first);
  if (it != runs_.begin()) --it;
  while (it != runs_.end() && it->first < end) {
    const uint64_t a = it->first, b = it->second;
    if (b <= first) {
      ++it;
      continue;
    }
    it = runs_.erase(it);
    removed += std::min(b, end) - std::max(a, first);
    if (a < first) runs_.emplace(a, first);
    if (b > end) runs_.emplace(end, b);
  }
  size_ -= removed;
  return removed;
}

uint64_t ChunkRanges::Add(uint64_t first, uint64_t end) {
  if (first >= end) return 0;
  const uint64_t added = Missing(first, end);
  // Runs that overlap or touch [first, end) merge into one.
  auto it = runs_.upper_bound(first);
  if (it != runs_.begin() && std::prev(it)->second >= first) --it;
  while (it != runs_.end() && it->first <= end) {
    first = std::min(first, it->first);
    end = std::max(end, it->second);
    it = runs_.erase(it);
  }
  runs_.emplace(first, end);
  size_ += added;
  return added;
}

}  // namespace sopfs
