// Backend::sample_filtered's per-row parameters (SamplingRowParams), and the arithmetic that the CPU
// backend (the reference) and the CUDA kernel share, written so that both compute bit-identical
// values: plain IEEE f32 operations that nvcc may not fuse into FMAs (the host compiler targets
// baseline x86-64, which has none), an exp of our own instead of the libraries' (which differ in the
// last bit), and top_p masses as 40-bit fixed-point integers, whose sums are exact in any order. Only
// the Gumbel noise (core/gumbel.h) goes through logf, which may differ in the last bit between host
// and device.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/dummy_init.h"
#include "core/gumbel.h"

namespace strata {

// One row's parameters of Backend::sample_filtered, in the layout every backend reads (40 bytes).
struct SamplingRowParams {
  float temperature = 0.0f;         // <= 0: the argmax of the penalized row, nothing drawn
  float top_p = 1.0f;               // (0, 1]; 1 = off
  float min_p = 0.0f;               // [0, 1]; 0 = off
  int32_t top_k = 0;                // <= 0 or >= vocab = off
  float repetition_penalty = 1.0f;  // tokens of prompt + output: logit > 0 → logit / p, else logit * p
  float frequency_penalty = 0.0f;   // − f × count in the output
  float presence_penalty = 0.0f;    // − p for tokens in the output
  int32_t num_logprobs = -1;        // -1: none; else the sampled token's and the top num_logprobs
  uint64_t seed = 0;                // of the Gumbel noise (core/gumbel.h)
};
static_assert(sizeof(SamplingRowParams) == 40);
// The most top logprobs sample_filtered returns per row (vLLM's default --max-logprobs).
inline constexpr int kMaxSampleLogprobs = 20;
// The largest vocabulary sample_filtered takes (the CUDA kernel keeps a row in the shared memory of
// one 8-CTA cluster); larger ones sample on the host.
inline constexpr int64_t kMaxSampleVocab = 360448;

namespace sampling {

STRATA_HOST_DEVICE inline float mul(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
STRATA_HOST_DEVICE inline float add(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
STRATA_HOST_DEVICE inline float sub(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}

STRATA_HOST_DEVICE inline uint32_t bits_of(float v) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(v);
#else
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u;
#endif
}
STRATA_HOST_DEVICE inline float float_of(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float v;
  std::memcpy(&v, &u, 4);
  return v;
#endif
}

// A logit as the sampler reads it: NaN is -inf, -0 is +0 (so that equal values have equal keys).
STRATA_HOST_DEVICE inline float sanitize(float v) {
  return v != v ? -INFINITY : add(v, 0.0f);
}

// Order-preserving image of a (sanitized) float: a < b exactly when key(a) < key(b).
STRATA_HOST_DEVICE inline uint32_t order_key(float v) {
  const uint32_t u = bits_of(v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
STRATA_HOST_DEVICE inline float key_value(uint32_t k) {
  return float_of((k & 0x80000000u) ? (k & 0x7fffffffu) : ~k);
}

// e^x for x <= 0 within about 2 ulp, 0 below -87 (and for -inf): Cody-Waite reduction to
// r in [-ln2/2, ln2/2], a degree-7 Taylor polynomial, and an exact scaling by 2^n.
STRATA_HOST_DEVICE inline float sampling_exp(float x) {
  if (!(x > -87.0f)) return 0.0f;
  const float n = rintf(mul(x, 1.44269504f));  // in [-126, 0]
  float r = sub(x, mul(n, 0.693359375f));      // ln 2 high part (9 bits: n * it is exact)
  r = sub(r, mul(n, -2.12194440e-4f));         // ln 2 low part
  float p = 1.98412698e-4f;                    // 1/7!
  p = add(mul(p, r), 1.38888889e-3f);
  p = add(mul(p, r), 8.33333333e-3f);
  p = add(mul(p, r), 4.16666667e-2f);
  p = add(mul(p, r), 1.66666667e-1f);
  p = add(mul(p, r), 0.5f);
  p = add(mul(p, r), 1.0f);
  p = add(mul(p, r), 1.0f);
  return mul(p, float_of(static_cast<uint32_t>(static_cast<int32_t>(n) + 127) << 23));
}

// A token's probability relative to the most likely one, exp(v / t - max / t) with
// scaled_max = max / t, as the host Sampler computes it (v <= max, so the exponent is <= 0).
STRATA_HOST_DEVICE inline float relative_weight(float v, float t, float scaled_max) {
  return sampling_exp(sub(v / t, scaled_max));
}
// top_p's mass of a token: its relative weight in units of 2^-40 (a vocabulary below 2^23 tokens sums
// below 2^63).
STRATA_HOST_DEVICE inline uint64_t fixed_weight(float w) {
  return static_cast<uint64_t>(mul(w, 1099511627776.0f));
}
// The running mass top_p's crossing token reaches: top_p of the total, at least 1.
STRATA_HOST_DEVICE inline uint64_t top_p_target(float top_p, uint64_t total) {
  const uint64_t t = static_cast<uint64_t>(static_cast<double>(top_p) * static_cast<double>(total));
  return t > 0 ? t : 1;
}

// The penalties of one token in vLLM V1's order (repetition, then frequency, then presence).
STRATA_HOST_DEVICE inline float penalize(float l, uint32_t count, bool in_prompt, float repetition,
                                         float frequency, float presence) {
  if (repetition != 1.0f && (in_prompt || count > 0)) l = l > 0.0f ? l / repetition : mul(l, repetition);
  if (count > 0 && (frequency != 0.0f || presence != 0.0f)) {
    l = sub(l, mul(frequency, static_cast<float>(count)));
    l = sub(l, presence);
  }
  return sanitize(l);
}
// penalty_entries' second word: the count in the output, bit 31 set when the token is in the prompt.
inline constexpr uint32_t kInPromptBit = 0x80000000u;

// The Gumbel-max key of token j (sample_rows' expression).
STRATA_HOST_DEVICE inline float gumbel_key(float v, float t, uint64_t seed, int64_t j) {
  return v / t + gumbel_noise(seed, static_cast<uint64_t>(j));
}
// Gumbel noise lies in [-2.82, 16.64]: a token whose logit is more than this many temperatures below
// the maximum can never have the largest key (the most likely token is always kept), so its noise is
// not computed.
inline constexpr float kGumbelSkip = 20.0f;
STRATA_HOST_DEVICE inline bool may_win(float v, float max, float t) {
  return sub(max, v) <= mul(kGumbelSkip, t);
}

}  // namespace sampling
}  // namespace strata
