#include "engine/txn/commit_store.h"

namespace sopfs {

Result<std::shared_ptr<const BtreeNode>> CommitStore::Load(LogicalId id) {
  auto it = staged_.find(id);
  if (it != staged_.end()) return it->second;
  if (freed_.count(id) || fresh_.count(id)) {
    return Status::Error(ENOENT, "node " + std::to_string(id) + " holds no node in this commit");
  }
  Result<Loaded> loaded = load_(id);
  if (!loaded.ok()) return loaded.status();
  bases_[id] = loaded->entry;
  return loaded->node;
}

Result<LogicalId> CommitStore::Allocate() {
  LogicalId id = allocate_();
  fresh_.insert(id);
  return id;
}

Status CommitStore::Stage(std::shared_ptr<const BtreeNode> node) {
  if (node == nullptr || node->id == 0) return Status::Error(EINVAL, "staging a node without ID");
  staged_[node->id] = std::move(node);
  return Status::Ok();
}

void CommitStore::StageNew(std::shared_ptr<const BtreeNode> node) {
  fresh_.insert(node->id);
  staged_[node->id] = std::move(node);
}

Status CommitStore::Free(LogicalId id) {
  staged_.erase(id);
  if (!fresh_.count(id)) freed_.insert(id);
  return Status::Ok();
}

Result<LogicalId> CommitStore::StageValue(std::string_view) {
  return Status::Error(EINVAL, "a commit stages no values: the transaction staged them");
}

Result<std::string> CommitStore::LoadValue(LogicalId id) {
  return Status::Error(EINVAL, "a commit reads no values (value " + std::to_string(id) + ")");
}

Status CommitStore::FreeValue(LogicalId id) {
  freed_values_.push_back(id);
  return Status::Ok();
}

std::shared_ptr<BtreeNode> CommitStore::TakeStaged(const std::shared_ptr<const BtreeNode>& node) {
  if (node == nullptr) return nullptr;
  auto it = staged_.find(node->id);
  // Only the store and the caller hold it: nobody can see an edit in place.
  if (it == staged_.end() || it->second != node || node.use_count() != 2) return nullptr;
  std::shared_ptr<BtreeNode> mutable_node = std::const_pointer_cast<BtreeNode>(it->second);
  staged_.erase(it);
  return mutable_node;
}

const RegistryEntry* CommitStore::base(LogicalId id) const {
  auto it = bases_.find(id);
  return it == bases_.end() ? nullptr : &it->second;
}

}  // namespace sopfs
