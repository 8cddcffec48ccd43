#include "engine/txn/txn_record.h"

#include <iterator>
#include <string>

#include "engine/coding.h"

namespace sopfs {
namespace {

constexpr size_t kFixedSize = 2 + 3 * 8;
constexpr size_t kUpdateSize = 4 * 8 + 2 * 4;
constexpr size_t kBlobSize = 16;
constexpr size_t kRefSize = kBlobSize + 4;
constexpr size_t kCarriedMinSize = kBlobSize + 2 + 4;
constexpr size_t kFenceMinSize = 4 + 8;

class Writer {
 public:
  template <class T>
  void Put(T v) {
    const size_t at = out_.size();
    out_.resize(at + sizeof v);
    PutFixed<T>(reinterpret_cast<uint8_t*>(out_.data()) + at, v);
  }
  void PutBlob(const BlobId& id) {
    Put<uint64_t>(id.hi);
    Put<uint64_t>(id.lo);
  }
  void PutBytes(std::string_view bytes) { out_.append(bytes); }
  void PutString(std::string_view s) {
    Put<uint32_t>(static_cast<uint32_t>(s.size()));
    PutBytes(s);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  template <class T>
  bool Get(T* v) {
    if (in_.size() - at_ < sizeof(T)) return false;
    *v = GetFixed<T>(reinterpret_cast<const uint8_t*>(in_.data()) + at_);
    at_ += sizeof(T);
    return true;
  }
  bool GetBlob(BlobId* id) { return Get(&id->hi) && Get(&id->lo); }
  // A list count, refused when the bytes left cannot hold that many items.
  bool GetCount(size_t item_size, uint32_t* count) {
    return Get(count) && *count <= (in_.size() - at_) / item_size;
  }
  bool GetBytes(size_t n, std::string* out) {
    if (in_.size() - at_ < n) return false;
    out->assign(in_.substr(at_, n));
    at_ += n;
    return true;
  }
  // A u32 length and that many bytes, refused past `limit` or past the end.
  bool GetString(size_t limit, std::string* out) {
    uint32_t len = 0;
    return Get(&len) && len <= limit && GetBytes(len, out);
  }
  bool AtEnd() const { return at_ == in_.size(); }

 private:
  std::string_view in_;
  size_t at_ = 0;
};

Status Malformed(const char* what) {
  return Status::Error(EIO, std::string("malformed commit log record: ") + what);
}

}  // namespace

std::string TxnRecord::KindName(Kind kind) {
  static constexpr const char* kNames[] = {
      "kPrepare",   "kCommit",   "kCarry", "kSegmentRefs",     "kSessionBegin",  "kSessionEnd",
      "kRecovered", "kAllocate", "kEpoch", "kCheckpointBegin", "kCheckpointEnd",
  };
  const size_t i = static_cast<size_t>(kind);
  if (i >= 1 && i <= std::size(kNames)) return kNames[i - 1];
  return "kind " + std::to_string(i);
}

bool TxnRecord::UsesClusterFormat() const {
  return ClusterOnly(kind) || !session.empty() || !fences.empty() || !notes.empty() ||
         !subject.empty() || space != IdSpace::kNone || range_first != 0 || range_count != 0 ||
         number != 0;
}

Status TxnRecord::Fits() const {
  auto too_long = [](const char* what, size_t size, size_t limit) {
    return Status::Error(EINVAL, std::string("commit record ") + what + " of " +
                                     std::to_string(size) + " bytes is past its limit of " +
                                     std::to_string(limit));
  };
  if (session.size() > kMaxNameBytes) return too_long("session", session.size(), kMaxNameBytes);
  if (subject.size() > kMaxNameBytes) return too_long("subject", subject.size(), kMaxNameBytes);
  if (notes.size() > kMaxNotesBytes) return too_long("notes", notes.size(), kMaxNotesBytes);
  for (const auto& [key, token] : fences) {
    if (key.size() > kMaxNameBytes) return too_long("fence key", key.size(), kMaxNameBytes);
  }
  return Status::Ok();
}

std::string TxnRecord::Encode() const {
  Writer w;
  w.Put<uint8_t>(static_cast<uint8_t>(kind));
  const bool cluster = UsesClusterFormat();
  const bool takes_carried = kind == Kind::kCommit || kind == Kind::kCarry;
  // Version 3 always has the carried count for these kinds (it may be 0); versions 1 and
  // 2 tell by the version alone, and must keep their bytes.
  const bool carrying = takes_carried && (cluster || !carried.empty());
  w.Put<uint8_t>(cluster    ? kClusterFormatVersion
                 : carrying ? kCarryingFormatVersion
                            : kFormatVersion);
  w.Put<uint64_t>(stamp);
  w.Put<uint64_t>(fence);
  w.Put<uint64_t>(next_id);
  w.Put<uint32_t>(static_cast<uint32_t>(trees.size()));
  for (LogicalId t : trees) w.Put<uint64_t>(t);
  w.Put<uint32_t>(static_cast<uint32_t>(updates.size()));
  for (const auto& [id, entry] : updates) {
    w.Put<uint64_t>(id);
    w.PutBlob(entry.blob);
    w.Put<uint64_t>(entry.version);
    w.Put<uint32_t>(entry.flags);
    w.Put<uint32_t>(entry.slot);
  }
  w.Put<uint32_t>(static_cast<uint32_t>(blobs.size()));
  for (const BlobId& b : blobs) w.PutBlob(b);
  w.Put<uint32_t>(static_cast<uint32_t>(frees.size()));
  for (const BlobId& b : frees) w.PutBlob(b);
  w.Put<uint32_t>(static_cast<uint32_t>(released.size()));
  for (const BlobId& b : released) w.PutBlob(b);
  if (kind == Kind::kSegmentRefs) {
    w.Put<uint32_t>(part);
    w.Put<uint32_t>(parts);
    w.Put<uint32_t>(static_cast<uint32_t>(segment_refs.size()));
    for (const auto& [blob, count] : segment_refs) {
      w.PutBlob(blob);
      w.Put<uint32_t>(count);
    }
  }
  if (carrying) {
    w.Put<uint32_t>(static_cast<uint32_t>(carried.size()));
    for (const CarriedBlob& b : carried) {
      w.PutBlob(b.id);
      w.Put<uint8_t>(static_cast<uint8_t>(b.layout.k));
      w.Put<uint8_t>(static_cast<uint8_t>(b.layout.m));
      w.Put<uint32_t>(static_cast<uint32_t>(b.bytes.size()));
      w.PutBytes(b.bytes);
    }
  }
  if (cluster) {
    w.PutString(session);
    w.Put<uint32_t>(static_cast<uint32_t>(fences.size()));
    for (const auto& [key, token] : fences) {
      w.PutString(key);
      w.Put<uint64_t>(token);
    }
    w.PutString(notes);
    w.PutString(subject);
    w.Put<uint8_t>(static_cast<uint8_t>(space));
    w.Put<uint64_t>(range_first);
    w.Put<uint64_t>(range_count);
    w.Put<uint64_t>(number);
  }
  return w.Take();
}

Result<TxnRecord> TxnRecord::Decode(std::string_view bytes) {
  if (bytes.size() < kFixedSize) return Malformed("too short");
  Reader r(bytes);
  TxnRecord rec;
  uint8_t kind = 0, version = 0;
  r.Get(&kind);
  r.Get(&version);
  if (kind < static_cast<uint8_t>(Kind::kPrepare) ||
      kind > static_cast<uint8_t>(Kind::kCheckpointEnd)) {
    return Malformed("unknown kind");
  }
  rec.kind = static_cast<Kind>(kind);
  const bool cluster = version == kClusterFormatVersion;
  const bool takes_carried = rec.kind == Kind::kCommit || rec.kind == Kind::kCarry;
  const bool carrying = takes_carried && (version == kCarryingFormatVersion || cluster);
  // Versions 1 and 2 predate the cluster kinds: such a record is damage, not news.
  if ((version == kFormatVersion || version == kCarryingFormatVersion) && ClusterOnly(rec.kind)) {
    return Malformed("cluster kind in an old format");
  }
  if (version != kFormatVersion && !carrying && !cluster) {
    return Malformed("unknown format version");
  }
  r.Get(&rec.stamp);
  r.Get(&rec.fence);
  r.Get(&rec.next_id);
  uint32_t n = 0;
  if (!r.GetCount(8, &n)) return Malformed("bad tree count");
  rec.trees.resize(n);
  for (LogicalId& t : rec.trees) r.Get(&t);
  if (!r.GetCount(kUpdateSize, &n)) return Malformed("bad update count");
  rec.updates.resize(n);
  for (auto& [id, entry] : rec.updates) {
    r.Get(&id);
    r.GetBlob(&entry.blob);
    r.Get(&entry.version);
    r.Get(&entry.flags);
    r.Get(&entry.slot);
  }
  if (!r.GetCount(kBlobSize, &n)) return Malformed("bad blob count");
  rec.blobs.resize(n);
  for (BlobId& b : rec.blobs) r.GetBlob(&b);
  if (!r.GetCount(kBlobSize, &n)) return Malformed("bad free count");
  rec.frees.resize(n);
  for (BlobId& b : rec.frees) r.GetBlob(&b);
  if (!r.GetCount(kBlobSize, &n)) return Malformed("bad released count");
  rec.released.resize(n);
  for (BlobId& b : rec.released) r.GetBlob(&b);
  if (rec.kind == Kind::kSegmentRefs) {
    if (!r.Get(&rec.part) || !r.Get(&rec.parts) || rec.part >= rec.parts) {
      return Malformed("bad segment refs part");
    }
    if (!r.GetCount(kRefSize, &n)) return Malformed("bad segment refs count");
    rec.segment_refs.resize(n);
    for (auto& [blob, count] : rec.segment_refs) {
      r.GetBlob(&blob);
      r.Get(&count);
    }
  }
  if (carrying) {
    // Version 2 is written only for a record that carries blobs; version 3 may carry none.
    if (!r.GetCount(kCarriedMinSize, &n) || (n == 0 && !cluster)) {
      return Malformed("bad carried blob count");
    }
    rec.carried.resize(n);
    for (CarriedBlob& b : rec.carried) {
      uint8_t k = 0, m = 0;
      uint32_t len = 0;
      if (!r.GetBlob(&b.id) || !r.Get(&k) || !r.Get(&m) || !r.Get(&len) ||
          !r.GetBytes(len, &b.bytes)) {
        return Malformed("carried blob cut short");
      }
      b.layout = ErasureLayout{k, m};
      if (!b.layout.Validate(b.layout.total()).ok()) return Malformed("carried blob layout");
    }
  }
  if (cluster) {
    if (!r.GetString(kMaxNameBytes, &rec.session)) return Malformed("bad session");
    if (!r.GetCount(kFenceMinSize, &n)) return Malformed("bad fence count");
    rec.fences.resize(n);
    for (auto& [key, token] : rec.fences) {
      if (!r.GetString(kMaxNameBytes, &key) || !r.Get(&token)) return Malformed("bad fence");
    }
    if (!r.GetString(kMaxNotesBytes, &rec.notes)) return Malformed("bad notes");
    if (!r.GetString(kMaxNameBytes, &rec.subject)) return Malformed("bad subject");
    uint8_t space = 0;
    if (!r.Get(&space) || space > static_cast<uint8_t>(IdSpace::kInodes)) {
      return Malformed("bad ID space");
    }
    rec.space = static_cast<IdSpace>(space);
    if (!r.Get(&rec.range_first) || !r.Get(&rec.range_count) || !r.Get(&rec.number)) {
      return Malformed("cut short");
    }
  }
  if (!r.AtEnd()) return Malformed("trailing bytes");
  return rec;
}

}  // namespace sopfs
