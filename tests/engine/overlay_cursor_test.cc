// OverlayCursor tests over a MemoryNodeStore Btree: edge cases (empty base, empty
// overlay, an overlay removing everything, a reverse comparator, direction changes
// around removals, value blobs, base errors), and a randomized model test that compares
// every step of random First/Last/Seek/SeekForPrev/Next/Prev sequences with a std::map
// of the merged view, across slot lengths, value placements and both key orders.
#include "engine/txn/overlay_cursor.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "engine/btree/btree.h"
#include "engine/btree/memory_node_store.h"
#include "engine/txn/overlay.h"

namespace sopfs {
namespace {

#define ASSERT_OK(expr)                                       \
  do {                                                        \
    ::sopfs::Status _st = (expr);                             \
    ASSERT_TRUE(_st.ok()) << #expr << ": " << _st.ToString(); \
  } while (0)

int ReverseCompare(std::string_view a, std::string_view b) { return b.compare(a); }

// The merged view as the tests expect it; ordered independently of OverlayLess.
struct ModelLess {
  bool reverse = false;
  bool operator()(const std::string& a, const std::string& b) const {
    return reverse ? b < a : a < b;
  }
};
using Model = std::map<std::string, std::string, ModelLess>;

// A base tree in a MemoryNodeStore, its overlay, and the contents of both.
class Scene {
 public:
  explicit Scene(BtreeOptions options) : options_(std::move(options)) {
    Result<LogicalId> root = Btree::Create(&store_, options_);
    EXPECT_TRUE(root.ok()) << root.status().ToString();
    tree_ = std::make_unique<Btree>(&store_, root.ok() ? *root : 0, options_);
    overlay_ = MakeOverlay(*tree_);
    base_ = Model(ModelLess{options_.compare != nullptr});
  }

  void BaseAdd(const std::string& key, const std::string& value) {
    ASSERT_OK(tree_->Upsert(key, value));
    base_[key] = value;
  }
  void BaseRemove(const std::string& key) {
    ASSERT_OK(tree_->Remove(key));
    base_.erase(key);
  }
  void Put(const std::string& key, const std::string& value, bool as_blob = false) {
    OverlayEntry entry;
    entry.present = true;
    if (as_blob) {
      Result<LogicalId> blob = store_.StageValue(value);
      ASSERT_TRUE(blob.ok());
      entry.value_blob = *blob;
    } else {
      entry.value = value;
    }
    overlay_[key] = entry;
  }
  void Remove(const std::string& key) { overlay_[key] = OverlayEntry(); }

  // The base with the overlay applied.
  Model Merged() {
    Model merged = base_;
    for (const auto& [key, entry] : overlay_) {
      if (!entry.present) {
        merged.erase(key);
      } else if (entry.value_blob != 0) {
        merged[key] = *store_.LoadValue(entry.value_blob);
      } else {
        merged[key] = entry.value;
      }
    }
    return merged;
  }

  OverlayCursor Cursor() const { return OverlayCursor(tree_.get(), &overlay_); }
  MemoryNodeStore& store() { return store_; }
  const Btree& tree() const { return *tree_; }
  const Model& base() const { return base_; }
  const Overlay& overlay() const { return overlay_; }

