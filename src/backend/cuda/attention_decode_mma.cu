// Paged decode attention on tensor cores (BF16/F16, head_dim 64 or 128): the one-query sequences'
// kernel when the query heads of a GQA group can share each K/V row as the 16 rows of an mma tile.
//
// Grid and splits as decode_kernel (attention_decode.cu): (num_splits, num_kv_heads * head_chunks,
// num_seqs), a CTA per (split, kv head, up to 16 query heads of its group, sequence), same partial
// format, so decode_combine_kernel merges the splits of either. 128 threads; each warp walks its own
// 16-key blocks of the split (blocks warp, warp + 4, ...), with its own two-stage cp.async pipeline in
// its own slice of shared memory, so the loop needs no barrier across warps:
//   S (16 heads x 16 keys) = Q K^T  — Q's A fragments in registers for the whole split, K by ldmatrix;
//   online softmax per head row (the 4 lanes of a quad hold a row's 16 scores);
//   O (16 x head_dim) += P V       — P from the S accumulators, V by ldmatrix.trans.
// Heads past the group (rows gc..15) are zero queries; keys past the split are masked, their rows
// zero-filled. At the end the four warps' (m, l, O) meet in shared memory and are merged.
//
// Why: the CUDA-core kernel re-reads each query row from shared memory for every key and reaches
// ~0.68 of the copy bandwidth at 256 sequences (tools/profile_gpu.sh); here each K/V byte is read from
// shared memory once, by ldmatrix.
#include <algorithm>

#include "backend/cuda/attention_common.cuh"
#include "backend/cuda/attention_mma.cuh"

