// CpuBackend: weight upload/generation, the fused q/k/v rope + KV-cache write, greedy argmax.
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "core/dummy_init.h"
#include "core/gumbel.h"

namespace strata {

void CpuBackend::upload(const TensorView& src, const TensorView& dst) {
  STRATA_CHECK(dst.dtype == DType::kF32 && src.numel() == dst.numel(), "upload {} {} → {} {}",
               dtype_name(src.dtype), shape_str(src.shape), dtype_name(dst.dtype), shape_str(dst.shape));
  convert_to_f32(src.dtype, src.data, dst.as<float>(), static_cast<size_t>(src.numel()));
}

void CpuBackend::copy_from_host_2d(const void* src, size_t src_pitch, void* dst, size_t dst_pitch, size_t row_bytes,
                                   size_t rows) {
  for (size_t i = 0; i < rows; ++i)
    std::memcpy(static_cast<char*>(dst) + i * dst_pitch, static_cast<const char*>(src) + i * src_pitch, row_bytes);
}

void CpuBackend::fill_dummy(const TensorView& dst, uint64_t key, int64_t row0, int64_t col0, int64_t full_cols,
                            float center, float scale) {
  STRATA_CHECK(dst.dtype == DType::kF32, "fill_dummy: expected F32");
  const int64_t cols = dst.shape.size() >= 2 ? dst.shape.back() : 1, rows = dst.numel() / cols;
  float* out = dst.as<float>();
#pragma omp parallel for schedule(static) if (rows * cols > 65536)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out[r * cols + c] = dummy_value(key, static_cast<uint64_t>((row0 + r) * full_cols + col0 + c), center, scale);
}

void CpuBackend::qkv_rope_cache(const TensorView& qkv, const TensorView& positions, const TensorView& cos_sin,
                                const TensorView& q_out, const TensorView& k_cache, const TensorView& v_cache,
                                const TensorView& slot_mapping) {
  const int64_t n = q_out.dim(0), heads = q_out.dim(1), d = q_out.dim(2), kv_heads = k_cache.dim(2);
  const int64_t width = (heads + 2 * kv_heads) * d;
  STRATA_CHECK(qkv.numel() == n * width, "qkv {} for {} heads + 2 x {} kv heads of {}", shape_str(qkv.shape), heads,
               kv_heads, d);
  Tensor k = Tensor::host(DType::kF32, {n, kv_heads, d});
  Tensor v = Tensor::host(DType::kF32, {n, kv_heads, d});
  for (int64_t t = 0; t < n; ++t) {
    const float* row = qkv.as<float>() + t * width;
    std::memcpy(q_out.as<float>() + t * heads * d, row, heads * d * sizeof(float));
    std::memcpy(k.data<float>() + t * kv_heads * d, row + heads * d, kv_heads * d * sizeof(float));
    std::memcpy(v.data<float>() + t * kv_heads * d, row + (heads + kv_heads) * d, kv_heads * d * sizeof(float));
  }
  rope(q_out, k.view(), positions, cos_sin);
  write_kv(k.view(), v.view(), k_cache, v_cache, slot_mapping);
}

void CpuBackend::argmax_rows(const TensorView& logits, const TensorView& ids) {
  const int64_t m = ids.numel(), n = logits.shape.back();
  for (int64_t i = 0; i < m; ++i) {
    const float* row = logits.as<float>() + i * n;
    int64_t best = 0;
    float best_v = -INFINITY;  // NaN never wins (as the GPU kernel and the host sampler)
    for (int64_t j = 0; j < n; ++j)
      if (row[j] > best_v) best_v = row[j], best = j;
    ids.as<int32_t>()[i] = static_cast<int32_t>(best);
  }
}

void CpuBackend::sample_rows(const TensorView& logits, const TensorView& temperatures, const TensorView& seeds,
                             const TensorView& ids) {
  const int64_t m = ids.numel(), n = logits.shape.back();
  for (int64_t i = 0; i < m; ++i) {
    const float* row = logits.as<float>() + i * n;
    const float t = temperatures.as<float>()[i];
    const uint64_t seed = static_cast<uint64_t>(seeds.as<int64_t>()[i]);
    int64_t best = 0;
    float best_v = -INFINITY;
    for (int64_t j = 0; j < n; ++j) {
      const float v = t > 0.0f ? row[j] / t + gumbel_noise(seed, static_cast<uint64_t>(j)) : row[j];
      if (v > best_v) best_v = v, best = j;
    }
    ids.as<int32_t>()[i] = static_cast<int32_t>(best);
  }
}

}  // namespace strata