 private:
  BtreeOptions options_;
  MemoryNodeStore store_;
  std::unique_ptr<Btree> tree_;
  Overlay overlay_;
  Model base_;
};

// The cursor stands where the model iterator does (end() meaning not Valid()).
void ExpectAt(const OverlayCursor& c, const Model& model, Model::const_iterator it) {
  ASSERT_EQ(c.Valid(), it != model.end());
  if (!c.Valid()) {
    EXPECT_EQ(c.value().status().code(), EINVAL);
    return;
  }
  ASSERT_EQ(c.key(), it->first);
  Result<std::string> value = c.value();
  ASSERT_TRUE(value.ok()) << value.status().ToString();
  ASSERT_EQ(*value, it->second);
}

// Full forward and backward scans equal the model, values included.
void ExpectScansMatch(const Scene& scene, const Model& model) {
  OverlayCursor c = scene.Cursor();
  ASSERT_OK(c.First());
  for (auto it = model.begin();; ++it) {
    ASSERT_NO_FATAL_FAILURE(ExpectAt(c, model, it));
    if (it == model.end()) break;
    ASSERT_OK(c.Next());
  }
  ASSERT_OK(c.Last());
  auto it = model.empty() ? model.end() : std::prev(model.end());
  while (true) {
    ASSERT_NO_FATAL_FAILURE(ExpectAt(c, model, it));
    if (it == model.end()) break;
    ASSERT_OK(c.Prev());
    it = it == model.begin() ? model.end() : std::prev(it);
  }
}

// The model's SeekForPrev: the last key <= key, or end().
Model::const_iterator ModelSeekForPrev(const Model& model, const std::string& key) {
  auto it = model.upper_bound(key);
  return it == model.begin() ? model.end() : std::prev(it);
}

TEST(TxnOverlayCursorTest, EmptyBaseAndEmptyOverlayIsNeverValid) {
  Scene scene(BtreeOptions{});
  OverlayCursor c = scene.Cursor();
  EXPECT_FALSE(c.Valid());
  EXPECT_EQ(c.Next().code(), EINVAL);
  EXPECT_EQ(c.Prev().code(), EINVAL);
  EXPECT_EQ(c.value().status().code(), EINVAL);
  ASSERT_OK(c.First());
  EXPECT_FALSE(c.Valid());
  ASSERT_OK(c.Last());
  EXPECT_FALSE(c.Valid());
  ASSERT_OK(c.Seek(""));
  EXPECT_FALSE(c.Valid());
  ASSERT_OK(c.SeekForPrev("zzz"));
  EXPECT_FALSE(c.Valid());
  EXPECT_EQ(c.Next().code(), EINVAL);
  EXPECT_FALSE(c.Valid());
}

TEST(TxnOverlayCursorTest, EmptyBaseShowsOnlyPresentOverlayEntries) {
  Scene scene({.slot_length = 4});
  scene.Put("b", "vb");
  scene.Remove("c");
  scene.Put("", "empty key");
  scene.Put("d", std::string(3000, 'd'), /*as_blob=*/true);
  scene.Remove("e");
  ExpectScansMatch(scene, scene.Merged());
  OverlayCursor c = scene.Cursor();
  ASSERT_OK(c.Seek("c"));
  ASSERT_TRUE(c.Valid());
  EXPECT_EQ(c.key(), "d");
  EXPECT_EQ(*c.value(), std::string(3000, 'd'));
  ASSERT_OK(c.SeekForPrev("c"));
  EXPECT_EQ(c.key(), "b");
  ASSERT_OK(c.Seek("e"));
  EXPECT_FALSE(c.Valid());
}

TEST(TxnOverlayCursorTest, EmptyOverlayShowsTheBase) {
  for (int slot_length : {4, 8, 500}) {
    Scene scene({.slot_length = slot_length, .value_blob_threshold = 8});
    for (int i = 0; i < 300; ++i) {
      char key[16];
      std::snprintf(key, sizeof key, "k%04d", i * 7 % 300);
      scene.BaseAdd(key, std::string(i % 20, 'x') + key);
    }
    ExpectScansMatch(scene, scene.Merged());
    OverlayCursor c = scene.Cursor();
    ASSERT_OK(c.Seek("k0150"));
    EXPECT_EQ(c.key(), "k0150");
    ASSERT_OK(c.SeekForPrev("k0150a"));
    EXPECT_EQ(c.key(), "k0150");
  }
}

TEST(TxnOverlayCursorTest, OverlayRemovingEverythingLeavesNothing) {
  Scene scene({.slot_length = 4});
  for (int i = 0; i < 100; ++i) scene.BaseAdd("k" + std::to_string(i), "v");
  for (const auto& [key, value] : scene.base()) scene.Remove(key);
  scene.Remove("a");    // before every base key
  scene.Remove("k5x");  // between base keys
  scene.Remove("z");    // after every base key
  OverlayCursor c = scene.Cursor();
  ASSERT_OK(c.First());
  EXPECT_FALSE(c.Valid());
  ASSERT_OK(c.Last());
  EXPECT_FALSE(c.Valid());
  ASSERT_OK(c.Seek("k5"));
  EXPECT_FALSE(c.Valid());
  ASSERT_OK(c.SeekForPrev("k5"));
  EXPECT_FALSE(c.Valid());

  scene.Put("k5", "back");  // one key back (a new cursor: the overlay changed)
  OverlayCursor d = scene.Cursor();
  ASSERT_OK(d.Last());
  ASSERT_TRUE(d.Valid());
  EXPECT_EQ(d.key(), "k5");
  EXPECT_EQ(*d.value(), "back");
  ASSERT_OK(d.Prev());
  EXPECT_FALSE(d.Valid());
  ASSERT_OK(d.First());
  ASSERT_OK(d.Next());
  EXPECT_FALSE(d.Valid());
}

TEST(TxnOverlayCursorTest, DirectionChangesAroundRemovalsAndShadowedKeys) {
  Scene scene({.slot_length = 4});
  for (const char* key : {"a", "c", "e", "g", "i"}) scene.BaseAdd(key, std::string("base-") + key);
  scene.Put("b", "new-b");        // added
  scene.Remove("c");              // hides a base key
  scene.Put("d", "new-d");        // added
  scene.Put("e", "over-e");       // replaces a base key
  scene.Remove("f");              // removes a key that is not there
  scene.Put("h", "new-h");        // added
  Model merged = scene.Merged();  // a b d e g h i
  ASSERT_EQ(merged.size(), 7u);

  OverlayCursor c = scene.Cursor();
  auto it = merged.cbegin();
  ASSERT_OK(c.First());
  ASSERT_NO_FATAL_FAILURE(ExpectAt(c, merged, it));
  // Zig-zag: every pair of moves turns around once, on overlay and base items alike.
  const std::string moves = "nnpnnnppnnnpnnpppppn";
  for (char move : moves) {
    if (move == 'n') {
      ASSERT_OK(c.Next());
      ++it;
    } else {
      ASSERT_OK(c.Prev());
      it = it == merged.begin() ? merged.end() : std::prev(it);
    }
    SCOPED_TRACE(std::string("after move ") + move);
    ASSERT_NO_FATAL_FAILURE(ExpectAt(c, merged, it));
    if (!c.Valid()) break;
  }
  // Turning on the replaced key "e": the base item "e" must not show up either way.
  ASSERT_OK(c.Seek("e"));
  EXPECT_EQ(*c.value(), "over-e");
  ASSERT_OK(c.Prev());
  EXPECT_EQ(c.key(), "d");
  ASSERT_OK(c.Next());
  EXPECT_EQ(c.key(), "e");
  ASSERT_OK(c.Next());
  EXPECT_EQ(c.key(), "g");
  ASSERT_OK(c.Prev());
  EXPECT_EQ(c.key(), "e");
  EXPECT_EQ(*c.value(), "over-e");
  ASSERT_OK(c.Prev());
  EXPECT_EQ(c.key(), "d");
  // Seeking onto removed keys lands past them.
  ASSERT_OK(c.Seek("c"));
  EXPECT_EQ(c.key(), "d");
  ASSERT_OK(c.SeekForPrev("c"));
  EXPECT_EQ(c.key(), "b");
  ASSERT_OK(c.SeekForPrev("f"));
  EXPECT_EQ(c.key(), "e");
  ASSERT_OK(c.Next());
  EXPECT_EQ(c.key(), "g");
}

TEST(TxnOverlayCursorTest, ReverseComparatorOrdersTheMergedViewDescending) {
  Scene scene({.slot_length = 4, .compare = ReverseCompare});
  for (const char* key : {"a", "b", "c", "d"}) scene.BaseAdd(key, std::string("base-") + key);
  scene.Put("bb", "new-bb");
  scene.Put("c", "over-c");
  scene.Remove("b");
  Model merged = scene.Merged();
  std::vector<std::string> keys;
  for (const auto& [key, value] : merged) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"d", "c", "bb", "a"}));
  ExpectScansMatch(scene, merged);

  OverlayCursor c = scene.Cursor();
  ASSERT_OK(c.Seek("b"));  // first at or after "b" in this order: "b" is removed
  EXPECT_EQ(c.key(), "a");
  ASSERT_OK(c.SeekForPrev("b"));
  EXPECT_EQ(c.key(), "bb");
  ASSERT_OK(c.Prev());
  EXPECT_EQ(c.key(), "c");
  EXPECT_EQ(*c.value(), "over-c");
  ASSERT_OK(c.Next());
  ASSERT_OK(c.Next());
  EXPECT_EQ(c.key(), "a");
  ASSERT_OK(c.Next());
  EXPECT_FALSE(c.Valid());
}

