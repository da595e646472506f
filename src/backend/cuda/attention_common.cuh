// Private to the paged-attention kernels (attention.cu, attention_decode.cu, attention_prefill.cu):
// element conversions, cp.async / warp helpers, the kernels' parameter blocks and the launchers that
// attention.cu dispatches to. Nothing here is part of kernels.cuh's interface.
//
// Conventions shared by every attention kernel:
//  * scores live in the log2 domain: s = (q . k) * scale * log2(e), probabilities are exp2(s - m),
//    so a partial (m, l, acc) of one kernel merges with another's by exp2 weights;
//  * a running maximum m starts at -inf; exp2(-inf - x) == 0, and a row whose maximum is still -inf
//    uses 0 as its reference so that no (-inf) - (-inf) NaN can arise;
//  * key t of sequence s lives in block block_tables[s * max_blocks_per_seq + t / block_size], at
//    offset t % block_size; its K (V) row starts at element
//    ((block * block_size + offset) * num_kv_heads + kv_head) * head_dim of the cache.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "backend/cuda/dtype_util.cuh"
#include "backend/cuda/kernels.cuh"

namespace strata::cuda::attn {

constexpr float kLog2e = 1.4426950408889634f;

// Aborts with file:line on a broken invariant of the launch arguments (a caller bug).
[[noreturn]] inline void fail(const char* file, int line, const char* what) {
  std::fprintf(stderr, "%s:%d: paged_attention: %s\n", file, line, what);
  std::fflush(stderr);
  std::abort();
}
#define STRATA_ATTN_REQUIRE(cond, what) \
  do {                                  \
    if (!(cond)) ::strata::cuda::attn::fail(__FILE__, __LINE__, what); \
  } while (0)

// ---- element conversions: to_f32 / from_f32 from dtype_util.cuh ----
// The 32-bit word w holds 4 / sizeof(T) consecutive elements (lowest address in the low bits);
// writes them to f as floats.
__device__ __forceinline__ void word_to_f32(uint32_t w, float* f, float) { f[0] = __uint_as_float(w); }
__device__ __forceinline__ void word_to_f32(uint32_t w, float* f, __nv_bfloat16) {
  f[0] = __uint_as_float(w << 16);
  f[1] = __uint_as_float(w & 0xffff0000u);
}
__device__ __forceinline__ void word_to_f32(uint32_t w, float* f, __half) {
  f[0] = __half2float(__ushort_as_half(static_cast<unsigned short>(w & 0xffffu)));
  f[1] = __half2float(__ushort_as_half(static_cast<unsigned short>(w >> 16)));
}

// Loads VB bytes (VB in {4, 8, 16}; p aligned to VB) holding VB / sizeof(T) elements of type T and
// widens them to f[0 .. VB / sizeof(T)).
template <typename T, int VB>
__device__ __forceinline__ void load_vec_f32(const void* p, float* f) {
  constexpr int kPerWord = 4 / static_cast<int>(sizeof(T));
  if constexpr (VB == 16) {
    const uint4 v = *reinterpret_cast<const uint4*>(p);
    word_to_f32(v.x, f + 0 * kPerWord, T{});
    word_to_f32(v.y, f + 1 * kPerWord, T{});
    word_to_f32(v.z, f + 2 * kPerWord, T{});
    word_to_f32(v.w, f + 3 * kPerWord, T{});
  } else if constexpr (VB == 8) {
    const uint2 v = *reinterpret_cast<const uint2*>(p);
    word_to_f32(v.x, f + 0 * kPerWord, T{});
    word_to_f32(v.y, f + 1 * kPerWord, T{});
  } else {
    static_assert(VB == 4, "VB must be 4, 8 or 16");
    word_to_f32(*reinterpret_cast<const uint32_t*>(p), f, T{});
  }
}

// Loads N floats (N in {1, 2, 4, 8}) from shared memory at p, aligned to 4 * min(N, 4) bytes.
template <int N>
__device__ __forceinline__ void load_f32s(const float* p, float* f) {
  if constexpr (N == 8) {
    const float4 a = *reinterpret_cast<const float4*>(p);
    const float4 b = *reinterpret_cast<const float4*>(p + 4);
    f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w, f[4] = b.x, f[5] = b.y, f[6] = b.z, f[7] = b.w;
  } else if constexpr (N == 4) {
    const float4 a = *reinterpret_cast<const float4*>(p);
    f[0] = a.x, f[1] = a.y, f[2] = a.z, f[3] = a.w;
  } else if constexpr (N == 2) {
    const float2 a = *reinterpret_cast<const float2*>(p);
    f[0] = a.x, f[1] = a.y;
  } else {
    static_assert(N == 1, "N must be 1, 2, 4 or 8");
    f[0] = *p;
  }
}

// ---- cp.async (global -> shared, bypassing registers) ----
__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
// Copies VB bytes (VB in {4, 8, 16}); both addresses aligned to VB.
template <int VB>
__device__ __forceinline__ void cp_async(void* smem_dst, const void* gmem_src) {
  if constexpr (VB == 16) {
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(smem_dst)), "l"(gmem_src)
                 : "memory");
  } else if constexpr (VB == 8) {
    asm volatile("cp.async.ca.shared.global [%0], [%1], 8;\n" ::"r"(smem_addr(smem_dst)), "l"(gmem_src)
                 : "memory");
  } else {
    static_assert(VB == 4, "VB must be 4, 8 or 16");
    asm volatile("cp.async.ca.shared.global [%0], [%1], 4;\n" ::"r"(smem_addr(smem_dst)), "l"(gmem_src)
                 : "memory");
  }
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// 2^x (ex2.approx.ftz: ~2 ulp; 2^-inf = +0, results below 2^-126 flush to 0).
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// ---- warp reductions (all 32 lanes must take part) ----
__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// ---- parameter blocks ----
struct DecodeParams {
  const void* q;
  const void* k_cache;
  const void* v_cache;
  void* out;
  const int32_t* query_start_loc;
  const int32_t* seq_lens;
  const int32_t* block_tables;
  // Split partials (num_splits > 1): acc [num_seqs, num_heads, num_splits, head_dim], then
  // (m, l) pairs [num_seqs, num_heads, num_splits, 2].
  float* ws_acc;
  float* ws_ml;
  int32_t num_heads, num_kv_heads, head_dim, block_size, max_blocks_per_seq;
  int32_t group;          // num_heads / num_kv_heads
  int32_t heads_per_cta;  // query heads of one GQA group handled by one CTA (<= kDecodeMaxHeads)
  int32_t head_chunks;    // ceil(group / heads_per_cta)
  int32_t num_splits;     // key-range splits per (sequence, kv head)
  int32_t split_min_keys;  // a split covers at least this many keys (decode_split_keys)
  float qscale;           // scale * log2(e)
};

