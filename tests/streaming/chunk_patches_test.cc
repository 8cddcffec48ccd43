// ChunkPatches against a model chunk: ranges put anywhere (inside, over, touching and
// apart from earlier ones) read back exactly through Overlay and Take, and the cost
// counts exactly the bytes held plus the per-range overhead.
#include "streaming/chunk_patches.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace sopfs {
namespace {

constexpr size_t kChunk = 512;

TEST(ChunkPatchesTest, StreamingPatchesMatchAModelChunkAndCountTheirCost) {
  std::mt19937 rng(3);
  for (int round = 0; round < 200; ++round) {
    ChunkPatches patches;
    std::string model(kChunk, '.');  // '.': never written
    for (int op = 0; op < 1 + static_cast<int>(rng() % 12); ++op) {
      const size_t at = rng() % kChunk;
      std::string data(1 + rng() % std::min<size_t>(80, kChunk - at), 'a' + op);
      patches.Put(7, at, {reinterpret_cast<const uint8_t*>(data.data()), data.size()});
      model.replace(at, data.size(), data);
    }
    // Cost: written bytes plus one overhead per maximal run of written bytes.
    size_t bytes = 0, runs = 0;
    for (size_t i = 0; i < kChunk; ++i) {
      bytes += model[i] != '.';
      runs += model[i] != '.' && (i == 0 || model[i - 1] == '.');
    }
    EXPECT_EQ(patches.cost(), bytes + runs * ChunkPatches::kRangeCost);
    // Overlay of any window over a chunk of '.' gives the model's window.
    const size_t from = rng() % kChunk;
    std::string window(rng() % (kChunk - from + 1), '.');
    patches.Overlay(7, from, {reinterpret_cast<uint8_t*>(window.data()), window.size()});
    EXPECT_EQ(window, model.substr(from, window.size()));
    patches.Overlay(8, 0, {reinterpret_cast<uint8_t*>(window.data()), window.size()});
    EXPECT_EQ(window, model.substr(from, window.size())) << "chunk 8 has no patches";
    // Take over a stored chunk shorter than the patches: grown, zeros where unwritten.
    std::string stored(kChunk / 4, '.');
    patches.Take(7, stored);
    std::string want = model.substr(0, std::max(stored.size(), model.find_last_not_of('.') + 1));
    for (size_t i = kChunk / 4; i < want.size(); ++i) {
      if (want[i] == '.') want[i] = '\0';
    }
    EXPECT_EQ(stored, want);
    EXPECT_TRUE(patches.empty());
    EXPECT_EQ(patches.cost(), 0u);
  }
}

TEST(ChunkPatchesTest, StreamingHeaviestFirstAndForget) {
  ChunkPatches patches;
  const std::vector<uint8_t> small(10, 1), big(100, 2);
  patches.Put(3, 0, small);
  patches.Put(9, 50, big);
  patches.Put(5, 0, small);
  EXPECT_EQ(patches.Heaviest(), 9u);
  EXPECT_EQ(patches.First(), 3u);
  patches.Forget(9);
  EXPECT_EQ(patches.cost(), 2 * (10 + ChunkPatches::kRangeCost));
  EXPECT_FALSE(patches.Has(9));
  EXPECT_TRUE(patches.Has(5));
}

}  // namespace
}  // namespace sopfs
