// NodeStore: everything a B-Tree needs from below — nodes and large values by logical ID.
//
// The transaction layer implements it over the registry and the blob store (tracking
// what a transaction read and wrote, copy-on-write at the physical level); tests use
// MemoryNodeStore. Logical IDs are stable: a changed node is staged again under its own
// ID, and only new nodes need Allocate. IDs are never 0 (0 means "no value blob").
// Node IDs and value IDs may share one ID space; a node ID is never passed to the value
// calls or the other way round.
//
// Nodes handed out by Load are immutable, so cursors may keep them. The one exception is
// TakeStaged: a store may hand its staged object back for an in-place edit, but only when
// nobody else holds it (so it saves the B-Tree a copy of the whole node per change
// without anyone seeing the object change).
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
  // is immutable from now on: the B-Tree copies it before changing anything, unless
  // TakeStaged hands it back. The B-Tree creates every node it stages as a non-const
  // BtreeNode (make_shared<BtreeNode>), so a store may const_pointer_cast it back.
  virtual Status Stage(std::shared_ptr<const BtreeNode> node) = 0;
  // The node is gone from the tree; its ID may be reused later.
  virtual Status Free(LogicalId id) = 0;
  // If `node` is the store's current version of node->id and nobody but the store and
  // the caller holds it (the store may check node.use_count() == 2), the store drops its
  // reference and returns the same object, now mutable: the caller edits it in place and
  // must Stage it again (or Free its ID). Until then, what Load returns for that ID is up
  // to the store (the node as staged, an older version, or an error); the B-Tree does not
  // load a node it took. Otherwise nullptr, and the caller copies. Never an error; a
  // store that never hands nodes back need not override this.
  virtual std::shared_ptr<BtreeNode> TakeStaged(const std::shared_ptr<const BtreeNode>& /*node*/) {
    return nullptr;
  }

  // Large values, one blob each; a value blob is written once and never changed.
  virtual Result<LogicalId> StageValue(std::string_view bytes) = 0;
  virtual Result<std::string> LoadValue(LogicalId id) = 0;
  virtual Status FreeValue(LogicalId id) = 0;
};

// A NodeStore that only reads (a snapshot, a check): every write fails with EROFS.
class ReadOnlyNodeStore : public NodeStore {
 public:
  Result<LogicalId> Allocate() override { return ReadOnly(); }
  Status Stage(std::shared_ptr<const BtreeNode>) override { return ReadOnly(); }
  Status Free(LogicalId) override { return ReadOnly(); }
  Result<LogicalId> StageValue(std::string_view) override { return ReadOnly(); }
  Status FreeValue(LogicalId) override { return ReadOnly(); }

 private:
  static Status ReadOnly() { return Status::Error(EROFS, "a read-only view of the tree"); }
};

}  // namespace sopfs
