// BtreeCursor: ordered iteration over a Btree in both directions, and seeks.
//
// A cursor keeps the path of (node, index) from the root to its item, holding each node
// by shared_ptr<const BtreeNode>, so Next and Prev cost amortized O(1) node loads and
// nothing it holds can be freed under it. Nodes are read through the tree's NodeStore.
//
// Writes while a cursor is open: a cursor remembers the tree's write count when it
// positioned. key() stays the key it stands on. After a write through the same Btree,
// value() looks the key up again (ENOENT if it was removed since), and Next/Prev first
// re-seek to that key in the current tree, so they continue with the item just after
// (before) it — like iterating a std::map by key. Writes through another Btree object
// over the same root are not noticed (use one Btree per tree at a time).
//
// A failed load (EIO for a missing or malformed node, or the store's error) leaves the
// cursor not Valid() and is returned.
// Threads: like its Btree, used by one thread at a time; the Btree must outlive it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/btree/btree.h"

namespace sopfs {

class BtreeCursor {
 public:
  explicit BtreeCursor(const Btree* tree) : tree_(tree) {}

  // Position on the first / last item; not Valid() on an empty tree.
  Status First();
  Status Last();
  // Position on the first item >= key; not Valid() if there is none.
  Status Seek(std::string_view key);
  // Position on the last item <= key; not Valid() if there is none.
  Status SeekForPrev(std::string_view key);
  // Move to the next / previous item; not Valid() past either end. EINVAL if not Valid().
  Status Next();
  Status Prev();

  bool Valid() const { return !path_.empty(); }
  // Require Valid().
  std::string_view key() const { return item().key; }
  Result<std::string> value() const;

 private:
  struct Step {
    std::shared_ptr<const BtreeNode> node;
    size_t index;  // the child descended into; at the bottom, the current item
  };

  const BtreeItem& item() const { return path_.back().node->items[path_.back().index]; }
  bool Stale() const { return generation_ != tree_->generation_; }
  // Empties the path and records the tree's write count: the cursor is positioning.
  void Reset();
  Result<std::shared_ptr<const BtreeNode>> Load(LogicalId id) const;
  // Walks from `id` down to its first (or last) item.
  Status DescendToEdge(LogicalId id, bool last);
  // Leaves the bottom node and climbs to the nearest ancestor item after (before) it.
  void ClimbForNext();
  void ClimbForPrev();
  // Re-seeks a stale cursor; *moved tells whether it landed past its old key already.
  Status Refresh(bool forward, bool* moved);

  const Btree* tree_;
  std::vector<Step> path_;
  uint64_t generation_ = 0;
};

}  // namespace sopfs
