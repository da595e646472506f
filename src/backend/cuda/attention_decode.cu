// Paged attention for sequences with one query row (decode), split-KV ("flash decoding"). This file's
// CUDA-core kernel serves F32, other head sizes and unaligned tensors; 16-bit K/V with head_dim 64 or
// 128 go to the tensor-core kernel of attention_decode_mma.cu (same grid, splits and partials, up to
// kDecodeMmaMaxHeads query heads per CTA), dispatched by launch_decode below.
//
// Grid (num_splits, num_kv_heads * head_chunks, num_seqs), 128 threads. A CTA takes one sequence,
// one KV head and up to kDecodeMaxHeads query heads of that head's GQA group, so each K/V row it
// reads serves all of them. Split j of a sequence covers keys [j * chunk, min(len, (j + 1) * chunk))
// with chunk = decode_split_keys(len, num_splits, kSplitMinKeys); len = seq_lens[s] is read on the
// device, so the launch shape depends only on num_seqs, num_heads, num_kv_heads and head_dim (and on
// pointer alignment), as CUDA graphs need. Empty splits write a neutral partial (m = -inf, l = 0).
// num_splits = clamp(ceil(kTargetCtas / (num_seqs * num_kv_heads * head_chunks)), 1, kMaxSplits)
// (kTargetCtas = 528, four CTAs per H100 multiprocessor; kMaxSplits = 64), or 1 without a workspace.
//
// Per key tile (TK keys): K and V rows -> shared memory by cp.async (double-buffered where shared
// memory allows: the next tile loads while this one is used); scores of every (head, key);
// online softmax per head (one warp per head); acc += p * V. With one split the CTA writes the
// normalised output; otherwise unnormalised acc and (m, l) go to the workspace and
// decode_combine_kernel merges the splits.
#include <algorithm>
#include <cstdlib>
#include <string_view>

#include "backend/cuda/attention_common.cuh"

