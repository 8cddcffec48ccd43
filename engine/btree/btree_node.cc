#include "engine/btree/btree_node.h"

#include <algorithm>
#include <cassert>

namespace sopfs {
namespace {

constexpr std::string_view kMagic = "SOPN";
constexpr uint8_t kInternalFlag = 1;
// Caps what a forged item count can make Decode reserve up front.
constexpr size_t kMaxReserve = 8192;

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

// Bounds-checked reading of the encoded bytes; every method fails instead of overrunning.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  size_t left() const { return in_.size(); }

  bool Byte(uint8_t* out) {
    if (in_.empty()) return false;
    *out = static_cast<uint8_t>(in_[0]);
    in_.remove_prefix(1);
    return true;
  }

  // Canonical LEB128 of at most 64 bits.
  bool Varint(uint64_t* out) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b;
      if (!Byte(&b)) return false;
      uint64_t bits = b & 0x7f;
      if (shift == 63 && bits > 1) return false;  // would overflow 64 bits
      v |= bits << shift;
      if (!(b & 0x80)) {
        if (b == 0 && shift != 0) return false;  // redundant zero group
        *out = v;
        return true;
      }
    }
    return false;
  }

  bool Bytes(uint64_t n, std::string* out) {
    if (n > in_.size()) return false;
    out->assign(in_.substr(0, n));
    in_.remove_prefix(n);
    return true;
  }

 private:
  std::string_view in_;
};

}  // namespace

std::string BtreeNode::Encode() const {
  assert(children.empty() || children.size() == items.size() + 1);
  size_t size = kMagic.size() + 2 + VarintLength(id) + VarintLength(items.size());
  for (const BtreeItem& item : items) {
    size += VarintLength(item.key.size()) + item.key.size() + VarintLength(item.version) +
            VarintLength(item.value_blob);
    if (item.value_blob == 0) size += VarintLength(item.value.size()) + item.value.size();
  }
  for (LogicalId child : children) size += VarintLength(child);

  std::string out;
  out.reserve(size);
  out.append(kMagic);
  out.push_back(static_cast<char>(kFormatVersion));
  out.push_back(static_cast<char>(leaf() ? 0 : kInternalFlag));
  PutVarint(&out, id);
  PutVarint(&out, items.size());
  for (const BtreeItem& item : items) {
    PutVarint(&out, item.key.size());
    out.append(item.key);
    PutVarint(&out, item.version);
    PutVarint(&out, item.value_blob);
    if (item.value_blob == 0) {
      PutVarint(&out, item.value.size());
      out.append(item.value);
    }
  }
  for (LogicalId child : children) PutVarint(&out, child);
  return out;
}

Result<BtreeNode> BtreeNode::Decode(std::string_view bytes, LogicalId id) {
  auto corrupt = [id](const char* what) {
    return Status::Error(EIO, "B-Tree node " + std::to_string(id) + ": " + what);
  };
  if (bytes.substr(0, kMagic.size()) != kMagic) return corrupt("bad magic");
  Reader in(bytes.substr(kMagic.size()));
  uint8_t version, flags;
  if (!in.Byte(&version) || version != kFormatVersion) return corrupt("unknown format version");
  if (!in.Byte(&flags) || (flags & ~kInternalFlag) != 0) return corrupt("unknown flags");

  BtreeNode node;
  uint64_t stored_id, count;
  if (!in.Varint(&stored_id)) return corrupt("truncated header");
  if (stored_id != id) return corrupt("holds another node's ID");
  node.id = id;
  // Every item takes at least 3 bytes (key length, version, value blob ID).
  if (!in.Varint(&count) || count > in.left() / 3) return corrupt("bad item count");
  node.items.reserve(std::min<uint64_t>(count, kMaxReserve));
  for (uint64_t i = 0; i < count; ++i) {
    BtreeItem& item = node.items.emplace_back();
    uint64_t length;
    if (!in.Varint(&length) || !in.Bytes(length, &item.key)) return corrupt("truncated key");
    if (!in.Varint(&item.version)) return corrupt("truncated version");
    if (!in.Varint(&item.value_blob)) return corrupt("truncated value");
    if (item.value_blob == 0 && (!in.Varint(&length) || !in.Bytes(length, &item.value))) {
      return corrupt("truncated value");
    }
  }
  if (flags & kInternalFlag) {
    if (count + 1 > in.left()) return corrupt("truncated children");
    node.children.resize(count + 1);
    for (LogicalId& child : node.children) {
      if (!in.Varint(&child) || child == 0) return corrupt("bad child ID");
    }
  }
  if (in.left() != 0) return corrupt("trailing bytes");
  return node;
}

size_t BtreeNode::MemoryUsage() const {
  // A string's own buffer holds up to 15 bytes (libstdc++); longer ones live on the
  // heap, where an allocation costs its size rounded up plus about 16 bytes.
  auto heap = [](const std::string& s) -> size_t {
    return s.capacity() > 15 ? ((s.capacity() + 1 + 15) & ~size_t{15}) + 16 : 0;
  };
  size_t bytes = sizeof(BtreeNode) + items.capacity() * sizeof(BtreeItem) +
                 children.capacity() * sizeof(LogicalId);
  for (const BtreeItem& item : items) bytes += heap(item.key) + heap(item.value);
  return bytes;
}

}  // namespace sopfs
