// dtype conversions, bit-exact against the ml_dtypes reference table
// (tests/fixtures/dtype_table.safetensors, made by tools/make_dtype_table.py).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "core/dtype.h"
#include "testutil.h"
#include "weights/safetensors.h"

namespace strata {
namespace {

class DtypeTable : public ::testing::Test {
 protected:
  void SetUp() override {
    auto f = SafetensorsFile::open(test::fixtures_dir() + "/dtype_table.safetensors");
    ASSERT_TRUE(f.ok()) << f.error().message();
    table_ = std::move(f).value();
  }
  std::unique_ptr<SafetensorsFile> table_;
};

bool same_float(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b);
}

TEST_F(DtypeTable, WidenEveryBitPattern) {
  auto bf16 = table_->view("bf16_to_f32"), f16 = table_->view("f16_to_f32"), fp8 = table_->view("fp8e4m3_to_f32");
  ASSERT_EQ(bf16.numel(), 65536);
  ASSERT_EQ(fp8.numel(), 256);
  int bad = 0;
  for (uint32_t b = 0; b < 65536; ++b) {
    bad += !same_float(bf16_to_f32(static_cast<uint16_t>(b)), bf16.as<float>()[b]);
    bad += !same_float(f16_to_f32(static_cast<uint16_t>(b)), f16.as<float>()[b]);
  }
  for (uint32_t b = 0; b < 256; ++b) bad += !same_float(fp8_e4m3_to_f32(static_cast<uint8_t>(b)), fp8.as<float>()[b]);
  EXPECT_EQ(bad, 0);
}

TEST_F(DtypeTable, NarrowRoundsToNearestEven) {
  auto x = table_->view("f32_inputs");
  auto bf16 = table_->view("f32_to_bf16"), f16 = table_->view("f32_to_f16"), fp8 = table_->view("f32_to_fp8e4m3");
  const int64_t n = x.numel();
  ASSERT_GT(n, 50000);
  int64_t bad_bf16 = 0, bad_f16 = 0, bad_fp8 = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x.as<float>()[i];
    if (std::isnan(v)) {  // NaN payloads differ between libraries; NaN-ness must not
      EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(v))));
      EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(v))));
      EXPECT_TRUE(std::isnan(fp8_e4m3_to_f32(f32_to_fp8_e4m3(v))));
      continue;
    }
    bad_bf16 += f32_to_bf16(v) != bf16.as<uint16_t>()[i];
    bad_f16 += f32_to_f16(v) != f16.as<uint16_t>()[i];
    bad_fp8 += f32_to_fp8_e4m3(v) != fp8.as<uint8_t>()[i];
    if (bad_fp8 == 1 && f32_to_fp8_e4m3(v) != fp8.as<uint8_t>()[i]) {
      ADD_FAILURE() << "fp8 of " << v << ": got " << int(f32_to_fp8_e4m3(v)) << " want " << int(fp8.as<uint8_t>()[i]);
    }
  }
  EXPECT_EQ(bad_bf16, 0);
  EXPECT_EQ(bad_f16, 0);
  EXPECT_EQ(bad_fp8, 0);
}

TEST(Dtype, Fp8SpecialValues) {
  EXPECT_EQ(f32_to_fp8_e4m3(448.0f), 0x7e);
  EXPECT_EQ(f32_to_fp8_e4m3(-448.0f), 0xfe);
  EXPECT_EQ(f32_to_fp8_e4m3(500.0f), 0x7f);  // no infinity in e4m3fn: NaN
  EXPECT_EQ(f32_to_fp8_e4m3(fp8_e4m3_saturate(500.0f)), 0x7e);
  EXPECT_EQ(fp8_e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_f32(0xff)));
}

TEST(Dtype, SafetensorsNames) {
  EXPECT_EQ(dtype_from_safetensors("BF16"), DType::kBF16);
  EXPECT_EQ(dtype_from_safetensors("F8_E4M3"), DType::kFP8E4M3);
  EXPECT_FALSE(dtype_from_safetensors("Q4_K").has_value());
  EXPECT_EQ(dtype_size(DType::kF16), 2u);
}

TEST(Dtype, ConvertArrays) {
  float src[4] = {1.5f, -2.25f, 65504.0f, 1e-8f};
  uint16_t h[4];
  float back[4];
  convert_from_f32(DType::kF16, src, h, 4);
  convert_to_f32(DType::kF16, h, back, 4);
  EXPECT_EQ(back[0], 1.5f);
  EXPECT_EQ(back[1], -2.25f);
  EXPECT_EQ(back[2], 65504.0f);
  EXPECT_EQ(back[3], 0.0f);  // below half the smallest f16 subnormal
}

}  // namespace
}  // namespace strata