namespace strata::cuda::attn {
namespace {

constexpr int kDecodeThreads = 128;
constexpr int kDecodeWarps = kDecodeThreads / 32;
constexpr int kDecodeMaxHeads = 8;  // query heads per CTA
constexpr int kHeadsPerWarp = kDecodeMaxHeads / kDecodeWarps;
constexpr int kMaxTileKeys = 32;
constexpr int kMaxSplits = 64;
constexpr int kTargetCtas = 4 * 132;  // four CTAs per multiprocessor of an H100 SXM
// Keys a split covers at least: a short sequence takes fewer splits (each CTA's fixed cost, and the
// combine's reads, buy at least this much of the key range; 64 = one 16-key block per warp of the
// tensor-core kernel, two tiles of the CUDA-core one).
constexpr int kSplitMinKeys = 64;
static_assert(kDecodeMaxHeads % kDecodeWarps == 0, "softmax gives each warp the same number of heads");

// Shared-memory row stride (bytes) of a K/V row of row_bytes bytes: 16-byte aligned plus 16 bytes of
// padding, so that 8 lanes reading 16 bytes of 8 consecutive rows hit distinct banks.
__host__ __device__ constexpr int decode_row_stride(int row_bytes) { return (row_bytes + 15) / 16 * 16 + 16; }
// Keys per tile: 32, or 16 for rows longer than 256 bytes (keeps the K/V tiles under 17 KB each).
__host__ __device__ constexpr int decode_tile_keys(int row_bytes) { return row_bytes <= 256 ? 32 : 16; }

template <typename T, int HD, int VB>
struct DecodeCfg {
  static constexpr int kSize = static_cast<int>(sizeof(T));
  static constexpr int kDMax = HD > 0 ? HD : 256;  // head_dim bound (exact when HD > 0)
  static constexpr int kE = VB / kSize;            // elements per VB-byte chunk
  static constexpr int kMaxChunks = kDMax * kSize / VB;
  static constexpr int kKvBytes =
      HD > 0 ? decode_tile_keys(HD * kSize) * decode_row_stride(HD * kSize)
             : std::max(kMaxTileKeys * decode_row_stride(256), 16 * decode_row_stride(kDMax * kSize));
  // (head, chunk) output items per thread in the P.V step.
  static constexpr int kItems = (kDecodeMaxHeads * kMaxChunks + kDecodeThreads - 1) / kDecodeThreads;
  static_assert(HD == 0 || (HD * kSize) % VB == 0, "head rows must be whole chunks");
  static_assert(kKvBytes % 16 == 0, "tile buffers keep 16-byte alignment");
  // The cross-thread reduction of the P.V partials reuses the K tile: < kDecodeThreads * kE floats.
  static_assert(kDecodeThreads * kE * 4 <= kKvBytes, "reduction buffer fits in the K tile");
  // Double-buffered K/V tiles (the next tile loads while this one is used) where the static shared
  // memory stays under 48 KB; else one buffer.
  static constexpr int kOtherSmem = 4 * kDecodeMaxHeads * (kDMax + kMaxTileKeys + 3);
  static constexpr int kStages = 4 * kKvBytes + kOtherSmem <= 48 * 1024 ? 2 : 1;
};

template <typename T, int HD, int VB>
__global__ void __launch_bounds__(kDecodeThreads, 4) decode_kernel(const DecodeParams p) {
  using Cfg = DecodeCfg<T, HD, VB>;
  constexpr int E = Cfg::kE;
  constexpr int kDMax = Cfg::kDMax;
  constexpr int kItems = Cfg::kItems;

  constexpr int kStages = Cfg::kStages;
  __shared__ __align__(16) unsigned char k_s[kStages][Cfg::kKvBytes];
  __shared__ __align__(16) unsigned char v_s[kStages][Cfg::kKvBytes];
  __shared__ __align__(16) float q_s[kDecodeMaxHeads * kDMax];  // q * scale * log2(e), row g at g * kDMax
  __shared__ float p_s[kDecodeMaxHeads * kMaxTileKeys];        // scores, then probabilities
  __shared__ float corr_s[kDecodeMaxHeads];                    // this tile's rescale factor per head
  __shared__ float m_s[kDecodeMaxHeads];                       // final running max per head
  __shared__ float l_s[kDecodeMaxHeads];                       // final running sum per head

  const int D = HD > 0 ? HD : p.head_dim;
  const int row_bytes = D * Cfg::kSize;
  const int RS = decode_row_stride(row_bytes);
  const int TK = decode_tile_keys(row_bytes);
  const int CPR = row_bytes / VB;  // chunks per row

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int split = blockIdx.x;
  const int kvh = blockIdx.y / p.head_chunks;
  const int hc = blockIdx.y - kvh * p.head_chunks;
  const int s = blockIdx.z;
  const int H = p.num_heads;
  const int S = p.num_splits;

  const int q_row = p.query_start_loc[s];
  if (p.query_start_loc[s + 1] - q_row != 1) return;  // not a one-query sequence
  const int g0 = hc * p.heads_per_cta;
  const int gc = min(p.heads_per_cta, p.group - g0);  // heads of this CTA: h0 .. h0 + gc - 1
  if (gc <= 0) return;
  const int h0 = kvh * p.group + g0;

  const int len = p.seq_lens[s];  // the query sits at position len - 1 and sees keys 0 .. len - 1
  const int chunk = decode_split_keys(len, S, p.split_min_keys);
  const int t_begin = split * chunk;
  const int t_end = min(len, t_begin + chunk);

  if (t_begin >= t_end) {  // empty split (or an empty sequence)
    decode_empty_split<T>(p, s, q_row, h0, gc, split);
    return;
  }
  T* out = static_cast<T*>(p.out);

  // Query rows of the CTA's heads, pre-scaled.
  const T* q = static_cast<const T*>(p.q);
  for (int i = tid; i < gc * D; i += kDecodeThreads) {
    const int g = i / D, d = i - g * D;
    q_s[g * kDMax + d] = to_f32(q[(static_cast<int64_t>(q_row) * H + h0 + g) * D + d]) * p.qscale;
  }

  // Softmax state of heads g = warp + kDecodeWarps * i (identical in every lane of the warp).
  float m_r[kHeadsPerWarp], l_r[kHeadsPerWarp];
#pragma unroll
  for (int i = 0; i < kHeadsPerWarp; ++i) m_r[i] = -INFINITY, l_r[i] = 0.f;

  // P.V work split: n_items (head, chunk) outputs; when there are fewer items than threads, KS groups
  // of threads take every KS-th key of the tile and are summed at the end.
  const int n_items = gc * CPR;
  const int KS = n_items >= kDecodeThreads ? 1 : kDecodeThreads / n_items;
  const int my_ks = n_items >= kDecodeThreads ? 0 : tid / n_items;
  const int base = n_items >= kDecodeThreads ? tid : tid - my_ks * n_items;
  const bool pv_active = my_ks < KS;
  float acc[kItems][E];
#pragma unroll
  for (int it = 0; it < kItems; ++it)
#pragma unroll
    for (int e = 0; e < E; ++e) acc[it][e] = 0.f;

  const int32_t* table = p.block_tables + static_cast<int64_t>(s) * p.max_blocks_per_seq;
  const char* kc = static_cast<const char*>(p.k_cache);
  const char* vc = static_cast<const char*>(p.v_cache);

  // Issues the cp.async copies of the K/V rows of keys [t0, t0 + TK) ∩ [.., t_end) into buffer buf.
  auto issue_tile = [&](int t0, int buf) {
    const int nv = min(TK, t_end - t0);
    for (int i = tid; i < nv * CPR; i += kDecodeThreads) {
      const int k = i / CPR, c = i - k * CPR;
      const int t = t0 + k;
      const int bi = t / p.block_size;
      const int64_t slot = static_cast<int64_t>(table[bi]) * p.block_size + (t - bi * p.block_size);
      const int64_t src = (slot * p.num_kv_heads + kvh) * row_bytes + c * VB;
      cp_async<VB>(&k_s[buf][k * RS + c * VB], kc + src);
      cp_async<VB>(&v_s[buf][k * RS + c * VB], vc + src);
    }
    cp_async_commit();
  };

  issue_tile(t_begin, 0);
  for (int t0 = t_begin, tile = 0; t0 < t_end; t0 += TK, ++tile) {
    const int nv = min(TK, t_end - t0);  // keys of this tile, >= 1
    const int buf = kStages == 2 ? (tile & 1) : 0;
    if constexpr (kStages == 2) {
      // The other buffer was last read in the previous iteration, which ended with a barrier.
      if (t0 + TK < t_end) issue_tile(t0 + TK, buf ^ 1);
      else cp_async_commit();  // empty group: "all but the newest group" is this tile's
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();  // K/V tile (and, the first time, q_s) visible to all
    const unsigned char* kt = k_s[buf];
    const unsigned char* vt = v_s[buf];

    // Scores: lanes take consecutive keys of one head.
    for (int i = tid; i < gc * nv; i += kDecodeThreads) {
      const int g = i / nv, k = i - g * nv;
      const unsigned char* krow = kt + k * RS;
      const float* qrow = q_s + g * kDMax;
      float dot = 0.f;
      for (int c = 0; c < CPR; ++c) {
        float kf[E], qf[E];
        load_vec_f32<T, VB>(krow + c * VB, kf);
        load_f32s<E>(qrow + c * E, qf);
#pragma unroll
        for (int e = 0; e < E; ++e) dot = fmaf(qf[e], kf[e], dot);
      }
      p_s[g * kMaxTileKeys + k] = dot;
    }
    __syncthreads();

    // Online softmax, one warp per head; lane k owns key k of the tile (TK <= 32).
#pragma unroll
    for (int i = 0; i < kHeadsPerWarp; ++i) {
      const int g = warp + kDecodeWarps * i;
      if (g < gc) {  // warp-uniform
        const float sv = lane < nv ? p_s[g * kMaxTileKeys + lane] : -INFINITY;
        const float m_new = fmaxf(m_r[i], warp_max(sv));
        const float m_use = m_new == -INFINITY ? 0.f : m_new;
        const float corr = fast_exp2(m_r[i] - m_use);
        const float pv = fast_exp2(sv - m_use);  // 0 for lanes past the tile
        if (lane < nv) p_s[g * kMaxTileKeys + lane] = pv;
        l_r[i] = l_r[i] * corr + warp_sum(pv);
        m_r[i] = m_new;
        if (lane == 0) corr_s[g] = corr;
      }
    }
    __syncthreads();

    // acc = acc * corr + sum_k p[k] * V[k]
#pragma unroll
    for (int it = 0; it < kItems; ++it) {
      const int idx = base + it * kDecodeThreads;
      if (pv_active && idx < n_items) {
        const int g = idx / CPR, c = idx - g * CPR;
        const float cr = corr_s[g];
#pragma unroll
        for (int e = 0; e < E; ++e) acc[it][e] *= cr;
        const float* pg = p_s + g * kMaxTileKeys;
        const unsigned char* vcol = vt + c * VB;
        for (int k = my_ks; k < nv; k += KS) {
          const float pk = pg[k];
          float vf[E];
          load_vec_f32<T, VB>(vcol + k * RS, vf);
#pragma unroll
          for (int e = 0; e < E; ++e) acc[it][e] = fmaf(pk, vf[e], acc[it][e]);
        }
      }
    }
    __syncthreads();  // the tile buffers, p_s and corr_s are rewritten by the next tiles
    if constexpr (kStages == 1) {
      if (t0 + TK < t_end) issue_tile(t0 + TK, 0);
    }
  }
  cp_async_wait<0>();  // nothing real is in flight; for form

  // Final (m, l) per head.
#pragma unroll
  for (int i = 0; i < kHeadsPerWarp; ++i) {
    const int g = warp + kDecodeWarps * i;
    if (g < gc && lane == 0) {
      m_s[g] = m_r[i];
      l_s[g] = l_r[i];
    }
  }
  // Sum the KS key groups' partials (KS > 1 implies one item per thread). The K tile is free.
  if (KS > 1) {  // CTA-uniform
    float* red = reinterpret_cast<float*>(k_s[0]);  // [KS - 1][n_items][E]
    if (pv_active && my_ks > 0) {
#pragma unroll
      for (int e = 0; e < E; ++e) red[((my_ks - 1) * n_items + base) * E + e] = acc[0][e];
    }
    __syncthreads();
    if (my_ks == 0) {
      for (int ks = 1; ks < KS; ++ks) {
#pragma unroll
        for (int e = 0; e < E; ++e) acc[0][e] += red[((ks - 1) * n_items + base) * E + e];
      }
    }
  }
  __syncthreads();  // m_s, l_s

  if (pv_active && my_ks == 0) {
#pragma unroll
    for (int it = 0; it < kItems; ++it) {
      const int idx = base + it * kDecodeThreads;
      if (idx < n_items) {
        const int g = idx / CPR, c = idx - g * CPR;
        const int h = h0 + g;
        if (S == 1) {
          const float l = l_s[g];
          const float inv = l > 0.f ? 1.f / l : 0.f;
          T* o = out + (static_cast<int64_t>(q_row) * H + h) * D + c * E;
#pragma unroll
          for (int e = 0; e < E; ++e) o[e] = from_f32<T>(acc[it][e] * inv);
        } else {
          float* o = p.ws_acc + ((static_cast<int64_t>(s) * H + h) * S + split) * D + c * E;
#pragma unroll
          for (int e = 0; e < E; ++e) o[e] = acc[it][e];
        }
      }
    }
  }
  if (S > 1 && tid < gc) {
    const int64_t pi = (static_cast<int64_t>(s) * H + h0 + tid) * S + split;
    p.ws_ml[2 * pi] = m_s[tid];
    p.ws_ml[2 * pi + 1] = l_s[tid];
  }
}

// Merges the num_splits partials of each (one-query sequence, head). Grid (num_heads, num_seqs).
template <typename T>
__global__ void __launch_bounds__(128) decode_combine_kernel(const DecodeParams p) {
  __shared__ float w_s[kMaxSplits];
  const int h = blockIdx.x, s = blockIdx.y;
  const int q_row = p.query_start_loc[s];
  if (p.query_start_loc[s + 1] - q_row != 1) return;
  const int S = p.num_splits, D = p.head_dim, H = p.num_heads;
  const int64_t pi0 = (static_cast<int64_t>(s) * H + h) * S;
  // Only the first `used` splits saw keys (decode_split_keys); the others wrote no acc.
  const int len = p.seq_lens[s];
  const int keys = decode_split_keys(len, S, p.split_min_keys);
  const int used = len > 0 ? min(S, (len + keys - 1) / keys) : 0;
  if (threadIdx.x < 32) {  // warp 0: weights of the splits; lane l takes splits l, l + 32, ...
    const int lane = threadIdx.x;
    float mx = -INFINITY;
    for (int j = lane; j < used; j += 32) mx = fmaxf(mx, p.ws_ml[2 * (pi0 + j)]);
    mx = warp_max(mx);
    float total = 0.f;
    for (int j = lane; j < used; j += 32) {
      const float m = p.ws_ml[2 * (pi0 + j)];
      const float w = m == -INFINITY ? 0.f : fast_exp2(m - mx);  // mx is finite whenever some m is
      w_s[j] = w;
      total += w * p.ws_ml[2 * (pi0 + j) + 1];
    }
    total = warp_sum(total);
    for (int j = lane; j < used; j += 32) w_s[j] = total > 0.f ? w_s[j] / total : 0.f;  // own entries only
  }
  __syncthreads();
  T* out = static_cast<T*>(p.out) + (static_cast<int64_t>(q_row) * H + h) * D;
  for (int d = threadIdx.x; d < D; d += blockDim.x) {
    float o = 0.f;
#pragma unroll 4
    for (int j = 0; j < used; ++j) o = fmaf(w_s[j], p.ws_acc[(pi0 + j) * D + d], o);
    out[d] = from_f32<T>(o);
  }
}

template <typename T, int HD, int VB>
void launch_decode_kernel(const DecodeParams& p, dim3 grid, cudaStream_t stream) {
  decode_kernel<T, HD, VB><<<grid, kDecodeThreads, 0, stream>>>(p);
}

bool aligned(const void* ptr, uintptr_t n) { return reinterpret_cast<uintptr_t>(ptr) % n == 0; }

}  // namespace

int decode_num_splits(int64_t ctas_per_split, bool has_workspace) {
  if (!has_workspace) return 1;
  const int64_t c = std::max<int64_t>(ctas_per_split, 1);
  return static_cast<int>(std::clamp<int64_t>((kTargetCtas + c - 1) / c, 1, kMaxSplits));
}

int64_t decode_max_partials_per_head(int64_t num_seqs) {
  // With T = kTargetCtas, X = kMaxSplits: splits(n') <= min(X, ceil(T / n')) for n' sequences (any
  // number of kv heads), so n' * splits(n') <= min(X n', T + n' - 1), which grows with n'.
  return std::min<int64_t>(kMaxSplits * num_seqs, kTargetCtas + num_seqs);
}

template <typename T>
void launch_decode(const PagedAttentionArgs& a, cudaStream_t stream) {
  const int D = a.head_dim;
  const int group = a.num_heads / a.num_kv_heads;
  // 16-bit K/V with head_dim 64 or 128 go to the tensor-core kernel (attention_decode_mma.cu).
  const bool vec16 = aligned(a.k_cache, 16) && aligned(a.v_cache, 16) && (D * sizeof(T)) % 16 == 0;
  // STRATA_DECODE_ATTENTION=simt keeps every launch on the CUDA-core kernel (for comparisons).
  static const bool simt_only = [] {
    const char* e = std::getenv("STRATA_DECODE_ATTENTION");
    return e && std::string_view(e) == "simt";
  }();
  const bool mma = !simt_only && sizeof(T) == 2 && (D == 64 || D == 128) && vec16 && aligned(a.q, 16);
  const int max_heads = mma ? kDecodeMmaMaxHeads : kDecodeMaxHeads;
  const int chunks0 = (group + max_heads - 1) / max_heads;
  const int heads_per_cta = (group + chunks0 - 1) / chunks0;  // balanced chunks, <= max_heads
  const int head_chunks = (group + heads_per_cta - 1) / heads_per_cta;
  const int S = decode_num_splits(static_cast<int64_t>(a.num_seqs) * a.num_kv_heads * head_chunks,
                                  a.workspace != nullptr);
  STRATA_ATTN_REQUIRE(static_cast<int64_t>(a.num_kv_heads) * head_chunks <= 65535 && a.num_seqs <= 65535,
                      "decode grid too large");

  DecodeParams p{};
  p.q = a.q;
  p.k_cache = a.k_cache;
  p.v_cache = a.v_cache;
  p.out = a.out;
  p.query_start_loc = a.query_start_loc;
  p.seq_lens = a.seq_lens;
  p.block_tables = a.block_tables;
  p.ws_acc = static_cast<float*>(a.workspace);
  p.ws_ml = S > 1 ? p.ws_acc + static_cast<int64_t>(a.num_seqs) * a.num_heads * S * D : nullptr;
  p.num_heads = a.num_heads;
  p.num_kv_heads = a.num_kv_heads;
  p.head_dim = D;
  p.block_size = a.block_size;
  p.max_blocks_per_seq = a.max_blocks_per_seq;
  p.group = group;
  p.heads_per_cta = heads_per_cta;
  p.head_chunks = head_chunks;
  p.num_splits = S;
  p.split_min_keys = kSplitMinKeys;
  p.qscale = a.scale * kLog2e;

  const dim3 grid(S, a.num_kv_heads * head_chunks, a.num_seqs);
  if constexpr (sizeof(T) == 2) {
    if (mma) {
      if (D == 64) launch_decode_mma_kernel<T, 64>(p, grid, stream);
      else launch_decode_mma_kernel<T, 128>(p, grid, stream);
      if (S > 1) decode_combine_kernel<T><<<dim3(a.num_heads, a.num_seqs), 128, 0, stream>>>(p);
      return;
    }
  }
  if (vec16 && D == 64) {
    launch_decode_kernel<T, 64, 16>(p, grid, stream);
  } else if (vec16 && D == 128) {
    launch_decode_kernel<T, 128, 16>(p, grid, stream);
  } else if (vec16) {
    launch_decode_kernel<T, 0, 16>(p, grid, stream);
  } else {
    STRATA_ATTN_REQUIRE(aligned(a.k_cache, 4) && aligned(a.v_cache, 4), "KV caches must be 4-byte aligned");
    launch_decode_kernel<T, 0, 4>(p, grid, stream);
  }
  if (S > 1) decode_combine_kernel<T><<<dim3(a.num_heads, a.num_seqs), 128, 0, stream>>>(p);
}

template void launch_decode<float>(const PagedAttentionArgs&, cudaStream_t);
template void launch_decode<__nv_bfloat16>(const PagedAttentionArgs&, cudaStream_t);
template void launch_decode<__half>(const PagedAttentionArgs&, cudaStream_t);

}  // namespace strata::cuda::attn
