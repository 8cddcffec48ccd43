// NodeSegment: many nodes in one blob; strict decoding.
#include "engine/txn/node_segment.h"

#include <gtest/gtest.h>

namespace sopfs {
namespace {

TEST(TxnNodeSegmentTest, RoundTripsAndRejectsEveryTruncationAndMisplacedSlot) {
  const std::string a = "first node", b(3000, 'b'), c;
  const std::string blob = NodeSegment::Encode({{7, a}, {9, b}, {11, c}});
  auto slots = NodeSegment::Decode(blob);
  ASSERT_TRUE(slots.ok()) << slots.status().ToString();
  ASSERT_EQ(slots->size(), 3u);
  EXPECT_EQ((*slots)[0].id, 7u);
  EXPECT_EQ((*slots)[0].bytes, a);
  EXPECT_EQ((*slots)[1].bytes, b);
  EXPECT_EQ((*slots)[2].id, 11u);
  EXPECT_TRUE((*slots)[2].bytes.empty());
  for (size_t len = 0; len < blob.size(); ++len) {
    EXPECT_EQ(NodeSegment::Decode(std::string_view(blob).substr(0, len)).status().code(), EIO)
        << len;
  }
  EXPECT_EQ(NodeSegment::Decode(blob + "x").status().code(), EIO);
  std::string moved = blob;
  moved[8 + 16 + 8] ^= 1;  // the second slot's offset
  EXPECT_EQ(NodeSegment::Decode(moved).status().code(), EIO);
  std::string huge = blob;
  huge[4] = '\xff';  // node count
  EXPECT_EQ(NodeSegment::Decode(huge).status().code(), EIO);
  EXPECT_TRUE(NodeSegment::Decode(NodeSegment::Encode({})).ok());
}

}  // namespace
}  // namespace sopfs