namespace strata::cuda::attn {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kKeys = 16;    // keys per warp block
constexpr int kStages = 2;   // per-warp cp.async stages

template <int D>
struct MmaDecodeCfg {
  static constexpr int LD = D + 8;                       // smem row stride (elements)
  static constexpr int CPR = D * 2 / 16;                 // 16-byte chunks per row
  static constexpr int kTile = kKeys * LD;               // elements of one K (or V) block
  static constexpr int kWarpElems = kStages * 2 * kTile; // a warp's K and V stages
  static constexpr int kSmemBytes = kWarps * kWarpElems * 2;
  static_assert(kKeys * D * 4 + 2 * kKeys * 4 <= kWarpElems * 2, "a warp's (m, l, O) fit in its slice");
};

template <typename T, int D>
__global__ void __launch_bounds__(kThreads, 3) decode_mma_kernel(const DecodeParams p) {
  static_assert(D % 16 == 0 && sizeof(T) == 2, "16-bit elements, head_dim a multiple of 16");
  using Cfg = MmaDecodeCfg<D>;
  constexpr int LD = Cfg::LD, CPR = Cfg::CPR;
  constexpr int KSTEPS = D / 16;
  constexpr int NB_O = D / 8;
  extern __shared__ __align__(16) unsigned char smem[];

  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int split = blockIdx.x;
  const int kvh = blockIdx.y / p.head_chunks;
  const int hc = blockIdx.y - kvh * p.head_chunks;
  const int s = blockIdx.z;
  const int H = p.num_heads, S = p.num_splits;

  const int q_row = p.query_start_loc[s];
  if (p.query_start_loc[s + 1] - q_row != 1) return;  // not a one-query sequence
  const int g0 = hc * p.heads_per_cta;
  const int gc = min(p.heads_per_cta, p.group - g0);
  if (gc <= 0) return;
  const int h0 = kvh * p.group + g0;

  const int len = p.seq_lens[s];
  const int chunk = decode_split_keys(len, S, p.split_min_keys);
  const int t_begin = split * chunk;
  const int t_end = min(len, t_begin + chunk);
  if (t_begin >= t_end) {  // empty split (or an empty sequence)
    decode_empty_split<T>(p, s, q_row, h0, gc, split);
    return;
  }
  T* out = static_cast<T*>(p.out);

  // Q rows h0 .. h0 + gc - 1 as A fragments (rows past gc are zero): lane holds rows lane / 4 and
  // lane / 4 + 8, columns 2 (lane % 4) + {0, 1} (+ 8) of every 16-column k-step.
  const int tig = lane & 3, gr = lane >> 2;
  const T* q = static_cast<const T*>(p.q);
  uint32_t qf[KSTEPS][4];
  {
    const uint32_t* r0 = gr < gc ? reinterpret_cast<const uint32_t*>(q + (static_cast<int64_t>(q_row) * H + h0 + gr) * D)
                                 : nullptr;
    const uint32_t* r1 =
        gr + 8 < gc ? reinterpret_cast<const uint32_t*>(q + (static_cast<int64_t>(q_row) * H + h0 + gr + 8) * D) : nullptr;
#pragma unroll
    for (int ks = 0; ks < KSTEPS; ++ks) {
      const int w = ks * 8 + tig;  // 32-bit word of columns ks * 16 + 2 tig, +1
      qf[ks][0] = r0 ? r0[w] : 0u;
      qf[ks][1] = r1 ? r1[w] : 0u;
      qf[ks][2] = r0 ? r0[w + 4] : 0u;
      qf[ks][3] = r1 ? r1[w + 4] : 0u;
    }
  }

  T* wbase = reinterpret_cast<T*>(smem) + warp * Cfg::kWarpElems;  // [stage][K, V][kKeys][LD]
  const int32_t* table = p.block_tables + static_cast<int64_t>(s) * p.max_blocks_per_seq;
  const T* kc = static_cast<const T*>(p.k_cache);
  const T* vc = static_cast<const T*>(p.v_cache);
  const int nblk = (t_end - t_begin + kKeys - 1) / kKeys;

  // Copies block j's K and V rows into stage st (rows past the split zero-filled), one commit group.
  auto issue = [&](int j, int st) {
    const int t0 = t_begin + j * kKeys;
    const int nk = min(kKeys, t_end - t0);
    // Lane r < nk computes key t0 + r's row offset once; the others read it by shuffle.
    const int64_t my_off = lane < nk ? kv_row_offset(table, t0 + lane, p.block_size, p.num_kv_heads, kvh, D) : 0;
    T* ks_ = wbase + st * 2 * Cfg::kTile;
    T* vs_ = ks_ + Cfg::kTile;
#pragma unroll
    for (int i = lane; i < kKeys * CPR; i += 32) {
      const int r = i / CPR, c = i - r * CPR;
      const int64_t off = __shfl_sync(0xffffffffu, my_off, r);
      if (r < nk) {
        cp_async<16>(ks_ + r * LD + c * 8, kc + off + c * 8);
        cp_async<16>(vs_ + r * LD + c * 8, vc + off + c * 8);
      } else {
        store_zero16(ks_ + r * LD + c * 8);
        store_zero16(vs_ + r * LD + c * 8);
      }
    }
    cp_async_commit();
  };

  float o[NB_O][4];
#pragma unroll
  for (int nb = 0; nb < NB_O; ++nb) o[nb][0] = o[nb][1] = o[nb][2] = o[nb][3] = 0.f;
  float m_r[2] = {-INFINITY, -INFINITY};
  float l_r[2] = {0.f, 0.f};  // this thread's share of the row sums (summed over the quad at the end)

  if (warp < nblk) issue(warp, 0);
  for (int j = warp, it = 0; j < nblk; j += kWarps, ++it) {
    // The other stage was last read in the previous iteration, which ended with __syncwarp.
    if (j + kWarps < nblk) issue(j + kWarps, (it + 1) & 1);
    else cp_async_commit();  // empty group: "all but the newest" is this block's
    cp_async_wait<1>();
    __syncwarp();
    const T* ks_ = wbase + (it & 1) * 2 * Cfg::kTile;
    const T* vs_ = ks_ + Cfg::kTile;
    const int t0 = t_begin + j * kKeys;

    float sacc[2][4] = {};
#pragma unroll
    for (int ks = 0; ks < KSTEPS; ++ks) {
      // Matrices: keys {0..7, 0..7, 8..15, 8..15} x dims ks*16 + {0..7, 8..15, 0..7, 8..15}.
      uint32_t kb[4];
      const int kr = (lane & 7) + (lane >> 4) * 8;
      const int kcol = ks * 16 + ((lane >> 3) & 1) * 8;
      ldmatrix_x4(kb, ks_ + kr * LD + kcol);
      mma_16816(sacc[0], qf[ks], kb[0], kb[1], T{});
      mma_16816(sacc[1], qf[ks], kb[2], kb[3], T{});
    }
    // Scale, mask the keys past the split, online softmax per row (rows gr and gr + 8).
    mma_online_softmax(sacc, o, m_r, l_r, p.qscale,
                       [&](int nb, int e, int) { return t0 + nb * 8 + 2 * tig + e >= t_end; });
    uint32_t pf[4];  // S blocks 0, 1 (keys 0..15) as the A fragment of P V's one k-step
    mma_p_fragment<T>(pf, sacc, 0);
#pragma unroll
    for (int qq = 0; qq < D / 16; ++qq) {
      // Transposed matrices: keys {0..7, 8..15, 0..7, 8..15} x dims qq*16 + {0..7, 0..7, 8..15, 8..15}.
      uint32_t vb[4];
      const int vr = (lane & 7) + ((lane >> 3) & 1) * 8;
      const int vcol = qq * 16 + (lane >> 4) * 8;
      ldmatrix_x4_trans(vb, vs_ + vr * LD + vcol);
      mma_16816(o[2 * qq], pf, vb[0], vb[1], T{});
      mma_16816(o[2 * qq + 1], pf, vb[2], vb[3], T{});
    }
    __syncwarp();  // this stage is rewritten two iterations on
  }
  cp_async_wait<0>();
  __syncwarp();

  // This warp's (m, l, O) for rows < gc into its own slice: m [16], l [16], O [16][D] (f32).
  float* ml = reinterpret_cast<float*>(wbase);
  float* ow = ml + 2 * kKeys;
#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    float l = l_r[rr];
    l += __shfl_xor_sync(0xffffffffu, l, 1);
    l += __shfl_xor_sync(0xffffffffu, l, 2);
    const int row = gr + 8 * rr;
    if (row < gc) {
      if (tig == 0) {
        ml[row] = m_r[rr];
        ml[kKeys + row] = l;
      }
#pragma unroll
      for (int nb = 0; nb < NB_O; ++nb) {
        ow[row * D + nb * 8 + 2 * tig] = o[nb][2 * rr];
        ow[row * D + nb * 8 + 2 * tig + 1] = o[nb][2 * rr + 1];
      }
    }
  }
  __syncthreads();

