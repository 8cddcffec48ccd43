// NodeStore: everything a B-Tree needs from below — nodes and large values by logical ID.
//
// The transaction layer implements it over the registry and the blob store (tracking
// what a transaction read and wrote, copy-on-write at the physical level); tests use
// MemoryNodeStore. Logical IDs are stable: a changed node is staged again under its own
// ID, and only new nodes need Allocate. IDs are never 0 (0 means "no value blob").
// Node IDs and value IDs may share one ID space; a node ID is never passed to the value
// calls or the other way round.
//
// Threads: a NodeStore serves one B-Tree user at a time unless an implementation says more.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "engine/btree/btree_node.h"
#include "engine/registry/registry_block.h"
#include "engine/status.h"

namespace sopfs {

class NodeStore {
 public:
  virtual ~NodeStore() = default;

  // The current version of a node (the latest staged one, if any). ENOENT if the ID
  // holds no node, EIO if the node cannot be read or decoded.
  virtual Result<std::shared_ptr<const BtreeNode>> Load(LogicalId id) = 0;
  // A fresh ID for a node that will be staged next.
  virtual Result<LogicalId> Allocate() = 0;
  // Makes `node` the new version of node->id (allocated, or staged before). The node
  // is immutable from now on: the B-Tree copies before it changes anything.
  virtual Status Stage(std::shared_ptr<const BtreeNode> node) = 0;
  // The node is gone from the tree; its ID may be reused later.
  virtual Status Free(LogicalId id) = 0;

  // Large values, one blob each; a value blob is written once and never changed.
  virtual Result<LogicalId> StageValue(std::string_view bytes) = 0;
  virtual Result<std::string> LoadValue(LogicalId id) = 0;
  virtual Status FreeValue(LogicalId id) = 0;
};

}  // namespace sopfs
