// GPU parity of Backend::paged_attention: the CUDA kernels (split-KV decode, tensor-core and CUDA-core
// prefill) against the CPU reference on random paged KV caches. Each sequence owns a random set of
// distinct blocks in random order; cache slots no sequence reaches hold large junk values so that a
// read outside a sequence's keys shows. Decode batches (every q_len 1), prefills from position 0 and
// mixed batches of chunks that start mid-sequence plus decodes; head_dim 4 .. 256, GQA groups 1 .. 20,
// block sizes 16 and 8, F32 and BF16 (F16 once). Skipped without a GPU; failures print the seed
// (STRATA_TEST_SEED=<seed> replays).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "gpu_testutil.h"

namespace strata {
namespace {

using gputest::download;
using gputest::ints_to_backend;
using gputest::rand_int;
using gputest::rel_close;
using gputest::rounded;
using gputest::to_backend;

constexpr DType kF32 = DType::kF32, kBF16 = DType::kBF16, kF16 = DType::kF16;
constexpr double kAttnTol = 1e-4;  // F32; 16-bit dtypes: gputest::tolerance

struct Seq {
  int q_len, seq_len;  // this step's query rows; tokens in the cache after the step
};
struct AttnCase {
  DType dt;
  int heads, kv_heads, head_dim, block_size;
  std::vector<Seq> seqs;
};

std::string describe(const AttnCase& c) {
  std::ostringstream o;
  o << gputest::dt_str(c.dt) << " heads " << c.heads << "/" << c.kv_heads << " head_dim " << c.head_dim << " block "
    << c.block_size << " seqs (q_len, seq_len):";
  for (const Seq& s : c.seqs) o << " (" << s.q_len << ", " << s.seq_len << ")";
  return o.str();
}

// Runs one batch on both backends and compares the outputs per sequence.
void check_attention(gputest::Env& env, const AttnCase& c) {
  SCOPED_TRACE(describe(c));
  Backend &gpu = *env.gpu, &cpu = *env.cpu;
  std::mt19937& rng = env.rng;
  const int S = static_cast<int>(c.seqs.size()), bs = c.block_size, H = c.heads, d = c.head_dim;
  std::vector<int32_t> qsl(S + 1, 0), lens(S), nblocks(S);
  int max_q = 0, max_len = 0, max_blocks = 0, used_blocks = 0;
  for (int s = 0; s < S; ++s) {
    const Seq& q = c.seqs[s];
    ASSERT_TRUE(q.q_len >= 1 && q.q_len <= q.seq_len) << "test bug: sequence " << s;
    qsl[s + 1] = qsl[s] + q.q_len;
    lens[s] = q.seq_len;
    nblocks[s] = (q.seq_len + bs - 1) / bs;
    max_q = std::max(max_q, q.q_len);
    max_len = std::max(max_len, q.seq_len);
    max_blocks = std::max(max_blocks, nblocks[s]);
    used_blocks += nblocks[s];
  }
  max_blocks += 1;  // every block-table row ends in unused (0) entries
  const int num_blocks = used_blocks + 3;  // and some blocks belong to no sequence
  const int T = qsl[S];

  // Distinct blocks per sequence, in random order.
  std::vector<int32_t> perm(num_blocks);
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), rng);
  std::vector<int32_t> tables(static_cast<size_t>(S) * max_blocks, 0);
  for (int s = 0, next = 0; s < S; ++s)
    for (int b = 0; b < nblocks[s]; ++b) tables[static_cast<size_t>(s) * max_blocks + b] = perm[next++];
  auto slot_of = [&](int s, int t) {
    return static_cast<int64_t>(tables[static_cast<size_t>(s) * max_blocks + t / bs]) * bs + t % bs;
  };

  // K/V uniform in [-1, 1) where a sequence's keys live; junk (|K| up to 40, |V| up to 500) elsewhere.
  const int64_t num_slots = static_cast<int64_t>(num_blocks) * bs, row = static_cast<int64_t>(c.kv_heads) * d;
  std::vector<char> live(num_slots, 0);
  for (int s = 0; s < S; ++s)
    for (int t = 0; t < c.seqs[s].seq_len; ++t) live[slot_of(s, t)] = 1;
  std::vector<float> k = gputest::uniform(rng, num_slots * row, -1, 1), v = gputest::uniform(rng, num_slots * row, -1, 1);
  for (int64_t slot = 0; slot < num_slots; ++slot)
    if (!live[slot])
      for (int64_t i = slot * row; i < (slot + 1) * row; ++i) k[i] *= 40.0f, v[i] *= 500.0f;
  k = rounded(c.dt, std::move(k));
  v = rounded(c.dt, std::move(v));
  const std::vector<float> q = rounded(c.dt, gputest::uniform(rng, static_cast<size_t>(T) * H * d, -2, 2));
  std::vector<int64_t> slot_mapping(T);
  for (int s = 0; s < S; ++s)
    for (int i = 0; i < c.seqs[s].q_len; ++i)
      slot_mapping[qsl[s] + i] = slot_of(s, c.seqs[s].seq_len - c.seqs[s].q_len + i);

