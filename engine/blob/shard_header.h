// ShardHeader: the header at the start of every shard file, and the two shapes a
// shard file takes.
//
// Header layout (little endian, 64 bytes):
//   0 magic "SOPB"   4 format version (u16)   6 shard index   7 k   8 m   9..11 zero
//  12 payload offset (u32)   16 blob ID (hi, lo)   32 blob length   40 shard length
//  48 zero   56 XXH3-64 of bytes 0..55 followed by the shard_length payload bytes
//
// Shapes:
//  - compact, for shards under kAlignedShardMin: the payload follows the header at
//    offset 64; the file is 64 + shard_length bytes.
//  - aligned, for larger shards: the header is padded to 4096 bytes and the payload to
//    a multiple of 4096 (zeros, not covered by the checksum), so the whole file can be
//    written with O_DIRECT from aligned memory, skipping the page cache.
// A shard whose header or payload does not match its checksum is corrupt, whatever
// else it claims.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>

#include "engine/blob/blob_id.h"

namespace sopfs {

struct ShardHeader {
  static constexpr uint32_t kMagic = 0x42504f53;  // "SOPB"
  static constexpr uint16_t kVersion = 1;
  static constexpr size_t kSize = 64;
  static constexpr uint64_t kAlignedShardMin = 64 * 1024;
  static constexpr uint64_t kAlignment = 4096;
  // The largest blob the store takes, and so the largest shard file there can be.
  static constexpr uint64_t kMaxBlobLength = 1ull << 30;

  BlobId blob;
  int shard_index = 0;
  int k = 0;
  int m = 0;
  uint32_t payload_offset = kSize;
  uint64_t blob_length = 0;
  uint64_t shard_length = 0;

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
  bool aligned() const { return payload_offset == kAlignment; }
  uint64_t FileSize() const { return payload_offset + PaddedLengthFor(shard_length); }

  // Serializes the header with the checksum of itself and `payload`.
  Bytes Encode(std::span<const uint8_t> payload) const;
  // Parses magic, version and fields; nullopt when they are not a shard header.
  static std::optional<ShardHeader> Parse(std::span<const uint8_t, kSize> bytes);
  // Whether the checksum in `bytes` matches them and the payload.
  static bool ChecksumMatches(std::span<const uint8_t, kSize> bytes,
                              std::span<const uint8_t> payload);
};

inline constexpr uint64_t kMaxShardFileSize = ShardHeader::kAlignment + ShardHeader::kMaxBlobLength;

}  // namespace sopfs