TEST(TxnOverlayCursorTest, ValueBlobsLoadThroughTheBaseStore) {
  Scene scene({.slot_length = 8, .values_in_node = false});
  scene.BaseAdd("a", "base-a");  // in its own blob in the base too
  scene.Put("b", "blob-b", /*as_blob=*/true);
  scene.Put("c", "");  // an empty inline value is still present
  OverlayCursor c = scene.Cursor();
  ASSERT_OK(c.First());
  EXPECT_EQ(*c.value(), "base-a");
  ASSERT_OK(c.Next());
  uint64_t loads = scene.store().counters().value_loads;
  EXPECT_EQ(*c.value(), "blob-b");
  EXPECT_EQ(scene.store().counters().value_loads, loads + 1);
  ASSERT_OK(c.Next());
  EXPECT_EQ(c.key(), "c");
  EXPECT_EQ(*c.value(), "");

  // A missing value blob fails value() and leaves the cursor where it is.
  ASSERT_OK(scene.store().FreeValue(scene.overlay().at("b").value_blob));
  ASSERT_OK(c.Seek("b"));
  EXPECT_EQ(c.value().status().code(), ENOENT);
  ASSERT_TRUE(c.Valid());
  EXPECT_EQ(c.key(), "b");
}

TEST(TxnOverlayCursorTest, BaseErrorsPropagateAndInvalidateTheCursor) {
  Scene scene({.slot_length = 4});
  for (int i = 0; i < 200; ++i) {
    char key[16];
    std::snprintf(key, sizeof key, "k%04d", i);
    scene.BaseAdd(key, "v");
  }
  // Removals all over the tree, so that skipping them has to walk into the bad node.
  for (int i = 0; i < 200; i += 3) {
    char key[16];
    std::snprintf(key, sizeof key, "k%04d", i);
    scene.Remove(key);
  }
  Result<std::shared_ptr<const BtreeNode>> root = scene.store().Load(scene.tree().root());
  ASSERT_TRUE(root.ok());
  ASSERT_FALSE((*root)->leaf());
  LogicalId victim = (*root)->children[(*root)->children.size() / 2];
  ASSERT_OK(scene.store().Corrupt(victim, "not a node"));

  OverlayCursor c = scene.Cursor();
  for (bool forward : {true, false}) {
    Status st = forward ? c.First() : c.Last();
    while (st.ok() && c.Valid()) st = forward ? c.Next() : c.Prev();
    EXPECT_EQ(st.code(), EIO) << st.ToString();
    EXPECT_FALSE(c.Valid());
    EXPECT_EQ(c.Next().code(), EINVAL);
  }
}