  const Shape q_shape{T, H, d}, cache_shape{num_blocks, bs, c.kv_heads, d};
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));

  auto run = [&](Backend& b, DType dt, Tensor& out) {
    Tensor qt = to_backend(b, dt, q_shape, q), kt = to_backend(b, dt, cache_shape, k),
           vt = to_backend(b, dt, cache_shape, v);
    Tensor qsl_t = ints_to_backend(b, {S + 1}, qsl), lens_t = ints_to_backend(b, {S}, lens),
           tab_t = ints_to_backend(b, {S, max_blocks}, tables), slot_t = ints_to_backend(b, {T}, slot_mapping);
    AttentionMetadata meta{qsl_t.view(), lens_t.view(), tab_t.view(), slot_t.view(), S, max_q, max_len};
    b.paged_attention(qt.view(), kt.view(), vt.view(), meta, scale, out.view());
    return download(b, out.view());  // synchronises before the inputs are freed
  };
  Tensor out_cpu = cpu.alloc(kF32, q_shape);
  const std::vector<float> want = run(cpu, kF32, out_cpu);
  Tensor out_gpu = gputest::poisoned(gpu, c.dt, q_shape);
  const std::vector<float> got = run(gpu, c.dt, out_gpu);
  gpu.reset_workspace();

  // Per sequence, so that a failure names the sequences (and hence the kernel path) that broke.
  const double tol = gputest::tolerance(c.dt, kAttnTol);
  const size_t per_token = static_cast<size_t>(H) * d;
  int failed = 0;
  std::ostringstream report;
  for (int s = 0; s < S; ++s) {
    const auto b = static_cast<std::ptrdiff_t>(qsl[s] * per_token), e = static_cast<std::ptrdiff_t>(qsl[s + 1] * per_token);
    const std::vector<float> g(got.begin() + b, got.begin() + e), w(want.begin() + b, want.begin() + e);
    auto r = rel_close(g, w, tol);
    if (!r && failed++ < 4)
      report << "\n  sequence " << s << " (q_len " << c.seqs[s].q_len << ", seq_len " << c.seqs[s].seq_len
             << "): " << r.message();
  }
  EXPECT_EQ(failed, 0) << failed << " of " << S << " sequences differ:" << report.str();
}

struct Gqa {
  int heads, kv_heads;
};
const std::vector<Gqa> kGqa = {{8, 8}, {8, 2}, {32, 8}, {2, 1}};
const std::vector<int> kHeadDims = {4, 16, 64, 128};

// Calls f(dt, heads, kv_heads, head_dim, block_size) for F32 and BF16 x every head_dim x every GQA
// shape, with block sizes 16 and 8 in a checkerboard (each dtype, head_dim and GQA shape meets both).
template <typename F>
void for_each_config(F&& f) {
  for (int ti = 0; ti < 2; ++ti)
    for (size_t di = 0; di < kHeadDims.size(); ++di)
      for (size_t gi = 0; gi < kGqa.size(); ++gi)
        f(ti ? kBF16 : kF32, kGqa[gi].heads, kGqa[gi].kv_heads, kHeadDims[di], (ti + di + gi) % 2 ? 8 : 16);
}

// One decode batch of n sequences, seq_lens random in [1, 700]; with n > 1 one length is a multiple
// of the block size and one is 1.
std::vector<Seq> decode_batch(std::mt19937& rng, int n, int bs) {
  std::vector<Seq> seqs;
  for (int s = 0; s < n; ++s) seqs.push_back({1, rand_int(rng, 1, 700)});
  if (n > 1) {
    seqs[rand_int(rng, 1, n - 1)].seq_len = bs * rand_int(rng, 1, 700 / bs);
    seqs[0].seq_len = 1;
  }
  return seqs;
}

