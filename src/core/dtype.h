// Element types and bit-exact scalar conversions (f32 <-> bf16, f16, fp8 e4m3fn).
//
// Narrowing rounds to nearest, ties to even, as PyTorch and ml_dtypes do. fp8 e4m3fn has no
// infinity: values beyond its range (after rounding) and infinities become NaN (0x7f / 0xff);
// callers that want saturation clamp to ±448 first (fp8_e4m3_saturate).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace strata {

enum class DType : uint8_t { kF32, kBF16, kF16, kFP8E4M3, kI64, kI32, kI16, kI8, kU8, kU16, kU32, kBool, kF64 };

size_t dtype_size(DType t);
// Safetensors spelling: "F32", "BF16", "F16", "F8_E4M3", "I64", ...
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_safetensors(std::string_view name);

inline float bf16_to_f32(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);
float fp8_e4m3_to_f32(uint8_t v);
uint8_t f32_to_fp8_e4m3(float f);
inline float fp8_e4m3_saturate(float f) { return f > 448.f ? 448.f : (f < -448.f ? -448.f : f); }

// Widens n elements of type t at src to f32.
void convert_to_f32(DType t, const void* src, float* dst, size_t n);
// Narrows n f32 values into type t at dst.
void convert_from_f32(DType t, const float* src, void* dst, size_t n);

}  // namespace strata
