// ShardHeader: the 64-byte header at the start of every shard file.
//
// Layout (little endian):
//   0 magic "SOPB"   4 format version (u16)   6 shard index   7 k   8 m   9..15 zero
//  16 blob ID (hi, lo)   32 blob length   40 shard payload length   48 zero
//  56 XXH3-64 of bytes 0..55 followed by the whole payload
// The payload (shard_length bytes) follows the header. A shard whose header or payload
// does not match its checksum is corrupt, whatever else it claims.
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

  BlobId blob;
  int shard_index = 0;
  int k = 0;
  int m = 0;
  uint64_t blob_length = 0;
  uint64_t shard_length = 0;

  using Bytes = std::array<uint8_t, kSize>;

  // Serializes the header with the checksum of itself and the payload, given as the
  // concatenation of `payload` pieces.
  Bytes Encode(std::span<const std::span<const uint8_t>> payload) const;
  // Parses magic, version and fields; nullopt when they are not a shard header.
  static std::optional<ShardHeader> Parse(std::span<const uint8_t, kSize> bytes);
  // Whether the checksum in `bytes` matches them and the payload pieces.
  static bool ChecksumMatches(std::span<const uint8_t, kSize> bytes,
                              std::span<const std::span<const uint8_t>> payload);
};

}  // namespace sopfs
