#include "engine/txn/node_segment.h"

#include "engine/coding.h"

namespace sopfs {
namespace {

constexpr uint32_t kMagic = 0x47504f53;  // "SOPG"
constexpr size_t kHeaderSize = 8;
constexpr size_t kSlotSize = 16;

Status Malformed(const char* what) {
  return Status::Error(EIO, std::string("malformed node segment: ") + what);
}

}  // namespace

std::string NodeSegment::Encode(const std::vector<std::pair<LogicalId, std::string_view>>& nodes) {
  size_t offset = kHeaderSize + nodes.size() * kSlotSize;
  std::string out(offset, '\0');
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  PutFixed<uint32_t>(p, kMagic);
  PutFixed<uint32_t>(p + 4, static_cast<uint32_t>(nodes.size()));
  for (size_t i = 0; i < nodes.size(); ++i) {
    uint8_t* slot = reinterpret_cast<uint8_t*>(out.data()) + kHeaderSize + i * kSlotSize;
    PutFixed<uint64_t>(slot, nodes[i].first);
    PutFixed<uint32_t>(slot + 8, static_cast<uint32_t>(offset));
    PutFixed<uint32_t>(slot + 12, static_cast<uint32_t>(nodes[i].second.size()));
    offset += nodes[i].second.size();
  }
  for (const auto& [id, bytes] : nodes) out.append(bytes);
  return out;
}

Result<std::vector<NodeSegment::Slot>> NodeSegment::Decode(std::string_view blob) {
  const auto* p = reinterpret_cast<const uint8_t*>(blob.data());
  if (blob.size() < kHeaderSize || GetFixed<uint32_t>(p) != kMagic) return Malformed("bad magic");
  const uint32_t count = GetFixed<uint32_t>(p + 4);
  if (count > (blob.size() - kHeaderSize) / kSlotSize) return Malformed("bad node count");
  std::vector<Slot> slots(count);
  uint64_t expected = kHeaderSize + uint64_t{count} * kSlotSize;
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* slot = p + kHeaderSize + i * kSlotSize;
    const uint32_t offset = GetFixed<uint32_t>(slot + 8);
    const uint32_t length = GetFixed<uint32_t>(slot + 12);
    if (offset != expected || uint64_t{offset} + length > blob.size()) {
      return Malformed("slot out of place");
    }
    slots[i].id = GetFixed<uint64_t>(slot);
    slots[i].bytes = blob.substr(offset, length);
    expected += length;
  }
  if (expected != blob.size()) return Malformed("trailing bytes");
  return slots;
}

}  // namespace sopfs
