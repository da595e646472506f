// Elementwise, normalisation and rope/KV-cache kernels of the CUDA backend (launchers in ops.cuh).
#include <algorithm>
#include <cstdint>

#include "backend/cuda/dtype_util.cuh"
#include "backend/cuda/ops.cuh"
#include "core/dummy_init.h"

namespace strata::cuda {

namespace {

constexpr int kThreads = 256;

template <typename S, typename D>
__global__ void convert_kernel(const S* src, D* dst, int64_t n) {
  pdl_wait();
  pdl_trigger();
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = from_f32<D>(to_f32(src[i]));
}

// Rounded exactly like the host loader (no fused multiply-add), so f32 values match bit for bit.
template <typename T>
__global__ void fill_dummy_kernel(T* dst, int64_t rows, int64_t cols, uint64_t key, int64_t row0, int64_t col0,
                                  int64_t full_cols, float center, float scale) {
  pdl_wait();
  pdl_trigger();
  const int64_t n = rows * cols;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = e / cols, c = e % cols;
    const uint64_t bits = splitmix64(key + static_cast<uint64_t>((row0 + r) * full_cols + col0 + c));
    const float u = __fmul_rn(static_cast<float>(bits >> 40), 1.0f / 16777216.0f);
    dst[e] = from_f32<T>(__fadd_rn(center, __fmul_rn(scale, __fsub_rn(__fmul_rn(2.0f, u), 1.0f))));
  }
}

template <typename T>
__global__ void embedding_kernel(const int32_t* ids, const T* table, int64_t vocab, int64_t hidden,
                                 int64_t vocab_start, T* out) {
  pdl_wait();
  pdl_trigger();
  const int64_t row = blockIdx.x;
  const int64_t local = static_cast<int64_t>(ids[row]) - vocab_start;
  T* o = out + row * hidden;
  if (local >= 0 && local < vocab) {
    const T* src = table + local * hidden;
    for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) o[i] = src[i];
  } else {
    for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) o[i] = from_f32<T>(0.0f);
  }
}

__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) / 32;
  v = lane < warps ? partial[lane] : 0.0f;
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  __syncthreads();  // partial is reused by the next call
  return v;
}

// 16-byte vectors of T (8 bf16 / f16, 4 f32) through registers.
template <typename T>
constexpr int kVec = 16 / static_cast<int>(sizeof(T));
template <typename T>
__device__ __forceinline__ void load16(const T* src, float* f) {
  alignas(16) T v[kVec<T>];
  *reinterpret_cast<uint4*>(v) = *reinterpret_cast<const uint4*>(src);
#pragma unroll
  for (int e = 0; e < kVec<T>; ++e) f[e] = to_f32(v[e]);
}
template <typename T>
__device__ __forceinline__ void store16(T* dst, const float* f) {
  alignas(16) T v[kVec<T>];
#pragma unroll
  for (int e = 0; e < kVec<T>; ++e) v[e] = from_f32<T>(f[e]);
  *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(v);
}

// rms_norm_kernel's arithmetic, 16 bytes per load, the row held in registers between the sum of squares
// and the scaling: one block per row, each thread up to kRmsVecs vectors (hidden % kVec == 0, rows
// 16-byte aligned).
constexpr int kRmsVecs = 4;
template <typename T>
__global__ void rms_norm_vec_kernel(T* residual, const T* x, const T* w, float eps, T* out, int64_t hidden) {
  pdl_wait();
  pdl_trigger();
  constexpr int V = kVec<T>;
  const int64_t row = blockIdx.x;
  const int chunks = static_cast<int>(hidden / V);
  float v[kRmsVecs][V];
  float ss = 0.0f;
#pragma unroll
  for (int k = 0; k < kRmsVecs; ++k) {
    const int c = threadIdx.x + k * blockDim.x;
    if (c >= chunks) break;
    load16(x + row * hidden + c * V, v[k]);
    if (residual) {
      float r[V];
      load16(residual + row * hidden + c * V, r);
#pragma unroll
      for (int e = 0; e < V; ++e) v[k][e] = to_f32(from_f32<T>(r[e] + v[k][e]));  // the stored sum
      store16(residual + row * hidden + c * V, v[k]);
    }
#pragma unroll
    for (int e = 0; e < V; ++e) ss += v[k][e] * v[k][e];
  }
  const float scale = rsqrtf(block_sum(ss) / static_cast<float>(hidden) + eps);
#pragma unroll
  for (int k = 0; k < kRmsVecs; ++k) {
    const int c = threadIdx.x + k * blockDim.x;
    if (c >= chunks) break;
    float wf[V];
    load16(w + c * V, wf);
#pragma unroll
    for (int e = 0; e < V; ++e) v[k][e] = v[k][e] * scale * wf[e];
    store16(out + row * hidden + c * V, v[k]);
  }
}

