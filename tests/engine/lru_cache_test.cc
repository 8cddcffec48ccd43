// LruCache: the byte bound holds, the least recently used entry goes first, held values
// outlive eviction, and concurrent use keeps the accounting exact. (Names contain Btree:
// this is the B-Tree node and value cache.)
#include "engine/cache/lru_cache.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace sopfs {
namespace {

using Cache = LruCache<uint64_t, std::string>;

std::shared_ptr<const std::string> Value(const std::string& s) {
  return std::make_shared<const std::string>(s);
}

TEST(BtreeCacheTest, BtreeCacheEvictsLeastRecentlyUsedWithinTheByteBound) {
  Cache cache(300);
  cache.Insert(1, Value("a"), 100);
  cache.Insert(2, Value("b"), 100);
  cache.Insert(3, Value("c"), 100);
  ASSERT_NE(cache.Lookup(1), nullptr);  // 1 becomes the most recent: 2 is coldest
  cache.Insert(4, Value("d"), 100);
  EXPECT_EQ(cache.Lookup(2), nullptr);
  EXPECT_EQ(*cache.Lookup(1), "a");
  EXPECT_EQ(*cache.Lookup(3), "c");
  EXPECT_EQ(*cache.Lookup(4), "d");
  CacheStats stats = cache.Stats();
  EXPECT_EQ(stats.entries, 3u);
  EXPECT_EQ(stats.charge, 300u);
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_EQ(stats.misses, 1u);
  // One big entry pushes out as many as it needs.
  cache.Insert(5, Value("e"), 250);
  stats = cache.Stats();
  EXPECT_LE(stats.charge, 300u);
  EXPECT_EQ(*cache.Lookup(5), "e");
}

TEST(BtreeCacheTest, BtreeCacheReplacingAKeyRechargesItAndOversizeEntriesAreNotKept) {
  Cache cache(100);
  cache.Insert(1, Value("small"), 10);
  cache.Insert(1, Value("bigger"), 60);
  EXPECT_EQ(*cache.Lookup(1), "bigger");
  EXPECT_EQ(cache.Stats().charge, 60u);
  cache.Insert(2, Value("huge"), 101);
  EXPECT_EQ(cache.Lookup(2), nullptr);
  EXPECT_EQ(cache.Stats().charge, 60u);
  cache.Erase(1);
  EXPECT_EQ(cache.Stats().charge, 0u);
  EXPECT_EQ(cache.Stats().entries, 0u);
}

TEST(BtreeCacheTest, BtreeCacheValueHeldByAReaderOutlivesItsEviction) {
  Cache cache(10);
  cache.Insert(1, Value("node one"), 10);
  auto held = cache.Lookup(1);
  cache.Insert(2, Value("node two"), 10);  // evicts 1
  EXPECT_EQ(cache.Lookup(1), nullptr);
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(*held, "node one");
}

TEST(BtreeCacheTest, BtreeCacheStaysWithinItsBoundUnderConcurrentUse) {
  Cache cache(64 * 100);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t i = 0; i < 5000; ++i) {
        const uint64_t key = (i * 7 + t) % 500;
        if (auto v = cache.Lookup(key)) {
          EXPECT_EQ(*v, std::to_string(key));
        } else {
          cache.Insert(key, Value(std::to_string(key)), 100);
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  const CacheStats stats = cache.Stats();
  EXPECT_LE(stats.charge, cache.capacity());
  EXPECT_EQ(stats.charge, stats.entries * 100);
  EXPECT_EQ(stats.hits + stats.misses, 8u * 5000u);
}

}  // namespace
}  // namespace sopfs
