#include "engine/btree/memory_node_store.h"

namespace sopfs {
namespace {

Status NoSuch(const char* what, LogicalId id) {
  return Status::Error(ENOENT, std::string(what) + " " + std::to_string(id) + " does not exist");
}

}  // namespace

Result<std::shared_ptr<const BtreeNode>> MemoryNodeStore::Load(LogicalId id) {
  ++counters_.loads;
  auto it = nodes_.find(id);
  if (it == nodes_.end() || it->second.encoded.empty()) return NoSuch("node", id);
  StoredNode& stored = it->second;
  if (!stored.decoded) {
    Result<BtreeNode> node = BtreeNode::Decode(stored.encoded, id);
    if (!node.ok()) return node.status();
    stored.decoded = std::make_shared<BtreeNode>(std::move(*node));
  }
  return std::shared_ptr<const BtreeNode>(stored.decoded);
}

Result<LogicalId> MemoryNodeStore::Allocate() {
  ++counters_.allocations;
  LogicalId id = next_id_++;
  nodes_[id] = StoredNode{};
  return id;
}

Status MemoryNodeStore::Stage(std::shared_ptr<const BtreeNode> node) {
  ++counters_.stages;
  if (!node) return Status::Error(EINVAL, "staging a null node");
  auto it = nodes_.find(node->id);
  if (it == nodes_.end()) return NoSuch("node", node->id);
  std::string encoded = node->Encode();
  Result<BtreeNode> decoded = BtreeNode::Decode(encoded, node->id);
  if (!decoded.ok()) return decoded.status();
  it->second.encoded = std::move(encoded);
  it->second.decoded = std::make_shared<BtreeNode>(std::move(*decoded));
  return Status::Ok();
}

std::shared_ptr<BtreeNode> MemoryNodeStore::TakeStaged(
    const std::shared_ptr<const BtreeNode>& node) {
  if (!node) return nullptr;
  auto it = nodes_.find(node->id);
  // Held by us and the caller only: nobody else can see the object change.
  if (it == nodes_.end() || it->second.decoded != node || node.use_count() != 2) {
    return nullptr;
  }
  ++counters_.takes;
  return std::move(it->second.decoded);  // leaves it null: Load decodes `encoded` again
}

Status MemoryNodeStore::Free(LogicalId id) {
  ++counters_.frees;
  if (nodes_.erase(id) == 0) return NoSuch("node", id);
  return Status::Ok();
}

Result<LogicalId> MemoryNodeStore::StageValue(std::string_view bytes) {
  ++counters_.value_stages;
  LogicalId id = next_id_++;
  values_.emplace(id, std::string(bytes));
  return id;
}

Result<std::string> MemoryNodeStore::LoadValue(LogicalId id) {
  ++counters_.value_loads;
  auto it = values_.find(id);
  if (it == values_.end()) return NoSuch("value blob", id);
  return it->second;
}

Status MemoryNodeStore::FreeValue(LogicalId id) {
  ++counters_.value_frees;
  if (values_.erase(id) == 0) return NoSuch("value blob", id);
  return Status::Ok();
}

std::vector<LogicalId> MemoryNodeStore::NodeIds() const {
  std::vector<LogicalId> ids;
  for (const auto& [id, stored] : nodes_) ids.push_back(id);
  return ids;
}

std::vector<LogicalId> MemoryNodeStore::ValueIds() const {
  std::vector<LogicalId> ids;
  for (const auto& [id, bytes] : values_) ids.push_back(id);
  return ids;
}

size_t MemoryNodeStore::EncodedSize(LogicalId id) const {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? 0 : it->second.encoded.size();
}

Status MemoryNodeStore::Corrupt(LogicalId id, std::string bytes) {
  auto it = nodes_.find(id);
  if (it == nodes_.end()) return NoSuch("node", id);
  it->second.encoded = std::move(bytes);
  it->second.decoded = nullptr;
  return Status::Ok();
}

}  // namespace sopfs
