// Rope tables: each scaling against its defining formula at chosen frequencies.
#include <gtest/gtest.h>

#include <cmath>

#include "model/layers/rope.h"

namespace strata {
namespace {

TEST(Rope, DefaultAndLinear) {
  RopeScaling none;
  auto f = compute_rope_frequencies(10000.0, 8, none, 2048);
  ASSERT_EQ(f.inv_freq.size(), 4u);
  EXPECT_NEAR(f.inv_freq[0], 1.0, 1e-7);
  EXPECT_NEAR(f.inv_freq[1], std::pow(10000.0, -0.25), 1e-7);
  RopeScaling lin;
  lin.type = RopeScaling::Type::kLinear;
  lin.factor = 4;
  auto g = compute_rope_frequencies(10000.0, 8, lin, 2048);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(g.inv_freq[i], f.inv_freq[i] / 4, 1e-9);
  Tensor t = build_cos_sin_table(f, 3);
  EXPECT_FLOAT_EQ(t.data<float>()[2 * 8 + 0], std::cos(2.0f));
  EXPECT_FLOAT_EQ(t.data<float>()[2 * 8 + 4], std::sin(2.0f));
}

TEST(Rope, Llama3KeepsHighAndDividesLowFrequencies) {
  RopeScaling s;
  s.type = RopeScaling::Type::kLlama3;
  s.factor = 8;
  s.low_freq_factor = 1;
  s.high_freq_factor = 4;
  s.original_max_position_embeddings = 8192;
  RopeScaling none;
  auto base = compute_rope_frequencies(500000.0, 128, none, 131072);
  auto f = compute_rope_frequencies(500000.0, 128, s, 131072);
  int kept = 0, divided = 0, smoothed = 0;
  for (size_t i = 0; i < f.inv_freq.size(); ++i) {
    double wavelen = 2 * M_PI / base.inv_freq[i];
    if (wavelen < 8192.0 / 4) {
      EXPECT_EQ(f.inv_freq[i], base.inv_freq[i]);
      ++kept;
    } else if (wavelen > 8192.0) {
      EXPECT_NEAR(f.inv_freq[i], base.inv_freq[i] / 8, 1e-12);
      ++divided;
    } else {
      EXPECT_TRUE(f.inv_freq[i] < base.inv_freq[i] && f.inv_freq[i] > base.inv_freq[i] / 8);
      ++smoothed;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(divided, 0);
  EXPECT_GT(smoothed, 0);
}

TEST(Rope, YarnRampsAndScalesAttention) {
  RopeScaling s;
  s.type = RopeScaling::Type::kYarn;
  s.factor = 4;
  s.original_max_position_embeddings = 32768;
  RopeScaling none;
  auto base = compute_rope_frequencies(1e6, 64, none, 131072);
  auto f = compute_rope_frequencies(1e6, 64, s, 131072);
  EXPECT_NEAR(f.attention_factor, 0.1 * std::log(4.0) + 1.0, 1e-12);
  EXPECT_EQ(f.inv_freq[0], base.inv_freq[0]);                           // fastest: extrapolated
  EXPECT_NEAR(f.inv_freq.back(), base.inv_freq.back() / 4, 1e-15);     // slowest: interpolated
}

TEST(Rope, DynamicRaisesTheBase) {
  RopeScaling s;
  s.type = RopeScaling::Type::kDynamic;
  s.factor = 2;
  RopeScaling none;
  auto base = compute_rope_frequencies(10000.0, 64, none, 4096);
  auto f = compute_rope_frequencies(10000.0, 64, s, 4096);
  EXPECT_EQ(f.inv_freq[0], base.inv_freq[0]);
  // base' = base * (2 * 2 - 1)^(64/62)
  EXPECT_NEAR(f.inv_freq[1], std::pow(10000.0 * std::pow(3.0, 64.0 / 62.0), -2.0 / 64), 1e-6);
}

}  // namespace
}  // namespace strata
