// Helpers of the B-Tree tests: a std::map model, keys, and the checks that a tree is
// sound (verifier, no leaked nodes) and reads exactly as the model does.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "engine/btree/btree.h"
#include "engine/btree/btree_cursor.h"
#include "engine/btree/btree_verifier.h"
#include "engine/btree/memory_node_store.h"

namespace sopfs {

#define ASSERT_OK(expr)                                       \
  do {                                                        \
    ::sopfs::Status _st = (expr);                             \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (0)

using Model = std::map<std::string, std::string>;

inline std::string Key(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "k%05d", i);
  return buf;
}

// The verifier passes, the tree holds `items`, and the store holds exactly the nodes
// and value blobs the tree reaches (nothing leaked, nothing reachable freed).
inline void ExpectSound(MemoryNodeStore& store, LogicalId root, const BtreeOptions& options,
                        size_t items) {
  Result<BtreeShape> shape = VerifyBtree(&store, root, options);
  ASSERT_TRUE(shape.ok()) << shape.status().ToString();
  EXPECT_EQ(shape->items, items);
  EXPECT_EQ(shape->nodes.size(), store.live_nodes()) << "leaked nodes";
  EXPECT_EQ(shape->value_blobs.size(), store.live_values()) << "leaked value blobs";
}

// Full forward and backward scans equal the model, values included.
inline void ExpectScansMatch(const Btree& tree, const Model& model) {
  BtreeCursor c(&tree);
  auto it = model.begin();
  ASSERT_OK(c.First());
  for (; c.Valid(); ++it) {
    ASSERT_NE(it, model.end());
    ASSERT_EQ(c.key(), it->first);
    Result<std::string> v = c.value();
    ASSERT_TRUE(v.ok()) << v.status().ToString();
    ASSERT_EQ(*v, it->second);
    ASSERT_OK(c.Next());
  }
  ASSERT_EQ(it, model.end());
  auto rit = model.rbegin();
  ASSERT_OK(c.Last());
  for (; c.Valid(); ++rit) {
    ASSERT_NE(rit, model.rend());
    ASSERT_EQ(c.key(), rit->first);
    ASSERT_OK(c.Prev());
  }
  ASSERT_EQ(rit, model.rend());
}

// The cursor stands where the model iterator does (end() meaning not Valid()).
inline void ExpectAt(const BtreeCursor& c, const Model& model, Model::const_iterator it) {
  ASSERT_EQ(c.Valid(), it != model.end());
  if (c.Valid()) {
    ASSERT_EQ(c.key(), it->first);
  }
}

// First, Last, Seek(seek) and SeekForPrev(seek_for_prev), to run one after the other.
inline std::vector<std::function<Status()>> Positioners(BtreeCursor& c, std::string seek,
                                                        std::string seek_for_prev) {
  return {[&c] { return c.First(); }, [&c] { return c.Last(); },
          [&c, seek] { return c.Seek(seek); },
          [&c, seek_for_prev] { return c.SeekForPrev(seek_for_prev); }};
}

}  // namespace sopfs
