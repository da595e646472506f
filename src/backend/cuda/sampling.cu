// Sampling on the GPU (launchers in ops.cuh): per row of the logits, a Gumbel-max draw at a
// temperature (noise from core/gumbel.h, shared with the CPU backend) or the plain argmax.
#include <cfloat>

#include "backend/cuda/dtype_util.cuh"
#include "backend/cuda/ops.cuh"
#include "core/gumbel.h"

namespace strata::cuda {

namespace {

constexpr int kThreads = 1024;

// Larger value wins; on equal values the lower index (as the host sampler does); NaN never wins.
__device__ __forceinline__ void better(float& v, int32_t& i, float ov, int32_t oi) {
  if (ov > v || (ov == v && oi < i)) {
    v = ov;
    i = oi;
  }
}

// Row i: argmax_j logits[i][j] / t + gumbel(seed, j), block-reduced; t = 0 (or no temperatures at
// all: argmax_rows) is the plain argmax.
__global__ void __launch_bounds__(kThreads) sample_kernel(const float* logits, const float* temperatures,
                                                          const int64_t* seeds, int64_t n, int32_t* ids) {
  pdl_wait();
  pdl_trigger();
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * n;
  const float t = temperatures ? temperatures[blockIdx.x] : 0.0f;
  const uint64_t seed = seeds ? static_cast<uint64_t>(seeds[blockIdx.x]) : 0;
  float v = -FLT_MAX;
  int32_t idx = 0x7fffffff;
  for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
    float x = row[j];
    if (t > 0.0f) x = x / t + gumbel_noise(seed, static_cast<uint64_t>(j));
    better(v, idx, x, static_cast<int32_t>(j));
  }
  for (int off = 16; off > 0; off >>= 1)
    better(v, idx, __shfl_xor_sync(0xffffffffu, v, off), __shfl_xor_sync(0xffffffffu, idx, off));
  __shared__ float sv[32];
  __shared__ int32_t si[32];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) {
    sv[warp] = v;
    si[warp] = idx;
  }
  __syncthreads();
  if (warp == 0) {
    const int warps = blockDim.x / 32;
    v = lane < warps ? sv[lane] : -FLT_MAX;
    idx = lane < warps ? si[lane] : 0x7fffffff;
    for (int off = 16; off > 0; off >>= 1)
      better(v, idx, __shfl_xor_sync(0xffffffffu, v, off), __shfl_xor_sync(0xffffffffu, idx, off));
    if (lane == 0) ids[blockIdx.x] = idx == 0x7fffffff ? 0 : idx;
  }
}

}  // namespace

void argmax_rows(const float* logits, int64_t m, int64_t n, int32_t* ids, cudaStream_t s) {
  if (m == 0) return;
  launch(sample_kernel, dim3(static_cast<unsigned>(m)), dim3(kThreads), 0, s, logits, nullptr, nullptr, n, ids);
}

void sample_rows(const float* logits, const float* temperatures, const int64_t* seeds, int64_t m, int64_t n,
                 int32_t* ids, cudaStream_t s) {
  if (m == 0) return;
  launch(sample_kernel, dim3(static_cast<unsigned>(m)), dim3(kThreads), 0, s, logits, temperatures, seeds, n, ids);
}

}  // namespace strata::cuda