// One block per row. With a residual: residual += x (stored in T), the norm reads the stored value.
template <typename T>
__global__ void rms_norm_kernel(T* residual, const T* x, const T* w, float eps, T* out, int64_t hidden) {
  pdl_wait();
  pdl_trigger();
  const int64_t row = blockIdx.x;
  const T* xr = x + row * hidden;
  T* res = residual ? residual + row * hidden : nullptr;
  float ss = 0.0f;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
    float v = to_f32(xr[i]);
    if (res) {
      const T sum = from_f32<T>(to_f32(res[i]) + v);
      res[i] = sum;
      v = to_f32(sum);
    }
    ss += v * v;
  }
  const float scale = rsqrtf(block_sum(ss) / static_cast<float>(hidden) + eps);
  const T* src = res ? res : xr;
  T* o = out + row * hidden;
  for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) o[i] = from_f32<T>(to_f32(src[i]) * scale * to_f32(w[i]));
}

// One block per token: rotates q into q_out and k into the cache; copies v into the cache.
template <typename T>
__global__ void qkv_rope_cache_kernel(const T* qkv, const int32_t* positions, const float* cos_sin, T* q_out,
                                      T* k_cache, T* v_cache, const int64_t* slots, int heads, int kv_heads,
                                      int head_dim) {
  pdl_wait();
  pdl_trigger();
  const int64_t t = blockIdx.x;
  const int half = head_dim / 2;
  const int64_t width = static_cast<int64_t>(heads + 2 * kv_heads) * head_dim;
  const T* row = qkv + t * width;
  const float* cs = cos_sin + static_cast<int64_t>(positions[t]) * head_dim;
  const int64_t slot = slots[t];
  const int kv_row = kv_heads * head_dim;
  // Rotation pairs of the q heads then the k heads.
  for (int p = threadIdx.x; p < (heads + kv_heads) * half; p += blockDim.x) {
    const int h = p / half, i = p % half;
    const T* src = row + h * head_dim;
    const float c = cs[i], s = cs[half + i];
    const float x1 = to_f32(src[i]), x2 = to_f32(src[half + i]);
    const float o1 = x1 * c - x2 * s, o2 = x2 * c + x1 * s;
    if (h < heads) {
      T* dst = q_out + (t * heads + h) * head_dim;
      dst[i] = from_f32<T>(o1);
      dst[half + i] = from_f32<T>(o2);
    } else if (slot >= 0) {
      T* dst = k_cache + slot * kv_row + (h - heads) * head_dim;
      dst[i] = from_f32<T>(o1);
      dst[half + i] = from_f32<T>(o2);
    }
  }
  if (slot >= 0) {
    const T* v = row + static_cast<int64_t>(heads + kv_heads) * head_dim;
    for (int i = threadIdx.x; i < kv_row; i += blockDim.x) v_cache[slot * kv_row + i] = v[i];
  }
}

template <typename T>
__global__ void rope_kernel(T* q, T* k, const int32_t* positions, const float* cos_sin, int heads, int kv_heads,
                            int head_dim) {
  pdl_wait();
  pdl_trigger();
  const int64_t t = blockIdx.x;
  const int half = head_dim / 2;
  const float* cs = cos_sin + static_cast<int64_t>(positions[t]) * head_dim;
  for (int p = threadIdx.x; p < (heads + kv_heads) * half; p += blockDim.x) {
    const int h = p / half, i = p % half;
    T* v = h < heads ? q + (t * heads + h) * head_dim : k + (t * kv_heads + h - heads) * head_dim;
    const float c = cs[i], s = cs[half + i];
    const float x1 = to_f32(v[i]), x2 = to_f32(v[half + i]);
    v[i] = from_f32<T>(x1 * c - x2 * s);
    v[half + i] = from_f32<T>(x2 * c + x1 * s);
  }
}

template <typename T>
__global__ void write_kv_kernel(const T* k, const T* v, T* k_cache, T* v_cache, const int64_t* slots, int64_t row) {
  pdl_wait();
  pdl_trigger();
  const int64_t t = blockIdx.x;
  const int64_t slot = slots[t];
  if (slot < 0) return;
  for (int64_t i = threadIdx.x; i < row; i += blockDim.x) {
    k_cache[slot * row + i] = k[t * row + i];
    v_cache[slot * row + i] = v[t * row + i];
  }
}

