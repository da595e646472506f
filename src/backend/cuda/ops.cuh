// Launchers of the elementwise, normalisation, rope/KV-cache, GEMV and sampling kernels
// (elementwise.cu, gemv.cu, sampling.cu). Same conventions as kernels.cuh: raw device pointers,
// row-major, `dt` the element type of the floating-point tensors, f32 math inside, graph-capturable.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace strata::cuda {

// dst[i] = src[i] converted (any of F32/BF16/F16 to any).
void convert(const void* src, DType src_dt, void* dst, DType dst_dt, int64_t n, cudaStream_t s);
// WeightLoader::dummy's values: dst[r, c] = center + scale * (2u - 1), u = (splitmix64(key +
// (row0 + r) * full_cols + col0 + c) >> 40) / 2^24.
void fill_dummy(void* dst, DType dt, int64_t rows, int64_t cols, uint64_t key, int64_t row0, int64_t col0,
                int64_t full_cols, float center, float scale, cudaStream_t s);
// out[i] = table[ids[i] - vocab_start] or zeros outside [0, vocab).
void embedding(const int32_t* ids, int64_t n, const void* table, int64_t vocab, int64_t hidden, int64_t vocab_start,
               void* out, DType dt, cudaStream_t s);
// residual (optional, may be null) += x; out = residual / rms * w (or x / rms * w without residual).
void rms_norm(void* residual, const void* x, const void* w, float eps, void* out, int64_t n, int64_t hidden, DType dt,
              cudaStream_t s);
// q/k rotation (NeoX halves) with cos_sin f32 [max_pos, head_dim]; see Backend::qkv_rope_cache.
void qkv_rope_cache(const void* qkv, const int32_t* positions, const float* cos_sin, void* q_out, void* k_cache,
                    void* v_cache, const int64_t* slots, int64_t n, int heads, int kv_heads, int head_dim, DType dt,
                    cudaStream_t s);
// In-place rope of separate q [n, heads, d] and k [n, kv_heads, d].
void rope(void* q, void* k, const int32_t* positions, const float* cos_sin, int64_t n, int heads, int kv_heads,
          int head_dim, DType dt, cudaStream_t s);
// k, v [n, kv_heads * head_dim] → caches at slots (negative slot: skipped).
void write_kv(const void* k, const void* v, void* k_cache, void* v_cache, const int64_t* slots, int64_t n,
              int64_t row, DType dt, cudaStream_t s);
void silu_mul(const void* x, void* out, int64_t n, int64_t d, DType dt, cudaStream_t s);
void gather_rows(const void* x, const int32_t* rows, void* out, int64_t m, int64_t d, DType dt, cudaStream_t s);
void add_inplace(void* a, const void* b, int64_t n, DType dt, cudaStream_t s);
// y[i, :] += bias (y may be F32 while bias is dt).
void add_bias(void* y, DType y_dt, const void* bias, DType b_dt, int64_t m, int64_t n, cudaStream_t s);

// y = x · wᵀ (+ bias) for m <= kGemvMaxRows rows: weight-streaming (each weight read once).
// x [m, k], w [n, k], bias [n] in dt; y [m, n] in y_dt (dt or F32). Needs k % 8 == 0 for the vector path.
constexpr int kGemvMaxRows = 8;
void gemv(const void* x, const void* w, const void* bias, void* y, DType dt, DType y_dt, int64_t m, int64_t n,
          int64_t k, cudaStream_t s);

// Per-row argmax of f32 logits [m, n] → ids int32 [m] (ties: lowest index).
void argmax_rows(const float* logits, int64_t m, int64_t n, int32_t* ids, cudaStream_t s);
// Backend::sample_rows: Gumbel-max draws (temperature 0: argmax), noise as core/gumbel.h.
void sample_rows(const float* logits, const float* temperatures, const int64_t* seeds, int64_t m, int64_t n,
                 int32_t* ids, cudaStream_t s);

}  // namespace strata::cuda