// Random keys over a small alphabet (with 0x00 and 0xff, to catch signed compares).
std::string RandomKey(std::mt19937& rng) {
  static const char kAlphabet[] = {'\0', 'a', 'b', '\xff'};
  std::string key(rng() % 6, ' ');
  for (char& ch : key) ch = kAlphabet[rng() % 4];
  return key;
}

std::string RandomValue(std::mt19937& rng, int max_length) {
  std::string value(rng() % (max_length + 1), ' ');
  for (char& ch : value) ch = static_cast<char>('a' + rng() % 26);
  return value;
}

// A key for Seek: often one the base or the overlay holds (removed ones included).
std::string SeekKey(std::mt19937& rng, const Scene& scene) {
  auto nth = [&](const auto& map) {
    auto it = map.begin();
    std::advance(it, rng() % map.size());
    return it->first;
  };
  unsigned pick = rng() % 3;
  if (pick == 0 && !scene.base().empty()) return nth(scene.base());
  if (pick == 1 && !scene.overlay().empty()) return nth(scene.overlay());
  return RandomKey(rng);
}

void FillScene(std::mt19937& rng, Scene& scene) {
  int base_items = rng() % 4 == 0 ? static_cast<int>(rng() % 5) : static_cast<int>(rng() % 400);
  for (int i = 0; i < base_items; ++i) {
    ASSERT_NO_FATAL_FAILURE(scene.BaseAdd(RandomKey(rng), RandomValue(rng, 40)));
  }
  // Some removals from the base, so that the tree has merged and rebalanced too.
  int base_removals = static_cast<int>(scene.base().size() / 4);
  for (int i = 0; i < base_removals; ++i) {
    auto it = scene.base().begin();
    std::advance(it, rng() % scene.base().size());
    std::string key = it->first;
    ASSERT_NO_FATAL_FAILURE(scene.BaseRemove(key));
  }
  int overlay_writes = rng() % 4 == 0 ? static_cast<int>(rng() % 4) : static_cast<int>(rng() % 200);
  for (int i = 0; i < overlay_writes; ++i) {
    std::string key;
    if (rng() % 2 == 0 && !scene.base().empty()) {
      auto it = scene.base().begin();
      std::advance(it, rng() % scene.base().size());
      key = it->first;  // replace or remove an existing key
    } else {
      key = RandomKey(rng);  // add, or remove a key that may not exist
    }
    if (rng() % 5 < 3) {
      ASSERT_NO_FATAL_FAILURE(scene.Put(key, RandomValue(rng, 40), rng() % 3 == 0));
    } else {
      scene.Remove(key);
    }
  }
}

