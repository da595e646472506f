// Paged attention for sequences with several query rows (prefill, chunked prefill), flash-attention
// style: a CTA takes one tile of query rows of one sequence and one head, walks the key tiles from key
// 0 up to the tile's last query position (tiles fully above the causal diagonal are never visited)
// and keeps an online softmax. Grid (ceil(max_query_len / BM), num_heads, num_seqs); CTAs whose tile
// starts past their sequence's q_len exit at once. Query row i of sequence s sits at position
// seq_lens[s] - q_len + i, so a chunk may start mid-sequence with earlier keys already cached.
//
// Two kernels:
//  * prefill_mma_kernel (BF16/F16, head_dim 64 or 128, 16-byte aligned tensors): 64 x 64 tiles,
//    4 warps x 16 query rows, mma.sync m16n8k16 with f32 accumulation for S = Q K^T and O += P V;
//    scores, probabilities and O stay in registers; K/V tiles arrive by cp.async, the next K tile
//    loading during softmax and P V, the next V tile during the next Q K^T; the next tile's
//    block-table entries are read during Q K^T, so issuing its copies waits on no global load.
//    Query tiles run longest first (reversed blockIdx.x) to shorten the causal tail.
//  * prefill_simt_kernel (everything else: F32, any head_dim that is a multiple of 4 up to 256):
//    32 x 32 tiles in f32 shared memory, 4 warps x 8 query rows, lane j = key j of the tile.
#include <algorithm>

#include "backend/cuda/attention_common.cuh"
#include "backend/cuda/attention_mma.cuh"

