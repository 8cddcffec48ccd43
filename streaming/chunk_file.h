// ChunkFile: a file's bytes as an ordered run of chunks inside a transaction — the core
// of the StreamingDataStore.
//
// Chunks live in one B-Tree (the volume's chunk tree) under the key (file ID, chunk
// index), both big endian so a file's chunks sort together and in order. Each chunk is
// a value of its own blob (the tree keeps values out of its nodes: values_in_node =
// false), holding up to chunk_size bytes — except a chunk of at most kInNodeBytes (a
// small file, or the short tail of one), which is kept in the tree's node instead and
// so is packed with its neighbours into node segments: 10,000 small files cost a few
// segment writes, not 10,000 erasure-coded blobs of their own. A chunk shorter than
// chunk_size reads as zeros after its end, and a missing chunk (a hole) reads as zeros
// and takes no space.
//
// The file's size is kept by the caller (the inode); every call takes the size it
// applies to. WriteAt rewrites only the chunks it touches: a chunk covered whole is
// written as is, a chunk covered in part is read, patched and written as a new blob
// (copy-on-write; the old one becomes garbage at commit). Truncate removes the chunks
// past the new end and cuts the one it ends in, so growing the file later reads zeros.
// All of it is part of the caller's transaction: commit makes it durable, rollback
// leaves the file as it was.
//
// Errors: EINVAL for offsets or sizes past kMaxFileSize, those of the transaction
// (EROFS in a reader, EIO, ENOSPC...).
// Threads: like its Transaction, one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "engine/txn/transaction.h"

namespace sopfs {

class ChunkFile {
 public:
  static constexpr uint64_t kMaxFileSize = uint64_t{1} << 50;  // 1 PiB
  // Chunks up to this many bytes live in the node. A leaf holds at most 500 items, so a
  // node of small chunks stays near 1 MiB, the size of one segment.
  static constexpr size_t kInNodeBytes = 2048;

  // The chunk tree's options for a given chunk size.
  static BtreeOptions TreeOptions();
  // The key of a file's chunk: (file ID, chunk index), both big endian.
  static std::string ChunkKey(uint64_t file_id, uint64_t index);

  ChunkFile(TxnTree* chunks, uint64_t file_id, uint32_t chunk_size)
      : chunks_(chunks), file_id_(file_id), chunk_size_(chunk_size) {}

  // Reads up to out.size() bytes at `offset` of a file of `size` bytes; returns how
  // many (short at the end of the file, 0 past it). Holes read as zeros.
  Result<size_t> ReadAt(uint64_t size, uint64_t offset, std::span<uint8_t> out);
  // Writes `data` at `offset`; returns the file's new size (max(size, offset + n)).
  Result<uint64_t> WriteAt(uint64_t size, uint64_t offset, std::span<const uint8_t> data);
  // Sets the size from `size` to `new_size` (down: chunks past the end removed, the last
  // one cut; up: a hole).
  Status Truncate(uint64_t size, uint64_t new_size);
  // Removes every chunk of a file of `size` bytes (unlink of its last name).
  Status RemoveAll(uint64_t size);

  // Chunk-level access, for callers that buffer whole chunks (BufferedFile).
  // The chunk's stored bytes (shorter than chunk_size when the file ends in it; empty
  // for a hole).
  Result<std::string> ReadChunk(uint64_t index) { return LoadChunk(index); }
  // Stores a chunk's bytes (at most chunk_size): in the node up to kInNodeBytes, as one
  // new blob above.
  Status WriteChunk(uint64_t index, std::string_view bytes);
  // Removes the stored chunks with first <= index < end; returns how many there were.
  // Walks only the chunks that exist (a sparse file costs what it stores).
  Result<uint64_t> RemoveChunks(uint64_t first, uint64_t end);
  // Pipelined writes: StageChunk writes a chunk's blob (any thread, see
  // TxnTree::StageBlob), AdoptChunk makes it the chunk's content. (For chunks over
  // kInNodeBytes; WriteChunk places smaller ones.)
  Result<BlobId> StageChunk(std::string_view bytes, Room room = Room::kNewData) {
    return chunks_->StageBlob(bytes, room);
  }
  Status AdoptChunk(uint64_t index, const BlobId& blob) {
    return chunks_->UpsertStaged(Key(index), blob);
  }
  Result<bool> HasChunk(uint64_t index);
  // The first stored chunk at or after `index`, if any.
  Result<std::optional<uint64_t>> NextChunk(uint64_t index);

  // How many chunks the file stores (holes not counted), for a file of `size` bytes.
  Result<uint64_t> StoredChunks(uint64_t size);

 private:
  std::string Key(uint64_t index) const;
  // Stores a chunk's bytes where their size says (see kInNodeBytes).
  Status Put(uint64_t index, std::string_view bytes);
  // The chunk index of a key of this file; nullopt for another file's key.
  std::optional<uint64_t> IndexOf(std::string_view key) const;
  // The chunk's stored bytes; empty for a hole.
  Result<std::string> LoadChunk(uint64_t index);

  TxnTree* chunks_;
  uint64_t file_id_;
  uint32_t chunk_size_;
};

}  // namespace sopfs
