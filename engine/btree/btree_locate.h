// LocateInBtree: where given logical IDs sit in one B-Tree, for fsck to say what a lost
// blob held. A node is placed by its depth and the keys it may hold (the separators
// around it in its parent); a value blob by its key.
//
// Walks every node it can load, depth first, reading no value. A node that does not
// load (lost, or unreadable) is skipped with everything below it: what it held is told
// by its own place, if it is wanted. A wanted node is still loaded, so that wanted IDs
// below it are found when it loads after all (a segment lost on another registry ID).
//
// Threads: reads through the store like a cursor; one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "engine/btree/node_store.h"

namespace sopfs {

struct BtreePlace {
  LogicalId id = 0;
  bool value = false;  // a value blob under `key`; else a node
  uint32_t level = 0;  // a node's depth below the root (0: the root); a value's leaf's
  // A value: its key. A node: the keys of its subtree come after `key` (unbounded
  // when absent; an internal node's items are keys too, as in any B-Tree)...
  std::optional<std::string> key;
  // ...and before `end` (unbounded when absent). Unset for a value.
  std::optional<std::string> end;
};

// Every wanted ID the tree at `root` reaches, in key order. Never fails: what cannot be
// read is left out (a wanted ID not found is reached by no readable part of the tree).
std::vector<BtreePlace> LocateInBtree(NodeStore* store, LogicalId root,
                                      const std::unordered_set<LogicalId>& wanted);

}  // namespace sopfs
