// NodeSegment: many B-Tree nodes of one commit packed into one blob.
//
// A commit that changes many nodes writes them as a few segments (each up to
// kTargetBytes) instead of one small erasure-coded blob per node: a handful of large,
// aligned shard writes instead of thousands of small files. A registry entry then
// points at (segment blob, slot). A segment is garbage once no registry entry points at
// any of its slots; the engine counts references per segment.
//
// Format (little endian): "SOPG" magic, u32 node count, then per node u64 logical ID,
// u32 offset, u32 length (offsets from the start of the blob, in order, no overlap,
// within the blob), then the nodes' encodings. The blob store checksums every shard;
// Decode still refuses anything malformed with EIO and never reads out of bounds.
//
// Threads: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/registry/registry_block.h"
#include "engine/status.h"

namespace sopfs {

struct NodeSegment {
  static constexpr size_t kTargetBytes = 1u << 20;

  struct Slot {
    LogicalId id = 0;
    std::string_view bytes;  // the node's encoding, inside the segment
  };

  static std::string Encode(const std::vector<std::pair<LogicalId, std::string_view>>& nodes);
  // The slots of a segment; they point into `blob`.
  static Result<std::vector<Slot>> Decode(std::string_view blob);
};

}  // namespace sopfs
