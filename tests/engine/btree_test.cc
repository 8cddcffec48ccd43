// B-Tree tests on MemoryNodeStore (every node goes through the codec): edge cases of the operations
// and cursors, load/stage costs, item versions, staged-value upserts, in-place edits of unshared
// staged nodes (and copies of shared ones), cursors over a changing tree, corruption. The long
// randomized model test is btree_model_test.cc.
#include "engine/btree/btree.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "engine/btree/btree_cursor.h"
#include "engine/btree/btree_node.h"
#include "engine/btree/btree_verifier.h"
#include "engine/btree/memory_node_store.h"
#include "tests/engine/btree_test_util.h"

namespace sopfs {
namespace {

TEST(BtreeOptionsTest, BtreeSlotLengthOutsideFourTo5000IsEinval) {
  MemoryNodeStore store;
  EXPECT_EQ(Btree::Create(&store, {.slot_length = 3}).status().code(), EINVAL);
  EXPECT_EQ(Btree::Create(&store, {.slot_length = 5001}).status().code(), EINVAL);
  Btree tree(&store, 1, {.slot_length = 2});
  EXPECT_EQ(tree.Add("a", "b").code(), EINVAL);
  EXPECT_EQ(tree.Find("a").status().code(), EINVAL);
  EXPECT_EQ(BtreeCursor(&tree).First().code(), EINVAL);
}

class BtreeTest : public ::testing::Test {
 protected:
  void Open(BtreeOptions options = {}) {
    options_ = std::move(options);
    Result<LogicalId> root = Btree::Create(&store_, options_);
    ASSERT_TRUE(root.ok()) << root.status().ToString();
    root_ = *root;
    tree_ = std::make_unique<Btree>(&store_, root_, options_);
  }
  void AddKeys(int n, int step = 1) {
    for (int i = 0; i < n; i += step) ASSERT_OK(tree_->Add(Key(i), "v"));
  }
  void ExpectSound(size_t items) { ::sopfs::ExpectSound(store_, root_, options_, items); }
  Result<BtreeShape> Shape() { return VerifyBtree(&store_, root_, options_); }

  // The node that holds key (a leaf or an internal node); 0 if none does.
  LogicalId NodeHolding(std::string_view key) {
    Result<BtreeShape> shape = Shape();
    if (!shape.ok()) return 0;
    for (LogicalId id : shape->nodes) {
      for (const BtreeItem& item : (*store_.Load(id))->items) {
        if (item.key == key) return id;
      }
    }
    return 0;
  }

