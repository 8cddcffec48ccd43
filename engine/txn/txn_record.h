// TxnRecord: what the engine writes to the commit log (and, in clustered mode, to the
// shared commit sequence, docs/CLUSTER.md 5), and the strict codec for it.
//
// Kinds of record in every log:
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
// Kinds only a clustered volume's commit sequence holds (a standalone log refuses them):
// - kSessionBegin: `session` starts (its own record; `notes` may say where it runs).
// - kSessionEnd: session `subject` is evicted (or left); it can claim nothing after.
// - kRecovered: session `subject`'s journal, intents and prepares were recovered.
// - kAllocate: `session` takes IDs [range_first, range_first + range_count) of `space`
//   (logical IDs or inode numbers).
// - kEpoch: Redis epoch `number` begins; older tokens are refused from here on.
// - kCheckpointBegin / kCheckpointEnd: checkpoint `number` (C) starts / is done; End
//   carries the ID and stamp marks in next_id and stamp (the files it names: step 5).
// Any kind may set `session` (the claiming daemon's session), `fences` (lock key and
// the token it was granted under, checked by the claim rule) and `notes` (opaque bytes
// for the file system: the inodes and names a commit changed). The codec checks the
// structure only; what each kind's fields mean is checked by whoever applies it.
//
// Payload (little endian): u8 kind, u8 format version (1), u64 stamp, u64 fence, u64
// next_id, then five lists, each a u32 count followed by its items: trees (u64), updates
// (u64 id, u64 blob hi, u64 blob lo, u64 version, u32 flags, u32 slot), blobs, frees and
// released (each u64 hi, u64 lo). A kSegmentRefs record goes on with u32 part, u32 parts
// and a sixth list: segment references (u64 hi, u64 lo, u32 count). A commit record of
// format version 2 goes on with the blobs it carries (held_blobs.h): u32 count, then each
// u64 hi, u64 lo, u8 k, u8 m, u32 length and its bytes (a kCarry record too: the blobs
// the log before carried and nobody had written yet). Version 1 records are read as
// before (and written whenever a record carries no blob). Format version 3 is written
// when a record has a cluster-only kind or sets any of the cluster fields: the version 2
// layout (the carried count always there for kCommit and kCarry, and may be 0), then
// session (u32 length, bytes), fences (u32 count; each u32 key length, key, u64 token),
// notes (u32 length, bytes), subject (u32 length, bytes), u8 space, u64 range_first,
// u64 range_count, u64 number. Records without them keep the bytes of versions 1 and 2,
// so logs written before read the same and standalone logs never change format.
// Nothing may follow. The log checksums every record; Decode still rejects anything
// malformed with EIO (a cluster kind in a version 1 or 2 record, lengths past their
// limits or past the end) and never reads out of bounds.
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
  enum class Kind : uint8_t {
    kPrepare = 1,
    kCommit = 2,
    kCarry = 3,
    kSegmentRefs = 4,
    // Clustered mode only (format version 3).
    kSessionBegin = 5,
    kSessionEnd = 6,
    kRecovered = 7,
    kAllocate = 8,
    kEpoch = 9,
    kCheckpointBegin = 10,
    kCheckpointEnd = 11,
  };
  // The ID space a kAllocate record takes a range of.
  enum class IdSpace : uint8_t { kNone = 0, kLogicalIds = 1, kInodes = 2 };
  static constexpr uint8_t kFormatVersion = 1;
  static constexpr uint8_t kCarryingFormatVersion = 2;  // a commit carrying blobs
  static constexpr uint8_t kClusterFormatVersion = 3;   // cluster kinds or fields
  // Longest session, subject and fence key, and longest notes, Decode accepts (a
  // caller checks with Fits() before it writes a record).
  static constexpr size_t kMaxNameBytes = size_t{64} << 10;
  static constexpr size_t kMaxNotesBytes = size_t{16} << 20;

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
  // Clustered mode (format version 3; see above for which kinds use which).
  std::string session;                                   // the claiming daemon's session id
  std::vector<std::pair<std::string, uint64_t>> fences;  // lock key, its token
  std::string notes;                                     // opaque, for the file system
  std::string subject;                                   // the session a record is about
  IdSpace space = IdSpace::kNone;
  uint64_t range_first = 0;
  uint64_t range_count = 0;
  uint64_t number = 0;  // epoch or checkpoint number

  // Kinds a standalone commit log never holds.
  static bool ClusterOnly(Kind kind) { return kind >= Kind::kSessionBegin; }
  // "kCommit", ... ("kind 42" for a value no kind has), for error messages.
  static std::string KindName(Kind kind);
  // Whether the record uses format version 3.
  bool UsesClusterFormat() const;
  // EINVAL naming the field when a string is past its limit (Decode would refuse it).
  Status Fits() const;

  std::string Encode() const;
  static Result<TxnRecord> Decode(std::string_view bytes);

  friend bool operator==(const TxnRecord&, const TxnRecord&) = default;
};

}  // namespace sopfs
