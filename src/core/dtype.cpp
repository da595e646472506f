#include "core/dtype.h"

#include <cmath>
#include <cstring>

#include "core/status.h"

namespace strata {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kF64: case DType::kI64: return 8;
    case DType::kF32: case DType::kI32: case DType::kU32: return 4;
    case DType::kBF16: case DType::kF16: case DType::kI16: case DType::kU16: return 2;
    case DType::kFP8E4M3: case DType::kI8: case DType::kU8: case DType::kBool: return 1;
  }
  return 0;
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "F32";
    case DType::kBF16: return "BF16";
    case DType::kF16: return "F16";
    case DType::kFP8E4M3: return "F8_E4M3";
    case DType::kI64: return "I64";
    case DType::kI32: return "I32";
    case DType::kI16: return "I16";
    case DType::kI8: return "I8";
    case DType::kU8: return "U8";
    case DType::kU16: return "U16";
    case DType::kU32: return "U32";
    case DType::kBool: return "BOOL";
    case DType::kF64: return "F64";
  }
  return "?";
}

std::optional<DType> dtype_from_safetensors(std::string_view n) {
  for (DType t : {DType::kF32, DType::kBF16, DType::kF16, DType::kFP8E4M3, DType::kI64, DType::kI32,
                  DType::kI16, DType::kI8, DType::kU8, DType::kU16, DType::kU32, DType::kBool, DType::kF64})
    if (dtype_name(t) == n) return t;
  return std::nullopt;
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t man = h & 0x3ffu;
  uint32_t out;
  if (exp == 0x1f) {
    out = sign | 0x7f800000u | (man << 13);
  } else if (exp == 0) {
    if (man == 0) return std::bit_cast<float>(sign);
    float v = std::ldexp(static_cast<float>(man), -24);  // subnormal: exact in f32
    return (sign ? -v : v);
  } else {
    out = sign | ((exp + 112) << 23) | (man << 13);
  }
  return std::bit_cast<float>(out);
}

// Rounds a finite non-negative f32 to a float format with `man_bits` mantissa bits, minimum normal
// exponent `emin` (unbiased) and bias `bias`; returns the encoded magnitude (may overflow into the
// exponent field's top, which the caller handles).
static uint32_t round_to_small(float a, int man_bits, int emin, int bias) {
  uint32_t u = std::bit_cast<uint32_t>(a);
  int e = static_cast<int>(u >> 23) - 127;
  uint32_t m = (u & 0x7fffffu) | (e == -127 ? 0u : 0x800000u);
  if (e == -127) e = -126;  // f32 subnormal
  // value = m * 2^(e-23). Target quantum: 2^(max(e, emin) - man_bits).
  int q = (e < emin ? emin : e) - man_bits;
  int shift = q - (e - 23);  // bits of m to drop
  uint64_t mm = m;
  uint64_t kept;
  if (shift <= 0) {
    kept = mm << (-shift);
  } else if (shift >= 40) {
    kept = 0;
  } else {
    uint64_t rem = mm & ((1ull << shift) - 1);
    uint64_t half = 1ull << (shift - 1);
    kept = mm >> shift;
    if (rem > half || (rem == half && (kept & 1))) kept++;
  }
  // kept = value / 2^q as an integer; encode. Normal if kept >= 2^man_bits.
  int qexp = q + man_bits;  // exponent of the leading bit when kept == 2^man_bits
  if (kept == 0) return 0;
  if (q == emin - man_bits && kept < (1ull << man_bits)) return static_cast<uint32_t>(kept);  // subnormal
  // normalise (kept may be 2^(man_bits+1) after rounding up)
  while (kept >= (2ull << man_bits)) {
    kept >>= 1;
    qexp++;
  }
  uint32_t biased = static_cast<uint32_t>(qexp + bias);
  return (biased << man_bits) | static_cast<uint32_t>(kept & ((1ull << man_bits) - 1));
}

uint16_t f32_to_f16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return sign | 0x7e00u | static_cast<uint16_t>((u >> 13) & 0x3ffu);
  float a = std::fabs(f);
  if (std::isinf(a)) return sign | 0x7c00u;
  uint32_t enc = round_to_small(a, 10, -14, 15);
  if (enc >= 0x7c00u) return sign | 0x7c00u;  // overflow → inf
  return sign | static_cast<uint16_t>(enc);
}

float fp8_e4m3_to_f32(uint8_t v) {
  float sign = (v & 0x80) ? -1.f : 1.f;
  uint32_t exp = (v >> 3) & 0xf;
  uint32_t man = v & 0x7;
  if (exp == 0xf && man == 0x7) return std::bit_cast<float>(((v & 0x80u) << 24) | 0x7fc00000u);
  if (exp == 0) return sign * std::ldexp(static_cast<float>(man), -9);
  return sign * std::ldexp(static_cast<float>(8 + man), static_cast<int>(exp) - 10);
}

uint8_t f32_to_fp8_e4m3(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
  float a = std::fabs(f);
  if (std::isnan(a) || std::isinf(a)) return sign | 0x7f;
  uint32_t enc = round_to_small(a, 3, -6, 7);
  if (enc > 0x7e) return sign | 0x7f;  // beyond 448 after rounding → NaN (e4m3fn has no inf)
  return sign | static_cast<uint8_t>(enc);
}

void convert_to_f32(DType t, const void* src, float* dst, size_t n) {
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, n * 4); return;
    case DType::kBF16: {
      auto s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::kF16: {
      auto s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::kFP8E4M3: {
      auto s = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = fp8_e4m3_to_f32(s[i]);
      return;
    }
    default: STRATA_CHECK(false, "convert_to_f32: unsupported dtype {}", dtype_name(t));
  }
}

void convert_from_f32(DType t, const float* src, void* dst, size_t n) {
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, n * 4); return;
    case DType::kBF16: {
      auto d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_bf16(src[i]);
      return;
    }
    case DType::kF16: {
      auto d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
      return;
    }
    case DType::kFP8E4M3: {
      auto d = static_cast<uint8_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = f32_to_fp8_e4m3(src[i]);
      return;
    }
    default: STRATA_CHECK(false, "convert_from_f32: unsupported dtype {}", dtype_name(t));
  }
}

}  // namespace strata
