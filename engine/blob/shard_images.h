// ShardImages: the file images of one blob's k+m shards, as BlobStore writes them
// (see ShardHeader for the shapes): one aligned buffer, made once per blob written or
// repaired.
//
// Threads: a plain value.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "engine/blob/blob_id.h"
#include "engine/blob/erasure_layout.h"
#include "engine/blob/shard_header.h"
#include "engine/blob/shard_io.h"
#include "engine/io/aligned_buffer.h"

namespace sopfs {

// The file images of one blob's k+m shards, one after another in one aligned buffer:
// [header block][payload, zero padded] per shard (see ShardHeader for the shapes).
// Header blocks and padding start zeroed; each payload is the filler's to write whole.
struct ShardImages {
  uint64_t shard_length = 0;
  uint32_t payload_offset = ShardHeader::kSize;
  uint64_t stride = 0;
  AlignedBuffer bytes;

  ShardImages(uint64_t s, int count)
      : shard_length(s),
        payload_offset(ShardHeader::PayloadOffsetFor(s)),
        stride(payload_offset + ShardHeader::PaddedLengthFor(s)),
        bytes(static_cast<size_t>(stride) * count, AlignedBuffer::NoZeroFill{}) {
    for (int i = 0; i < count; ++i) {
      std::memset(image(i), 0, payload_offset);
      std::memset(payload(i) + shard_length, 0, stride - payload_offset - shard_length);
    }
  }

  uint8_t* image(int i) { return bytes.data() + i * stride; }
  uint8_t* payload(int i) { return image(i) + payload_offset; }

  // Writes shard i's header (checksummed over its payload) in front of its payload.
  void Seal(const BlobId& id, ErasureLayout layout, uint64_t blob_length, int i) {
    ShardHeader h{.blob = id,
                  .shard_index = i,
                  .k = layout.k,
                  .m = layout.m,
                  .payload_offset = payload_offset,
                  .blob_length = blob_length,
                  .shard_length = shard_length,
                  .block_size = ShardHeader::BlockSizeFor(shard_length)};
    h.Encode({image(i), payload_offset}, {payload(i), static_cast<size_t>(shard_length)});
  }

  // A deferred shard goes through the page cache: the kernel writes it back in large
  // requests while the file goes on, and its flush at the commit finds little left.
  ShardWrite Write(int i, std::string path, bool defer_flush) {
    ShardWrite w;
    w.index = i;
    w.path = std::move(path);
    w.file = {image(i), static_cast<size_t>(stride)};
    w.direct = !defer_flush && payload_offset == ShardHeader::kAlignment;
    w.defer_flush = defer_flush;
    return w;
  }
};

}  // namespace sopfs
