#include "backend/backend.h"

#include "core/status.h"

namespace strata {

void Backend::check_sample_filtered_args(const TensorView& logits, const TensorView& params,
                                         const TensorView& offsets, const TensorView& ids) {
  const int64_t m = ids.numel(), vocab = logits.shape.back();
  STRATA_CHECK(logits.dtype == DType::kF32 && logits.numel() >= m * vocab,
               "sample_filtered: logits {} {} for {} rows", dtype_name(logits.dtype), shape_str(logits.shape),
               m);
  STRATA_CHECK(vocab > 0 && vocab <= kMaxSampleVocab, "sample_filtered: a vocabulary of {} (at most {})",
               vocab, kMaxSampleVocab);
  STRATA_CHECK(params.nbytes() >= static_cast<size_t>(m) * sizeof(SamplingRowParams) && offsets.numel() >= m + 1,
               "sample_filtered: params / offsets for {} rows", m);
}

#ifndef STRATA_HAVE_CUDA
bool cuda_available() { return false; }
Result<std::unique_ptr<Backend>> create_cuda_backend(int) {
  return make_error("--device cuda: this build has no CUDA backend (configure with `cmake --preset cuda`)");
}
#endif

}  // namespace strata
