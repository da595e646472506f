// The building blocks of the full sampling kernel (sampling_filtered.cu): one row of the logits is
// held in the shared memory of a cluster of kCluster CTAs, CTA `rank` holding tokens
// [lo, lo + n); block reductions and scans, exchanges of small values between the CTAs of the cluster
// (distributed shared memory), and select(): the boundary token of a running count or mass in
// (logit desc, id asc) order, found with histograms over the logits (fine bins below the maximum,
// then radix rounds over the order-preserving keys inside the boundary bin) and, once few tokens are
// left, by gathering and sorting them.
//
// Every decision a CTA takes from exchanged values is taken identically by all CTAs of the cluster
// (the same data combined in the same order), so control flow stays uniform across the cluster and
// every cluster.sync() is reached by all its threads. Buffers read remotely alternate between two
// copies, so a buffer is rewritten only after a later cluster.sync() than the one its readers used.
#pragma once

#ifndef STRATA_CUDA_EMULATION  // tests/engine/cuda_emulation.h stands in for CUDA on the host
#include <cooperative_groups.h>
#include <cuda_runtime.h>
#endif

#include <climits>
#include <cstdint>

#include "backend/sampling_math.h"

// The emulation compiles this code for the host under its own namespace, so that nothing it defines
// meets the CUDA build's host-side stubs of the same functions at link time.
#ifdef STRATA_CUDA_EMULATION
#define STRATA_SAMPLING_NAMESPACE sampling_emulated
#else
#define STRATA_SAMPLING_NAMESPACE sampling_cluster
#endif

