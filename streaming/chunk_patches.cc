#include "streaming/chunk_patches.h"

#include <algorithm>
#include <cstring>

namespace sopfs {

size_t ChunkPatches::CostOf(const Ranges& ranges) {
  size_t cost = 0;
  for (const auto& [at, bytes] : ranges) cost += bytes.size() + kRangeCost;
  return cost;
}

void ChunkPatches::Put(uint64_t index, size_t within, std::span<const uint8_t> data) {
  if (data.empty()) return;
  Ranges& ranges = chunks_[index];
  cost_ -= CostOf(ranges);
  size_t start = within;
  const size_t end = within + data.size();
  std::string merged;
  // The first range that touches [start, end): it may begin before `start`.
  auto it = ranges.upper_bound(start);
  if (it != ranges.begin()) {
    auto before = std::prev(it);
    if (before->first + before->second.size() >= start) it = before;
  }
  // Everything that overlaps or touches goes into one range; the new bytes win.
  std::string tail;
  if (it != ranges.end() && it->first < start) {
    // Extends the range before it: that string is reused, not copied (appending page
    // after page to a range stays linear).
    const size_t keep = start - it->first;
    if (it->first + it->second.size() > end) tail = it->second.substr(end - it->first);
    merged = std::move(it->second);
    merged.resize(keep);
    start = it->first;
    it = ranges.erase(it);
  }
  while (it != ranges.end() && it->first <= end) {
    const size_t range_end = it->first + it->second.size();
    if (range_end > end) tail = it->second.substr(end - it->first);
    it = ranges.erase(it);
  }
  merged.append(reinterpret_cast<const char*>(data.data()), data.size());
  merged += tail;
  ranges.emplace(start, std::move(merged));
  cost_ += CostOf(ranges);
}

void ChunkPatches::Overlay(uint64_t index, size_t within, std::span<uint8_t> out) const {
  auto chunk = chunks_.find(index);
  if (chunk == chunks_.end()) return;
  const Ranges& ranges = chunk->second;
  const size_t end = within + out.size();
  auto it = ranges.upper_bound(within);
  if (it != ranges.begin()) --it;
  for (; it != ranges.end() && it->first < end; ++it) {
    const size_t from = std::max(it->first, within);
    const size_t to = std::min(it->first + it->second.size(), end);
    if (from >= to) continue;
    std::memcpy(out.data() + (from - within), it->second.data() + (from - it->first), to - from);
  }
}

void ChunkPatches::Take(uint64_t index, std::string& chunk) {
  auto it = chunks_.find(index);
  if (it == chunks_.end()) return;
  for (const auto& [at, bytes] : it->second) {
    if (chunk.size() < at + bytes.size()) chunk.resize(at + bytes.size(), '\0');
    std::memcpy(chunk.data() + at, bytes.data(), bytes.size());
  }
  cost_ -= CostOf(it->second);
  chunks_.erase(it);
}

uint64_t ChunkPatches::Heaviest() const {
  uint64_t best = 0;
  size_t best_cost = 0;
  for (const auto& [index, ranges] : chunks_) {
    const size_t cost = CostOf(ranges);
    if (cost > best_cost) {
      best = index;
      best_cost = cost;
    }
  }
  return best;
}

void ChunkPatches::Forget(uint64_t index) {
  auto it = chunks_.find(index);
  if (it == chunks_.end()) return;
  cost_ -= CostOf(it->second);
  chunks_.erase(it);
}

}  // namespace sopfs
