// MemoryNodeStore: a NodeStore in memory, for tests.
//
// Nodes are kept encoded: Stage encodes the node and decodes the bytes back, and Load
// hands out that decoded copy, so everything a B-Tree reads has gone through the codec.
// TakeStaged hands that decoded object over when only the store and the caller hold it
// (the encoded bytes stay, so a Load before the next Stage decodes the staged version
// again). Counters show how many loads, stages and takes an operation cost; live counts
// and ID lists let tests prove that no node or value blob leaks. Corrupt() damages a
// stored node.
//
// Threads: not thread-safe; one user at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/btree/node_store.h"

namespace sopfs {

class MemoryNodeStore : public NodeStore {
 public:
  struct Counters {
    uint64_t loads = 0;
    uint64_t stages = 0;
    uint64_t allocations = 0;
    uint64_t frees = 0;
    uint64_t value_loads = 0;
    uint64_t value_stages = 0;
    uint64_t value_frees = 0;
    uint64_t takes = 0;  // TakeStaged calls that handed a node over
  };

  Result<std::shared_ptr<const BtreeNode>> Load(LogicalId id) override;
  Result<LogicalId> Allocate() override;
  Status Stage(std::shared_ptr<const BtreeNode> node) override;
  Status Free(LogicalId id) override;
  std::shared_ptr<BtreeNode> TakeStaged(const std::shared_ptr<const BtreeNode>& node) override;
  Result<LogicalId> StageValue(std::string_view bytes) override;
  Result<std::string> LoadValue(LogicalId id) override;
  Status FreeValue(LogicalId id) override;

  const Counters& counters() const { return counters_; }
  // Allocated and not freed (staged or not).
  size_t live_nodes() const { return nodes_.size(); }
  size_t live_values() const { return values_.size(); }
  std::vector<LogicalId> NodeIds() const;
  std::vector<LogicalId> ValueIds() const;
  // Size of the stored encoding of a node; 0 if it holds none.
  size_t EncodedSize(LogicalId id) const;
  // Replaces the stored bytes of a node; the next Load decodes them. ENOENT if unknown.
  Status Corrupt(LogicalId id, std::string bytes);

 private:
  struct StoredNode {
    std::string encoded;                 // empty: allocated, never staged
    std::shared_ptr<BtreeNode> decoded;  // what Load hands out; null: decode `encoded`
  };

  LogicalId next_id_ = 1;
  std::map<LogicalId, StoredNode> nodes_;
  std::map<LogicalId, std::string> values_;
  Counters counters_;
};

}  // namespace sopfs
