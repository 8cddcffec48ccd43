// ShardHeader: the header at the start of every shard file, and the two shapes a
// shard file takes.
//
// Header layout (little endian, 64 bytes):
//   0 magic "SOPB"   4 format version (u16)   6 shard index   7 k   8 m   9..11 zero
//  12 payload offset (u32)   16 blob ID (hi, lo)   32 blob length   40 shard length
//  48 block size (u32; 0 in version 1)   52 zero   56 checksum (XXH3-64)
//
// Shapes:
//  - compact, for shards under kAlignedShardMin: the payload follows the header at
//    offset 64; the file is 64 + shard_length bytes. Version 1: the checksum covers
//    bytes 0..55 followed by the whole payload.
//  - aligned, for larger shards: the header is padded to 4096 bytes and the payload to
//    a multiple of 4096 (zeros, not covered by any checksum), so the whole file can be
//    written with O_DIRECT from aligned memory, skipping the page cache. Version 2: the
//    payload is checksummed in blocks of block_size bytes (BlockSizeFor: 4 KiB, more
//    for shards over 2 MiB so that at most kMaxBlocks are needed); the table of the
//    blocks' checksums (u64 each, block i hashed with seed i, the last block up to
//    shard_length) follows the header at offset 64, and the header's checksum covers
//    bytes 0..55 followed by that table. A read of a few KiB of a shard then reads and
//    verifies the header page and the blocks it needs, not the whole shard. Aligned
//    shards written before version 2 (version 1, one checksum) are still read.
// A shard whose header, table or payload does not match its checksums is corrupt,
// whatever else it claims.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "engine/blob/blob_id.h"

namespace sopfs {

struct ShardHeader {
  static constexpr uint32_t kMagic = 0x42504f53;  // "SOPB"
  static constexpr uint16_t kVersionWhole = 1;    // one checksum over header and payload
  static constexpr uint16_t kVersionBlocks = 2;   // a checksum per payload block
  static constexpr size_t kSize = 64;
  static constexpr uint64_t kAlignedShardMin = 64 * 1024;
  static constexpr uint64_t kAlignment = 4096;
  static constexpr uint32_t kMinBlockSize = 4096;
  static constexpr uint64_t kMaxBlocks = (kAlignment - kSize) / 8;  // the table fits the page
  // The largest blob the store takes, and so the largest shard file there can be.
  static constexpr uint64_t kMaxBlobLength = 1ull << 30;

  BlobId blob;
  int shard_index = 0;
  int k = 0;
  int m = 0;
  uint32_t payload_offset = kSize;
  uint64_t blob_length = 0;
  uint64_t shard_length = 0;
  uint32_t block_size = 0;  // 0: version 1 (one checksum for header and payload)

  using Bytes = std::array<uint8_t, kSize>;

  // The shape of a shard file with this payload length: where the payload starts and
  // how many bytes (payload plus padding) follow.
  static uint32_t PayloadOffsetFor(uint64_t shard_length) {
    return shard_length >= kAlignedShardMin ? kAlignment : kSize;
  }
  static uint64_t PaddedLengthFor(uint64_t shard_length) {
    return shard_length >= kAlignedShardMin ? (shard_length + kAlignment - 1) & ~(kAlignment - 1)
                                            : shard_length;
  }
  // The block size a shard of this length is written with (0 for the compact shape).
  static uint32_t BlockSizeFor(uint64_t shard_length);
  bool aligned() const { return payload_offset == kAlignment; }
  uint64_t FileSize() const { return payload_offset + PaddedLengthFor(shard_length); }
  uint64_t BlockCount() const {
    return block_size == 0 ? 0 : (shard_length + block_size - 1) / block_size;
  }

  // Writes the header (with its table, in version 2) into `area`, the file's first
  // payload_offset bytes, with the checksums of itself and `payload`.
  void Encode(std::span<uint8_t> area, std::span<const uint8_t> payload) const;
  // Parses magic, version and fields; nullopt when they are not a shard header.
  static std::optional<ShardHeader> Parse(std::span<const uint8_t, kSize> bytes);
  // Whether the checksums in `area` (the file's first payload_offset bytes, as parsed
  // into this header) match them and the whole payload.
  bool Matches(std::span<const uint8_t> area, std::span<const uint8_t> payload) const;
  // Version 2: whether the header's checksum matches it and its table.
  bool TableMatches(std::span<const uint8_t> area) const;
  // Version 2: whether payload block `index` (its bytes up to shard_length) matches its
  // entry in the table of `area` (verified with TableMatches first).
  bool BlockMatches(std::span<const uint8_t> area, uint64_t index,
                    std::span<const uint8_t> block) const;
};

inline constexpr uint64_t kMaxShardFileSize = ShardHeader::kAlignment + ShardHeader::kMaxBlobLength;

}  // namespace sopfs
