// TxnRecord: what the engine writes to the commit log, and the strict codec for it.
//
// Four kinds of record:
// - kPrepare: blobs about to be written (new node versions, staged values). Written and
//   flushed before the blobs, so recovery can remove the ones no commit adopted.
// - kCommit: the commit point of a transaction. Its registry updates (logical ID ->
//   blob, version, flags), the blobs it made garbage (old node versions, replaced
//   values), the trees it changed, the fencing token its tree locks were granted, and
//   the stamp its items were written with.
// - kCarry: the first record of a log after a checkpoint reset it: the ID and stamp
//   high-water marks, blobs of transactions still in flight, and frees still pending.
// - kSegmentRefs: right after a carry, one or more (part i of n): how many registry
//   entries point into each node segment as of that checkpoint (segment_refs.h), so
//   that recovery need not count the whole registry.
//
// Payload (little endian): u8 kind, u8 format version (1), u64 stamp, u64 fence, u64
// next_id, then five lists, each a u32 count followed by its items: trees (u64), updates
// (u64 id, u64 blob hi, u64 blob lo, u64 version, u32 flags, u32 slot), blobs, frees and
// released (each u64 hi, u64 lo). A kSegmentRefs record goes on with u32 part, u32 parts
// and a sixth list: segment references (u64 hi, u64 lo, u32 count). A commit record of
// format version 2 goes on with the blobs it carries (held_blobs.h): u32 count, then each
// u64 hi, u64 lo, u8 k, u8 m, u32 length and its bytes (a kCarry record too: the blobs
// the log before carried and nobody had written yet). Version 1 records are read as
// before (and written whenever a record carries no blob). Nothing may follow. The log
// checksums every record; Decode still rejects anything malformed with EIO and never reads out of
// bounds.
//
// Threads: plain values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/blob/blob_id.h"
#include "engine/blob/erasure_layout.h"
#include "engine/registry/registry_block.h"
#include "engine/status.h"

namespace sopfs {

struct TxnRecord {
  enum class Kind : uint8_t { kPrepare = 1, kCommit = 2, kCarry = 3, kSegmentRefs = 4 };
  static constexpr uint8_t kFormatVersion = 1;
  static constexpr uint8_t kCarryingFormatVersion = 2;  // a commit carrying blobs

  // A blob whose bytes the commit record itself carries (written to the data folders
  // later: by the spiller, a checkpoint or recovery).
  struct CarriedBlob {
    BlobId id;
    ErasureLayout layout;
    std::string bytes;
    friend bool operator==(const CarriedBlob&, const CarriedBlob&) = default;
  };

  Kind kind = Kind::kPrepare;
  uint64_t stamp = 0;    // commit: its stamp; carry: the highest stamp handed out
  uint64_t fence = 0;    // commit: the fencing token of its tree locks
  uint64_t next_id = 0;  // carry: the next logical ID to hand out
  std::vector<LogicalId> trees;
  std::vector<std::pair<LogicalId, RegistryEntry>> updates;
  std::vector<BlobId> blobs;  // prepare: blobs about to be written; carry: in flight
  std::vector<BlobId> frees;  // blobs to remove once the record is applied
  // commit: node segments that lost a reference; removed once none is left
  std::vector<BlobId> released;
  // segment refs: this record is part `part` of `parts`, and holds these counts
  uint32_t part = 0;
  uint32_t parts = 0;
  std::vector<std::pair<BlobId, uint32_t>> segment_refs;
  std::vector<CarriedBlob> carried;  // commit, carry: blobs written with the record

  std::string Encode() const;
  static Result<TxnRecord> Decode(std::string_view bytes);

  friend bool operator==(const TxnRecord&, const TxnRecord&) = default;
};

}  // namespace sopfs
