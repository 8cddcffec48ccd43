// The B-Tree against a std::map model: long randomized runs across slot lengths and
// value placements, with reopens, seeks, cursor walks and structural checks.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "engine/btree/btree.h"
#include "engine/btree/btree_cursor.h"
#include "engine/btree/memory_node_store.h"
#include "tests/engine/btree_test_util.h"

namespace sopfs {
namespace {

// (slot length, values in node)
class BtreeModelTest : public ::testing::TestWithParam<std::tuple<int, bool>> {};

// 20,000 random operations on a small key space (collisions and empties happen), in
// phases that grow and shrink the tree; every 400 the scans, seeks, cursor walks and
// structure are checked against the model; every 2,500 the tree is reopened.
TEST_P(BtreeModelTest, RandomOperationsMatchStdMapAcrossReopens) {
  const auto [slot_length, values_in_node] = GetParam();
  const BtreeOptions options{.slot_length = slot_length, .values_in_node = values_in_node};
  std::mt19937_64 rng(1000 + slot_length * 2 + values_in_node);
  auto pick = [&rng](size_t n) { return static_cast<size_t>(rng() % n); };
  // Bytes that sort differently signed and unsigned are included.
  static constexpr char kAlphabet[] = {0, 1, 'a', 'b', 'c', 'z', 0x7f, -0x80, -1};
  std::vector<std::string> keys;
  for (std::set<std::string> seen; seen.size() < 1500;) {
    std::string k(pick(9), '\0');
    for (char& ch : k) ch = kAlphabet[pick(sizeof kAlphabet)];
    if (seen.insert(k).second) keys.push_back(k);
  }
  auto random_value = [&]() {
    std::string v(pick(100) < 3 ? 1500 + pick(1500) : pick(24), 'v');
    for (size_t i = 0; i < v.size(); i += 7) v[i] = static_cast<char>(rng());
    return v;
  };

  MemoryNodeStore store;
  LogicalId root = *Btree::Create(&store, options);
  auto tree = std::make_unique<Btree>(&store, root, options);
  Model model;
  bool grow = false;
  for (int op = 0; op < 20000; ++op) {
    if (op % 3000 == 0) grow = !grow;
    const std::string& key = keys[pick(keys.size())];
    const bool present = model.count(key) > 0;
    const std::string value = random_value();
    const size_t r = pick(100), writes = grow ? 70 : 25;
    if (r < writes) {
      switch (pick(3)) {
        case 0:
          EXPECT_EQ(tree->Add(key, value).code(), present ? EEXIST : 0);
          if (!present) model[key] = value;
          break;
        case 1: {
          Result<bool> added = tree->AddIfNotExist(key, value);
          ASSERT_TRUE(added.ok()) << added.status().ToString();
          EXPECT_EQ(*added, !present);
          if (!present) model[key] = value;
          break;
        }
        default:
          ASSERT_OK(tree->Upsert(key, value));
          model[key] = value;
      }
    } else if (r < writes + 10) {
      EXPECT_EQ(tree->Update(key, value).code(), present ? 0 : ENOENT);
      if (present) model[key] = value;
    } else if (r < 95) {
      EXPECT_EQ(tree->Remove(key).code(), present ? 0 : ENOENT);
      model.erase(key);
    } else {
      Result<std::string> found = tree->Find(key);
      ASSERT_EQ(found.status().code(), present ? 0 : ENOENT);
      if (present) {
        EXPECT_EQ(*found, model[key]);
      }
    }
    ASSERT_FALSE(HasFailure()) << "op " << op;
    if (op % 2500 == 2499) tree = std::make_unique<Btree>(&store, root, options);
    if (op % 400 != 399) continue;

    SCOPED_TRACE("after op " + std::to_string(op));
    ASSERT_NO_FATAL_FAILURE(ExpectSound(store, root, options, model.size()));
    ASSERT_NO_FATAL_FAILURE(ExpectScansMatch(*tree, model));
    BtreeCursor c(tree.get());
    for (int s = 0; s < 30; ++s) {
      std::string probe = keys[pick(keys.size())] + (pick(2) ? "" : "\x01");
      ASSERT_OK(c.SeekForPrev(probe));
      auto ub = model.upper_bound(probe);
      ASSERT_NO_FATAL_FAILURE(
          ExpectAt(c, model, ub == model.begin() ? model.end() : std::prev(ub)));
      ASSERT_OK(c.Seek(probe));
      auto it = model.lower_bound(probe);
      ASSERT_NO_FATAL_FAILURE(ExpectAt(c, model, it));
      for (int step = 0; step < 8 && c.Valid(); ++step) {  // a random walk from there
        if (pick(2)) {
          ASSERT_OK(c.Next());
          ++it;
        } else if (it == model.begin()) {
          ASSERT_OK(c.Prev());  // before the first item: the cursor leaves the tree
          ASSERT_FALSE(c.Valid());
          break;
        } else {
          ASSERT_OK(c.Prev());
          --it;
        }
        ASSERT_NO_FATAL_FAILURE(ExpectAt(c, model, it));
      }
    }
  }
  ASSERT_GT(store.counters().frees, 0u);  // merges and root shrinks happened
}

INSTANTIATE_TEST_SUITE_P(SlotLengthsAndValuePlacements, BtreeModelTest,
                         ::testing::Combine(::testing::Values(4, 5, 7, 16, 100, 500),
                                            ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<int, bool>>& info) {
                           return "Slots" + std::to_string(std::get<0>(info.param)) +
                                  (std::get<1>(info.param) ? "ValuesInNode" : "ValuesInBlobs");
                         });

}  // namespace
}  // namespace sopfs
