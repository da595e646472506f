// Launcher of the full sampling kernel (sampling_filtered.cu): Backend::sample_filtered's arguments
// as raw device pointers (entries, logprob_ids and logprobs may be null when unused).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backend/sampling_math.h"

namespace strata::cuda {

// The error of the launch (or of raising the kernel's shared-memory limit).
cudaError_t sample_filtered(const float* logits, int64_t m, int64_t vocab, const SamplingRowParams* params,
                            const int32_t* offsets, const int32_t* entries, int32_t* ids,
                            int32_t* logprob_ids, float* logprobs, cudaStream_t stream);

}  // namespace strata::cuda
