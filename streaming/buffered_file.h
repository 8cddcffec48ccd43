// BufferedFile: a file being written, with its chunks gathered in memory before they
// go to the blob store — the StreamingDataStore's writer and reader with seek.
//
// Writes land in chunk buffers (at most max_dirty_chunks of them, chunk_size bytes
// each). A chunk written whole is never read from disk. A write of part of a stored
// chunk that is not in memory is kept as a patch (ChunkPatches: its bytes only, up to
// max_patch_bytes in all); the chunk is read once, when its patches are applied: at
// Flush, before a cut, or when the patches outgrow their budget (the chunk with the
// most patched bytes first). A buffer is handed to the blob store (one new blob,
// copy-on-write) as soon as it is full, or when more buffers are dirty than allowed,
// or at Flush — pipelined: up to kMaxInFlight chunks are encoded and written on other
// threads (WorkerPool::Shared) while the next chunk fills, and are adopted into the transaction in
// order. Memory is bounded by (max_dirty_chunks + kMaxInFlight) chunks and the patch budget
// whatever the file size. Reads see the buffers and chunks in flight first, then the stored
// chunks with their patches over them; holes read as zeros. A
// failed write, truncate or zero range, or a chunk in flight that could not be written, makes every
// later change and Flush fail with that error (sticky): the file's changes must then be rolled
// back, so a commit never includes a chunk that was not written nor a change applied in part.
//
// The chunks go into the transaction of the TxnTree given at construction; the caller
// commits or rolls it back, and Flush must run before a commit.
//
// Threads: one thread at a time (the caller's file lock).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "streaming/chunk_file.h"
#include "streaming/chunk_patches.h"

namespace sopfs {

class BufferedFile {
 public:
  static constexpr size_t kDefaultMaxDirtyChunks = 2;
  static constexpr size_t kMaxInFlight = 3;

  // `size` and `stored_chunks` as last committed (the inode's record). A patch budget
  // of 0 means one chunk's size.
  BufferedFile(TxnTree* chunks, uint64_t file_id, uint32_t chunk_size, uint64_t size,
               uint64_t stored_chunks, size_t max_dirty_chunks = kDefaultMaxDirtyChunks,
               size_t max_patch_bytes = 0);

  // Waits for the chunks in flight (adopting them into the transaction, which must
  // still be open: its rollback frees them).
  ~BufferedFile();
  BufferedFile(const BufferedFile&) = delete;
  BufferedFile& operator=(const BufferedFile&) = delete;

  uint64_t size() const { return size_; }
  uint64_t stored_chunks() const { return stored_chunks_; }
  uint32_t chunk_size() const { return chunk_size_; }

  Result<size_t> Read(uint64_t offset, std::span<uint8_t> out);
  Status Write(uint64_t offset, std::span<const uint8_t> data);
  // New size: down removes the chunks past it and cuts the last one; up is a hole.
  Status Truncate(uint64_t new_size);
  // The range reads as zeros afterwards (whole chunks in it become holes); the size
  // grows only with `extend`.
  Status ZeroRange(uint64_t offset, uint64_t length, bool extend);
  // The first offset >= `offset` holding data (want_data) or in a hole, at chunk
  // granularity; ENXIO past the end (lseek's SEEK_DATA / SEEK_HOLE).
  Result<uint64_t> Seek(uint64_t offset, bool want_data);
  // Hands every buffered chunk to the blob store.
  Status Flush();
  // The whole content, when the file is at most `limit` bytes and nothing of it has
  // gone to the blob store (a small file that can be committed by value); else nullopt.
  std::optional<std::string> SmallContent(size_t limit);
  // Makes `bytes` the file's whole content (every stored chunk removed first).
  Status Replace(std::string_view bytes);
  // The bytes written since the content started or since the last call, for an intent
  // log: nullopt when they are not only writes (a truncate, a zero range, Replace) or
  // hold more than kMaxLoggedWrites (then the file must be committed instead).
  static constexpr size_t kMaxLoggedWrites = size_t{1} << 20;
  struct WrittenRange {
    uint64_t offset;
    std::string bytes;
  };
  std::optional<std::vector<WrittenRange>> TakeWrites();
  // From now on TakeWrites says nullopt (writes taken could not be logged).
  void StopLoggingWrites() { NotOnlyWrites(); }
  // Patches may then grow past max_patch_bytes while every file sharing `budget` stays
  // within its limit (a file doing many small writes keeps them, no chunk read).
  void SetPatchBudget(std::shared_ptr<PatchBudget> budget) { shared_ = std::move(budget); }
  // What the patches hold (bytes and per-range overhead); at most max_patch_bytes, or
  // more within a shared budget.
  size_t patch_cost() const { return patches_.cost(); }
  bool dirty() const { return !buffers_.empty() || !in_flight_.empty() || !patches_.empty(); }
  // Called with a chunk's index just before that chunk is stored (into the blob store or
  // the chunk tree's node): where room promised to it is given back (SpaceReserve).
  void SetBeforeStore(std::function<void(uint64_t index)> hook) { before_store_ = std::move(hook); }

 private:
  // The buffer of chunk `index`, read from the store when it is not written whole.
  Result<std::string*> Buffer(uint64_t index, bool whole);
  // Starts writing the buffered chunk on another thread.
  Status FlushChunk(uint64_t index);
  // Waits for the chunk in flight and adopts it; all of them, oldest first.
  Status Settle(uint64_t index);
  Status SettleAll();
  // Keeps at most max_dirty_ buffers, except `keep`.
  Status Evict(uint64_t keep);
  // Applies and stores patched chunks: all of them, or until the patches fit their
  // budget (max_patch_bytes, or the shared one while it has room).
  Status StorePatched(bool all);
  // Tells the shared budget what the patches hold now.
  void Recharge();
  // The bytes a chunk holds within the file's size.
  size_t ChunkBytes(uint64_t index) const;

  ChunkFile file_;
  uint32_t chunk_size_;
  uint64_t size_;
  uint64_t stored_chunks_;
  size_t max_dirty_;
  Status WriteImpl(uint64_t offset, std::span<const uint8_t> data);
  Status TruncateImpl(uint64_t new_size);
  Status ZeroRangeImpl(uint64_t offset, uint64_t length, bool extend);
  Status FlushImpl();
  // Records a failure of a change (see the header comment); returns it.
  Status Sticky(Status st);

  std::function<void(uint64_t index)> before_store_;
  Status failed_;                            // the first failed change, if any
  bool staged_ = false;                      // a chunk went to the blob store
  std::map<uint64_t, std::string> buffers_;  // chunk index -> chunk_size bytes
  // Partly written chunks neither buffered nor in flight (a chunk is in one place only).
  ChunkPatches patches_;
  size_t max_patch_bytes_;
  std::shared_ptr<PatchBudget> shared_;
  size_t charged_ = 0;  // what this file counts in shared_
  // Every write since the last TakeWrites, while they can stand for the change.
  ChunkPatches writes_;
  bool writes_only_ = true;
  void NotOnlyWrites() {
    writes_only_ = false;
    writes_.Clear();
  }
  // Buffers changed only by a cut (truncate, hole punch), never by a write: storing
  // them frees room, so at a full disk they may take the metadata reserve's.
  std::set<uint64_t> cut_only_;
  struct InFlight {
    std::string bytes;  // the chunk's bytes within the file (read while in flight)
    bool existed = false;
    std::future<Result<BlobId>> blob;
  };
  std::map<uint64_t, InFlight> in_flight_;
  std::deque<uint64_t> in_flight_order_;
};

}  // namespace sopfs
