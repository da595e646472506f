// CudaBackend::sample_filtered: argument checks and the launch of the kernel in sampling_filtered.cu.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/sampling_filtered.cuh"

namespace strata {

void CudaBackend::sample_filtered(const TensorView& logits, const TensorView& params,
                                  const TensorView& offsets, const TensorView& entries, const TensorView& ids,
                                  const TensorView& logprob_ids, const TensorView& logprobs) {
  check_sample_filtered_args(logits, params, offsets, ids);
  const int64_t m = ids.numel(), vocab = logits.shape.back();
  STRATA_CHECK(m <= 65535, "sample_filtered: {} rows (the kernel's grid takes at most 65535)", m);
  const cudaError_t e = cuda::sample_filtered(
      logits.as<float>(), m, vocab, static_cast<const SamplingRowParams*>(params.data), offsets.as<int32_t>(),
      entries.as<int32_t>(), ids.as<int32_t>(), logprob_ids.as<int32_t>(), logprobs.as<float>(), stream_);
  STRATA_CHECK(e == cudaSuccess, "sample_filtered: {}", cudaGetErrorString(e));
  check_launch("sample_filtered");
}

}  // namespace strata
