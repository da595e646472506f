// Private to the tensor-core attention kernels (attention_prefill.cu, attention_decode_mma.cu):
// ldmatrix / mma.sync m16n8k16 wrappers, 16-bit packing and the paged K/V row offset.
#pragma once

#include "backend/cuda/attention_common.cuh"

namespace strata::cuda::attn {

// ldmatrix x4: lanes 8i..8i+7 give the row addresses of 8x8 b16 matrix i; register i receives matrix
// i, lane l holding row l / 4, columns 2 (l % 4) and 2 (l % 4) + 1 (the .trans form: rows and
// columns swapped, i.e. elements (2 (l % 4), l / 4) and (2 (l % 4) + 1, l / 4)).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem_row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(smem_row))
               : "memory");
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem_row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(smem_row))
               : "memory");
}

// c += a (16x16, row-major fragment) * b (16x8, column fragment), f32 accumulators. Fragment layout
// (g = lane / 4, t = lane % 4): a[0] = A[g][2t, 2t+1], a[1] = A[g+8][2t, 2t+1], a[2] = A[g][2t+8, 2t+9],
// a[3] = A[g+8][2t+8, 2t+9]; b[0] = B[2t, 2t+1][g], b[1] = B[2t+8, 2t+9][g]; c[0..1] = C[g][2t, 2t+1],
// c[2..3] = C[g+8][2t, 2t+1]. Two 16-bit elements per register, the lower column/row in the low half.
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1,
                                          __nv_bfloat16) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1,
                                          __half) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats -> two 16-bit elements in one register, lo in the low half (round to nearest even).
__device__ __forceinline__ uint32_t pack2(float lo, float hi, __nv_bfloat16) {
  return static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(lo))) |
         (static_cast<uint32_t>(__bfloat16_as_ushort(__float2bfloat16_rn(hi))) << 16);
}
__device__ __forceinline__ uint32_t pack2(float lo, float hi, __half) {
  return static_cast<uint32_t>(__half_as_ushort(__float2half_rn(lo))) |
         (static_cast<uint32_t>(__half_as_ushort(__float2half_rn(hi))) << 16);
}

__device__ __forceinline__ void store_zero16(void* smem_dst) {
  *reinterpret_cast<uint4*>(smem_dst) = make_uint4(0u, 0u, 0u, 0u);
}

// Element offset of key t's K/V row (kv head kvh) in the caches.
__device__ __forceinline__ int64_t kv_row_offset(const int32_t* table, int t, int block_size, int num_kv_heads,
                                                 int kvh, int head_dim) {
  const int bi = t / block_size;
  const int64_t slot = static_cast<int64_t>(table[bi]) * block_size + (t - bi * block_size);
  return (slot * num_kv_heads + kvh) * head_dim;
}

// One online-softmax step of a warp's 16-row S tile (NB 8-key column blocks, in mma accumulator
// layout: this lane holds rows lane / 4 and lane / 4 + 8, columns 2 (lane % 4) + {0, 1} of each
// block): scores scaled by scale_log2, masked(nb, e, rr) ones set to -inf, the rows' running maximum
// m and this lane's share of the running sum l updated, O rescaled; S then holds the probabilities.
template <int NB, int NBO, typename Masked>
__device__ __forceinline__ void mma_online_softmax(float (&s)[NB][4], float (&o)[NBO][4], float (&m)[2], float (&l)[2],
                                                   float scale_log2, Masked masked) {
#pragma unroll
  for (int rr = 0; rr < 2; ++rr) {
    float mx = -INFINITY;
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        float v = s[nb][2 * rr + e] * scale_log2;
        if (masked(nb, e, rr)) v = -INFINITY;
        s[nb][2 * rr + e] = v;
        mx = fmaxf(mx, v);
      }
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float m_new = fmaxf(m[rr], mx);
    const float m_use = m_new == -INFINITY ? 0.f : m_new;
    const float corr = fast_exp2(m[rr] - m_use);
    m[rr] = m_new;
    float sum = 0.f;
#pragma unroll
    for (int nb = 0; nb < NB; ++nb) {
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const float pv = fast_exp2(s[nb][2 * rr + e] - m_use);
        s[nb][2 * rr + e] = pv;
        sum += pv;
      }
    }
    l[rr] = l[rr] * corr + sum;
#pragma unroll
    for (int nb = 0; nb < NBO; ++nb) {
      o[nb][2 * rr] *= corr;
      o[nb][2 * rr + 1] *= corr;
    }
  }
}

// S accumulator blocks 2kk, 2kk + 1 (keys 16kk .. 16kk + 15) as the A fragment of P V's k-step kk.
template <typename T, int NB>
__device__ __forceinline__ void mma_p_fragment(uint32_t (&a)[4], const float (&s)[NB][4], int kk) {
  a[0] = pack2(s[2 * kk][0], s[2 * kk][1], T{});
  a[1] = pack2(s[2 * kk][2], s[2 * kk][3], T{});
  a[2] = pack2(s[2 * kk + 1][0], s[2 * kk + 1][1], T{});
  a[3] = pack2(s[2 * kk + 1][2], s[2 * kk + 1][3], T{});
}

}  // namespace strata::cuda::attn
