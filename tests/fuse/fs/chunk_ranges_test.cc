// ChunkRanges against a std::set model: random adds and removes of runs, with the
// counts each call returns and Missing over random runs.
#include "fuse/fs/chunk_ranges.h"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace sopfs {
namespace {

TEST(ChunkRangesTest, RandomAddsAndRemovesMatchASetOfIndexes) {
  std::mt19937_64 rng(7);
  ChunkRanges ranges;
  std::set<uint64_t> model;
  auto count_missing = [&](uint64_t a, uint64_t b) {
    uint64_t n = 0;
    for (uint64_t i = a; i < b; ++i) n += model.count(i) == 0;
    return n;
  };
  for (int op = 0; op < 5000; ++op) {
    const uint64_t a = rng() % 200, b = a + rng() % 30;
    switch (rng() % 3) {
      case 0: {
        const uint64_t want = count_missing(a, b);
        for (uint64_t i = a; i < b; ++i) model.insert(i);
        ASSERT_EQ(ranges.Add(a, b), want) << "op " << op;
        break;
      }
      case 1: {
        const uint64_t want = (b - a) - count_missing(a, b);
        for (uint64_t i = a; i < b; ++i) model.erase(i);
        ASSERT_EQ(ranges.Remove(a, b), want) << "op " << op;
        break;
      }
      default:
        ASSERT_EQ(ranges.Missing(a, b), count_missing(a, b)) << "op " << op;
    }
    ASSERT_EQ(ranges.size(), model.size()) << "op " << op;
  }
  EXPECT_EQ(ranges.Remove(0, UINT64_MAX), model.size());
  EXPECT_TRUE(ranges.empty());
  // A terabyte of 1 MiB chunks is one run.
  EXPECT_EQ(ranges.Add(0, uint64_t{1} << 20), uint64_t{1} << 20);
  EXPECT_EQ(ranges.Missing(5, 10), 0u);
}

}  // namespace
}  // namespace sopfs