  // Merge the warps that had blocks.
  const int nw = min(kWarps, nblk);
  auto slice = [&](int w) { return reinterpret_cast<const float*>(reinterpret_cast<const T*>(smem) + w * Cfg::kWarpElems); };
  for (int i = tid; i < gc * D; i += kThreads) {
    const int g = i / D, d = i - g * D;
    float mx = -INFINITY;
    for (int w = 0; w < nw; ++w) mx = fmaxf(mx, slice(w)[g]);
    const float m_use = mx == -INFINITY ? 0.f : mx;
    float acc = 0.f, l = 0.f;
    for (int w = 0; w < nw; ++w) {
      const float* wml = slice(w);
      const float wt = fast_exp2(wml[g] - m_use);
      l += wt * wml[kKeys + g];
      acc += wt * wml[2 * kKeys + g * D + d];
    }
    const int h = h0 + g;
    if (S == 1) {
      out[(static_cast<int64_t>(q_row) * H + h) * D + d] = from_f32<T>(l > 0.f ? acc / l : 0.f);
    } else {
      const int64_t pi = (static_cast<int64_t>(s) * H + h) * S + split;
      p.ws_acc[pi * D + d] = acc;
      if (d == 0) {
        p.ws_ml[2 * pi] = mx;
        p.ws_ml[2 * pi + 1] = l;
      }
    }
  }
}

}  // namespace

template <typename T, int D>
void launch_decode_mma_kernel(const DecodeParams& p, dim3 grid, cudaStream_t stream) {
  constexpr int bytes = MmaDecodeCfg<D>::kSmemBytes;
  static const bool attr = [] {  // (first launch: before any graph capture, which warms up eagerly)
    cudaFuncSetAttribute(decode_mma_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    return true;
  }();
  (void)attr;
  decode_mma_kernel<T, D><<<grid, kThreads, bytes, stream>>>(p);
}

template void launch_decode_mma_kernel<__nv_bfloat16, 64>(const DecodeParams&, dim3, cudaStream_t);
template void launch_decode_mma_kernel<__nv_bfloat16, 128>(const DecodeParams&, dim3, cudaStream_t);
template void launch_decode_mma_kernel<__half, 64>(const DecodeParams&, dim3, cudaStream_t);
template void launch_decode_mma_kernel<__half, 128>(const DecodeParams&, dim3, cudaStream_t);

}  // namespace strata::cuda::attn
