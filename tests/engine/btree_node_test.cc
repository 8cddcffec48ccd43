// BtreeNode: the node codec (round trips, the exact place of item versions, strict
// decoding of every truncation and of fuzzed bytes) and its memory accounting.
#include "engine/btree/btree_node.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace sopfs {
namespace {

BtreeNode SampleNode(bool internal) {
  BtreeNode node;
  node.id = 300;
  node.items = {{"", "empty key", 0, 0},
                {"a", "", 0, 1},
                {std::string("b\0c", 3), "", 1ull << 40, ~0ull},
                {"zz", std::string(200, 'v'), 0, 300}};
  if (internal) node.children = {7, 1ull << 33, 9, ~0ull, 128};
  return node;
}

TEST(BtreeNodeTest, EncodeDecodeRoundTripsLeafAndInternalNodes) {
  for (bool internal : {false, true}) {
    BtreeNode node = SampleNode(internal);
    Result<BtreeNode> back = BtreeNode::Decode(node.Encode(), node.id);
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, node);
  }
  BtreeNode empty;
  empty.id = 1;
  EXPECT_TRUE(BtreeNode::Decode(empty.Encode(), 1).ok());
}

// The version is a varint right after the key bytes, before the value blob ID.
TEST(BtreeNodeTest, EncodeWritesTheItemVersionAfterTheKey) {
  BtreeNode node;
  node.id = 5;
  node.items = {{"k", "v", 0, 300}, {"b", "", 9, 0}};
  // Header; "k": key, version 300, no blob, value "v"; "b": key, version 0, blob 9.
  std::string expected("SOPN\x01\x00\x05\x02\x01k\xac\x02\x00\x01v\x01", 16);
  expected += std::string("b\x00\x09", 3);
  EXPECT_EQ(node.Encode(), expected);
  Result<BtreeNode> back = BtreeNode::Decode(node.Encode(), 5);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->items[0].version, 300u);
  EXPECT_EQ(*back, node);
}

TEST(BtreeNodeTest, BtreeNodeMemoryUsageCountsItemsAndHeapStrings) {
  BtreeNode small;
  small.id = 1;
  BtreeNode big = small;
  for (int i = 0; i < 500; ++i) {
    big.items.push_back({"key" + std::to_string(100000 + i), std::string(32, 'v'), 0, 1});
  }
  EXPECT_GE(big.MemoryUsage(), small.MemoryUsage() + 500 * (sizeof(BtreeItem) + 48));
  EXPECT_GT(big.MemoryUsage(), big.Encode().size() * 2);  // more than its encoding
}

TEST(BtreeNodeTest, DecodeRejectsEveryTruncationAndAnotherNodesId) {
  for (bool internal : {false, true}) {
    std::string bytes = SampleNode(internal).Encode();
    for (size_t n = 0; n < bytes.size(); ++n) {
      Result<BtreeNode> r = BtreeNode::Decode(std::string_view(bytes).substr(0, n), 300);
      ASSERT_FALSE(r.ok()) << "prefix of " << n << " bytes";
      EXPECT_EQ(r.status().code(), EIO);
    }
    EXPECT_EQ(BtreeNode::Decode(bytes + "x", 300).status().code(), EIO);
    EXPECT_EQ(BtreeNode::Decode(bytes, 301).status().code(), EIO);
  }
}

// Random bytes, bit flips and byte changes: Decode never crashes or overreads (ASan
// watches), fails only with EIO, and accepts only what Encode would write.
TEST(BtreeNodeTest, DecodeFuzzNeverCrashesAndAcceptsOnlyCanonicalBytes) {
  std::mt19937_64 rng(42);
  auto check = [](const std::string& bytes) {
    Result<BtreeNode> r = BtreeNode::Decode(bytes, 300);
    if (r.ok()) {
      EXPECT_EQ(r->Encode(), bytes);
    } else {
      EXPECT_EQ(r.status().code(), EIO);
    }
  };
  std::string valid[] = {SampleNode(false).Encode(), SampleNode(true).Encode()};
  int accepted = 0;
  for (const std::string& bytes : valid) {
    for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
      std::string flipped = bytes;
      flipped[bit / 8] ^= static_cast<char>(1 << (bit % 8));
      check(flipped);
      accepted += BtreeNode::Decode(flipped, 300).ok();
    }
  }
  EXPECT_GT(accepted, 0);  // flips inside key and value bytes stay valid
  for (int i = 0; i < 20000; ++i) {
    std::string bytes = valid[i % 2];
    if (i % 3 == 0) bytes.resize(rng() % (bytes.size() + 1));
    for (int k = 0, n = 1 + rng() % 4; k < n; ++k) {
      if (!bytes.empty()) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    }
    check(bytes);
    std::string noise(rng() % 64, '\0');
    for (char& ch : noise) ch = static_cast<char>(rng());
    check(i % 2 ? "SOPN\x01" + noise : noise);
  }
}

}  // namespace
}  // namespace sopfs