  MemoryNodeStore store_;
  BtreeOptions options_;
  LogicalId root_ = 0;
  std::unique_ptr<Btree> tree_;
};

TEST_F(BtreeTest, EmptyTreeCursorsAreNotValidAndFindIsEnoent) {
  Open();
  BtreeCursor c(tree_.get());
  for (const auto& position : Positioners(c, "", "\xff")) {
    ASSERT_OK(position());
    EXPECT_FALSE(c.Valid());
  }
  EXPECT_EQ(c.Next().code(), EINVAL);
  EXPECT_EQ(c.Prev().code(), EINVAL);
  EXPECT_EQ(c.value().status().code(), EINVAL);
  EXPECT_EQ(tree_->Find("").status().code(), ENOENT);
  EXPECT_EQ(tree_->Remove("").code(), ENOENT);
  EXPECT_EQ(tree_->Update("", "v").code(), ENOENT);
  ExpectSound(0);
}

TEST_F(BtreeTest, SingleItemAddUpdateRemoveAndCursorsFollowTheirContracts) {
  Open();
  ASSERT_OK(tree_->Add("", "empty key"));  // the empty key is a key
  EXPECT_EQ(tree_->Add("", "again").code(), EEXIST);
  Result<bool> added = tree_->AddIfNotExist("", "again");
  ASSERT_TRUE(added.ok());
  EXPECT_FALSE(*added);
  EXPECT_EQ(*tree_->Find(""), "empty key");

  BtreeCursor c(tree_.get());
  for (const auto& position : Positioners(c, "", "a")) {
    ASSERT_OK(position());
    ASSERT_TRUE(c.Valid());
    EXPECT_EQ(c.key(), "");
  }
  ASSERT_OK(c.Next());
  EXPECT_FALSE(c.Valid());
  ASSERT_OK(c.Seek("\x01"));
  EXPECT_FALSE(c.Valid());

  ASSERT_OK(tree_->Update("", "new"));
  EXPECT_EQ(*tree_->Find(""), "new");
  ASSERT_OK(tree_->Upsert("", "newer"));
  EXPECT_EQ(*tree_->Find(""), "newer");
  ASSERT_OK(tree_->Remove(""));
  EXPECT_EQ(tree_->Remove("").code(), ENOENT);
  EXPECT_EQ(tree_->Find("").status().code(), ENOENT);
  ExpectSound(0);
}

TEST_F(BtreeTest, KeysOverFourKibAreEinvalAndFourKibKeysWork) {
  Open();
  std::string max_key(Btree::kMaxKeyLength, 'k');
  std::string long_key = max_key + "k";
  ASSERT_OK(tree_->Add(max_key, "v"));
  EXPECT_EQ(*tree_->Find(max_key), "v");
  EXPECT_EQ(tree_->Add(long_key, "v").code(), EINVAL);
  EXPECT_EQ(tree_->Upsert(long_key, "v").code(), EINVAL);
  EXPECT_EQ(tree_->Find(long_key).status().code(), EINVAL);
  EXPECT_EQ(tree_->Remove(long_key).code(), EINVAL);
  ExpectSound(1);
}

// Grows to several levels, empties, and grows again: the root keeps its ID, every
// state is sound, and emptying gives back every node but the root.
TEST_F(BtreeTest, RootIdSurvivesSplitsAndShrinksAndDeletingEverythingFreesAllNodes) {
  Open({.slot_length = 4});
  std::vector<int> order(2000);
  for (int i = 0; i < 2000; ++i) order[i] = i;
  std::mt19937 rng(7);
  for (int round = 0; round < 2; ++round) {
    std::shuffle(order.begin(), order.end(), rng);
    for (int i : order) ASSERT_OK(tree_->Add(Key(i), "v" + std::to_string(i)));
    ASSERT_NO_FATAL_FAILURE(ExpectSound(2000));
    EXPECT_GE(Shape()->depth, 5u);
    EXPECT_FALSE((*store_.Load(root_))->leaf());
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t n = 0; n < order.size(); ++n) {
      ASSERT_OK(tree_->Remove(Key(order[n])));
      if (n % 97 == 0) {
        ASSERT_NO_FATAL_FAILURE(ExpectSound(1999 - n));
      }
    }
    ASSERT_NO_FATAL_FAILURE(ExpectSound(0));
    EXPECT_EQ(store_.live_nodes(), 1u);
    EXPECT_TRUE((*store_.Load(root_))->leaf());
  }
}

TEST_F(BtreeTest, ReverseComparatorOrdersScansAndSeeksBackwards) {
  Open({.slot_length = 5,
        .compare = [](std::string_view a, std::string_view b) { return b.compare(a); }});
  AddKeys(300, 2);
  ExpectSound(150);
  BtreeCursor c(tree_.get());
  std::vector<std::string> seen;
  ASSERT_OK(c.First());
  while (c.Valid()) {
    seen.emplace_back(c.key());
    ASSERT_OK(c.Next());
  }
  ASSERT_EQ(seen.size(), 150u);
  EXPECT_EQ(seen.front(), Key(298));
  EXPECT_TRUE(std::is_sorted(seen.rbegin(), seen.rend()));
  ASSERT_OK(c.Seek(Key(101)));  // first >= in reverse order: the next smaller key
  ASSERT_TRUE(c.Valid());
  EXPECT_EQ(c.key(), Key(100));
  ASSERT_OK(c.SeekForPrev(Key(101)));
  ASSERT_TRUE(c.Valid());
  EXPECT_EQ(c.key(), Key(102));
  EXPECT_EQ(*tree_->Find(Key(100)), "v");
}

TEST_F(BtreeTest, BigValuesLiveInBlobsThatUpdatesAndRemovesFree) {
  Open({.slot_length = 16, .value_blob_threshold = 100});
  std::string big(1 << 20, 'b');
  big[12345] = 'x';
  ASSERT_OK(tree_->Add("big", big));
  ASSERT_OK(tree_->Add("small", std::string(100, 's')));  // at the threshold: in the node
  EXPECT_EQ(store_.live_values(), 1u);
  EXPECT_LT(store_.EncodedSize(root_), 300u);
  EXPECT_EQ(*tree_->Find("big"), big);
  BtreeCursor c(tree_.get());
  ASSERT_OK(c.First());
  EXPECT_EQ(*c.value(), big);

  ASSERT_OK(tree_->Update("small", big + "2"));  // inline -> blob
  EXPECT_EQ(store_.live_values(), 2u);
  ASSERT_OK(tree_->Update("big", "tiny"));  // blob -> inline frees the blob
  EXPECT_EQ(store_.live_values(), 1u);
  EXPECT_EQ(*tree_->Find("big"), "tiny");
  EXPECT_EQ(*tree_->Find("small"), big + "2");
  ASSERT_OK(tree_->Upsert("small", big));  // blob -> new blob frees the old one
  EXPECT_EQ(store_.live_values(), 1u);
  ASSERT_OK(tree_->Remove("small"));
  EXPECT_EQ(store_.live_values(), 0u);
  ExpectSound(1);
}

TEST_F(BtreeTest, FindLoadsOneNodePerLevelAndAScanLoadsEachNodeOnce) {
  Open({.slot_length = 7});
  AddKeys(2000, 2);
  Result<BtreeShape> shape = Shape();
  ASSERT_TRUE(shape.ok());
  for (int i = 1; i < 2000; i += 2) {
    uint64_t before = store_.counters().loads;
    EXPECT_EQ(tree_->Find(Key(i)).status().code(), ENOENT);
    EXPECT_EQ(store_.counters().loads - before, shape->depth);
  }
  uint64_t before = store_.counters().loads;
  BtreeCursor c(tree_.get());
  size_t n = 0;
  ASSERT_OK(c.First());
  for (; c.Valid(); ++n) ASSERT_OK(c.Next());
  EXPECT_EQ(n, 1000u);
  EXPECT_EQ(store_.counters().loads - before, shape->nodes.size());
}

TEST_F(BtreeTest, UpdateOfAnExistingKeyStagesOnlyTheNodeHoldingIt) {
  Open({.slot_length = 4});
  AddKeys(500);
  for (int i = 0; i < 500; ++i) {
    MemoryNodeStore::Counters before = store_.counters();
    ASSERT_OK(tree_->Upsert(Key(i), "w"));
    EXPECT_EQ(store_.counters().stages - before.stages, 1u);
    EXPECT_EQ(store_.counters().allocations, before.allocations);
  }
  ExpectSound(500);
}

// Every written item carries the write version of its write; splits, merges, borrows,
// root changes, predecessor moves and the codec keep it, and reads do not change it.
TEST_F(BtreeTest, ItemVersionsAreSetByWritesAndSurviveSplitsMergesAndReopens) {
  Open({.slot_length = 4});
  std::vector<int> order(1000);
  for (int i = 0; i < 1000; ++i) order[i] = i;
  std::mt19937 rng(11);
  std::shuffle(order.begin(), order.end(), rng);
  EXPECT_EQ(tree_->write_version(), 0u);
  for (int i : order) {
    tree_->set_write_version(i);
    ASSERT_OK(tree_->Add(Key(i), "v" + std::to_string(i)));
  }
  EXPECT_GE(Shape()->depth, 4u);
  std::shuffle(order.begin(), order.end(), rng);
  tree_->set_write_version(1u << 20);  // removes write no item
  for (int i : order) {
    if (i % 2 == 0) ASSERT_OK(tree_->Remove(Key(i)));
  }
  ASSERT_GT(store_.counters().frees, 0u);  // merges happened
  ExpectSound(500);

  auto expect_versions = [this](const Btree& tree) {
    for (int i = 0; i < 1000; ++i) {
      Result<BtreeItem> item = tree.FindItem(Key(i));
      if (i % 2 == 0) {
        ASSERT_EQ(item.status().code(), ENOENT) << i;
        continue;
      }
      ASSERT_TRUE(item.ok()) << item.status().ToString();
      ASSERT_EQ(item->version, static_cast<uint64_t>(i)) << Key(i);
      ASSERT_EQ(item->value, "v" + std::to_string(i));
    }
  };
  ASSERT_NO_FATAL_FAILURE(expect_versions(*tree_));
  ASSERT_NO_FATAL_FAILURE(expect_versions(Btree(&store_, root_, options_)));  // reopened

  // Which calls write: Update, Upsert (both ways), AddIfNotExist only when it adds.
  tree_->set_write_version(7000);
  ASSERT_OK(tree_->Update(Key(1), "u"));
  ASSERT_OK(tree_->Upsert(Key(3), "u"));
  ASSERT_OK(tree_->Upsert(Key(0), "u"));
  ASSERT_FALSE(*tree_->AddIfNotExist(Key(5), "u"));
  ASSERT_TRUE(*tree_->AddIfNotExist(Key(2), "u"));
  EXPECT_EQ(tree_->Add(Key(7), "u").code(), EEXIST);
  EXPECT_EQ(tree_->FindItem(Key(1))->version, 7000u);
  EXPECT_EQ(tree_->FindItem(Key(3))->version, 7000u);
  EXPECT_EQ(tree_->FindItem(Key(0))->version, 7000u);
  EXPECT_EQ(tree_->FindItem(Key(2))->version, 7000u);
  EXPECT_EQ(tree_->FindItem(Key(5))->version, 5u);
  EXPECT_EQ(tree_->FindItem(Key(7))->version, 7u);
  EXPECT_EQ(Btree(&store_, root_, options_).write_version(), 0u);
  ExpectSound(502);
}

TEST_F(BtreeTest, FindItemReturnsTheStoredItemWithoutReadingItsValueBlob) {
  // Case-insensitive: the item keeps the key bytes it was added with.
  Open({.slot_length = 4,
        .value_blob_threshold = 10,
        .compare = [](std::string_view a, std::string_view b) {
          auto lower = [](std::string_view s) {
            std::string out(s);
            for (char& ch : out) ch = static_cast<char>(std::tolower(ch));
            return out;
          };
          return lower(a).compare(lower(b));
        }});
  tree_->set_write_version(3);
  ASSERT_OK(tree_->Add("Small", "abc"));
  ASSERT_OK(tree_->Add("Big", std::string(100, 'b')));
  AddKeys(50);

  Result<BtreeItem> small = tree_->FindItem("SMALL");
  ASSERT_TRUE(small.ok()) << small.status().ToString();
  EXPECT_EQ(*small, (BtreeItem{"Small", "abc", 0, 3}));
  const uint64_t value_loads = store_.counters().value_loads;
  Result<BtreeItem> big = tree_->FindItem("big");
  ASSERT_TRUE(big.ok()) << big.status().ToString();
  EXPECT_EQ(big->key, "Big");
  EXPECT_EQ(big->value, "");
  EXPECT_NE(big->value_blob, 0u);
  EXPECT_EQ(store_.ValueIds(), std::vector<LogicalId>{big->value_blob});
  EXPECT_EQ(store_.counters().value_loads, value_loads);
  EXPECT_EQ(*tree_->Find("BIG"), std::string(100, 'b'));

  EXPECT_EQ(tree_->FindItem("nope").status().code(), ENOENT);
  EXPECT_EQ(tree_->FindItem(std::string(Btree::kMaxKeyLength + 1, 'k')).status().code(), EINVAL);
  ExpectSound(52);
}

TEST_F(BtreeTest, UpsertStagedReferencesTheCallersBlobOrForcesTheValueInline) {
  Open({.slot_length = 4, .values_in_node = false});
  AddKeys(20);  // values in blobs, as the options say
  ASSERT_EQ(store_.live_values(), 20u);
  tree_->set_write_version(9);

  // A staged blob is referenced as is: nothing staged, `value` ignored.
  const LogicalId one = *store_.StageValue("one");
  uint64_t value_stages = store_.counters().value_stages;
  Result<bool> added = tree_->UpsertStaged("k", "ignored", one);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_TRUE(*added);
  EXPECT_EQ(*tree_->FindItem("k"), (BtreeItem{"k", "", one, 9}));
  EXPECT_EQ(*tree_->Find("k"), "one");
  EXPECT_EQ(store_.counters().value_stages, value_stages);
  EXPECT_EQ(store_.live_values(), 21u);

  // The same blob again: still referenced, not freed.
  tree_->set_write_version(10);
  uint64_t value_frees = store_.counters().value_frees;
  added = tree_->UpsertStaged("k", "", one);
  ASSERT_TRUE(added.ok()) << added.status().ToString();
  EXPECT_FALSE(*added);
  EXPECT_EQ(store_.counters().value_frees, value_frees);
  EXPECT_EQ(*tree_->FindItem("k"), (BtreeItem{"k", "", one, 10}));
  EXPECT_EQ(*tree_->Find("k"), "one");

  // Another blob: the old one is freed.
  const LogicalId two = *store_.StageValue("two");
  ASSERT_FALSE(*tree_->UpsertStaged("k", "", two));
  EXPECT_EQ(store_.counters().value_frees, value_frees + 1);
  EXPECT_EQ(store_.LoadValue(one).status().code(), ENOENT);
  EXPECT_EQ(*tree_->Find("k"), "two");

  // Blob 0: inline although values_in_node is false, and the old blob is freed.
  value_stages = store_.counters().value_stages;
  ASSERT_FALSE(*tree_->UpsertStaged("k", "inline", 0));
  EXPECT_EQ(*tree_->FindItem("k"), (BtreeItem{"k", "inline", 0, 10}));
  EXPECT_EQ(store_.LoadValue(two).status().code(), ENOENT);
  // Inline beyond value_blob_threshold too, for a new key and over an existing one.
  const std::string big(5000, 'x');
  ASSERT_TRUE(*tree_->UpsertStaged("big", big, 0));
  EXPECT_EQ(*tree_->FindItem("big"), (BtreeItem{"big", big, 0, 10}));
  ASSERT_FALSE(*tree_->UpsertStaged(Key(3), big, 0));
  EXPECT_EQ(*tree_->FindItem(Key(3)), (BtreeItem{Key(3), big, 0, 10}));
  EXPECT_EQ(store_.counters().value_stages, value_stages);
  EXPECT_EQ(store_.live_values(), 19u);  // Key(3)'s blob freed too

  EXPECT_EQ(tree_->UpsertStaged(std::string(Btree::kMaxKeyLength + 1, 'k'), "", 0).status().code(),
            EINVAL);
  ExpectSound(22);
}

TEST(BtreeNodeStoreTest, BtreeMemoryStoreTakeStagedHandsOverOnlyItsUnsharedCurrentNode) {
  MemoryNodeStore store;
  LogicalId id = *store.Allocate();
  auto staged = std::make_shared<BtreeNode>();
  staged->id = id;
  staged->items = {{"a", "1", 0, 1}};
  ASSERT_OK(store.Stage(staged));
  const BtreeNode as_staged = *staged;
  EXPECT_EQ(store.TakeStaged(staged), nullptr);  // the store keeps a decoded copy

  std::shared_ptr<const BtreeNode> loaded = *store.Load(id);
  {
    std::shared_ptr<const BtreeNode> other = loaded;  // a second holder: refused
    EXPECT_EQ(store.TakeStaged(loaded), nullptr);
  }
  std::shared_ptr<BtreeNode> taken = store.TakeStaged(loaded);
  ASSERT_EQ(taken.get(), loaded.get());
  EXPECT_EQ(store.counters().takes, 1u);
  loaded.reset();
  taken->items[0].value = "2";
  // Until staged again, Load decodes the staged bytes into a new object.
  std::shared_ptr<const BtreeNode> again = *store.Load(id);
  EXPECT_NE(again.get(), taken.get());
  EXPECT_EQ(*again, as_staged);
  EXPECT_EQ(store.TakeStaged(taken), nullptr);  // no longer the store's object
  again.reset();
  ASSERT_OK(store.Stage(std::move(taken)));
  EXPECT_EQ((*store.Load(id))->items[0].value, "2");
  EXPECT_EQ(store.TakeStaged(nullptr), nullptr);
  EXPECT_EQ(store.counters().takes, 1u);
}

// With nothing else holding the nodes, every write edits the store's staged objects in
// place: each node staged that existed before was taken, never copied.
TEST_F(BtreeTest, WritesEditUnsharedStagedNodesInPlaceInsteadOfCopyingThem) {
  Open({.slot_length = 16});
  std::vector<int> order(1000);
  for (int i = 0; i < 1000; ++i) order[i] = i;
  std::mt19937 rng(5);
  std::shuffle(order.begin(), order.end(), rng);

  MemoryNodeStore::Counters before = store_.counters();
  for (int i : order) ASSERT_OK(tree_->Add(Key(i), "v"));
  MemoryNodeStore::Counters after = store_.counters();
  ASSERT_GT(after.allocations, before.allocations);  // splits happened
  // Every stage is a taken node or a node new from a split.
  EXPECT_EQ(after.stages - before.stages,
            (after.takes - before.takes) + (after.allocations - before.allocations));

  before = store_.counters();
  for (int i = 0; i < 1000; ++i) ASSERT_OK(tree_->Upsert(Key(i), "w" + std::to_string(i)));
  after = store_.counters();
  EXPECT_EQ(after.takes - before.takes, 1000u);
  EXPECT_EQ(after.stages - before.stages, 1000u);

  before = store_.counters();
  std::shuffle(order.begin(), order.end(), rng);
  for (size_t n = 0; n < 900; ++n) ASSERT_OK(tree_->Remove(Key(order[n])));
  after = store_.counters();
  ASSERT_GT(after.frees, before.frees);  // merges happened
  // Every node changed was taken, then staged again or (merged away) freed.
  EXPECT_EQ(after.takes - before.takes,
            (after.stages - before.stages) + (after.frees - before.frees));
  ExpectSound(100);
  Model model;
  for (size_t n = 900; n < 1000; ++n) model[Key(order[n])] = "w" + std::to_string(order[n]);
  ASSERT_NO_FATAL_FAILURE(ExpectScansMatch(*tree_, model));
}

// A node someone holds (a cursor, or anyone with a loaded node) is never changed under
// them: the tree copies it instead of taking it.
TEST_F(BtreeTest, HeldNodesAreCopiedNotEditedSoCursorsAndReadersKeepTheirView) {
  Open({.slot_length = 16});
  for (int i = 0; i < 200; ++i) ASSERT_OK(tree_->Add(Key(i), "v" + std::to_string(i)));
  const LogicalId holder = NodeHolding(Key(50));
  ASSERT_NE(holder, 0u);

  // A loaded node: the tree copies it, and it never changes.
  std::shared_ptr<const BtreeNode> held = *store_.Load(holder);
  const BtreeNode snapshot = *held;
  uint64_t takes = store_.counters().takes;
  ASSERT_OK(tree_->Update(Key(50), "changed"));
  EXPECT_EQ(store_.counters().takes, takes);
  EXPECT_EQ(*held, snapshot);
  EXPECT_NE(**store_.Load(holder), snapshot);
  held.reset();
  ASSERT_OK(tree_->Update(Key(50), "changed again"));  // unheld now: taken
  EXPECT_EQ(store_.counters().takes, takes + 1);

  // A cursor on the key: the node is copied, and the cursor reads its old node.
  BtreeCursor c(tree_.get());
  ASSERT_OK(c.Seek(Key(50)));
  ASSERT_TRUE(c.Valid());
  takes = store_.counters().takes;
  ASSERT_OK(tree_->Update(Key(50), "third"));
  EXPECT_EQ(store_.counters().takes, takes);
  EXPECT_EQ(c.key(), Key(50));
  EXPECT_EQ(*c.value(), "third");
  // Writes that split and merge the held node: the cursor's key stays intact and it
  // continues by key.
  for (char ch = 'a'; ch <= 'z'; ++ch) ASSERT_OK(tree_->Add(Key(50) + ch, "new"));
  for (int i = 30; i < 50; ++i) ASSERT_OK(tree_->Remove(Key(i)));
  EXPECT_EQ(c.key(), Key(50));
  ASSERT_OK(c.Next());
  ASSERT_TRUE(c.Valid());
  EXPECT_EQ(c.key(), Key(50) + "a");
  ASSERT_OK(c.Prev());
  ASSERT_OK(c.Prev());
  EXPECT_EQ(c.key(), Key(29));
  EXPECT_EQ(*c.value(), "v29");
  ExpectSound(200 + 26 - 20);
}

// Writes through the Btree while a cursor is open: the cursor keeps its key, value()
// reads the current value, and Next/Prev continue from that key in the changed tree.
TEST_F(BtreeTest, CursorContinuesByKeyAfterTheTreeChanges) {
  Open({.slot_length = 4});
  AddKeys(100);
  BtreeCursor c(tree_.get());
  ASSERT_OK(c.Seek(Key(50)));
  ASSERT_OK(tree_->Update(Key(50), "changed"));
  EXPECT_EQ(*c.value(), "changed");
  for (int i = 40; i < 60; ++i) ASSERT_OK(tree_->Remove(Key(i)));
  ASSERT_OK(tree_->Add(Key(50) + "a", "new"));
  EXPECT_EQ(c.key(), Key(50));
  EXPECT_EQ(c.value().status().code(), ENOENT);
  ASSERT_OK(c.Next());
  ASSERT_TRUE(c.Valid());
  EXPECT_EQ(c.key(), Key(50) + "a");
  ASSERT_OK(c.Next());
  EXPECT_EQ(c.key(), Key(60));
  ASSERT_OK(tree_->Remove(Key(50) + "a"));
  ASSERT_OK(c.Prev());
  EXPECT_EQ(c.key(), Key(39));
  ASSERT_OK(c.Prev());
  EXPECT_EQ(c.key(), Key(38));
}

TEST_F(BtreeTest, CorruptOrMissingNodeFailsWithEioAndNeverCrashes) {
  Open({.slot_length = 4});
  AddKeys(200);
  Result<BtreeShape> shape = Shape();
  ASSERT_TRUE(shape.ok());
  LogicalId victim = shape->nodes[shape->nodes.size() / 2];
  ASSERT_NE(victim, root_);
  std::string bytes = (*store_.Load(victim))->Encode();
  ASSERT_OK(store_.Corrupt(victim, bytes.substr(0, bytes.size() - 1)));

  EXPECT_EQ(Shape().status().code(), EIO);
  BtreeCursor c(tree_.get());
  Status st = c.First();
  while (st.ok() && c.Valid()) st = c.Next();
  EXPECT_EQ(st.code(), EIO);
  EXPECT_FALSE(c.Valid());
  int failed = 0;
  for (int i = 0; i < 200; ++i) {
    if (!tree_->Find(Key(i)).ok()) {
      EXPECT_EQ(tree_->Find(Key(i)).status().code(), EIO);
      EXPECT_EQ(tree_->Upsert(Key(i), "w").code(), EIO);
      ++failed;
    }
  }
  EXPECT_GT(failed, 0);
  ASSERT_OK(store_.Corrupt(victim, bytes));  // restored: whole again
  ExpectSound(200);

  ASSERT_OK(store_.Free(victim));  // a missing node is EIO too, never "no such key"
  failed = 0;
  for (int i = 0; i < 200; ++i) {
    int code = tree_->Find(Key(i)).status().code();
    EXPECT_TRUE(code == 0 || code == EIO) << code;
    failed += code == EIO;
  }
  EXPECT_GT(failed, 0);
  EXPECT_EQ(Shape().status().code(), EIO);
}

}  // namespace
}  // namespace sopfs
