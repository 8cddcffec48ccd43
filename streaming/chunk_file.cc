#include "streaming/chunk_file.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "streaming/chunk_range.h"

namespace sopfs {
namespace {

void PutBigEndian(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

Status CheckRange(uint64_t offset, uint64_t length) {
  if (offset > ChunkFile::kMaxFileSize || length > ChunkFile::kMaxFileSize - offset) {
    return Status::Error(EINVAL, "file range past the 1 PiB limit");
  }
  return Status::Ok();
}

}  // namespace

BtreeOptions ChunkFile::TreeOptions() {
  BtreeOptions options;
  options.values_in_node = false;  // every chunk is a blob of its own
  return options;
}

std::string ChunkFile::ChunkKey(uint64_t file_id, uint64_t index) {
  std::string key;
  key.reserve(16);
  PutBigEndian(key, file_id);
  PutBigEndian(key, index);
  return key;
}

std::string ChunkFile::Key(uint64_t index) const { return ChunkKey(file_id_, index); }

Status ChunkFile::Put(uint64_t index, std::string_view bytes) {
  return bytes.size() <= kInNodeBytes ? chunks_->UpsertInNode(Key(index), bytes)
                                      : chunks_->Upsert(Key(index), bytes);
}

Result<std::string> ChunkFile::LoadChunk(uint64_t index) {
  Result<std::string> bytes = chunks_->Find(Key(index));
  if (!bytes.ok() && bytes.status().code() == ENOENT) return std::string();
  return bytes;
}

Result<size_t> ChunkFile::ReadAt(uint64_t size, uint64_t offset, std::span<uint8_t> out) {
  if (offset >= size) return size_t{0};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), size - offset));
  SOPFS_RETURN_IF_ERROR(ForEachChunkPiece(offset, n, chunk_size_, [&](const ChunkPiece& p) {
    // Only the part asked for is read (from the shards that hold it). Past a short
    // chunk's end, and in a hole, the file reads as zeros.
    Result<size_t> stored = chunks_->ReadValue(Key(p.index), p.within, out.subspan(p.done, p.take));
    if (!stored.ok() && stored.status().code() != ENOENT) return stored.status();
    const size_t got = stored.ok() ? *stored : 0;
    std::memset(out.data() + p.done + got, 0, p.take - got);
    return Status::Ok();
  }));
  return n;
}

Result<uint64_t> ChunkFile::WriteAt(uint64_t size, uint64_t offset, std::span<const uint8_t> data) {
  SOPFS_RETURN_IF_ERROR(CheckRange(offset, data.size()));
  SOPFS_RETURN_IF_ERROR(
      ForEachChunkPiece(offset, data.size(), chunk_size_, [&](const ChunkPiece& p) {
        const auto* src = reinterpret_cast<const char*>(data.data() + p.done);
        std::string chunk;
        if (p.within == 0 && p.take == chunk_size_) {
          chunk.assign(src, p.take);  // the whole chunk: no need to read the old one
        } else {
          Result<std::string> old = LoadChunk(p.index);
          if (!old.ok()) return old.status();
          // Truncate cuts the last chunk at the file's end, so no stale bytes lie past it.
          chunk = std::move(*old);
          if (chunk.size() < p.within + p.take) chunk.resize(p.within + p.take, '\0');
          std::memcpy(chunk.data() + p.within, src, p.take);
        }
        return Put(p.index, chunk);
      }));
  return std::max<uint64_t>(size, offset + data.size());
}

Status ChunkFile::Truncate(uint64_t size, uint64_t new_size) {
  SOPFS_RETURN_IF_ERROR(CheckRange(new_size, 0));
  if (new_size >= size) return Status::Ok();  // growing: the new bytes are a hole
  const uint64_t keep_chunks = (new_size + chunk_size_ - 1) / chunk_size_;
  Result<uint64_t> removed = RemoveChunks(keep_chunks, UINT64_MAX);
  if (!removed.ok()) return removed.status();
  const size_t tail = static_cast<size_t>(new_size % chunk_size_);
  if (tail == 0) return Status::Ok();
  Result<std::string> last = LoadChunk(keep_chunks - 1);
  if (!last.ok()) return last.status();
  if (last->size() <= tail) return Status::Ok();
  last->resize(tail);
  return Put(keep_chunks - 1, *last);
}

Status ChunkFile::RemoveAll(uint64_t size) { return Truncate(size, 0); }

std::optional<uint64_t> ChunkFile::IndexOf(std::string_view key) const {
  if (key.size() != 16 || key.substr(0, 8) != std::string_view(Key(0)).substr(0, 8)) {
    return std::nullopt;
  }
  uint64_t index = 0;
  for (size_t i = 8; i < 16; ++i) index = (index << 8) | static_cast<uint8_t>(key[i]);
  return index;
}

Status ChunkFile::WriteChunk(uint64_t index, std::string_view bytes) {
  if (bytes.size() > chunk_size_) return Status::Error(EINVAL, "chunk larger than the chunk size");
  SOPFS_RETURN_IF_ERROR(CheckRange(index * chunk_size_, bytes.size()));
  return Put(index, bytes);
}

Result<uint64_t> ChunkFile::RemoveChunks(uint64_t first, uint64_t end) {
  uint64_t removed = 0;
  // Collect a batch under the cursor, then remove (writes invalidate the cursor).
  for (uint64_t from = first; from < end;) {
    std::vector<uint64_t> batch;
    auto cursor = chunks_->NewCursor();
    SOPFS_RETURN_IF_ERROR(cursor->Seek(Key(from)));
    while (cursor->Valid() && batch.size() < 1024) {
      std::optional<uint64_t> index = IndexOf(cursor->key());
      if (!index || *index >= end) break;
      batch.push_back(*index);
      SOPFS_RETURN_IF_ERROR(cursor->Next());
    }
    if (batch.empty()) break;
    for (uint64_t index : batch) SOPFS_RETURN_IF_ERROR(chunks_->Remove(Key(index)));
    removed += batch.size();
    if (batch.back() == UINT64_MAX) break;
    from = batch.back() + 1;
  }
  return removed;
}

Result<bool> ChunkFile::HasChunk(uint64_t index) {
  Result<std::optional<uint64_t>> next = NextChunk(index);
  if (!next.ok()) return next.status();
  return next->has_value() && **next == index;
}

Result<std::optional<uint64_t>> ChunkFile::NextChunk(uint64_t index) {
  auto cursor = chunks_->NewCursor();
  SOPFS_RETURN_IF_ERROR(cursor->Seek(Key(index)));
  if (!cursor->Valid()) return std::optional<uint64_t>();
  return IndexOf(cursor->key());
}

Result<uint64_t> ChunkFile::StoredChunks(uint64_t size) {
  uint64_t count = 0;
  const uint64_t chunks = (size + chunk_size_ - 1) / chunk_size_;
  auto cursor = chunks_->NewCursor();
  SOPFS_RETURN_IF_ERROR(cursor->Seek(Key(0)));
  while (cursor->Valid() && cursor->key() < Key(chunks)) {
    ++count;
    SOPFS_RETURN_IF_ERROR(cursor->Next());
  }
  return count;
}

}  // namespace sopfs
