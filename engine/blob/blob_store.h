// BlobStore: blobs erasure coded over the volume's data folders.
//
// A blob (a file chunk or a B-Tree node) is split into k data shards plus m parity
// shards (ISA-L Reed-Solomon); each shard is a file with a checksummed header in its
// own data folder (see ShardPlacement for where, ShardHeader for the format).
//
// - Put writes all k+m shards of every blob of a batch in parallel with one flush
//   round, and reports success for a blob once ErasureLayout::write_quorum() shards
//   (k+1, or all k when m == 0) are durable. Shards that did not make it are listed in
//   the report (the blob is degraded; Repair restores it). A blob below quorum fails
//   (ENOSPC if a folder was full, else the errno every failed shard shares, else EIO)
//   and the shard files it made are removed, so no half-written blob stays visible
//   (after a crash, up to k of them may come back as an unreferenced orphan). A put
//   never overwrites an existing shard file (EEXIST). Blobs hold at most 1 GiB.
// - Get reads k shards, data shards first, avoiding folders that failed recently, and
//   decodes from parity only when a shard is missing, truncated, corrupt or unreadable.
//   Up to m bad shards give the exact bytes; more give EIO naming the blob. Never
//   wrong bytes: every shard used has passed its checksum.
// - GetRange reads only the data shards that overlap the range, and of each only its
//   header page and the checksummed blocks that hold the range (ShardHeader version
//   2): a 4 KiB read of a 1 MiB blob in 4+2 reads 8 KiB of one shard, in one batch.
//   Without the blob's length it guesses the shard length the last range read found
//   (most blobs are whole chunks) and, when a header says otherwise, reads again with
//   the length it says. Shards of version 1 are read and verified whole. If one of
//   them is bad it falls back to Get's decoding path.
// - Shards of 64 KiB and more are written with O_DIRECT from aligned buffers (no copy
//   into the page cache); smaller ones are written buffered in a compact file.
// - A Write with defer_flush (a transaction's staged values) is written buffered and
//   not flushed: its shard files and their directories are flushed by FlushDeferred,
//   which a commit calls before its record, so a big file written in many chunks pays
//   one flush round at its commit, as a native file pays one fsync, instead of one per
//   chunk. Until then the blob may be lost to a power cut (it is not committed yet).
// - Repair reads all k+m shards and rewrites the missing or corrupt ones (written
//   aside and renamed into place, so a crash never leaves a shard worse than before).
//   Shards unreadable for an I/O error are reported, not rewritten.
// - Remove deletes every shard (missing ones are fine). Removal is not flushed: after
//   a crash a removed blob may reappear as an orphan, which fsck frees.
//
// The layout is passed on every call; the store does not remember it.
// Threads: every method may be called concurrently.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/blob/blob_id.h"
#include "engine/blob/erasure_codec.h"
#include "engine/blob/erasure_layout.h"
#include "engine/blob/shard_io.h"
#include "engine/blob/shard_placement.h"
#include "engine/io/env.h"

namespace sopfs {

struct BlobStoreOptions {
  // After an I/O error, reads avoid that folder for this long when parity allows.
  std::chrono::milliseconds folder_failure_hold{std::chrono::seconds(30)};
  // Memory for the verified block-checksum tables range reads keep (shard_table_cache.h).
  size_t table_cache_bytes = size_t{16} << 20;
};

// What was wrong with one shard.
struct ShardProblem {
  int shard = 0;
  int folder = 0;
  Status status;
  bool corrupt = false;  // read, but not a valid shard (else missing or an I/O error)
};

struct BlobReadReport {
  std::vector<ShardProblem> bad_shards;  // missing, truncated, corrupt or unreadable
  bool reconstructed = false;            // parity was decoded to produce the bytes
};

struct BlobWriteReport {
  std::vector<ShardProblem> failed_shards;  // not durable; the blob is degraded if it succeeded
  bool written = false;                     // durable at quorum (else nothing of it stays)
};

struct BlobRepairReport {
  std::vector<ShardProblem> bad_shards;  // what was found wrong
  std::vector<int> rewritten;            // shards written anew
  uint64_t bytes_read = 0;               // shard bytes read to check it
};

struct BlobStoreCounters {
  std::atomic<uint64_t> blobs_written{0};
  std::atomic<uint64_t> blobs_read{0};
  std::atomic<uint64_t> bytes_written{0};  // shard bytes, parity and headers included
  std::atomic<uint64_t> bytes_read{0};
  std::atomic<uint64_t> reconstructions{0};
  std::atomic<uint64_t> bad_shards_seen{0};
};

class BlobStore {
 public:
  struct Write {
    BlobId id;
    ErasureLayout layout;
    std::span<const uint8_t> data;
    // Written but not flushed: FlushDeferred makes it durable (file comment).
    bool defer_flush = false;
  };

  // Every folder must exist, unless `folders_may_be_missing` (a read-only store: reads
  // find no shard in a missing folder). The Env must outlive the store.
  static Result<std::unique_ptr<BlobStore>> Open(Env* env, std::vector<std::string> data_folders,
                                                 BlobStoreOptions options = {},
                                                 bool folders_may_be_missing = false);

  int folder_count() const { return placement_.folder_count(); }
  const BlobStoreCounters& counters() const { return counters_; }

  // Writes a batch durably (see the file comment). Returns the first failure; with
  // `reports`, one report per blob of the batch.
  Status Put(std::span<const Write> batch, std::vector<BlobWriteReport>* reports = nullptr);
  Status Put(const BlobId& id, ErasureLayout layout, std::span<const uint8_t> data,
             BlobWriteReport* report = nullptr);

