// ForEachChunkPiece: a byte range of a file cut at chunk boundaries, the one loop every
// chunk-level reader and writer shares.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "engine/status.h"

namespace sopfs {

struct ChunkPiece {
  uint64_t index;  // the chunk
  size_t within;   // where the piece starts inside it
  size_t take;     // how many bytes of it
  size_t done;     // how far into the range the piece starts
};

// Calls `f(const ChunkPiece&)` (returning Status) for each piece of
// [offset, offset + length), in order; stops at the first error and returns it.
template <class F>
Status ForEachChunkPiece(uint64_t offset, uint64_t length, uint32_t chunk_size, F&& f) {
  for (uint64_t done = 0; done < length;) {
    const uint64_t at = offset + done;
    const size_t within = static_cast<size_t>(at % chunk_size);
    const size_t take = static_cast<size_t>(std::min<uint64_t>(length - done, chunk_size - within));
    SOPFS_RETURN_IF_ERROR(f(ChunkPiece{at / chunk_size, within, take, static_cast<size_t>(done)}));
    done += take;
  }
  return Status::Ok();
}

}  // namespace sopfs
