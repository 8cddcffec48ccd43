// LocateInBtree, which fsck uses to say what a lost blob held: a node is placed by its
// depth and the separators around it in its parent (every key below it lies between
// them), a value blob by its key; a node that does not load is skipped with what is
// below it, and IDs the tree does not reach are left out.
#include "engine/btree/btree_locate.h"

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "tests/engine/btree_test_util.h"

namespace sopfs {
namespace {

TEST(BtreeLocateTest, FsckPlacesLostNodesByTheirKeyRangeAndValuesByTheirKey) {
  MemoryNodeStore store;
  const BtreeOptions options{.slot_length = 4, .values_in_node = false};
  Result<LogicalId> root = Btree::Create(&store, options);
  ASSERT_TRUE(root.ok());
  Btree tree(&store, *root, options);
  for (int i = 0; i < 60; ++i) ASSERT_OK(tree.Add(Key(i), "value " + std::to_string(i)));
  Result<BtreeShape> shape = VerifyBtree(&store, *root, options);
  ASSERT_TRUE(shape.ok()) << shape.status().ToString();
  ASSERT_GE(shape->depth, 3u);

  // A leaf (its keys noted), and the value of a key in another node.
  LogicalId leaf = 0;
  std::set<std::string> leaf_keys;
  for (LogicalId id : shape->nodes) {
    std::shared_ptr<const BtreeNode> node = *store.Load(id);
    if (!node->leaf() || node->items.front().key < Key(20)) continue;
    leaf = id;
    for (const BtreeItem& item : node->items) leaf_keys.insert(item.key);
    break;
  }
  ASSERT_NE(leaf, 0u);
  LogicalId value = 0;
  for (LogicalId id : shape->nodes) {
    for (const BtreeItem& item : (*store.Load(id))->items) {
      if (item.key == Key(3)) value = item.value_blob;
    }
  }
  ASSERT_NE(value, 0u);
  ASSERT_OK(store.Corrupt(leaf, "not a node"));

  const std::vector<BtreePlace> places = LocateInBtree(&store, *root, {leaf, value, *root, 999999});
  ASSERT_EQ(places.size(), 3u);
  EXPECT_EQ(places[0].id, *root);
  EXPECT_FALSE(places[0].value);
  EXPECT_EQ(places[0].level, 0u);
  EXPECT_FALSE(places[0].key.has_value());
  EXPECT_FALSE(places[0].end.has_value());

  EXPECT_EQ(places[1].id, value);
  EXPECT_TRUE(places[1].value);
  EXPECT_EQ(places[1].key, Key(3));

  EXPECT_EQ(places[2].id, leaf);
  EXPECT_FALSE(places[2].value);
  EXPECT_EQ(places[2].level, shape->depth - 1);
  ASSERT_TRUE(places[2].key.has_value());
  ASSERT_TRUE(places[2].end.has_value() || *leaf_keys.rbegin() == Key(59));
  EXPECT_LT(*places[2].key, *leaf_keys.begin());
  if (places[2].end) {
    EXPECT_GT(*places[2].end, *leaf_keys.rbegin());
  }

  EXPECT_TRUE(LocateInBtree(&store, *root, {}).empty());
  EXPECT_TRUE(LocateInBtree(&store, *root, {999999}).empty());
}

}  // namespace
}  // namespace sopfs
