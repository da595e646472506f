// Backend::sample_rows on the CPU backend (the GPU kernel is checked against it in tests/gpu): the
// Gumbel-max draw follows softmax(logits / t), depends only on (logits, seed), and t = 0 is argmax.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "backend/backend.h"
#include "core/gumbel.h"

namespace strata {
namespace {

std::vector<int32_t> draw(Backend& b, const std::vector<float>& row, float t, int64_t first_seed, int n) {
  const int64_t v = static_cast<int64_t>(row.size());
  std::vector<float> logits, temps(n, t);
  std::vector<int64_t> seeds(n);
  for (int i = 0; i < n; ++i) {
    logits.insert(logits.end(), row.begin(), row.end());
    seeds[i] = first_seed + i * 7919;
  }
  std::vector<int32_t> ids(n);
  b.sample_rows({logits.data(), DType::kF32, {n, v}}, {temps.data(), DType::kF32, {n}},
                {seeds.data(), DType::kI64, {n}}, {ids.data(), DType::kI32, {n}});
  return ids;
}

TEST(DeviceSampling, FrequenciesFollowSoftmaxAtTemperature) {
  auto b = create_cpu_backend();
  const std::vector<float> row = {1.0f, 2.0f, 0.5f, -1.0f, 2.0f, -INFINITY};
  for (float t : {1.0f, 0.5f, 2.0f}) {
    const int n = 40000;
    auto ids = draw(*b, row, t, 12345, n);
    std::vector<double> p(row.size()), count(row.size());
    double z = 0;
    for (size_t j = 0; j < row.size(); ++j) z += p[j] = std::exp(row[j] / t);
    for (int32_t id : ids) count[id] += 1;
    for (size_t j = 0; j < row.size(); ++j) {
      const double expect = p[j] / z, got = count[j] / n;
      // 5 standard deviations of a binomial proportion.
      EXPECT_NEAR(got, expect, 5 * std::sqrt(expect * (1 - expect) / n) + 1e-9) << "t=" << t << " token " << j;
    }
  }
}

TEST(DeviceSampling, SameSeedSameTokenAndZeroTemperatureIsArgmax) {
  auto b = create_cpu_backend();
  const std::vector<float> row = {0.1f, 0.3f, 0.2f, 0.3f, -2.0f};
  EXPECT_EQ(draw(*b, row, 1.0f, 99, 64), draw(*b, row, 1.0f, 99, 64));
  EXPECT_NE(draw(*b, row, 1.0f, 99, 64), draw(*b, row, 1.0f, 100, 64));
  for (int32_t id : draw(*b, row, 0.0f, 5, 16)) EXPECT_EQ(id, 1);  // ties: the lower index
}

TEST(DeviceSampling, GumbelNoiseIsFiniteForEveryBitPattern) {
  // The extremes of u: all ones (u just below 1, where a rounding to 1 would give +inf) and zero.
  for (uint64_t bits : {~0ull, 0ull, 1ull << 63, (1ull << 63) - 1}) EXPECT_TRUE(std::isfinite(gumbel_from_bits(bits)));
}

}  // namespace
}  // namespace strata
