// RegistryBlock: 4096 bytes of the registry, the unit that is written atomically.
//
// A registry maps logical IDs (B-Tree nodes, large values) to the physical blob that
// holds their current version. Block b holds the entries of logical IDs
// [b * kEntriesPerBlock, (b + 1) * kEntriesPerBlock).
//
// Layout (little endian): 0 magic "SOPR"  4 format version (u16)  6 zero  8 block
// number  16 sequence (bumped by every write of the block)  24 checksum: XXH3-64 of
// bytes 32..4095 seeded with the XXH3-64 of bytes 0..23
// 32.. 127 entries of 32 bytes: blob ID (hi, lo), version, flags (u32), slot (u32).
// An all-zero block is a block never written: every entry empty.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "engine/blob/blob_id.h"
#include "engine/blob/erasure_layout.h"

namespace sopfs {

using LogicalId = uint64_t;

struct RegistryEntry {
  static constexpr uint32_t kInUse = 1;
  static constexpr uint32_t kInSegment = 2;  // `blob` is a segment of many B-Tree nodes
  // `blob` is stored in the engine's metadata layout (EngineOptions::metadata_layout);
  // without it, in the data layout (segments written before metadata had its own).
  static constexpr uint32_t kMetadataLayout = 4;
  // Bits 8..15 and 16..23: k and m of the blob's own layout (a value blob of a tree with
  // a layout of its own, SPEC §4 stores). k == 0: the layout follows from
  // kMetadataLayout (entries written before layouts were recorded).
  static constexpr uint32_t kLayoutShift = 8;
  static uint32_t LayoutFlags(const ErasureLayout& l) {
    return (static_cast<uint32_t>(l.k) & 0xff) << kLayoutShift | (static_cast<uint32_t>(l.m) & 0xff)
                                                                     << (kLayoutShift + 8);
  }
  // The recorded layout, if any.
  std::optional<ErasureLayout> layout() const {
    const int k = static_cast<int>((flags >> kLayoutShift) & 0xff);
    if (k == 0) return std::nullopt;
    return ErasureLayout{.k = k, .m = static_cast<int>((flags >> (kLayoutShift + 8)) & 0xff)};
  }

  BlobId blob;           // where the current version lives
  uint64_t version = 0;  // bumped by every committed change of this logical ID
  uint32_t flags = 0;
  uint32_t slot = 0;  // with kInSegment: the node's position in the segment

  bool in_use() const { return flags & kInUse; }
  bool in_segment() const { return flags & kInSegment; }
  friend bool operator==(const RegistryEntry&, const RegistryEntry&) = default;
};

struct RegistryBlock {
  static constexpr size_t kSize = 4096;
  static constexpr size_t kHeaderSize = 32;
  static constexpr size_t kEntrySize = 32;
  static constexpr size_t kEntriesPerBlock = (kSize - kHeaderSize) / kEntrySize;  // 127

  uint64_t number = 0;
  uint64_t sequence = 0;  // 0: never written
  std::array<RegistryEntry, kEntriesPerBlock> entries{};

  static uint64_t BlockOf(LogicalId id) { return id / kEntriesPerBlock; }
  static size_t SlotOf(LogicalId id) { return id % kEntriesPerBlock; }

  void Encode(std::span<uint8_t, kSize> out) const;

  enum class Decoded { kValid, kEmpty, kCorrupt };
  // kEmpty for an all-zero block (then *this is an empty block numbered `number`);
  // kCorrupt when the magic, checksum or block number do not match.
  Decoded Decode(std::span<const uint8_t, kSize> in, uint64_t number);
};

}  // namespace sopfs