  // Makes the blobs among `ids` that a Put wrote with defer_flush durable: flushes
  // their shard files and the directories they were made in, in one batch. A blob
  // stays good with write_quorum() durable shards (the others are left to the scrub,
  // as after a degraded Put); below it, that blob fails (its shards stay, for the
  // caller's discard to remove). Blobs not deferred (or flushed already) are skipped.
  Status FlushDeferred(std::span<const BlobId> ids);
  // How many blobs wait for FlushDeferred (for tests and stats).
  size_t deferred_count() const;

  Result<std::vector<uint8_t>> Get(const BlobId& id, ErasureLayout layout,
                                   BlobReadReport* report = nullptr);
  // Reads up to out.size() bytes at `offset`; returns how many (short at the end).
  // `blob_length`, when the caller knows it, saves reading a shard header to find
  // which shards hold the range.
  Result<size_t> GetRange(const BlobId& id, ErasureLayout layout, uint64_t offset,
                          std::span<uint8_t> out, BlobReadReport* report = nullptr,
                          std::optional<uint64_t> blob_length = std::nullopt);

  Result<BlobRepairReport> Repair(const BlobId& id, ErasureLayout layout);
  // Repair's check without the rewrite: reads and verifies all k+m shards and lists
  // the bad ones. Ok even when more than m are bad (the report says how many).
  Result<BlobRepairReport> Inspect(const BlobId& id, ErasureLayout layout);
  Status Remove(const BlobId& id, ErasureLayout layout);
  // Removes every shard of every blob and fsyncs the directories they were in (in one
  // batch), so the blobs cannot come back after a crash. Missing shards are fine.
  Status RemoveDurably(std::span<const BlobId> ids, ErasureLayout layout);

  // Which folders failed recently (for health reports).
  bool FolderFailing(int folder) const;

 private:
  BlobStore(Env* env, std::vector<std::string> folders, BlobStoreOptions options);

  const ErasureCodec& CodecFor(ErasureLayout layout);
  Result<BlobRepairReport> InspectOrRepair(const BlobId& id, ErasureLayout layout, bool rewrite);
  // GetRange's reads by blocks, for a shard length `s` (known or guessed). EAGAIN when
  // the shards cannot serve it so; *length_hint then holds the shard length a header
  // said (unverified), or 0.
  Result<size_t> GetRangeByBlocks(const BlobId& id, ErasureLayout layout, uint64_t s,
                                  uint64_t offset, std::span<uint8_t> out, uint64_t* length_hint);
  // GetRange through Get: the whole blob, decoded from parity when needed.
  Result<size_t> GetRangeOfWhole(const BlobId& id, ErasureLayout layout, uint64_t offset,
                                 std::span<uint8_t> out, BlobReadReport* report);
  // The shard length of a blob, from the header of the first readable data shard.
  Result<uint64_t> PeekShardLength(const BlobId& id, ErasureLayout layout);
  // Reads shards until k good ones are in hand (or none are left to try), in order of
  // preference; `reads` gets one slot per shard (index = shard).
  Status ReadQuorum(const BlobId& id, ErasureLayout layout, std::vector<ShardRead>& reads,
                    BlobReadReport* report);
  // Decodes the blob from k good shards in `reads`.
  Result<std::vector<uint8_t>> Assemble(const BlobId& id, ErasureLayout layout,
                                        std::vector<ShardRead>& reads, BlobReadReport* report);
  void NoteFailure(int folder, const Status& status);
  // Writes shards (ids[i] owns shards[i]), making fan-out directories as needed; a
  // shard whose cached directory has vanished is retried once after making it again.
  void WriteShardSet(std::span<ShardWrite> shards, std::span<const BlobId> ids);
  // Put of blobs whose shard images are held in memory together (at most about
  // kPutGroupBytes, or one blob); `reports` is empty or one per blob.
  Status PutGroup(std::span<const Write> batch, std::span<BlobWriteReport> reports);
  static constexpr uint64_t kPutGroupBytes = uint64_t{8} << 20;

  Env* env_;
  ShardPlacement placement_;
  BlobStoreOptions options_;
  BlobStoreCounters counters_;
  // Tables of shards range reads met: a read of the same shard again skips its header.
  ShardTableCache tables_;
  // Per k: the shard length the last range read found (GetRange's guess).
  std::array<std::atomic<uint64_t>, 33> typical_shard_length_{};

  std::mutex codecs_mu_;
  std::map<std::pair<int, int>, std::unique_ptr<ErasureCodec>> codecs_;  // guarded by codecs_mu_

  // Blobs written with defer_flush: which of their shards were written, the
  // directories whose flush they wait for, and the ones to MarkDurable afterwards.
  struct DeferredShard {
    int index = 0;
    std::vector<std::string> dirs;  // its own directory and new fan-out parents
  };
  struct DeferredBlob {
    ErasureLayout layout;
    std::vector<DeferredShard> shards;  // those written
  };
  // Records the written shards of deferred blob `id` (from a PutGroup's shard writes).
  void NoteDeferred(const BlobId& id, ErasureLayout layout, std::span<const ShardWrite> shards);
  void ForgetDeferred(const BlobId& id);
  mutable std::mutex deferred_mu_;
  std::unordered_map<BlobId, DeferredBlob> deferred_;  // guarded by deferred_mu_

  mutable std::mutex health_mu_;
  std::vector<std::chrono::steady_clock::time_point> last_failure_;  // guarded by health_mu_
};

}  // namespace sopfs
