// Overlay: a transaction's pending writes to one B-Tree, kept in memory until commit.
//
// A transaction does not write into the snapshot tree it reads; it records, per key,
// the key's final state in the transaction: present with a value (added or replaced)
// or removed. Reads go through "overlay over snapshot tree" (see OverlayCursor): an
// overlay entry answers for its key, and any other key is read from the tree.
//
// The overlay is ordered by the tree's comparator (OverlayLess wraps the Btree's
// BtreeComparator, byte-wise when empty), so that it merges with the tree in one pass.
// A large value may be staged as its own blob first (NodeStore::StageValue); the entry
// then carries the blob's ID instead of the bytes.
//
// Threads: plain values; an Overlay belongs to its transaction (one thread at a time).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "engine/btree/btree.h"
#include "engine/registry/registry_block.h"

namespace sopfs {

// One pending write of a transaction to a key: the key's final state in the transaction.
struct OverlayEntry {
  bool present = false;      // false: removed
  std::string value = {};    // inline value when value_blob == 0
  LogicalId value_blob = 0;  // nonzero: the value was staged as its own blob

  friend bool operator==(const OverlayEntry&, const OverlayEntry&) = default;
};

// Orders keys with a Btree's comparator (byte-wise when empty: unsigned, shorter first).
struct OverlayLess {
  BtreeComparator compare;

  bool operator()(std::string_view a, std::string_view b) const {
    return (compare ? compare(a, b) : a.compare(b)) < 0;
  }
  using is_transparent = void;  // lookups by string_view without a copy
};

using Overlay = std::map<std::string, OverlayEntry, OverlayLess>;

// An empty overlay ordered like `tree`.
inline Overlay MakeOverlay(const Btree& tree) {
  return Overlay(OverlayLess{tree.options().compare});
}

}  // namespace sopfs
