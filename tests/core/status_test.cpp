#include <gtest/gtest.h>

#include "core/status.h"
#include "core/tensor.h"

namespace strata {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return make_error("value {} is not positive", v);
  return v;
}

Result<int> doubled(int v) {
  STRATA_TRY(int x, parse_positive(v));
  return 2 * x;
}

TEST(Status, ResultCarriesValueOrError) {
  auto a = doubled(4);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, 8);
  auto b = doubled(-1);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().message(), "value -1 is not positive");
  EXPECT_EQ(b.error().with_context("config.json").message(), "config.json: value -1 is not positive");
}

TEST(Tensor, HostAllocationIsAlignedAndZeroed) {
  Tensor t = Tensor::host(DType::kF32, {3, 5});
  EXPECT_EQ(t.numel(), 15);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data<float>()) % 64, 0u);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(t.data<float>()[i], 0.0f);
  EXPECT_EQ(shape_str(t.shape()), "[3, 5]");
  Tensor copy = t;  // shares storage
  copy.data<float>()[2] = 7;
  EXPECT_EQ(t.data<float>()[2], 7);
}

TEST(StatusDeathTest, CheckAbortsWithFileAndLine) {
  EXPECT_DEATH(STRATA_CHECK(1 == 2, "broken {}", 42), "status_test.cpp:[0-9]+: check failed: 1 == 2 broken 42");
}

}  // namespace
}  // namespace strata
