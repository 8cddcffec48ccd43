#include "streaming/buffered_file.h"

#include <algorithm>
#include <cstring>

#include "engine/io/worker_pool.h"
#include "streaming/chunk_range.h"

namespace sopfs {

BufferedFile::BufferedFile(TxnTree* chunks, uint64_t file_id, uint32_t chunk_size, uint64_t size,
                           uint64_t stored_chunks, size_t max_dirty_chunks, size_t max_patch_bytes)
    : file_(chunks, file_id, chunk_size),
      chunk_size_(chunk_size),
      size_(size),
      stored_chunks_(stored_chunks),
      max_dirty_(std::max<size_t>(1, max_dirty_chunks)),
      max_patch_bytes_(max_patch_bytes != 0 ? max_patch_bytes : chunk_size) {}

BufferedFile::~BufferedFile() {
  (void)SettleAll();
  patches_.Clear();
  Recharge();
}

void BufferedFile::Recharge() {
  if (!shared_) return;
  const size_t cost = patches_.cost();
  if (cost >= charged_) {
    shared_->used += cost - charged_;
  } else {
    shared_->used -= charged_ - cost;
  }
  charged_ = cost;
}

Status BufferedFile::Sticky(Status st) {
  // Refused arguments (EFBIG, EINVAL) changed nothing: they need no rollback.
  const bool refused = st.code() == EFBIG || st.code() == EINVAL;
  if (!st.ok() && !refused && failed_.ok()) failed_ = st;
  return st;
}

size_t BufferedFile::ChunkBytes(uint64_t index) const {
  const uint64_t start = index * chunk_size_;
  if (start >= size_) return 0;
  return static_cast<size_t>(std::min<uint64_t>(chunk_size_, size_ - start));
}

Result<std::string*> BufferedFile::Buffer(uint64_t index, bool whole) {
  auto it = buffers_.find(index);
  if (it != buffers_.end()) return &it->second;
  // A version of the chunk still in flight must land first: it is what is read below.
  if (in_flight_.count(index)) SOPFS_RETURN_IF_ERROR(Settle(index));
  std::string bytes;
  if (whole) {
    patches_.Forget(index);
    Recharge();
  } else if (index * chunk_size_ < size_) {
    Result<std::string> stored = file_.ReadChunk(index);
    if (!stored.ok()) return stored.status();
    bytes = std::move(*stored);
    patches_.Take(index, bytes);
    Recharge();
  }
  // A buffer holds the chunk's bytes up to the last one written (not a whole chunk:
  // a small file costs what it holds); past its end the chunk reads as zeros.
  return &buffers_.emplace(index, std::move(bytes)).first->second;
}

namespace {

// Bytes [within, within + take) of a chunk held as `bytes` (zeros past their end).
void CopyOut(const std::string& bytes, size_t within, size_t take, uint8_t* dst) {
  const size_t have = within < bytes.size() ? std::min(take, bytes.size() - within) : 0;
  std::memcpy(dst, bytes.data() + within, have);
  std::memset(dst + have, 0, take - have);
}

}  // namespace

Result<size_t> BufferedFile::Read(uint64_t offset, std::span<uint8_t> out) {
  if (offset >= size_) return size_t{0};
  const size_t n = static_cast<size_t>(std::min<uint64_t>(out.size(), size_ - offset));
  SOPFS_RETURN_IF_ERROR(ForEachChunkPiece(offset, n, chunk_size_, [&](const ChunkPiece& p) {
    if (auto it = buffers_.find(p.index); it != buffers_.end()) {
      CopyOut(it->second, p.within, p.take, out.data() + p.done);
    } else if (auto flying = in_flight_.find(p.index); flying != in_flight_.end()) {
      CopyOut(flying->second.bytes, p.within, p.take, out.data() + p.done);
    } else {
      Result<size_t> got = file_.ReadAt(size_, offset + p.done, out.subspan(p.done, p.take));
      if (!got.ok()) return got.status();
      patches_.Overlay(p.index, p.within, out.subspan(p.done, p.take));
    }
    return Status::Ok();
  }));
  return n;
}

Status BufferedFile::Write(uint64_t offset, std::span<const uint8_t> data) {
  if (!failed_.ok()) return failed_;
  Status st = Sticky(WriteImpl(offset, data));
  if (st.ok() && writes_only_) {
    (void)ForEachChunkPiece(offset, data.size(), chunk_size_, [&](const ChunkPiece& p) {
      writes_.Put(p.index, p.within, data.subspan(p.done, p.take));
      return Status::Ok();
    });
    if (writes_.cost() > kMaxLoggedWrites) NotOnlyWrites();
  } else if (!st.ok()) {
    NotOnlyWrites();
  }
  return st;
}

std::optional<std::vector<BufferedFile::WrittenRange>> BufferedFile::TakeWrites() {
  if (!writes_only_ || !failed_.ok()) return std::nullopt;
  std::vector<WrittenRange> out;
  writes_.ForEachRange([&](uint64_t index, size_t within, const std::string& bytes) {
    out.push_back({index * chunk_size_ + within, bytes});
  });
  writes_.Clear();
  return out;
}

Status BufferedFile::WriteImpl(uint64_t offset, std::span<const uint8_t> data) {
  if (offset > ChunkFile::kMaxFileSize || data.size() > ChunkFile::kMaxFileSize - offset) {
    return Status::Error(EFBIG, "write past the 1 PiB file size limit");
  }
  return ForEachChunkPiece(offset, data.size(), chunk_size_, [&](const ChunkPiece& p) {
    const bool whole = p.within == 0 && p.take == chunk_size_;
    if (!whole && p.index * chunk_size_ < size_ && !buffers_.count(p.index) &&
        !in_flight_.count(p.index)) {
      // Part of a stored chunk (or of a hole inside the file): patched, not read now.
      patches_.Put(p.index, p.within, data.subspan(p.done, p.take));
      Recharge();
      size_ = std::max<uint64_t>(size_, offset + p.done + p.take);
      return StorePatched(/*all=*/false);
    }
    Result<std::string*> buffer = Buffer(p.index, whole);
    if (!buffer.ok()) return buffer.status();
    cut_only_.erase(p.index);
    std::string& bytes = **buffer;
    if (bytes.size() < p.within + p.take) bytes.resize(p.within + p.take, '\0');
    std::memcpy(bytes.data() + p.within, data.data() + p.done, p.take);
    size_ = std::max<uint64_t>(size_, offset + p.done + p.take);
    // A full chunk goes out at once (sequential writes stream); others wait a while
    // for more writes to the same chunk.
    return p.within + p.take == chunk_size_ ? FlushChunk(p.index) : Evict(p.index);
  });
  return Status::Ok();
}

Status BufferedFile::FlushChunk(uint64_t index) {
  auto it = buffers_.find(index);
  if (it == buffers_.end()) return Status::Ok();
  const Room room = cut_only_.erase(index) != 0 ? Room::kMayUseReserve : Room::kNewData;
  // An older write of the same chunk goes first, so the newest bytes win.
  if (in_flight_.count(index)) SOPFS_RETURN_IF_ERROR(Settle(index));
  Result<bool> existed = file_.HasChunk(index);
  if (!existed.ok()) return existed.status();
  const size_t bytes = ChunkBytes(index);
  if (bytes == 0) {
    // The file was cut before this chunk: nothing of it remains.
    buffers_.erase(it);
    if (!*existed) return Status::Ok();
    Result<uint64_t> removed = file_.RemoveChunks(index, index + 1);
    if (!removed.ok()) return removed.status();
    stored_chunks_ -= *removed;
    return Status::Ok();
  }
  if (before_store_) before_store_(index);
  if (bytes <= ChunkFile::kInNodeBytes) {
    // A small chunk goes into the chunk tree's node: nothing to write ahead of commit.
    std::string small = std::move(it->second);
    small.resize(bytes);
    buffers_.erase(it);
    SOPFS_RETURN_IF_ERROR(Sticky(file_.WriteChunk(index, small)));
    if (!*existed) ++stored_chunks_;
    return Status::Ok();
  }
  staged_ = true;
  InFlight& job = in_flight_[index];
  job.bytes = std::move(it->second);
  job.bytes.resize(bytes);
  job.existed = *existed;
  buffers_.erase(it);
  job.blob = WorkerPool::Shared().Submit(
      [this, room, data = std::string_view(job.bytes)] { return file_.StageChunk(data, room); });
  in_flight_order_.push_back(index);
  while (in_flight_.size() > kMaxInFlight) SOPFS_RETURN_IF_ERROR(Settle(in_flight_order_.front()));
  return Status::Ok();
}

Status BufferedFile::Settle(uint64_t index) {
  auto it = in_flight_.find(index);
  if (it == in_flight_.end()) return Status::Ok();
  // Older chunks first: they may hold an earlier version of this one.
  while (!in_flight_order_.empty() && in_flight_order_.front() != index) {
    const uint64_t older = in_flight_order_.front();
    SOPFS_RETURN_IF_ERROR(Settle(older));
  }
  in_flight_order_.pop_front();
  Result<BlobId> blob = it->second.blob.get();
  const bool existed = it->second.existed;
  in_flight_.erase(it);
  if (!blob.ok()) return Sticky(blob.status());
  SOPFS_RETURN_IF_ERROR(Sticky(file_.AdoptChunk(index, *blob)));
  if (!existed) ++stored_chunks_;
  return Status::Ok();
}

Status BufferedFile::SettleAll() {
  Status first;
  while (!in_flight_order_.empty()) {
    Status st = Settle(in_flight_order_.front());
    if (!st.ok() && first.ok()) first = st;
  }
  return first;
}

Status BufferedFile::Evict(uint64_t keep) {
  while (buffers_.size() > max_dirty_) {
    auto victim = buffers_.begin();
    if (victim->first == keep) ++victim;
    SOPFS_RETURN_IF_ERROR(FlushChunk(victim->first));
  }
  return Status::Ok();
}

Status BufferedFile::StorePatched(bool all) {
  auto over = [&] {
    return patches_.cost() > max_patch_bytes_ &&
           (!shared_ || shared_->used.load() > shared_->limit);
  };
  while (!patches_.empty() && (all || over())) {
    // The heaviest chunk first: reading it applies the most bytes.
    const uint64_t index = all ? patches_.First() : patches_.Heaviest();
    Result<std::string*> buffer = Buffer(index, false);
    if (!buffer.ok()) return buffer.status();
    SOPFS_RETURN_IF_ERROR(FlushChunk(index));
  }
  return Status::Ok();
}

Status BufferedFile::Flush() {
  if (!failed_.ok()) return failed_;
  return Sticky(FlushImpl());
}

Status BufferedFile::FlushImpl() {
  SOPFS_RETURN_IF_ERROR(StorePatched(/*all=*/true));
  while (!buffers_.empty()) SOPFS_RETURN_IF_ERROR(FlushChunk(buffers_.begin()->first));
  return SettleAll();
}

std::optional<std::string> BufferedFile::SmallContent(size_t limit) {
  if (!failed_.ok() || staged_ || !in_flight_.empty() || size_ > limit) return std::nullopt;
  std::string bytes(size_, '\0');
  Result<size_t> n = Read(0, {reinterpret_cast<uint8_t*>(bytes.data()), bytes.size()});
  if (!n.ok() || *n != bytes.size()) return std::nullopt;
  return bytes;
}

Status BufferedFile::Replace(std::string_view bytes) {
  if (!failed_.ok()) return failed_;
  SOPFS_RETURN_IF_ERROR(Sticky(SettleAll()));
  NotOnlyWrites();
  buffers_.clear();
  patches_.Clear();
  Recharge();
  cut_only_.clear();
  Result<uint64_t> removed = file_.RemoveChunks(0, UINT64_MAX);
  if (!removed.ok()) return Sticky(removed.status());
  stored_chunks_ = 0;
  size_ = 0;
  return Write(0, {reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
}

Status BufferedFile::Truncate(uint64_t new_size) {
  if (!failed_.ok()) return failed_;
  NotOnlyWrites();
  return Sticky(TruncateImpl(new_size));
}

Status BufferedFile::TruncateImpl(uint64_t new_size) {
  if (new_size > ChunkFile::kMaxFileSize) {
    return Status::Error(EFBIG, "size past the 1 PiB file size limit");
  }
  SOPFS_RETURN_IF_ERROR(StorePatched(/*all=*/true));  // a cut works on whole chunks
  SOPFS_RETURN_IF_ERROR(SettleAll());
  if (new_size >= size_) {
    size_ = new_size;
    return Status::Ok();
  }
  const uint64_t keep_chunks = (new_size + chunk_size_ - 1) / chunk_size_;
  buffers_.erase(buffers_.lower_bound(keep_chunks), buffers_.end());
  cut_only_.erase(cut_only_.lower_bound(keep_chunks), cut_only_.end());
  Result<uint64_t> removed = file_.RemoveChunks(keep_chunks, UINT64_MAX);
  if (!removed.ok()) return removed.status();
  stored_chunks_ -= *removed;
  const size_t tail = static_cast<size_t>(new_size % chunk_size_);
  if (tail != 0) {
    // Zero the cut part of the last chunk, so growing later reads zeros there.
    const uint64_t last = keep_chunks - 1;
    if (last * chunk_size_ < size_) {
      if (!buffers_.count(last)) cut_only_.insert(last);
      Result<std::string*> buffer = Buffer(last, false);
      if (!buffer.ok()) return buffer.status();
      if ((*buffer)->size() > tail) (*buffer)->resize(tail);
    }
  }
  size_ = new_size;
  return Evict(UINT64_MAX);
}

Status BufferedFile::ZeroRange(uint64_t offset, uint64_t length, bool extend) {
  if (!failed_.ok()) return failed_;
  NotOnlyWrites();
  return Sticky(ZeroRangeImpl(offset, length, extend));
}

Status BufferedFile::ZeroRangeImpl(uint64_t offset, uint64_t length, bool extend) {
  if (offset > ChunkFile::kMaxFileSize || length > ChunkFile::kMaxFileSize - offset) {
    return Status::Error(EFBIG, "range past the 1 PiB file size limit");
  }
  SOPFS_RETURN_IF_ERROR(StorePatched(/*all=*/true));
  SOPFS_RETURN_IF_ERROR(SettleAll());
  const uint64_t end = offset + length;
  const uint64_t zero_end = std::min(end, std::max(size_, extend ? end : size_));
  if (zero_end > offset) {
    SOPFS_RETURN_IF_ERROR(
        ForEachChunkPiece(offset, zero_end - offset, chunk_size_, [&](const ChunkPiece& p) {
          const uint64_t at = offset + p.done;
          // A chunk zeroed over all the bytes it holds becomes a hole.
          if (p.within == 0 && (p.take == chunk_size_ || at + p.take >= size_)) {
            buffers_.erase(p.index);
            cut_only_.erase(p.index);
            Result<uint64_t> removed = file_.RemoveChunks(p.index, p.index + 1);
            if (!removed.ok()) return removed.status();
            stored_chunks_ -= *removed;
          } else if (buffers_.count(p.index) || p.index * chunk_size_ < size_) {
            // A hole punched inside a chunk is a cut; zeros written past the end grow.
            if (!buffers_.count(p.index) && !extend) cut_only_.insert(p.index);
            Result<std::string*> buffer = Buffer(p.index, false);
            if (!buffer.ok()) return buffer.status();
            std::string& bytes = **buffer;
            if (p.within < bytes.size()) {
              std::memset(bytes.data() + p.within, 0, std::min(p.take, bytes.size() - p.within));
            }
            return Evict(p.index);
          }
          return Status::Ok();
        }));
  }
  if (extend) size_ = std::max(size_, end);
  return Status::Ok();
}

Result<uint64_t> BufferedFile::Seek(uint64_t offset, bool want_data) {
  // Patched chunks hold data: stored first (a file that failed is rolled back anyway).
  if (failed_.ok()) SOPFS_RETURN_IF_ERROR(Sticky(StorePatched(/*all=*/true)));
  SOPFS_RETURN_IF_ERROR(SettleAll());
  if (offset >= size_) return Status::Error(ENXIO, "offset at or past the end of the file");
  uint64_t index = offset / chunk_size_;
  const uint64_t chunks = (size_ + chunk_size_ - 1) / chunk_size_;
  while (index < chunks) {
    bool has_data = buffers_.count(index) != 0;
    if (!has_data) {
      Result<std::optional<uint64_t>> next = file_.NextChunk(index);
      if (!next.ok()) return next.status();
      auto dirty = buffers_.lower_bound(index);
      uint64_t next_data = next->value_or(UINT64_MAX);
      if (dirty != buffers_.end()) next_data = std::min(next_data, dirty->first);
      has_data = next_data == index;
      if (want_data && !has_data) {
        if (next_data >= chunks) return Status::Error(ENXIO, "no data after the offset");
        index = next_data;
        has_data = true;
      }
    }
    if (has_data == want_data) return std::max(offset, index * chunk_size_);
    ++index;
  }
  if (want_data) return Status::Error(ENXIO, "no data after the offset");
  return size_;  // the end of the file counts as a hole
}

}  // namespace sopfs
