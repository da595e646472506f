// The body of the full sampling kernel (sampling_filtered.cu), one CTA's part of one row: load,
// penalties, the cluster's max and raw statistics, the draw (greedy, temperature only, or through
// select() for top_k / top_p / min_p), then raw logprobs. A header so that the CPU emulation of the
// kernel (tests/engine/sampling_kernel_test.cpp) runs the very same code.
#pragma once

#include "backend/cuda/sampling_cluster.cuh"

namespace strata::cuda::STRATA_SAMPLING_NAMESPACE {

constexpr int kLogprobWidth = 1 + kMaxSampleLogprobs;

struct Stats {  // the penalized argmax, and the raw row's max and sum of exp(v - max)
  float v;
  int32_t id;
  float raw_max, raw_sum;
};
__device__ __forceinline__ Stats merge(Stats a, Stats b) {
  const Best best = better_of({a.v, a.id}, {b.v, b.id});
  const float m = fmaxf(a.raw_max, b.raw_max);
  float s = 0.0f;
  if (a.raw_max > -INFINITY) s += a.raw_sum * expf(a.raw_max - m);
  if (b.raw_max > -INFINITY) s += b.raw_sum * expf(b.raw_max - m);
  return {best.v, best.id, m, s};
}

__device__ __forceinline__ void online(float v, float& m, float& s) {
  if (v > m) {
    s = s * expf(m - v) + 1.0f;
    m = v;
  } else if (v > -INFINITY) {
    s += expf(v - m);
  }
}

__device__ inline int32_t finish_best(Best b) {
  return b.id == INT_MAX ? 0 : b.id;
}

// sh.gumbel_cut[i] = a noise index k (the top 23 bits of splitmix64, core/gumbel.h) at or below which
// the noise is below kCutMin + i / kCutPerUnit: the largest such k, less 2 for the rounding of this
// f32 computation (u of index k is (k + 0.5) / 2^23; the noise is at most `need` exactly when u <=
// exp(-exp(-need)), taken as 1 - expm1 for u near 1), and with 1e-3 off `need` for logf's rounding.
__device__ inline void fill_gumbel_cut(Shared& sh) {
  for (int i = threadIdx.x; i < kCutTable; i += kThreads) {
    const float need = kCutMin + static_cast<float>(i) / kCutPerUnit - 1e-3f;
    const float e = expf(-need);
    const float scaled_u = need <= 0.0f ? expf(-e) * 8388608.0f : 8388608.0f + expm1f(-e) * 8388608.0f;
    const float k = floorf(scaled_u - 0.5f) - 2.0f;
    sh.gumbel_cut[i] = k < 0.0f ? -1 : static_cast<int32_t>(fminf(k, 8388607.0f));
  }
  __syncthreads();
}

// Gumbel-max over the CTA's tokens that kept(i, v, key) admits, then over the cluster. Exact, but
// most tokens skip the noise's two logarithms: a thread's best key starts at the row's argmax token's
// (always kept), and a token whose noise index lies at or below the cut-off for the noise it would
// need to beat that best (with a margin for v * (1 / t) against v / t) cannot win.
template <class Kept>
__device__ int32_t draw_pass(Row& r, int32_t first, Kept kept) {
  fill_gumbel_cut(r.sh);
  const float inv_t = 1.0f / r.t;
  Best best{gumbel_key(r.max, r.t, r.seed, first), first};
  for (int i = threadIdx.x; i < r.n; i += kThreads) {
    const float v = r.s[i];
    const float scaled = v * inv_t;
    const float need = best.v - scaled - (0.01f + 1e-6f * fabsf(scaled));
    if (!(need < kNoiseMax)) continue;  // beyond any noise (also -inf logits)
    const int32_t j = r.lo + i;
    const uint64_t bits = splitmix64(r.seed + static_cast<uint64_t>(j));
    if (need >= kCutMin) {
      const int at = min(static_cast<int>((need - kCutMin) * kCutPerUnit), kCutTable - 1);
      if (static_cast<int32_t>(bits >> 41) <= r.sh.gumbel_cut[at]) continue;
    }
    if (!kept(i, v, order_key(v))) continue;
    best = better_of(best, {v / r.t + gumbel_from_bits(bits), j});  // gumbel_key's expression
  }
  best = block_reduce(r.sh, best, [](Best a, Best b) { return better_of(a, b); });
  Mail mine{};
  mine.f[0] = best.v;
  mine.u[0] = static_cast<uint32_t>(best.id);
  exchange(r, mine);
  Best all{-INFINITY, INT_MAX};
  for (int k = 0; k < kCluster; ++k)
    all = better_of(all, {r.sh.got[k].f[0], static_cast<int32_t>(r.sh.got[k].u[0])});
  return finish_best(all);
}

// Gumbel-max over sh.sorted[0, end) entries that kept admits (every CTA computes the same).
template <class Kept>
__device__ int32_t draw_list(Row& r, int end, Kept kept) {
  Best best{-INFINITY, INT_MAX};
  for (int j = threadIdx.x; j < end; j += kThreads) {
    const uint2 e = r.sh.sorted[j];
    const float v = key_value(e.x);
    if (!kept(0, v, e.x)) continue;
    best = better_of(best, {gumbel_key(v, r.t, r.seed, e.y), static_cast<int32_t>(e.y)});
  }
  return finish_best(block_reduce(r.sh, best, [](Best a, Best b) { return better_of(a, b); }));
}

// The token of a row with temperature > 0 and a finite maximum.
__device__ inline int32_t sample(Row& r, const SamplingRowParams& p, int64_t vocab, int32_t first) {
  const bool use_k = p.top_k > 0 && p.top_k < vocab;
  const bool use_p = p.top_p < 1.0f;
  const bool use_min = p.min_p > 0.0f;
  auto all = [](int, float, uint32_t) { return true; };
  if (!use_k && !use_p && !use_min) return draw_pass(r, first, all);
  uint32_t key_k = 0;  // top_k keeps keys >= this
  const float t = r.t, scaled_max = r.scaled_max, min_p = p.min_p;
  auto cand = [&key_k, use_min, t, scaled_max, min_p](int, float v, uint32_t key) {
    return key >= key_k && (!use_min || relative_weight(v, t, scaled_max) >= min_p);
  };
  if (use_k) {
    const Sel sel = select(r, all, false, static_cast<unsigned long long>(p.top_k), 1.0f, r.max);
    key_k = sel.key;
    if (sel.n_sorted >= 0) {  // every candidate is in the sorted list
      int end = sel.n_sorted;
      if (use_p) {
        auto mass = [&](uint2 e) -> unsigned long long {
          const float v = key_value(e.x);
          return cand(0, v, e.x) ? fixed_weight(relative_weight(v, t, scaled_max)) : 0ull;
        };
        unsigned long long part = 0, total = 0;
        for (int j = threadIdx.x; j < end; j += kThreads) part += mass(r.sh.sorted[j]);
        block_exclusive_scan(r.sh, part, total);
        end = scan_list(r, end, mass, 0, top_p_target(p.top_p, total)) + 1;
      }
      return draw_list(r, end, cand);
    }
  }
  if (use_p) {
    const Sel sel = select(r, cand, true, 0, p.top_p, r.max);
    if (sel.n_sorted >= 0) return draw_list(r, sel.pos + 1, cand);
    const uint32_t kb = sel.key;
    const int32_t ib = sel.id;
    const int lo = r.lo;
    return draw_pass(r, first, [&cand, kb, ib, lo](int i, float v, uint32_t key) {
      return cand(i, v, key) && (key > kb || (key == kb && lo + i <= ib));
    });
  }
  return draw_pass(r, first, cand);
}

// Writes (or, restore: rewrites from the raw row) the penalized values of this CTA's tokens.
__device__ inline void apply_entries(Row& r, const SamplingRowParams& p, const float* raw, const int32_t* entries,
                              int e0, int e1, bool restore) {
  for (int e = e0 + threadIdx.x; e < e1; e += kThreads) {
    const int i = entries[2 * e] - r.lo;
    if (i < 0 || i >= r.n) continue;
    const uint32_t word = static_cast<uint32_t>(entries[2 * e + 1]);
    r.s[i] = restore ? sanitize(raw[i])
                     : penalize(r.s[i], word & ~kInPromptBit, (word & kInPromptBit) != 0,
                                p.repetition_penalty, p.frequency_penalty, p.presence_penalty);
  }
  __syncthreads();
}

// One CTA's part of the kernel for row blockIdx.y: sh and slice_mem are its shared memory.
__device__ inline void sample_filtered_row(Shared& sh, float* slice_mem, const float* logits, int64_t vocab,
                                           int slice, const SamplingRowParams* params, const int32_t* offsets,
                                           const int32_t* entries, int32_t* ids, int32_t* logprob_ids,
                                           float* logprobs) {
  const int64_t row = blockIdx.y;
  const int rank = static_cast<int>(cg::this_cluster().block_rank());
  Row r{sh, slice_mem};
  r.rank = rank;
  r.lo = rank * slice;
  const int64_t left = vocab - r.lo;
  r.n = left <= 0 ? 0 : static_cast<int>(left < slice ? left : slice);
  const float* raw = logits + row * vocab + r.lo;  // this CTA's tokens of the row
  const SamplingRowParams p = params[row];
  const bool want_logprobs = p.num_logprobs >= 0;

  // Load (sanitized), with the raw max and sum of exponentials when logprobs are wanted.
  float raw_max = -INFINITY, raw_sum = 0.0f;
  int done = 0;
  if ((reinterpret_cast<uintptr_t>(raw) & 15) == 0) {
    const float4* src = reinterpret_cast<const float4*>(raw);
    float4* dst = reinterpret_cast<float4*>(r.s);
    for (int i = threadIdx.x; i < r.n / 4; i += kThreads) {
      float4 x = __ldcs(src + i);
      x = make_float4(sanitize(x.x), sanitize(x.y), sanitize(x.z), sanitize(x.w));
      dst[i] = x;
      if (want_logprobs) {
        online(x.x, raw_max, raw_sum);
        online(x.y, raw_max, raw_sum);
        online(x.z, raw_max, raw_sum);
        online(x.w, raw_max, raw_sum);
      }
    }
    done = r.n / 4 * 4;
  }
  for (int i = done + threadIdx.x; i < r.n; i += kThreads) {
    const float v = sanitize(raw[i]);
    r.s[i] = v;
    if (want_logprobs) online(v, raw_max, raw_sum);
  }
  __syncthreads();
  const int e0 = offsets[row], e1 = offsets[row + 1];
  if (e1 > e0) apply_entries(r, p, raw, entries, e0, e1, false);

  // The penalized max (and argmax) and the raw statistics of the whole row.
  Stats st{-INFINITY, INT_MAX, raw_max, raw_sum};
  for (int i = threadIdx.x; i < r.n; i += kThreads) {
    const Best b = better_of({st.v, st.id}, {r.s[i], r.lo + i});
    st.v = b.v, st.id = b.id;
  }
  st = block_reduce(sh, st, [](Stats a, Stats b) { return merge(a, b); });
  {
    Mail mine{};
    mine.f[0] = st.v, mine.f[1] = st.raw_max, mine.f[2] = st.raw_sum;
    mine.u[0] = static_cast<uint32_t>(st.id);
    exchange(r, mine);
    Stats all{-INFINITY, INT_MAX, -INFINITY, 0.0f};
    for (int k = 0; k < kCluster; ++k) {
      const Mail& g = sh.got[k];
      all = merge(all, {g.f[0], static_cast<int32_t>(g.u[0]), g.f[1], g.f[2]});
    }
    st = all;
  }

  int32_t token = 0;
  if (!(p.temperature > 0.0f)) {
    token = finish_best({st.v, st.id});
  } else if (st.v > -INFINITY) {
    r.t = p.temperature;
    r.max = st.v;
    r.scaled_max = st.v / p.temperature;
    r.seed = p.seed;
    token = sample(r, p, vocab, st.id);
  }
  if (rank == 0 && threadIdx.x == 0) ids[row] = token;

  if (want_logprobs) {
    if (e1 > e0) apply_entries(r, p, raw, entries, e0, e1, true);
    const float log_sum = logf(st.raw_sum);
    const float value = sanitize(logits[row * vocab + token]);
    uint32_t ge = 0;
    for (int i = threadIdx.x; i < r.n; i += kThreads) ge += r.s[i] >= value ? 1u : 0u;
    ge = block_reduce(sh, ge, [](uint32_t a, uint32_t b) { return a + b; });
    const unsigned long long tokens_ge = cluster_sum(r, ge);
    const int asked = min(p.num_logprobs, kMaxSampleLogprobs);
    const int n_top = asked < vocab ? asked : static_cast<int>(vocab);
    int32_t* lid = logprob_ids + row * kLogprobWidth;
    float* lv = logprobs + row * kLogprobWidth;
    if (n_top > 0) {
      auto all = [](int, float, uint32_t) { return true; };
      const Sel sel = select(r, all, false, static_cast<unsigned long long>(n_top), 1.0f, st.raw_max);
      if (sel.n_sorted < 0) {
        const uint32_t kb = sel.key;
        const int32_t ib = sel.id;
        const int lo = r.lo;
        gather(r,
               [kb, ib, lo](int i, float, uint32_t key) { return key > kb || (key == kb && lo + i <= ib); });
      }
      if (rank == 0 && static_cast<int>(threadIdx.x) < n_top) {
        const uint2 e = sh.sorted[threadIdx.x];
        lid[1 + threadIdx.x] = static_cast<int32_t>(e.y);
        lv[1 + threadIdx.x] = sub(sub(key_value(e.x), st.raw_max), log_sum);
      }
    }
    if (rank == 0 && threadIdx.x == 0) {
      lid[0] = static_cast<int32_t>(tokens_ge);
      lv[0] = sub(sub(value, st.raw_max), log_sum);
    }
  }
  cg::this_cluster().sync();  // no CTA leaves while another may still read its shared memory
}

}  // namespace strata::cuda::STRATA_SAMPLING_NAMESPACE
