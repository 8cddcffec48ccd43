// ErasureCodec on raw buffers: any k of k+m shards rebuild the others exactly.
#include "engine/blob/erasure_codec.h"

#include <gtest/gtest.h>

#include "tests/engine/blob_test_util.h"

namespace sopfs {
namespace {

using testing::PatternBytes;
using testing::SubsetsUpTo;

class ErasureCodecTest : public ::testing::TestWithParam<ErasureLayout> {};

TEST_P(ErasureCodecTest, ErasureRebuildsEveryLossOfUpToMShardsExactly) {
  const ErasureLayout layout = GetParam();
  const int n = layout.total();
  const size_t len = 4099;  // odd on purpose: ISA-L must not need aligned lengths
  ErasureCodec codec(layout);
  std::vector<std::vector<uint8_t>> original(n);
  for (int i = 0; i < layout.k; ++i) original[i] = PatternBytes(len, 100 + i);
  for (int i = layout.k; i < n; ++i) original[i].assign(len, 0);
  std::vector<const uint8_t*> data;
  std::vector<uint8_t*> parity;
  for (int i = 0; i < layout.k; ++i) data.push_back(original[i].data());
  for (int i = layout.k; i < n; ++i) parity.push_back(original[i].data());
  codec.Encode(len, data.data(), parity.data());

  for (uint32_t lost : SubsetsUpTo(n, layout.m)) {
    auto shards = original;
    std::vector<uint8_t> present(n), rebuild(n);
    std::vector<uint8_t*> ptrs(n);
    for (int i = 0; i < n; ++i) {
      const bool gone = lost & (1u << i);
      if (gone) std::fill(shards[i].begin(), shards[i].end(), 0xEE);
      present[i] = !gone;
      rebuild[i] = gone;
      ptrs[i] = shards[i].data();
    }
    ASSERT_TRUE(codec.Rebuild(len, ptrs, present, rebuild).ok());
    for (int i = 0; i < n; ++i) ASSERT_EQ(shards[i], original[i]) << "lost mask " << lost;
  }
}

TEST_P(ErasureCodecTest, ErasureRebuildWithFewerThanKShardsFailsWithEio) {
  const ErasureLayout layout = GetParam();
  const int n = layout.total();
  ErasureCodec codec(layout);
  std::vector<std::vector<uint8_t>> shards(n, std::vector<uint8_t>(64, 1));
  std::vector<uint8_t*> ptrs(n);
  std::vector<uint8_t> present(n, 0), rebuild(n, 0);
  for (int i = 0; i < n; ++i) ptrs[i] = shards[i].data();
  for (int i = 0; i < layout.k - 1; ++i) present[i] = 1;
  rebuild[layout.k - 1] = 1;
  Status st = codec.Rebuild(64, ptrs, present, rebuild);
  EXPECT_EQ(st.code(), EIO);
}

INSTANTIATE_TEST_SUITE_P(Layouts, ErasureCodecTest,
                         ::testing::Values(ErasureLayout{1, 0}, ErasureLayout{1, 2},
                                           ErasureLayout{2, 1}, ErasureLayout{4, 2},
                                           ErasureLayout{8, 3}, ErasureLayout{10, 4}),
                         [](const auto& info) {
                           return std::to_string(info.param.k) + "p" + std::to_string(info.param.m);
                         });

}  // namespace
}  // namespace sopfs
