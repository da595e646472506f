// Paged attention on the CPU: the KV-cache write and causal GQA attention over block tables.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.h"

namespace strata {

void CpuBackend::write_kv(const TensorView& k, const TensorView& v, const TensorView& k_cache,
                          const TensorView& v_cache, const TensorView& slot_mapping) {
  const int64_t n = k.dim(0);
  const int64_t row = k.dim(1) * k.dim(2);  // kv_heads * head_dim
  const int64_t num_slots = k_cache.dim(0) * k_cache.dim(1);
  const int64_t* slots = slot_mapping.as<int64_t>();
  for (int64_t t = 0; t < n; ++t) {
    if (slots[t] < 0) continue;  // padding token
    STRATA_CHECK(slots[t] < num_slots, "slot {} outside the cache ({} slots)", slots[t], num_slots);
    std::memcpy(k_cache.as<float>() + slots[t] * row, k.as<float>() + t * row, row * sizeof(float));
    std::memcpy(v_cache.as<float>() + slots[t] * row, v.as<float>() + t * row, row * sizeof(float));
  }
}

void CpuBackend::paged_attention(const TensorView& q, const TensorView& k_cache, const TensorView& v_cache,
                                 const AttentionMetadata& meta, float scale, const TensorView& out) {
  const int64_t heads = q.dim(1), d = q.dim(2);
  const int64_t block_size = k_cache.dim(1), kv_heads = k_cache.dim(2);
  const int64_t group = heads / kv_heads;
  const int64_t max_blocks = meta.block_tables.dim(1);
  const int32_t* qsl = meta.query_start_loc.as<int32_t>();
  const int32_t* lens = meta.seq_lens.as<int32_t>();
  const int32_t* tables = meta.block_tables.as<int32_t>();
  const float* kc = k_cache.as<float>();
  const float* vc = v_cache.as<float>();
  // One work item per (query token, head).
  const int64_t n = q.dim(0);
  std::vector<int32_t> seq_of(n);
  for (int32_t s = 0; s < meta.num_seqs; ++s)
    for (int32_t t = qsl[s]; t < qsl[s + 1]; ++t) seq_of[t] = s;
#pragma omp parallel
  {
    std::vector<float> scores(meta.max_seq_len > 0 ? meta.max_seq_len : 1);
#pragma omp for schedule(dynamic, 4)
    for (int64_t item = 0; item < n * heads; ++item) {
      const int64_t t = item / heads, h = item % heads, kvh = h / group;
      const int32_t s = seq_of[t];
      const int32_t q_len = qsl[s + 1] - qsl[s];
      const int32_t ctx = lens[s];
      // Query token t is at position ctx - q_len + (t - qsl[s]); it sees keys 0..that position.
      const int32_t visible = ctx - q_len + (static_cast<int32_t>(t) - qsl[s]) + 1;
      if (static_cast<int64_t>(scores.size()) < visible) scores.resize(visible);
      const float* qv = q.as<float>() + (t * heads + h) * d;
      const int32_t* table = tables + static_cast<int64_t>(s) * max_blocks;
      float mx = -INFINITY;
      for (int32_t j = 0; j < visible; ++j) {
        int64_t slot = static_cast<int64_t>(table[j / block_size]) * block_size + j % block_size;
        const float* kv = kc + (slot * kv_heads + kvh) * d;
        float dot = 0;
        for (int64_t i = 0; i < d; ++i) dot += qv[i] * kv[i];
        scores[j] = dot * scale;
        mx = std::max(mx, scores[j]);
      }
      float sum = 0;
      for (int32_t j = 0; j < visible; ++j) {
        scores[j] = std::exp(scores[j] - mx);
        sum += scores[j];
      }
      float* o = out.as<float>() + (t * heads + h) * d;
      std::fill(o, o + d, 0.0f);
      const float inv = 1.0f / sum;
      for (int32_t j = 0; j < visible; ++j) {
        int64_t slot = static_cast<int64_t>(table[j / block_size]) * block_size + j % block_size;
        const float* vv = vc + (slot * kv_heads + kvh) * d;
        const float p = scores[j] * inv;
        for (int64_t i = 0; i < d; ++i) o[i] += p * vv[i];
      }
    }
  }
}

}  // namespace strata