template <typename T>
__global__ void silu_mul_kernel(const T* x, T* out, int64_t n, int64_t d) {
  pdl_wait();
  pdl_trigger();
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n * d;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = e / d, i = e % d;
    const float g = to_f32(x[r * 2 * d + i]), u = to_f32(x[r * 2 * d + d + i]);
    out[e] = from_f32<T>(g / (1.0f + __expf(-g)) * u);
  }
}

// silu_mul_kernel's arithmetic, 16 bytes at a time (d % kVec == 0, 16-byte aligned rows): grid
// (chunks of a row, rows).
template <typename T>
__global__ void silu_mul_vec_kernel(const T* x, T* out, int64_t n, int64_t d) {
  pdl_wait();
  pdl_trigger();
  constexpr int V = kVec<T>;
  const int chunks = static_cast<int>(d / V);
  for (int64_t r = blockIdx.y; r < n; r += gridDim.y) {
    const T* xr = x + r * 2 * d;
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < chunks; c += gridDim.x * blockDim.x) {
      float g[V], u[V];
      load16(xr + c * V, g);
      load16(xr + d + c * V, u);
#pragma unroll
      for (int e = 0; e < V; ++e) g[e] = g[e] / (1.0f + __expf(-g[e])) * u[e];
      store16(out + r * d + c * V, g);
    }
  }
}

template <typename T>
__global__ void gather_rows_kernel(const T* x, const int32_t* rows, T* out, int64_t d) {
  pdl_wait();
  pdl_trigger();
  const int64_t i = blockIdx.x;
  const T* src = x + static_cast<int64_t>(rows[i]) * d;
  for (int64_t j = threadIdx.x; j < d; j += blockDim.x) out[i * d + j] = src[j];
}

template <typename T>
__global__ void add_inplace_kernel(T* a, const T* b, int64_t n) {
  pdl_wait();
  pdl_trigger();
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    a[e] = from_f32<T>(to_f32(a[e]) + to_f32(b[e]));
}

template <typename Y, typename B>
__global__ void add_bias_kernel(Y* y, const B* bias, int64_t m, int64_t n) {
  pdl_wait();
  pdl_trigger();
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < m * n;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[e] = from_f32<Y>(to_f32(y[e]) + to_f32(bias[e % n]));
}

