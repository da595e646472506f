// Decode GEMV: y = x · wᵀ (+ bias) for a few rows of x (m <= kGemvMaxRows). Bound by reading w once:
// one warp per output feature streams its weight row in 16-byte loads (read-only, no L1 allocation)
// and dots it with every x row (x is small and stays in L1/L2). Launcher in ops.cuh.
#include "backend/cuda/dtype_util.cuh"
#include "backend/cuda/ops.cuh"

namespace strata::cuda {

namespace {

constexpr int kWarps = 8;

__device__ __forceinline__ uint4 load_stream(const void* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

__device__ __forceinline__ void unpack8(const uint4& v, float (&f)[8], __nv_bfloat16) {
  const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 p = __bfloat1622float2(h[i]);
    f[2 * i] = p.x;
    f[2 * i + 1] = p.y;
  }
}
__device__ __forceinline__ void unpack8(const uint4& v, float (&f)[8], __half) {
  const __half2* h = reinterpret_cast<const __half2*>(&v);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 p = __half22float2(h[i]);
    f[2 * i] = p.x;
    f[2 * i + 1] = p.y;
  }
}

// acc[i] += w[kk .. kk+8) · x[i, kk .. kk+8) for every row i < m.
template <typename T, int M>
__device__ __forceinline__ void dot8(const uint4& wv, const T* __restrict__ x, int64_t kk, int64_t k, int m,
                                     float (&acc)[M]) {
  float wf[8];
  unpack8(wv, wf, T{});
#pragma unroll
  for (int i = 0; i < M; ++i) {
    if (i < m) {
      float xf[8];
      unpack8(*reinterpret_cast<const uint4*>(x + i * k + kk), xf, T{});
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[i] = fmaf(wf[e], xf[e], acc[i]);
    }
  }
}

template <typename T, typename Y, int M>
__global__ void __launch_bounds__(kWarps * 32) gemv_kernel(const T* __restrict__ x, const T* __restrict__ w,
                                                           const T* __restrict__ bias, Y* __restrict__ y, int m,
                                                           int64_t n, int64_t k) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * kWarps + warp;
  if (j >= n) return;
  const T* wr = w + j * k;
  float acc[M];
#pragma unroll
  for (int i = 0; i < M; ++i) acc[i] = 0.0f;
  // Four 16-byte weight loads in flight per lane before the first use, then the tail. The first four
  // are issued before waiting for the previous kernel (weights do not depend on it; x does).
  constexpr int64_t kStep = 32 * 8;
  int64_t kk = lane * 8;
  uint4 wv[4];
  const bool first = kk + 3 * kStep < k;
  if (first) {
#pragma unroll
    for (int u = 0; u < 4; ++u) wv[u] = load_stream(wr + kk + u * kStep);
  }
  pdl_trigger();
  pdl_wait();
  if (first) {
#pragma unroll
    for (int u = 0; u < 4; ++u) dot8<T, M>(wv[u], x, kk + u * kStep, k, m, acc);
    kk += 4 * kStep;
  }
  for (; kk + 3 * kStep < k; kk += 4 * kStep) {
#pragma unroll
    for (int u = 0; u < 4; ++u) wv[u] = load_stream(wr + kk + u * kStep);
#pragma unroll
    for (int u = 0; u < 4; ++u) dot8<T, M>(wv[u], x, kk + u * kStep, k, m, acc);
  }
  for (; kk < k; kk += kStep) dot8<T, M>(load_stream(wr + kk), x, kk, k, m, acc);
#pragma unroll
  for (int i = 0; i < M; ++i) {
    float v = acc[i];
    for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
    if (lane == 0 && i < m) {
      if (bias) v += to_f32(bias[j]);
      y[i * n + j] = from_f32<Y>(v);
    }
  }
}

template <typename T, typename Y>
void launch_gemv(const void* x, const void* w, const void* bias, void* y, int64_t m, int64_t n, int64_t k, cudaStream_t s) {
  const unsigned blocks = static_cast<unsigned>((n + kWarps - 1) / kWarps);
  const auto* xt = static_cast<const T*>(x);
  const auto* wt = static_cast<const T*>(w);
  const auto* bt = static_cast<const T*>(bias);
  auto* yt = static_cast<Y*>(y);
  const int mi = static_cast<int>(m);
  if (m == 1) launch(gemv_kernel<T, Y, 1>, dim3(blocks), dim3(kWarps * 32), 0, s, xt, wt, bt, yt, mi, n, k);
  else if (m == 2) launch(gemv_kernel<T, Y, 2>, dim3(blocks), dim3(kWarps * 32), 0, s, xt, wt, bt, yt, mi, n, k);
  else if (m <= 4) launch(gemv_kernel<T, Y, 4>, dim3(blocks), dim3(kWarps * 32), 0, s, xt, wt, bt, yt, mi, n, k);
  else launch(gemv_kernel<T, Y, kGemvMaxRows>, dim3(blocks), dim3(kWarps * 32), 0, s, xt, wt, bt, yt, mi, n, k);
}

}  // namespace

void gemv(const void* x, const void* w, const void* bias, void* y, DType dt, DType y_dt, int64_t m, int64_t n,
          int64_t k, cudaStream_t s) {
  if (m == 0 || n == 0) return;
  if (dt == DType::kBF16) {
    if (y_dt == DType::kF32) launch_gemv<__nv_bfloat16, float>(x, w, bias, y, m, n, k, s);
    else launch_gemv<__nv_bfloat16, __nv_bfloat16>(x, w, bias, y, m, n, k, s);
  } else if (dt == DType::kF16) {
    if (y_dt == DType::kF32) launch_gemv<__half, float>(x, w, bias, y, m, n, k, s);
    else launch_gemv<__half, __half>(x, w, bias, y, m, n, k, s);
  } else {
    bad_dtype("gemv", dt);
  }
}

}  // namespace strata::cuda
