// CudaBackend::sample_filtered: argument checks and the launch of the kernel in sampling_filtered.cu.
#include "backend/cuda/cuda_backend.h"
#include "backend/cuda/sampling_filtered.cuh"

namespace strata {

void CudaBackend::sample_filtered(const TensorView& logits, const TensorView& params,
                                  const TensorView& offsets, const TensorView& entries, const TensorView& ids,
                                  const TensorView& logprob_ids, const TensorView& logprobs) {
  const int64_t m = ids.numel(), vocab = logits.shape.back();
  STRATA_CHECK(logits.dtype == DType::kF32 && logits.numel() >= m * vocab,
               "sample_filtered: logits {} {} for {} rows", dtype_name(logits.dtype), shape_str(logits.shape),
               m);
  STRATA_CHECK(vocab > 0 && vocab <= kMaxSampleVocab, "sample_filtered: a vocabulary of {} (at most {})",
               vocab, kMaxSampleVocab);
  STRATA_CHECK(m <= 65535 && params.nbytes() >= static_cast<size_t>(m) * sizeof(SamplingRowParams) &&
                   offsets.numel() >= m + 1,
               "sample_filtered: params / offsets for {} rows", m);
  const cudaError_t e = cuda::sample_filtered(
      logits.as<float>(), m, vocab, static_cast<const SamplingRowParams*>(params.data), offsets.as<int32_t>(),
      entries.as<int32_t>(), ids.as<int32_t>(), logprob_ids.as<int32_t>(), logprobs.as<float>(), stream_);
  STRATA_CHECK(e == cudaSuccess, "sample_filtered: {}", cudaGetErrorString(e));
  check_launch("sample_filtered");
}

}  // namespace strata
