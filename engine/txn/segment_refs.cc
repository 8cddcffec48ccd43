#include "engine/txn/segment_refs.h"

#include <algorithm>

namespace sopfs {
namespace {

// 20 bytes a segment: about 20 MiB a record, under CommitLog::kMaxRecordBytes.
constexpr size_t kRefsPerRecord = size_t{1} << 20;

}  // namespace

std::vector<std::string> EncodeSegmentRefs(const SegmentRefs& refs) {
  const size_t parts = std::max<size_t>(1, (refs.size() + kRefsPerRecord - 1) / kRefsPerRecord);
  std::vector<std::string> out;
  TxnRecord rec;
  rec.kind = TxnRecord::Kind::kSegmentRefs;
  rec.parts = static_cast<uint32_t>(parts);
  auto it = refs.begin();
  for (size_t part = 0; part < parts; ++part) {
    rec.part = static_cast<uint32_t>(part);
    rec.segment_refs.clear();
    for (; it != refs.end() && rec.segment_refs.size() < kRefsPerRecord; ++it) {
      rec.segment_refs.emplace_back(it->first, it->second);
    }
    out.push_back(rec.Encode());
  }
  return out;
}

void SegmentRefsReplay::Add(const TxnRecord& rec, bool applied) {
  if (!broken_.empty()) return;
  if (rec.kind == TxnRecord::Kind::kSegmentRefs) {
    // The parts come together, in order, before any commit (CommitLog::Reset).
    if (commits_seen_ || rec.part != parts_seen_ || (parts_ != 0 && rec.parts != parts_)) {
      broken_ = "carried segment counts out of order";
      return;
    }
    parts_ = rec.parts;
    ++parts_seen_;
    for (const auto& [blob, count] : rec.segment_refs) {
      if (count == 0 || !refs_.emplace(blob, count).second) {
        broken_ = "carried segment counts repeat a segment or hold a zero";
        return;
      }
    }
    return;
  }
  if (rec.kind != TxnRecord::Kind::kCommit) return;
  commits_seen_ = true;
  if (!applied) return;
  if (parts_seen_ == 0) return;  // no counts carried: nothing to add to
  for (const auto& [id, entry] : rec.updates) {
    if (entry.in_use() && entry.in_segment()) ++refs_[entry.blob];
  }
  for (const BlobId& blob : rec.released) {
    auto it = refs_.find(blob);
    if (it == refs_.end()) {
      broken_ = "a commit released segment " + blob.ToHex() + ", which had no references";
      return;
    }
    if (--it->second == 0) refs_.erase(it);
  }
}

std::optional<SegmentRefs> SegmentRefsReplay::Result(std::string* why) const {
  if (!broken_.empty()) {
    *why = broken_;
    return std::nullopt;
  }
  if (parts_seen_ == 0 || parts_seen_ != parts_) {
    *why =
        parts_seen_ == 0 ? "the log carries no segment counts" : "carried segment counts cut short";
    return std::nullopt;
  }
  return refs_;
}

}  // namespace sopfs