namespace strata::cuda::attn {
namespace {

// ---------------------------------------------------------------------------------------------
// Tensor-core kernel
// ---------------------------------------------------------------------------------------------
constexpr int kMmaBM = 64;  // query rows per CTA (16 per warp)
constexpr int kMmaBN = 64;  // keys per tile
constexpr int kMmaThreads = 128;

// Loads the nk (<= kMmaBN) rows whose element offsets are rowoff[0 .. nk) into dst ([kMmaBN][LD]
// elements); rows nk .. kMmaBN - 1 are zero-filled (their probabilities are 0, and 0 * 0 keeps the
// P V products finite).
template <typename T, int D, int LD>
__device__ __forceinline__ void mma_load_kv_tile(T* dst, const T* cache, const int64_t* rowoff, int nk) {
  constexpr int CPR = D * static_cast<int>(sizeof(T)) / 16;  // 16-byte chunks per row
  for (int i = threadIdx.x; i < kMmaBN * CPR; i += kMmaThreads) {
    const int r = i / CPR, c = i - r * CPR;
    T* d = dst + r * LD + c * 8;
    if (r < nk) {
      cp_async<16>(d, cache + rowoff[r] + c * 8);
    } else {
      store_zero16(d);
    }
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(kMmaThreads) prefill_mma_kernel(const PrefillParams p) {
  static_assert(D % 16 == 0 && sizeof(T) == 2, "16-bit elements, head_dim a multiple of 16");
  static_assert(kMmaBM == kMmaBN, "the Q tile is staged in the V buffer");
  static_assert(kMmaBM == 16 * (kMmaThreads / 32), "16 query rows per warp");
  static_assert(kMmaBN <= kMmaThreads, "one thread per key computes the tile's row offsets");
  constexpr int LD = D + 8;  // smem row stride (elements): 16-byte rows offset by 16 bytes mod 128
  constexpr int CPR = D * 2 / 16;
  constexpr int KSTEPS = D / 16;  // k-steps of Q K^T
  constexpr int NB_S = kMmaBN / 8;  // 8-key column blocks of S
  constexpr int NB_O = D / 8;       // 8-column blocks of O
  __shared__ __align__(16) T k_s[kMmaBN * LD];
  __shared__ __align__(16) T v_s[kMmaBN * LD];
  __shared__ int64_t rowoff_s[2][kMmaBN];  // K/V row offsets of key tiles, by tile parity

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int h = blockIdx.y, s = blockIdx.z;
  // Highest query tiles (the most key tiles) first, so that the short ones fill the tail of the grid.
  const int m0 = static_cast<int>(gridDim.x - 1 - blockIdx.x) * kMmaBM;
  const int q_start = p.query_start_loc[s];
  const int q_len = p.query_start_loc[s + 1] - q_start;
  if (q_len < p.min_q_len || m0 >= q_len) return;
  const int n_rows = min(kMmaBM, q_len - m0);
  const int pos0 = p.seq_lens[s] - q_len + m0;  // position of the tile's row 0
  const int n_keys = pos0 + n_rows;             // keys 0 .. position of the tile's last row
  const int H = p.num_heads;
  const int kvh = h / p.group;
  const T* q = static_cast<const T*>(p.q);
  const T* kc = static_cast<const T*>(p.k_cache);
  const T* vc = static_cast<const T*>(p.v_cache);
  const int32_t* table = p.block_tables + static_cast<int64_t>(s) * p.max_blocks_per_seq;

  // Row offsets of key tile 0; Q tile -> v_s (zero rows past n_rows); then K tile 0 -> k_s.
  if (tid < min(kMmaBN, n_keys))
    rowoff_s[0][tid] = kv_row_offset(table, tid, p.block_size, p.num_kv_heads, kvh, D);
  for (int i = tid; i < kMmaBM * CPR; i += kMmaThreads) {
    const int r = i / CPR, c = i - r * CPR;
    T* d = v_s + r * LD + c * 8;
    if (r < n_rows) {
      cp_async<16>(d, q + (static_cast<int64_t>(q_start + m0 + r) * H + h) * D + c * 8);
    } else {
      store_zero16(d);
    }
  }
  cp_async_commit();
  __syncthreads();  // rowoff_s[0]
  mma_load_kv_tile<T, D, LD>(k_s, kc, rowoff_s[0], min(kMmaBN, n_keys));
  cp_async_commit();
  cp_async_wait<1>();  // the Q group
  __syncthreads();

  // This warp's 16 query rows as A fragments, for all of head_dim.
  uint32_t qf[KSTEPS][4];
  {
    const int r = warp * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
    const int cofs = (lane >> 4) * 8;
#pragma unroll
    for (int ks = 0; ks < KSTEPS; ++ks) ldmatrix_x4(qf[ks], v_s + r * LD + ks * 16 + cofs);
  }
  __syncthreads();  // v_s is free
  mma_load_kv_tile<T, D, LD>(v_s, vc, rowoff_s[0], min(kMmaBN, n_keys));
  cp_async_commit();

  // Thread state: rows r0 = warp * 16 + lane / 4 and r0 + 8 of the tile; columns 2 (lane % 4) + {0, 1}
  // of every 8-column block.
  const int tig = lane & 3;
  const int r0 = warp * 16 + (lane >> 2);
  const int qpos[2] = {pos0 + r0, pos0 + r0 + 8};
  const bool warp_has_rows = warp * 16 < n_rows;
  const int warp_first_pos = pos0 + warp * 16;
  const int warp_last_pos = pos0 + min(warp * 16 + 15, n_rows - 1);
  float o[NB_O][4];
#pragma unroll
  for (int nb = 0; nb < NB_O; ++nb) o[nb][0] = o[nb][1] = o[nb][2] = o[nb][3] = 0.f;
  float m_r[2] = {-INFINITY, -INFINITY};
  float l_r[2] = {0.f, 0.f};  // this thread's share of the row sums (summed over the quad at the end)

  // Pending cp.async groups at the top of each iteration: K(n0), V(n0), in that order.
  for (int n0 = 0, it = 0; n0 < n_keys; n0 += kMmaBN, ++it) {
    const int nxt = (it + 1) & 1;
    const int nk_next = min(kMmaBN, n_keys - (n0 + kMmaBN));  // <= 0: no next tile
    // The next tile's block-table entry, loaded now and used after Q K^T (hides its latency).
    const int t_next = n0 + kMmaBN + tid;
    const int32_t blk_next = tid < nk_next ? table[t_next / p.block_size] : 0;

    cp_async_wait<1>();  // K(n0)
    __syncthreads();
    // Warps whose rows all precede this tile's first key skip it (all their scores are masked).
    const bool active = warp_has_rows && n0 <= warp_last_pos;  // warp-uniform

    float sacc[NB_S][4];
    if (active) {
#pragma unroll
      for (int nb = 0; nb < NB_S; ++nb) sacc[nb][0] = sacc[nb][1] = sacc[nb][2] = sacc[nb][3] = 0.f;
#pragma unroll
      for (int ks = 0; ks < KSTEPS; ++ks) {
#pragma unroll
        for (int pp = 0; pp < kMmaBN / 16; ++pp) {
          // Matrices: keys pp*16 + {0..7, 0..7, 8..15, 8..15} x dims ks*16 + {0..7, 8..15, 0..7, 8..15}.
          uint32_t kb[4];
          const int kr = pp * 16 + (lane & 7) + (lane >> 4) * 8;
          const int kcol = ks * 16 + ((lane >> 3) & 1) * 8;
          ldmatrix_x4(kb, k_s + kr * LD + kcol);
          mma_16816(sacc[2 * pp], qf[ks], kb[0], kb[1], T{});
          mma_16816(sacc[2 * pp + 1], qf[ks], kb[2], kb[3], T{});
        }
      }
    }
    if (tid < nk_next) {
      const int bi = t_next / p.block_size;
      const int64_t slot = static_cast<int64_t>(blk_next) * p.block_size + (t_next - bi * p.block_size);
      rowoff_s[nxt][tid] = (slot * p.num_kv_heads + kvh) * D;
    }
    __syncthreads();  // k_s is free; rowoff_s[nxt] is visible
    if (nk_next > 0) mma_load_kv_tile<T, D, LD>(k_s, kc, rowoff_s[nxt], nk_next);
    cp_async_commit();  // possibly empty: keeps the group count uniform

    uint32_t pf[kMmaBN / 16][4];  // probabilities as A fragments of P V
    if (active) {
      // Scale; causal mask (key n0 + col is visible to a row iff key <= the row's position), needed
      // only where the tile reaches past the warp's first row; online softmax.
      const bool need_mask = n0 + kMmaBN - 1 > warp_first_pos;  // warp-uniform
      mma_online_softmax(sacc, o, m_r, l_r, p.scale_log2, [&](int nb, int e, int rr) {
        return need_mask && n0 + nb * 8 + 2 * tig + e > qpos[rr];
      });
#pragma unroll
      for (int kk = 0; kk < kMmaBN / 16; ++kk) mma_p_fragment<T>(pf[kk], sacc, kk);
    }

    cp_async_wait<1>();  // V(n0); K(n0 + BN) may still be in flight
    __syncthreads();
    if (active) {
#pragma unroll
      for (int kk = 0; kk < kMmaBN / 16; ++kk) {
#pragma unroll
        for (int qq = 0; qq < D / 16; ++qq) {
          // Transposed matrices: keys kk*16 + {0..7, 8..15, 0..7, 8..15} x dims qq*16 + {0..7, 0..7,
          // 8..15, 8..15}.
          uint32_t vb[4];
          const int vr = kk * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
          const int vcol = qq * 16 + (lane >> 4) * 8;
          ldmatrix_x4_trans(vb, v_s + vr * LD + vcol);
          mma_16816(o[2 * qq], pf[kk], vb[0], vb[1], T{});
          mma_16816(o[2 * qq + 1], pf[kk], vb[2], vb[3], T{});
        }
      }
    }
    __syncthreads();  // v_s is free
    if (nk_next > 0) mma_load_kv_tile<T, D, LD>(v_s, vc, rowoff_s[nxt], nk_next);
    cp_async_commit();
  }
  cp_async_wait<0>();

  // Epilogue: full row sums over the quad, O / l -> out.
  T* out = static_cast<T*>(p.out);
#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    float l = l_r[rr];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int row = r0 + 8 * rr;
    if (row < n_rows) {
      const float inv = l > 0.f ? 1.f / l : 0.f;
      T* dst = out + (static_cast<int64_t>(q_start + m0 + row) * H + h) * D + 2 * tig;
#pragma unroll
      for (int nb = 0; nb < NB_O; ++nb) {
        *reinterpret_cast<uint32_t*>(dst + nb * 8) = pack2(o[nb][2 * rr] * inv, o[nb][2 * rr + 1] * inv, T{});
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CUDA-core kernel
// ---------------------------------------------------------------------------------------------
constexpr int kSimtBM = 32;  // query rows per CTA (8 per warp: rows warp + 4 r)
constexpr int kSimtBN = 32;  // keys per tile (lane j = key j)
constexpr int kSimtThreads = 128;
constexpr int kSimtWarps = kSimtThreads / 32;
constexpr int kSimtRowsPerWarp = kSimtBM / kSimtWarps;
static_assert(kSimtBN == 32, "one key per lane");

// Dynamic shared memory of prefill_simt_kernel<T, NC>: row offsets int64 [BN], then f32 q [BM][D],
// k [BN][D + 1] (odd stride: lanes reading different keys hit different banks), v [BN][32 NC].
size_t simt_smem_bytes(int head_dim, int nc) {
  return sizeof(int64_t) * kSimtBN +
         sizeof(float) * (static_cast<size_t>(kSimtBM) * head_dim + static_cast<size_t>(kSimtBN) * (head_dim + 1) +
                          static_cast<size_t>(kSimtBN) * 32 * nc);
}

// NC = ceil(head_dim / 32) rounded up to 1, 2, 4 or 8: lane owns output columns lane + 32 c, c < NC.
template <typename T, int NC>
__global__ void __launch_bounds__(kSimtThreads, 2) prefill_simt_kernel(const PrefillParams p) {
  extern __shared__ __align__(16) unsigned char smem[];
  const int D = p.head_dim;
  constexpr int VS = 32 * NC;  // v row stride (floats); columns D .. VS - 1 are never written
  int64_t* rowoff_s = reinterpret_cast<int64_t*>(smem);
  float* q_s = reinterpret_cast<float*>(smem + sizeof(int64_t) * kSimtBN);
  float* k_s = q_s + kSimtBM * D;
  float* v_s = k_s + kSimtBN * (D + 1);

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int h = blockIdx.y, s = blockIdx.z;
  const int m0 = static_cast<int>(gridDim.x - 1 - blockIdx.x) * kSimtBM;  // longest tiles first
  const int q_start = p.query_start_loc[s];
  const int q_len = p.query_start_loc[s + 1] - q_start;
  if (q_len < p.min_q_len || m0 >= q_len) return;
  const int n_rows = min(kSimtBM, q_len - m0);
  const int pos0 = p.seq_lens[s] - q_len + m0;
  const int n_keys = pos0 + n_rows;
  const int H = p.num_heads;
  const int kvh = h / p.group;
  const T* q = static_cast<const T*>(p.q);
  const T* kc = static_cast<const T*>(p.k_cache);
  const T* vc = static_cast<const T*>(p.v_cache);
  const int32_t* table = p.block_tables + static_cast<int64_t>(s) * p.max_blocks_per_seq;

  for (int i = tid; i < kSimtBM * D; i += kSimtThreads) {
    const int r = i / D, d = i - r * D;
    q_s[i] = r < n_rows ? to_f32(q[(static_cast<int64_t>(q_start + m0 + r) * H + h) * D + d]) * p.scale_log2 : 0.f;
  }

  // The warp's rows: warp + 4 r. Its last valid row decides which key tiles it can see.
  const bool warp_has_rows = warp < n_rows;
  const int warp_last_pos = pos0 + warp + kSimtWarps * ((n_rows - 1 - warp) / kSimtWarps);
  float m_r[kSimtRowsPerWarp], l_r[kSimtRowsPerWarp], acc[kSimtRowsPerWarp][NC];
#pragma unroll
  for (int r = 0; r < kSimtRowsPerWarp; ++r) {
    m_r[r] = -INFINITY;
    l_r[r] = 0.f;
#pragma unroll
    for (int c = 0; c < NC; ++c) acc[r][c] = 0.f;
  }

  for (int n0 = 0; n0 < n_keys; n0 += kSimtBN) {
    const int nk = min(kSimtBN, n_keys - n0);
    __syncthreads();  // the previous tile is consumed (first time: q_s is written)
    if (tid < nk) {
      const int t = n0 + tid;
      const int bi = t / p.block_size;
      const int64_t slot = static_cast<int64_t>(table[bi]) * p.block_size + (t - bi * p.block_size);
      rowoff_s[tid] = (slot * p.num_kv_heads + kvh) * D;
    }
    __syncthreads();
    for (int i = tid; i < nk * D; i += kSimtThreads) {
      const int j = i / D, d = i - j * D;
      const int64_t off = rowoff_s[j] + d;
      k_s[j * (D + 1) + d] = to_f32(kc[off]);
      v_s[j * VS + d] = to_f32(vc[off]);
    }
    __syncthreads();

    if (warp_has_rows && n0 <= warp_last_pos) {  // warp-uniform
      float sc[kSimtRowsPerWarp];
#pragma unroll
      for (int r = 0; r < kSimtRowsPerWarp; ++r) sc[r] = 0.f;
      if (lane < nk) {
        const float* kr = k_s + lane * (D + 1);
        for (int d = 0; d < D; d += 4) {  // D % 4 == 0
          const float k0 = kr[d], k1 = kr[d + 1], k2 = kr[d + 2], k3 = kr[d + 3];
#pragma unroll
          for (int r = 0; r < kSimtRowsPerWarp; ++r) {
            const float4 qv = *reinterpret_cast<const float4*>(q_s + (warp + kSimtWarps * r) * D + d);
            sc[r] = fmaf(qv.x, k0, fmaf(qv.y, k1, fmaf(qv.z, k2, fmaf(qv.w, k3, sc[r]))));
          }
        }
      }
      const int key = n0 + lane;
#pragma unroll
      for (int r = 0; r < kSimtRowsPerWarp; ++r) {
        const int row = warp + kSimtWarps * r;
        const bool visible = lane < nk && row < n_rows && key <= pos0 + row;
        const float sv = visible ? sc[r] : -INFINITY;
        const float m_new = fmaxf(m_r[r], warp_max(sv));
        const float m_use = m_new == -INFINITY ? 0.f : m_new;
        const float corr = fast_exp2(m_r[r] - m_use);
        const float pv = fast_exp2(sv - m_use);
        l_r[r] = l_r[r] * corr + warp_sum(pv);
        m_r[r] = m_new;
        sc[r] = pv;
#pragma unroll
        for (int c = 0; c < NC; ++c) acc[r][c] *= corr;
      }
      for (int j = 0; j < nk; ++j) {
        float vj[NC];
#pragma unroll
        for (int c = 0; c < NC; ++c) vj[c] = v_s[j * VS + lane + 32 * c];
#pragma unroll
        for (int r = 0; r < kSimtRowsPerWarp; ++r) {
          const float pj = __shfl_sync(0xffffffffu, sc[r], j);
#pragma unroll
          for (int c = 0; c < NC; ++c) acc[r][c] = fmaf(pj, vj[c], acc[r][c]);
        }
      }
    }
  }

  T* out = static_cast<T*>(p.out);
#pragma unroll
  for (int r = 0; r < kSimtRowsPerWarp; ++r) {
    const int row = warp + kSimtWarps * r;
    if (row < n_rows) {
      const float inv = l_r[r] > 0.f ? 1.f / l_r[r] : 0.f;
      T* dst = out + (static_cast<int64_t>(q_start + m0 + row) * H + h) * D;
#pragma unroll
      for (int c = 0; c < NC; ++c) {
        const int d = lane + 32 * c;
        if (d < D) dst[d] = from_f32<T>(acc[r][c] * inv);
      }
    }
  }
}

template <typename T, int NC>
void launch_simt(const PrefillParams& p, dim3 grid, cudaStream_t stream) {
  const size_t bytes = simt_smem_bytes(p.head_dim, NC);
  if (bytes > 48 * 1024) {
    // Not a stream operation (safe during capture); cheap enough to repeat per launch.
    const cudaError_t e = cudaFuncSetAttribute(prefill_simt_kernel<T, NC>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(bytes));
    STRATA_ATTN_REQUIRE(e == cudaSuccess, "cudaFuncSetAttribute(prefill_simt_kernel) failed");
  }
  prefill_simt_kernel<T, NC><<<grid, kSimtThreads, bytes, stream>>>(p);
}

bool aligned16(const void* ptr) { return reinterpret_cast<uintptr_t>(ptr) % 16 == 0; }

}  // namespace

template <typename T>
void launch_prefill(const PagedAttentionArgs& a, int min_q_len, cudaStream_t stream) {
  PrefillParams p{};
  p.q = a.q;
  p.k_cache = a.k_cache;
  p.v_cache = a.v_cache;
  p.out = a.out;
  p.query_start_loc = a.query_start_loc;
  p.seq_lens = a.seq_lens;
  p.block_tables = a.block_tables;
  p.num_heads = a.num_heads;
  p.num_kv_heads = a.num_kv_heads;
  p.head_dim = a.head_dim;
  p.block_size = a.block_size;
  p.max_blocks_per_seq = a.max_blocks_per_seq;
  p.group = a.num_heads / a.num_kv_heads;
  p.min_q_len = std::max(min_q_len, 1);
  p.scale_log2 = a.scale * kLog2e;
  STRATA_ATTN_REQUIRE(a.num_heads <= 65535 && a.num_seqs <= 65535, "prefill grid too large");

  const int D = a.head_dim;
  const bool use_mma = sizeof(T) == 2 && (D == 64 || D == 128) && aligned16(a.q) && aligned16(a.k_cache) &&
                       aligned16(a.v_cache) && aligned16(a.out);
  if constexpr (sizeof(T) == 2) {
    if (use_mma) {
      const dim3 grid((a.max_query_len + kMmaBM - 1) / kMmaBM, a.num_heads, a.num_seqs);
      if (D == 64) prefill_mma_kernel<T, 64><<<grid, kMmaThreads, 0, stream>>>(p);
      else prefill_mma_kernel<T, 128><<<grid, kMmaThreads, 0, stream>>>(p);
      return;
    }
  }
  const dim3 grid((a.max_query_len + kSimtBM - 1) / kSimtBM, a.num_heads, a.num_seqs);
  if (D <= 32) launch_simt<T, 1>(p, grid, stream);
  else if (D <= 64) launch_simt<T, 2>(p, grid, stream);
  else if (D <= 128) launch_simt<T, 4>(p, grid, stream);
  else launch_simt<T, 8>(p, grid, stream);
}

template void launch_prefill<float>(const PagedAttentionArgs&, int, cudaStream_t);
template void launch_prefill<__nv_bfloat16>(const PagedAttentionArgs&, int, cudaStream_t);
template void launch_prefill<__half>(const PagedAttentionArgs&, int, cudaStream_t);

}  // namespace strata::cuda::attn
