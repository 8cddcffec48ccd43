// CommitStore: the NodeStore a commit re-applies its transaction's writes through.
//
// It reads the latest committed nodes (through a loader that also reports each node's
// registry entry, so the commit knows which version it replaces and which blob becomes
// garbage), keeps the new node versions in memory, and records what was allocated and
// freed. Values are never written here: the transaction staged them as blobs already
// (Btree::UpsertStaged), so StageValue and LoadValue are refused; FreeValue is recorded.
//
// Threads: one commit (one thread) at a time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "engine/btree/node_store.h"

namespace sopfs {

class CommitStore : public NodeStore {
 public:
  struct Loaded {
    std::shared_ptr<const BtreeNode> node;
    RegistryEntry entry;
  };
  using Loader = std::function<Result<Loaded>(LogicalId)>;
  using Allocator = std::function<LogicalId()>;

  CommitStore(Loader load, Allocator allocate)
      : load_(std::move(load)), allocate_(std::move(allocate)) {}

  Result<std::shared_ptr<const BtreeNode>> Load(LogicalId id) override;
  Result<LogicalId> Allocate() override;
  Status Stage(std::shared_ptr<const BtreeNode> node) override;
  Status Free(LogicalId id) override;
  Result<LogicalId> StageValue(std::string_view bytes) override;
  Result<std::string> LoadValue(LogicalId id) override;
  Status FreeValue(LogicalId id) override;
  std::shared_ptr<BtreeNode> TakeStaged(const std::shared_ptr<const BtreeNode>& node) override;

  // Stages a node under an ID allocated elsewhere (the root of a tree created by the
  // transaction).
  void StageNew(std::shared_ptr<const BtreeNode> node);

  // New versions of nodes, by ID.
  const std::map<LogicalId, std::shared_ptr<const BtreeNode>>& staged() const { return staged_; }
  // Committed nodes that are gone from their tree.
  const std::set<LogicalId>& freed() const { return freed_; }
  const std::vector<LogicalId>& freed_values() const { return freed_values_; }
  // The registry entry a node was loaded with; null for nodes new in this commit.
  const RegistryEntry* base(LogicalId id) const;

 private:
  Loader load_;
  Allocator allocate_;
  std::map<LogicalId, std::shared_ptr<const BtreeNode>> staged_;
  std::map<LogicalId, RegistryEntry> bases_;
  std::set<LogicalId> fresh_;  // allocated here
  std::set<LogicalId> freed_;
  std::vector<LogicalId> freed_values_;
};

}  // namespace sopfs