// Chunked prefill: chunks that start mid-sequence (crossing 64- and 32-row tiles), a two-row chunk
// (the smallest the prefill kernel takes) and decodes in the same batch.
std::vector<Seq> mixed_batch(int bs) {
  return {{37, 200}, {1, 57}, {65, 150}, {1, 1}, {2, 17}, {1, 256}, {16, 16 + 3 * bs}, {33, 33}};
}

TEST(AttentionParity, Decode) {
  STRATA_PARITY_SETUP(env);
  for_each_config([&](DType dt, int h, int kvh, int d, int bs) {
    for (int n : {1, 5, 37}) check_attention(env, {dt, h, kvh, d, bs, decode_batch(env.rng, n, bs)});
  });
}

TEST(AttentionParity, DecodeEdgeLengths) {
  STRATA_PARITY_SETUP(env);
  for (DType dt : {kF32, kBF16})
    for (auto [h, kvh, d] : {std::tuple<int, int, int>{8, 2, 128}, {2, 1, 4}, {32, 8, 64}}) {
      // One key; exactly one block; one past a block; a long sequence alone (many splits).
      for (int len : {1, 16, 17, 700, 2048}) check_attention(env, {dt, h, kvh, d, 16, {{1, len}}});
      check_attention(env, {dt, h, kvh, d, 16, {{1, 1}, {1, 1}, {1, 32}, {1, 33}}});
    }
}

// GQA groups past the CUDA-core kernel's 8 heads per CTA (the tensor-core decode kernel takes up to
// 16: 16 in one CTA, 12 and 20 split in two) and batches large enough for one split per sequence.
TEST(AttentionParity, DecodeLargeGroupsAndBatches) {
  STRATA_PARITY_SETUP(env);
  for (DType dt : {kF32, kBF16, kF16})
    for (int d : {64, 128}) {
      for (const Gqa& g : {Gqa{16, 1}, Gqa{24, 2}, Gqa{20, 1}}) {
        check_attention(env, {dt, g.heads, g.kv_heads, d, 16, decode_batch(env.rng, 5, 16)});
        check_attention(env, {dt, g.heads, g.kv_heads, d, 16, {{1, 1}, {1, 700}, {1, 2048}}});
      }
      check_attention(env, {dt, 32, 8, d, 16, decode_batch(env.rng, 80, 16)});
      check_attention(env, {dt, 32, 8, d, 32, decode_batch(env.rng, 80, 32)});
    }
}

TEST(AttentionParity, Prefill) {
  STRATA_PARITY_SETUP(env);
  for_each_config([&](DType dt, int h, int kvh, int d, int bs) {
    check_attention(env, {dt, h, kvh, d, bs, {{300, 300}}});
    check_attention(env, {dt, h, kvh, d, bs, {{64, 64}, {1, 1}, {129, 129}}});
  });
}

TEST(AttentionParity, MixedChunkedPrefillAndDecode) {
  STRATA_PARITY_SETUP(env);
  for_each_config([&](DType dt, int h, int kvh, int d, int bs) {
    check_attention(env, {dt, h, kvh, d, bs, mixed_batch(bs)});
  });
}

// Head sizes outside the common set: 12 (16-bit rows not a multiple of 16 bytes), 96 (the generic
// decode kernel; CUDA-core prefill for 16-bit) and 256 (the largest; 16-key decode tiles, prefill
// shared memory above 48 KB).
TEST(AttentionParity, OtherHeadDims) {
  STRATA_PARITY_SETUP(env);
  for (DType dt : {kF32, kBF16})
    for (int d : {12, 96, 256})
      for (const Gqa& g : {Gqa{8, 2}, Gqa{4, 1}}) {
        check_attention(env, {dt, g.heads, g.kv_heads, d, 16, decode_batch(env.rng, 5, 16)});
        check_attention(env, {dt, g.heads, g.kv_heads, d, 16, mixed_batch(16)});
      }
}

TEST(AttentionParity, F16) {
  STRATA_PARITY_SETUP(env);
  for (int d : {64, 128, 16}) {
    check_attention(env, {kF16, 8, 2, d, 16, decode_batch(env.rng, 5, 16)});
    check_attention(env, {kF16, 8, 2, d, 16, {{64, 64}, {1, 1}, {129, 129}}});
    check_attention(env, {kF16, 8, 2, d, 16, mixed_batch(16)});
  }
}

}  // namespace
}  // namespace strata
