// Segment references: how many registry entries point into each node segment (a blob
// holding many B-Tree nodes, node_segment.h). A segment is freed when its count falls
// to zero, so the engine must know every count from the moment it opens.
//
// Counting them means reading every registry entry: with a big volume (a 10 TB volume
// has some ten million entries) that would make every open read the whole registry.
// Instead every checkpoint carries the counts in its new log, right after the carry
// record, as kSegmentRefs records (TxnRecord; written atomically with the carry by
// CommitLog::Reset), and recovery rebuilds the counts from the log alone: the carried
// counts, plus what each replayed commit changed (+1 per registry update into a
// segment, -1 per segment it released: TxnRecord::released names one segment per entry
// that pointed into it). That is exact whatever state the registry is in: a crash
// between a checkpoint's registry write and its log reset leaves the old log, whose
// counts and commits describe the same state the replay brings the registry to.
//
// A log without carried counts (written before they existed), or whose records do not
// add up, yields nothing: the caller counts the registry (Engine::CountSegmentRefs).
//
// Threads: plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/blob/blob_id.h"
#include "engine/txn/txn_record.h"

namespace sopfs {

using SegmentRefs = std::unordered_map<BlobId, uint32_t>;

// The kSegmentRefs records that carry `refs` (at least one, even for no segments),
// encoded, each well under the log's record limit.
std::vector<std::string> EncodeSegmentRefs(const SegmentRefs& refs);

// Rebuilds the counts from the records of one log, fed in order.
class SegmentRefsReplay {
 public:
  // `applied`: the record is a commit that recovery replays (not one refused for a
  // stale fence). Other kinds of record than carried counts and commits change nothing.
  void Add(const TxnRecord& rec, bool applied);
  // The counts after the last record, or nullopt (see the file comment) with why.
  std::optional<SegmentRefs> Result(std::string* why) const;

 private:
  SegmentRefs refs_;
  uint32_t parts_ = 0;       // how many parts the carried counts came in
  uint32_t parts_seen_ = 0;  // ... and how many were found (in order)
  bool commits_seen_ = false;
  std::string broken_;  // why the records do not add up
};

}  // namespace sopfs