namespace strata::cuda::STRATA_SAMPLING_NAMESPACE {

namespace cg = cooperative_groups;
using namespace ::strata::sampling;

constexpr int kCluster = 8;
#ifdef STRATA_SAMPLING_THREADS  // the emulation runs smaller CTAs
constexpr int kThreads = STRATA_SAMPLING_THREADS;
#else
constexpr int kThreads = 256;
#endif
constexpr int kWarps = kThreads / 32;
constexpr int kBins = 4 * kThreads;            // histogram bins, 4 per thread
constexpr int kGather = 2 * kThreads;          // the most tokens gathered and sorted in one CTA
constexpr float kBinsPerUnit = kBins / 32.0f;  // first-level bins per logit (per temperature, masses):
                                               // the last bin starts 32 below the maximum
constexpr int bits_of_count(int v) {
  return v <= 1 ? 0 : 1 + bits_of_count(v / 2);
}
constexpr int kBinBits = bits_of_count(kBins);
static_assert(kThreads >= 32 && (kThreads & (kThreads - 1)) == 0 && kBins == 1 << kBinBits);
constexpr unsigned kFull = 0xffffffffu;
// draw_pass's table of Gumbel noise cut-offs: entry i for a needed noise of kCutMin + i / kCutPerUnit.
constexpr int kCutTable = 1280;
constexpr float kCutMin = -3.0f, kCutPerUnit = 64.0f;
constexpr float kNoiseMax = 16.7f;  // above every Gumbel noise (at most 16.64)

struct Mail {  // one CTA's part of an exchange
  float f[4];
  uint32_t u[4];
};

struct Shared {
  uint32_t hist_count[2][kBins];
  unsigned long long hist_mass[2][kBins];
  uint2 list[2][kGather];  // gathered (key, id), this CTA's
  uint2 sorted[kGather];   // gathered from the whole cluster, sorted
  Mail mail[2];
  Mail got[kCluster];  // the last exchange's mail of every CTA, by rank
  alignas(16) unsigned char red[kWarps * 16];
  unsigned long long scan_red[kWarps];
  uint32_t list_fill;
  int pick;
  int walk_bin;
  uint32_t walk_count, walk_count_through;
  unsigned long long walk_above;
  int32_t found_id;
  int32_t gumbel_cut[kCutTable];  // the largest noise index (bits >> 41) whose noise stays below the entry's
};

struct Best {
  float v;
  int32_t id;
};
// Larger value first, lower id on ties: commutative, so every lane of a butterfly ends equal.
__device__ __forceinline__ Best better_of(Best a, Best b) {
  return (b.v > a.v || (b.v == a.v && b.id < a.id)) ? b : a;
}

// One CTA's view of its row.
struct Row {
  Shared& sh;
  float* s;  // [n] this CTA's part of the row (sanitized, penalized while sampling), shared memory
  int n = 0, lo = 0, rank = 0;
  int mail_phase = 0, hist_phase = 0, list_phase = 0;
  float t = 0.0f, max = 0.0f, scaled_max = 0.0f;  // temperature, max logit, max / t
  uint64_t seed = 0;
};

template <class T>
__device__ __forceinline__ T shfl_xor_any(T v, int off) {
  static_assert(sizeof(T) % 4 == 0 && sizeof(T) <= 16);
  uint32_t w[sizeof(T) / 4];
  memcpy(w, &v, sizeof(T));
  for (int k = 0; k < static_cast<int>(sizeof(T) / 4); ++k) w[k] = __shfl_xor_sync(kFull, w[k], off);
  T r;
  memcpy(&r, w, sizeof(T));
  return r;
}

// op over the CTA's threads; every thread gets the result. op must be commutative.
template <class T, class Op>
__device__ T block_reduce(Shared& sh, T v, Op op) {
  for (int off = 16; off > 0; off >>= 1) v = op(v, shfl_xor_any(v, off));
  T* red = reinterpret_cast<T*>(sh.red);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  __syncthreads();
  T r = red[0];
  for (int w = 1; w < kWarps; ++w) r = op(r, red[w]);
  __syncthreads();
  return r;
}

// Exclusive prefix sum over the CTA's threads in thread order; total = the sum of all.
__device__ inline unsigned long long block_exclusive_scan(Shared& sh, unsigned long long v,
                                                          unsigned long long& total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  unsigned long long x = v;
  for (int off = 1; off < 32; off <<= 1) {
    const unsigned long long y = __shfl_up_sync(kFull, x, off);
    if (lane >= off) x += y;
  }
  if (lane == 31) sh.scan_red[warp] = x;
  __syncthreads();
  unsigned long long before = 0;
  total = 0;
  for (int w = 0; w < kWarps; ++w) {
    if (w < warp) before += sh.scan_red[w];
    total += sh.scan_red[w];
  }
  __syncthreads();
  return before + x - v;
}

// Publishes `mine` (thread 0's) to the cluster; afterwards sh.got[k] is CTA k's, for every thread.
__device__ inline void exchange(Row& r, const Mail& mine) {
  Mail* box = &r.sh.mail[r.mail_phase];
  r.mail_phase ^= 1;
  if (threadIdx.x == 0) *box = mine;
  cg::this_cluster().sync();
  if (threadIdx.x < kCluster) r.sh.got[threadIdx.x] = *cg::this_cluster().map_shared_rank(box, threadIdx.x);
  __syncthreads();
}

// The sum of u[0] over the cluster's CTAs.
__device__ inline unsigned long long cluster_sum(Row& r, uint32_t mine) {
  Mail m{};
  m.u[0] = mine;
  exchange(r, m);
  unsigned long long s = 0;
  for (int k = 0; k < kCluster; ++k) s += r.sh.got[k].u[0];
  return s;
}

struct Walk {
  int bin;
  unsigned long long above;   // weight before the bin, counted from the top (base included)
  uint32_t count;             // tokens in the bin
  uint32_t count_through;     // tokens in bins 0..bin
  unsigned long long target;  // what the walk looked for
};

// Sums the cluster's histograms hist[hp] (each CTA has filled its own and synced its block) and
// finds the first bin where base + the running weight (mass, or count) reaches target; target 0:
// top_p of the total weight (top_p_target).
__device__ inline Walk walk(Row& r, int hp, bool mass, unsigned long long base, unsigned long long target,
                            float top_p) {
  Shared& sh = r.sh;
  cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();
  const int b0 = threadIdx.x * 4;
  uint32_t cnt[4] = {0, 0, 0, 0};
  unsigned long long w[4] = {0, 0, 0, 0};
  for (int k = 0; k < kCluster; ++k) {
    const uint4 c = *reinterpret_cast<const uint4*>(cluster.map_shared_rank(&sh.hist_count[hp][b0], k));
    cnt[0] += c.x, cnt[1] += c.y, cnt[2] += c.z, cnt[3] += c.w;
    if (mass) {
      const ulonglong2 a =
          *reinterpret_cast<const ulonglong2*>(cluster.map_shared_rank(&sh.hist_mass[hp][b0], k));
      const ulonglong2 b =
          *reinterpret_cast<const ulonglong2*>(cluster.map_shared_rank(&sh.hist_mass[hp][b0 + 2], k));
      w[0] += a.x, w[1] += a.y, w[2] += b.x, w[3] += b.y;
    }
  }
  if (!mass)
    for (int j = 0; j < 4; ++j) w[j] = cnt[j];
  unsigned long long total_w = 0, total_c = 0;
  const unsigned long long ew = block_exclusive_scan(sh, w[0] + w[1] + w[2] + w[3], total_w);
  const unsigned long long ec = block_exclusive_scan(sh, cnt[0] + cnt[1] + cnt[2] + cnt[3], total_c);
  if (target == 0) target = top_p_target(top_p, total_w);
  if (threadIdx.x == kThreads - 1) {  // no crossing (cannot happen): the last bin
    sh.walk_bin = kBins - 1;
    sh.walk_above = base + ew + w[0] + w[1] + w[2];
    sh.walk_count = cnt[3];
    sh.walk_count_through = static_cast<uint32_t>(total_c);
  }
  __syncthreads();
  unsigned long long run_w = base + ew, run_c = ec;
  for (int j = 0; j < 4; ++j) {
    const unsigned long long next = run_w + w[j];
    run_c += cnt[j];
    if (run_w < target && next >= target) {
      sh.walk_bin = b0 + j;
      sh.walk_above = run_w;
      sh.walk_count = cnt[j];
      sh.walk_count_through = static_cast<uint32_t>(run_c);
    }
    run_w = next;
  }
  __syncthreads();
  const Walk out{sh.walk_bin, sh.walk_above, sh.walk_count, sh.walk_count_through, target};
  __syncthreads();
  return out;
}

__device__ __forceinline__ bool sorts_before(uint2 a, uint2 b) {
  return a.x > b.x || (a.x == b.x && a.y < b.y);
}

// Gathers the cluster's tokens that satisfy in(i, v, key): when there are at most kGather, fills
// sh.sorted[0, n) with them in (key desc, id asc) order (the same in every CTA) and returns n;
// else returns -1.
template <class In>
__device__ int gather(Row& r, In in) {
  Shared& sh = r.sh;
  uint2* list = sh.list[r.list_phase];
  r.list_phase ^= 1;
  if (threadIdx.x == 0) sh.list_fill = 0;
  __syncthreads();
  for (int i = threadIdx.x; i < r.n; i += kThreads) {
    const float v = r.s[i];
    const uint32_t key = order_key(v);
    if (!in(i, v, key)) continue;
    const uint32_t slot = atomicAdd(&sh.list_fill, 1u);
    if (slot < kGather) list[slot] = make_uint2(key, static_cast<uint32_t>(r.lo + i));
  }
  __syncthreads();
  Mail mine{};
  mine.u[0] = sh.list_fill;
  exchange(r, mine);
  uint32_t total = 0, offset[kCluster];
  for (int k = 0; k < kCluster; ++k) {
    offset[k] = total;
    total += sh.got[k].u[0];
  }
  if (total > kGather) return -1;
  cg::cluster_group cluster = cg::this_cluster();
  for (int k = 0; k < kCluster; ++k) {
    const uint2* remote = cluster.map_shared_rank(list, k);
    for (uint32_t e = threadIdx.x; e < sh.got[k].u[0]; e += kThreads) sh.sorted[offset[k] + e] = remote[e];
  }
  // Bitonic sort over the next power of two (padding sorts last: key 0 is below every real key).
  uint32_t size = 32;
  while (size < total) size <<= 1;
  for (uint32_t e = total + threadIdx.x; e < size; e += kThreads) sh.sorted[e] = make_uint2(0u, 0xffffffffu);
  __syncthreads();
  for (uint32_t k = 2; k <= size; k <<= 1)
    for (uint32_t j = k >> 1; j > 0; j >>= 1) {
      for (uint32_t i = threadIdx.x; i < size; i += kThreads) {
        const uint32_t x = i ^ j;
        if (x <= i) continue;
        const uint2 a = sh.sorted[i], b = sh.sorted[x];
        if ((i & k) == 0 ? sorts_before(b, a) : sorts_before(a, b)) {
          sh.sorted[i] = b;
          sh.sorted[x] = a;
        }
      }
      __syncthreads();
    }
  return static_cast<int>(total);
}

// The first position p of sh.sorted[0, n) (n <= kGather) where base + the running weight reaches
// target; weight(uint2 entry) -> unsigned long long.
template <class Weight>
__device__ int scan_list(Row& r, int n, Weight weight, unsigned long long base, unsigned long long target) {
  Shared& sh = r.sh;
  const int p0 = 2 * threadIdx.x;
  const unsigned long long w0 = p0 < n ? weight(sh.sorted[p0]) : 0,
                           w1 = p0 + 1 < n ? weight(sh.sorted[p0 + 1]) : 0;
  unsigned long long total = 0;
  const unsigned long long c0 = base + block_exclusive_scan(sh, w0 + w1, total), c1 = c0 + w0, c2 = c1 + w1;
  if (threadIdx.x == 0) sh.pick = n > 0 ? n - 1 : 0;
  __syncthreads();
  if (p0 < n && c0 < target && c1 >= target) sh.pick = p0;
  if (p0 + 1 < n && c1 < target && c2 >= target) sh.pick = p0 + 1;
  __syncthreads();
  const int pick = sh.pick;
  __syncthreads();
  return pick;
}

// The id of the q-th (1-based) token, in id order, of the cluster's tokens satisfying in().
template <class In>
__device__ int32_t qth_id(Row& r, In in, unsigned long long q) {
  Shared& sh = r.sh;
  const int per = (r.n + kThreads - 1) / kThreads;
  const int begin = min(r.n, static_cast<int>(threadIdx.x) * per), end = min(r.n, begin + per);
  uint32_t c = 0;
  for (int i = begin; i < end; ++i) c += in(i, r.s[i], order_key(r.s[i])) ? 1u : 0u;
  unsigned long long local = 0;
  const unsigned long long ex = block_exclusive_scan(sh, c, local);
  Mail mine{};
  mine.u[0] = static_cast<uint32_t>(local);
  exchange(r, mine);
  unsigned long long before = 0;
  int owner = -1;
  for (int k = 0; k < kCluster && owner < 0; ++k) {
    if (q <= before + sh.got[k].u[0])
      owner = k;
    else
      before += sh.got[k].u[0];
  }
  if (threadIdx.x == 0) sh.found_id = -1;
  __syncthreads();
  if (owner == r.rank) {
    const unsigned long long want = q - before;  // among this CTA's, 1-based
    if (ex < want && want <= ex + c) {
      unsigned long long seen = ex;
      for (int i = begin; i < end; ++i)
        if (in(i, r.s[i], order_key(r.s[i])) && ++seen == want) {
          sh.found_id = r.lo + i;
          break;
        }
    }
  }
  __syncthreads();
  Mail found{};
  found.u[0] = static_cast<uint32_t>(sh.found_id);
  exchange(r, found);
  return owner < 0 ? -1 : static_cast<int32_t>(sh.got[owner].u[0]);
}

// The boundary of a running weight over the cluster's tokens satisfying pred(i, v, key), taken in
// (key desc, id asc) order: the first token where the running weight reaches the target. Weight:
// 1 per token with target k_target (count mode), or the fixed-point mass (mass: needs r.t and
// r.scaled_max) with target top_p_target(top_p, total mass). ref >= every value; first-level bins
// are 1 / kBinsPerUnit logits (temperatures, for masses) wide. n_sorted >= 0: sh.sorted[0, n_sorted)
// holds every token satisfying pred from the top down to at least the boundary, which is at pos.
struct Sel {
  uint32_t key;
  int32_t id;
  int n_sorted;
  int pos;
};

template <class Pred>
__device__ Sel select(Row& r, Pred pred, bool mass, unsigned long long k_target, float top_p, float ref) {
  Shared& sh = r.sh;
  const float t = r.t, scaled_max = r.scaled_max, scale = mass ? kBinsPerUnit / t : kBinsPerUnit;
  auto weight_of = [=](float v) -> unsigned long long {
    return mass ? fixed_weight(relative_weight(v, t, scaled_max)) : 1ull;
  };
  auto bin0 = [=](float v) {
    return static_cast<int>(fminf(mul(sub(ref, v), scale), static_cast<float>(kBins - 1)));
  };
  auto unit = [=](uint2 e) { return weight_of(key_value(e.x)); };
  auto clear = [&](int hp) {
    for (int b = threadIdx.x; b < kBins; b += kThreads) sh.hist_count[hp][b] = 0, sh.hist_mass[hp][b] = 0;
    __syncthreads();
  };
  auto count_in = [&](int hp, int b, unsigned long long w) {
    atomicAdd(&sh.hist_count[hp][b], 1u);
    if (mass) atomicAdd(&sh.hist_mass[hp][b], w);
  };

  // Level 0: bins below ref. The last bin collects the tail (most tokens), counted in registers; its
  // masses are all 0 (more than 31.9 nats below the maximum: below 2^-40).
  int hp = r.hist_phase;
  r.hist_phase ^= 1;
  clear(hp);
  uint32_t tail_count = 0;
  for (int i = threadIdx.x; i < r.n; i += kThreads) {
    const float v = r.s[i];
    if (!pred(i, v, order_key(v))) continue;
    const int b = bin0(v);
    if (b == kBins - 1) {
      ++tail_count;
    } else {
      count_in(hp, b, weight_of(v));
    }
  }
  if (tail_count > 0) atomicAdd(&sh.hist_count[hp][kBins - 1], tail_count);
  __syncthreads();
  const Walk w0 = walk(r, hp, mass, 0, mass ? 0 : k_target, top_p);
  const unsigned long long target = w0.target;
  if (w0.count_through <= kGather) {  // everything down to the boundary's bin fits: sort it all
    const int bin = w0.bin;
    const int n = gather(r, [&](int i, float v, uint32_t key) { return pred(i, v, key) && bin0(v) <= bin; });
    const int pos = scan_list(r, n, unit, 0, target);
    return {sh.sorted[pos].x, static_cast<int32_t>(sh.sorted[pos].y), n, pos};
  }

  // The boundary bin's key range; then radix rounds over the keys inside it until it is small
  // enough to sort, or a single key (a tie: the boundary is the q-th of its tokens by id).
  unsigned long long above = w0.above;
  uint32_t count = w0.count;
  uint32_t klo, khi;
  {
    struct MinMax {
      uint32_t lo, hi;
    };
    MinMax mm{0xffffffffu, 0u};
    for (int i = threadIdx.x; i < r.n; i += kThreads) {
      const float v = r.s[i];
      const uint32_t key = order_key(v);
      if (pred(i, v, key) && bin0(v) == w0.bin) mm.lo = min(mm.lo, key), mm.hi = max(mm.hi, key);
    }
    mm = block_reduce(sh, mm, [](MinMax a, MinMax b) { return MinMax{min(a.lo, b.lo), max(a.hi, b.hi)}; });
    Mail mine{};
    mine.u[0] = mm.lo;
    mine.u[1] = mm.hi;
    exchange(r, mine);
    klo = 0xffffffffu, khi = 0u;
    for (int k = 0; k < kCluster; ++k) klo = min(klo, sh.got[k].u[0]), khi = max(khi, sh.got[k].u[1]);
  }
  while (true) {
    const uint32_t lo_key = klo, hi_key = khi;
    auto in_range = [&, lo_key, hi_key](int i, float v, uint32_t key) {
      return key >= lo_key && key <= hi_key && pred(i, v, key);
    };
    if (count <= kGather) {
      const int n = gather(r, in_range);
      const int pos = scan_list(r, n, unit, above, target);
      return {sh.sorted[pos].x, static_cast<int32_t>(sh.sorted[pos].y), -1, pos};
    }
    if (klo == khi) {
      const unsigned long long each = weight_of(key_value(khi));
      const unsigned long long q = each > 0 ? (target - above + each - 1) / each : 1;
      return {khi, qth_id(r, in_range, q), -1, 0};
    }
    const int shift = max(0, 32 - __clz(static_cast<int>(khi - klo)) - kBinBits);  // sub-bins < kBins
    hp = r.hist_phase;
    r.hist_phase ^= 1;
    clear(hp);
    for (int i = threadIdx.x; i < r.n; i += kThreads) {
      const float v = r.s[i];
      const uint32_t key = order_key(v);
      if (in_range(i, v, key)) count_in(hp, static_cast<int>((khi - key) >> shift), weight_of(v));
    }
    __syncthreads();
    const Walk w = walk(r, hp, mass, above, target, top_p);
    above = w.above;
    count = w.count;
    const uint32_t new_hi = khi - (static_cast<uint32_t>(w.bin) << shift), width = (1u << shift) - 1u;
    klo = new_hi - klo > width ? new_hi - width : klo;
    khi = new_hi;
  }
}

}  // namespace strata::cuda::STRATA_SAMPLING_NAMESPACE