// Keys per split of a sequence of len keys over S splits: ceil(len / S), at least min_keys (a short
// sequence uses fewer splits than the grid has, the rest exit at once), rounded up to a multiple of
// 32 (every kernel's key tile divides 32, so each split starts on a tile). Split j covers keys
// [j * keys, min(len, (j + 1) * keys)); ceil(len / keys) of them are non-empty.
__host__ __device__ inline int decode_split_keys(int len, int S, int min_keys) {
  const int per = (len > 0 ? len : 0) + S - 1;
  const int k = per / S > min_keys ? per / S : min_keys;
  return (k + 31) / 32 * 32;
}

struct PrefillParams {
  const void* q;
  const void* k_cache;
  const void* v_cache;
  void* out;
  const int32_t* query_start_loc;
  const int32_t* seq_lens;
  const int32_t* block_tables;
  int32_t num_heads, num_kv_heads, head_dim, block_size, max_blocks_per_seq;
  int32_t group;      // num_heads / num_kv_heads
  int32_t min_q_len;  // sequences with fewer query rows are skipped (left to the decode kernel)
  float scale_log2;   // scale * log2(e)
};

// A decode CTA whose split has no keys (heads h0 .. h0 + gc - 1 of the one-query sequence s, at
// output row q_row): zeros as the output with one split, else the neutral partial (m = -inf, l = 0).
template <typename T>
__device__ __forceinline__ void decode_empty_split(const DecodeParams& p, int s, int q_row, int h0, int gc, int split) {
  const int D = p.head_dim, H = p.num_heads, S = p.num_splits;
  if (S == 1) {
    T* out = static_cast<T*>(p.out);
    for (int i = threadIdx.x; i < gc * D; i += blockDim.x) {
      const int g = i / D, d = i - g * D;
      out[(static_cast<int64_t>(q_row) * H + h0 + g) * D + d] = from_f32<T>(0.f);
    }
  } else if (static_cast<int>(threadIdx.x) < gc) {
    const int64_t pi = (static_cast<int64_t>(s) * H + h0 + threadIdx.x) * S + split;
    p.ws_ml[2 * pi] = -INFINITY;
    p.ws_ml[2 * pi + 1] = 0.f;
  }
}

// ---- launchers (T = float, __nv_bfloat16, __half) ----
// Query heads per CTA of the tensor-core decode kernel (the 16 rows of its mma tiles).
constexpr int kDecodeMmaMaxHeads = 16;
// The tensor-core decode kernel (attention_decode_mma.cu; T = __nv_bfloat16 or __half, D = 64 or 128):
// same grid, parameters and split partials as the CUDA-core one, heads_per_cta <= kDecodeMmaMaxHeads.
template <typename T, int D>
void launch_decode_mma_kernel(const DecodeParams& p, dim3 grid, cudaStream_t stream);
// Split count of the decode kernel for `ctas_per_split` CTAs per split (num_seqs * kv-head CTAs);
// `has_workspace` false forces 1 split.
int decode_num_splits(int64_t ctas_per_split, bool has_workspace);
// Upper bound of num_seqs * num_splits over every launch with at most `num_seqs` sequences.
int64_t decode_max_partials_per_head(int64_t num_seqs);

// Attention of every sequence with exactly one query row (the others are skipped).
template <typename T>
void launch_decode(const PagedAttentionArgs& a, cudaStream_t stream);
// Attention of every sequence with at least `min_q_len` (>= 1) query rows.
template <typename T>
void launch_prefill(const PagedAttentionArgs& a, int min_q_len, cudaStream_t stream);

}  // namespace strata::cuda::attn