// One random step on both the cursor and the model; checks the status.
void RandomStep(std::mt19937& rng, const Scene& scene, const Model& model, OverlayCursor& c,
                Model::const_iterator& it, std::string* trace) {
  unsigned op = rng() % 20;
  if (op < 14) {
    bool next = op < 7;
    *trace = next ? "Next" : "Prev";
    Status st = next ? c.Next() : c.Prev();
    if (it == model.end()) {
      ASSERT_EQ(st.code(), EINVAL);
      return;
    }
    ASSERT_OK(st);
    if (next) {
      ++it;
    } else {
      it = it == model.begin() ? model.end() : std::prev(it);
    }
    return;
  }
  if (op < 15) {
    *trace = "First";
    ASSERT_OK(c.First());
    it = model.begin();
  } else if (op < 16) {
    *trace = "Last";
    ASSERT_OK(c.Last());
    it = model.empty() ? model.end() : std::prev(model.end());
  } else {
    std::string key = SeekKey(rng, scene);
    bool seek = op < 18;
    *trace = (seek ? "Seek(" : "SeekForPrev(") + testing::PrintToString(key) + ")";
    ASSERT_OK(seek ? c.Seek(key) : c.SeekForPrev(key));
    it = seek ? model.lower_bound(key) : ModelSeekForPrev(model, key);
  }
}

TEST(TxnOverlayCursorTest, RandomizedAgainstMergedModel) {
  const int kSlotLengths[] = {4, 8, 500};
  for (uint32_t seed = 1; seed <= 1000; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    BtreeOptions options{.slot_length = kSlotLengths[seed % 3],
                         .values_in_node = seed % 5 != 0,
                         .value_blob_threshold = 20};
    if (seed % 4 == 3) options.compare = ReverseCompare;
    Scene scene(options);
    ASSERT_NO_FATAL_FAILURE(FillScene(rng, scene));
    const Model model = scene.Merged();
    ASSERT_NO_FATAL_FAILURE(ExpectScansMatch(scene, model));

    OverlayCursor c = scene.Cursor();
    auto it = model.cend();
    for (int step = 0; step < 400; ++step) {
      std::string trace;
      ASSERT_NO_FATAL_FAILURE(RandomStep(rng, scene, model, c, it, &trace));
      SCOPED_TRACE("step " + std::to_string(step) + ": " + trace);
      ASSERT_NO_FATAL_FAILURE(ExpectAt(c, model, it));
    }
  }
}

}  // namespace
}  // namespace sopfs
