// Backend::sample_filtered on the GPU: one cluster of 8 CTAs per row of the logits. The row is read
// from global memory once, into the CTAs' shared memory (a CTA holds vocab / 8 logits: 64 KB at a
// 128K vocabulary, two CTAs per SM); penalties are applied there, and every later pass (thresholds,
// the draw, logprobs) reads shared memory. Per row type, after the load:
//   greedy: the argmax comes with the max (one cluster exchange);
//   temperature only: a Gumbel-max pass over the tokens within kGumbelSkip temperatures of the max;
//   top_k (+ min_p, top_p): a histogram of the logits in 1/32 bins below the max finds the k-th
//     largest's bin; when at most 512 tokens lie at or above it (any realistic k), they are gathered
//     and sorted, top_p runs over that sorted list and the draw takes place among its kept prefix;
//   top_p (+ min_p): the same with a histogram of fixed-point masses in 1/32-nat bins;
//   a boundary in a crowded bin: radix rounds over the float keys inside it (sampling_cluster.cuh).
// Logprobs: the raw max and sum of exponentials come with the load; the top-N by the same select.
#include <cooperative_groups.h>

#include <cfloat>
#include <climits>
#include <map>
#include <mutex>

#include "backend/cuda/sampling_filtered.cuh"
#include "backend/cuda/sampling_row.cuh"

namespace strata {
namespace cuda {
namespace {

using namespace sampling_cluster;

__global__ void __launch_bounds__(kThreads, 2)
    sample_filtered_kernel(const float* logits, int64_t vocab, int slice, const SamplingRowParams* params,
                           const int32_t* offsets, const int32_t* entries, int32_t* ids, int32_t* logprob_ids,
                           float* logprobs) {
  extern __shared__ float4 slice_mem[];
  __shared__ Shared sh;
  sample_filtered_row(sh, reinterpret_cast<float*>(slice_mem), logits, vocab, slice, params, offsets, entries,
                      ids, logprob_ids, logprobs);
}

}  // namespace

cudaError_t sample_filtered(const float* logits, int64_t m, int64_t vocab, const SamplingRowParams* params,
                            const int32_t* offsets, const int32_t* entries, int32_t* ids,
                            int32_t* logprob_ids, float* logprobs, cudaStream_t stream) {
  if (m == 0) return cudaSuccess;
  const int slice = static_cast<int>(((vocab + kCluster - 1) / kCluster + 3) / 4 * 4);
  const size_t smem = static_cast<size_t>(slice) * sizeof(float);
  {
    // The dynamic shared memory the kernel is allowed so far, per device (ranks of one process may
    // drive several GPUs from several threads).
    static std::mutex mu;
    static std::map<int, size_t> configured;
    int device = 0;
    if (const cudaError_t e = cudaGetDevice(&device); e != cudaSuccess) return e;
    std::lock_guard<std::mutex> lock(mu);
    if (smem > configured[device]) {
      const cudaError_t e = cudaFuncSetAttribute(
          sample_filtered_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
      if (e != cudaSuccess) return e;
      configured[device] = smem;
    }
  }
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(kCluster, static_cast<unsigned>(m));
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeClusterDimension;
  attr[0].val.clusterDim.x = kCluster;
  attr[0].val.clusterDim.y = 1;
  attr[0].val.clusterDim.z = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  return cudaLaunchKernelEx(&cfg, sample_filtered_kernel, logits, vocab, slice, params, offsets, entries, ids,
                            logprob_ids, logprobs);
}

}  // namespace cuda
}  // namespace strata
