// VerifyBtree: walks a whole B-Tree and checks its structure, for tests and for fsck.
//
// Checked: every node loads and is the node asked for; keys strictly ascend (by the
// tree's comparator) across the whole tree; an internal node has items + 1 children;
// all leaves are at the same depth; every node but the root holds between
// slot_length / 2 and slot_length items, the root at most slot_length and, if internal,
// at least one; no node is reached twice and no value blob is referenced twice.
// Value blobs are listed, not read. The lists of reachable node and value IDs let the
// caller find leaks (IDs in use that no tree reaches).
//
// Threads: reads through the store like a cursor; one thread at a time.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/btree/btree.h"

namespace sopfs {

struct BtreeShape {
  uint64_t items = 0;
  size_t depth = 0;                    // levels, 1 for a lone root
  std::vector<LogicalId> nodes;        // reachable node IDs, in key order of traversal
  std::vector<LogicalId> value_blobs;  // referenced value blob IDs
};

// EIO naming the first violation found (a missing node included); other load errors
// as the store returns them.
Result<BtreeShape> VerifyBtree(NodeStore* store, LogicalId root, const BtreeOptions& options);

}  // namespace sopfs