int row_threads(int64_t width) {
  int t = 32;
  while (t < 1024 && t < width) t *= 2;
  return t;
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

void convert(const void* src, DType src_dt, void* dst, DType dst_dt, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  STRATA_DISPATCH_FLOAT(src_dt, "convert", {
    using S = T;
    STRATA_DISPATCH_FLOAT(dst_dt, "convert", {
      launch(convert_kernel<S, T>, blocks_for(n, kThreads), kThreads, 0, s, static_cast<const S*>(src),
                                                                          static_cast<T*>(dst), n);
    });
  });
}

void fill_dummy(void* dst, DType dt, int64_t rows, int64_t cols, uint64_t key, int64_t row0, int64_t col0,
                int64_t full_cols, float center, float scale, cudaStream_t s) {
  if (rows * cols == 0) return;
  STRATA_DISPATCH_FLOAT(dt, "fill_dummy", {
    launch(fill_dummy_kernel<T>, blocks_for(rows * cols, kThreads), kThreads, 0, s, 
        static_cast<T*>(dst), rows, cols, key, row0, col0, full_cols, center, scale);
  });
}

void embedding(const int32_t* ids, int64_t n, const void* table, int64_t vocab, int64_t hidden, int64_t vocab_start,
               void* out, DType dt, cudaStream_t s) {
  if (n == 0) return;
  STRATA_DISPATCH_FLOAT(dt, "embedding", {
    launch(embedding_kernel<T>, static_cast<unsigned>(n), row_threads(hidden), 0, s, 
        ids, static_cast<const T*>(table), vocab, hidden, vocab_start, static_cast<T*>(out));
  });
}

void rms_norm(void* residual, const void* x, const void* w, float eps, void* out, int64_t n, int64_t hidden, DType dt,
              cudaStream_t s) {
  if (n == 0) return;
  STRATA_DISPATCH_FLOAT(dt, "rms_norm", {
    constexpr int V = kVec<T>;
    const int64_t chunks = hidden / V;
    const bool vec = hidden % V == 0 && chunks <= 1024 * kRmsVecs && aligned16(x) && aligned16(w) && aligned16(out) &&
                     (!residual || aligned16(residual));
    if (vec) {
      const int threads = row_threads((chunks + kRmsVecs - 1) / kRmsVecs);
      launch(rms_norm_vec_kernel<T>, static_cast<unsigned>(n), threads, 0, s, static_cast<T*>(residual),
             static_cast<const T*>(x), static_cast<const T*>(w), eps, static_cast<T*>(out), hidden);
    } else {
      launch(rms_norm_kernel<T>, static_cast<unsigned>(n), row_threads(hidden), 0, s, static_cast<T*>(residual),
             static_cast<const T*>(x), static_cast<const T*>(w), eps, static_cast<T*>(out), hidden);
    }
  });
}

void qkv_rope_cache(const void* qkv, const int32_t* positions, const float* cos_sin, void* q_out, void* k_cache,
                    void* v_cache, const int64_t* slots, int64_t n, int heads, int kv_heads, int head_dim, DType dt,
                    cudaStream_t s) {
  if (n == 0) return;
  STRATA_DISPATCH_FLOAT(dt, "qkv_rope_cache", {
    launch(qkv_rope_cache_kernel<T>, static_cast<unsigned>(n), row_threads((heads + kv_heads) * head_dim / 2), 0, s, 
        static_cast<const T*>(qkv), positions, cos_sin, static_cast<T*>(q_out), static_cast<T*>(k_cache),
        static_cast<T*>(v_cache), slots, heads, kv_heads, head_dim);
  });
}

void rope(void* q, void* k, const int32_t* positions, const float* cos_sin, int64_t n, int heads, int kv_heads,
          int head_dim, DType dt, cudaStream_t s) {
  if (n == 0) return;
  STRATA_DISPATCH_FLOAT(dt, "rope", {
    launch(rope_kernel<T>, static_cast<unsigned>(n), row_threads((heads + kv_heads) * head_dim / 2), 0, s, 
        static_cast<T*>(q), static_cast<T*>(k), positions, cos_sin, heads, kv_heads, head_dim);
  });
}

void write_kv(const void* k, const void* v, void* k_cache, void* v_cache, const int64_t* slots, int64_t n,
              int64_t row, DType dt, cudaStream_t s) {
  if (n == 0) return;
  STRATA_DISPATCH_FLOAT(dt, "write_kv", {
    launch(write_kv_kernel<T>, static_cast<unsigned>(n), row_threads(row), 0, s, 
        static_cast<const T*>(k), static_cast<const T*>(v), static_cast<T*>(k_cache), static_cast<T*>(v_cache), slots,
        row);
  });
}

void silu_mul(const void* x, void* out, int64_t n, int64_t d, DType dt, cudaStream_t s) {
  if (n * d == 0) return;
  STRATA_DISPATCH_FLOAT(dt, "silu_mul", {
    constexpr int V = kVec<T>;
    if (d % V == 0 && aligned16(x) && aligned16(out)) {
      const int64_t chunks = d / V;
      const dim3 grid(static_cast<unsigned>((chunks + kThreads - 1) / kThreads), static_cast<unsigned>(std::min<int64_t>(n, 65535)));
      launch(silu_mul_vec_kernel<T>, grid, kThreads, 0, s, static_cast<const T*>(x), static_cast<T*>(out), n, d);
    } else {
      launch(silu_mul_kernel<T>, blocks_for(n * d, kThreads), kThreads, 0, s, static_cast<const T*>(x),
             static_cast<T*>(out), n, d);
    }
  });
}

void gather_rows(const void* x, const int32_t* rows, void* out, int64_t m, int64_t d, DType dt, cudaStream_t s) {
  if (m == 0) return;
  STRATA_DISPATCH_FLOAT(dt, "gather_rows", {
    launch(gather_rows_kernel<T>, static_cast<unsigned>(m), row_threads(d), 0, s, static_cast<const T*>(x), rows,
                                                                                static_cast<T*>(out), d);
  });
}

void add_inplace(void* a, const void* b, int64_t n, DType dt, cudaStream_t s) {
  if (n == 0) return;
  STRATA_DISPATCH_FLOAT(dt, "add_inplace", {
    launch(add_inplace_kernel<T>, blocks_for(n, kThreads), kThreads, 0, s, static_cast<T*>(a),
                                                                         static_cast<const T*>(b), n);
  });
}

void add_bias(void* y, DType y_dt, const void* bias, DType b_dt, int64_t m, int64_t n, cudaStream_t s) {
  if (m * n == 0) return;
  STRATA_DISPATCH_FLOAT(b_dt, "add_bias", {
    using B = T;
    STRATA_DISPATCH_FLOAT(y_dt, "add_bias", {
      launch(add_bias_kernel<T, B>, blocks_for(m * n, kThreads), kThreads, 0, s, static_cast<T*>(y),
                                                                               static_cast<const B*>(bias), m, n);
    });
  });
}

}  // namespace strata::cuda
