// GPU kernel parity: every op of the Backend table (backend/backend.h) on the CUDA backend against the
// fp32 CPU backend, the reference, on fresh random inputs at several shapes, for F32 and BF16 (F16 for
// a few). 16-bit tests round the random inputs to the dtype first, so both backends see the same
// values; the metric is ‖gpu − cpu‖₂ / ‖cpu‖₂. Outputs are poisoned before each op so that unwritten
// elements show. Paged attention is in attention_parity_test.cpp. Skipped without a GPU; a failure
// prints the seed, and STRATA_TEST_SEED=<seed> replays it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gpu_testutil.h"
#include "model/layers/rope.h"
#include "weights/weight_loader.h"

namespace strata {
namespace {

using gputest::all_equal;
using gputest::download;
using gputest::download_raw;
using gputest::dt_str;
using gputest::ints_to_backend;
using gputest::poisoned;
using gputest::rand_int;
using gputest::rel_close;
using gputest::rounded;
using gputest::to_backend;
using gputest::tolerance;
using gputest::uniform;

constexpr DType kF32 = DType::kF32, kBF16 = DType::kBF16, kF16 = DType::kF16;
constexpr double kElemTol = 1e-5;     // F32 elementwise and norm ops
constexpr double kLinearTol = 1e-4;   // F32 linear (FP32 cuBLAS, no TF32)
constexpr double kWideOutTol = 2e-4;  // 16-bit inputs, F32 output: f32 accumulation on both sides

std::vector<float> values_of(const Tensor& host) { return {host.data<float>(), host.data<float>() + host.numel()}; }

// cos_sin [max_pos, head_dim] as the model builds it (theta 500000, no scaling).
std::vector<float> rope_table(int64_t head_dim, int64_t max_pos) {
  return values_of(build_cos_sin_table(compute_rope_frequencies(500000.0, head_dim, RopeScaling{}, max_pos), max_pos));
}

std::vector<int32_t> random_positions(std::mt19937& rng, int64_t n, int max_pos) {
  std::vector<int32_t> p(static_cast<size_t>(n));
  for (auto& x : p) x = rand_int(rng, 0, max_pos - 1);
  return p;
}

// n distinct slots of [0, num_slots) in random order, about 10% of them -1 (skipped tokens; token
// n / 2 always when n >= 4).
std::vector<int64_t> random_slots(std::mt19937& rng, int64_t n, int64_t num_slots) {
  std::vector<int64_t> all(static_cast<size_t>(num_slots));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  std::vector<int64_t> s(all.begin(), all.begin() + n);
  for (auto& x : s)
    if (rand_int(rng, 0, 9) == 0) x = -1;
  if (n >= 4) s[n / 2] = -1;
  return s;
}

// Cache rows (slots) a token was written to compare by relative error (tol 0: exactly); all other
// rows must still hold the poison they were filled with.
::testing::AssertionResult cache_matches(const std::vector<float>& got, const std::vector<float>& want,
                                         const std::vector<int64_t>& slots, int64_t row, float poison, double tol) {
  std::vector<char> written(got.size() / row, 0);
  for (int64_t s : slots)
    if (s >= 0) written[s] = 1;
  std::vector<float> g, w;
  int64_t clobbered = 0, first = -1;
  for (size_t slot = 0; slot < written.size(); ++slot)
    for (int64_t i = 0; i < row; ++i) {
      const size_t e = slot * row + i;
      if (written[slot]) {
        g.push_back(got[e]);
        w.push_back(want[e]);
      } else if (got[e] != poison && clobbered++ == 0) {
        first = static_cast<int64_t>(slot);
      }
    }
  if (clobbered)
    return ::testing::AssertionFailure() << clobbered << " elements of cache rows no token maps to changed (first in slot "
                                         << first << ")";
  return g.empty() ? ::testing::AssertionSuccess() : rel_close(g, w, tol);
}

TEST(KernelParity, FillDummyMatchesWeightLoader) {
  STRATA_PARITY_SETUP(env);
  struct Case {
    Shape full;
    ShardDim dim;
    int rank, size;
    DummyInit init;
  };
  const std::vector<Case> cases = {
      {{1000, 96}, ShardDim::kRows, 1, 2, {0.0f, 0.02f}}, {{1000, 96}, ShardDim::kCols, 1, 2, {0.0f, 0.02f}},
      {{300}, ShardDim::kNone, 0, 1, {1.0f, 0.1f}},       {{64, 4096}, ShardDim::kCols, 3, 4, {1.0f, 0.5f}},
      {{4096, 257}, ShardDim::kRows, 3, 4, {-0.25f, 3.0f}},
  };
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& c = cases[ci];
    const uint64_t seed = gputest::seed64(env.rng);
    const std::string name = "model.layers." + std::to_string(ci) + ".mlp.down_proj.weight";
    SCOPED_TRACE(::testing::Message() << "full " << shape_str(c.full) << " shard dim " << static_cast<int>(c.dim)
                                      << " rank " << c.rank << "/" << c.size << " loader seed " << seed);
    const WeightLoader loader = WeightLoader::dummy(seed);
    auto host = loader.load(name, c.full, c.dim, c.rank, c.size, c.init);
    ASSERT_TRUE(host.ok()) << host.error().message();
    const int64_t rows = c.full[0], cols = c.full.size() == 2 ? c.full[1] : 1;
    int64_t row0 = 0, col0 = 0;
    if (c.dim == ShardDim::kRows) row0 = shard_range(rows, c.rank, c.size).first;
    if (c.dim == ShardDim::kCols) col0 = shard_range(cols, c.rank, c.size).first;
    const std::vector<float> want = values_of(host.value());
    for (DType dt : {kF32, kBF16}) {
      SCOPED_TRACE(dt_str(dt));
      Tensor d = poisoned(*env.gpu, dt, host.value().shape());
      env.gpu->fill_dummy(d.view(), loader.dummy_key(name), row0, col0, cols, c.init.center, c.init.scale);
      if (dt == kF32) {
        EXPECT_TRUE(all_equal(download(*env.gpu, d.view()), want));
      } else {
        std::vector<uint16_t> bits(want.size());
        for (size_t i = 0; i < want.size(); ++i) bits[i] = f32_to_bf16(want[i]);
        EXPECT_TRUE(all_equal(download_raw<uint16_t>(*env.gpu, d.view()), bits));
      }
    }
  }
}

TEST(KernelParity, UploadConvertsExactly) {
  STRATA_PARITY_SETUP(env);
  Backend& gpu = *env.gpu;
  // The last size spans three 32 MiB staging chunks of f32 (both stages used, the first one twice).
  for (int64_t n : {int64_t{1}, int64_t{4099}, int64_t{(32 << 20) / 4 * 2 + 1234}}) {
    SCOPED_TRACE(::testing::Message() << n << " elements");
    std::vector<float> x = uniform(env.rng, n, -4.0f, 4.0f), xbf(n), xhf(n);
    std::vector<uint16_t> xb(n), xh(n);
    for (int64_t i = 0; i < n; ++i) {
      xb[i] = f32_to_bf16(x[i]);
      xh[i] = f32_to_f16(x[i]);
      xbf[i] = bf16_to_f32(xb[i]);
      xhf[i] = f16_to_f32(xh[i]);
    }
    const TensorView f32_src{x.data(), kF32, {n}}, bf16_src{xb.data(), kBF16, {n}}, f16_src{xh.data(), kF16, {n}};
    auto up = [&](const TensorView& src, DType dt) {
      Tensor t = gpu.alloc(dt, {n});
      gpu.upload(src, t.view());
      return t;
    };
    EXPECT_TRUE(all_equal(download(gpu, up(f32_src, kF32).view()), x)) << "F32 -> F32";
    EXPECT_TRUE(all_equal(download_raw<uint16_t>(gpu, up(f32_src, kBF16).view()), xb)) << "F32 -> BF16";
    EXPECT_TRUE(all_equal(download_raw<uint16_t>(gpu, up(f32_src, kF16).view()), xh)) << "F32 -> F16";
    EXPECT_TRUE(all_equal(download(gpu, up(bf16_src, kF32).view()), xbf)) << "BF16 -> F32";
    EXPECT_TRUE(all_equal(download_raw<uint16_t>(gpu, up(bf16_src, kBF16).view()), xb)) << "BF16 -> BF16";
    EXPECT_TRUE(all_equal(download(gpu, up(f16_src, kF32).view()), xhf)) << "F16 -> F32";
  }
}

// m <= 8 with k % 8 == 0 takes the GEMV kernel for 16-bit weights, everything else cuBLASLt.
TEST(KernelParity, Linear) {
  STRATA_PARITY_SETUP(env);
  Backend &gpu = *env.gpu, &cpu = *env.cpu;
  struct Mnk {
    int64_t m, n, k;
    bool f16;
  };
  const std::vector<Mnk> shapes = {{1, 4096, 4096, false}, {2, 1024, 1024, true}, {5, 768, 2048, false},
                                   {8, 4000, 1024, false}, {9, 512, 512, false},  {64, 1536, 1024, true},
                                   {200, 257, 96, false},  {3, 16, 16, false},    {1, 40, 24, false},
                                   {4, 33, 20, true},      {1, 300, 3584, false}, {3, 64, 14336, false}};
  for (const Mnk& s : shapes) {
    const int64_t m = s.m, n = s.n, k = s.k;
    SCOPED_TRACE(::testing::Message() << "m " << m << " n " << n << " k " << k);
    const std::vector<float> x0 = uniform(env.rng, m * k, -1, 1), w0 = uniform(env.rng, n * k, -1, 1),
                             b0 = uniform(env.rng, n, -1, 1);
    std::vector<DType> dts = {kF32, kBF16};
    if (s.f16) dts.push_back(kF16);
    for (DType dt : dts) {
      const auto x = rounded(dt, x0), w = rounded(dt, w0), b = rounded(dt, b0);
      Tensor xg = to_backend(gpu, dt, {m, k}, x), wg = to_backend(gpu, dt, {n, k}, w), bg = to_backend(gpu, dt, {n}, b);
      Tensor xc = to_backend(cpu, kF32, {m, k}, x), wc = to_backend(cpu, kF32, {n, k}, w),
             bc = to_backend(cpu, kF32, {n}, b);
      for (bool bias : {false, true}) {
        Tensor yc = cpu.alloc(kF32, {m, n});
        cpu.linear(xc.view(), wc.view(), bias ? bc.view() : TensorView{}, yc.view());
        const std::vector<float> want = values_of(yc);
        const std::vector<DType> out_dts = dt == kF32 ? std::vector<DType>{kF32} : std::vector<DType>{dt, kF32};
        for (DType ydt : out_dts) {
          SCOPED_TRACE(::testing::Message() << dt_str(dt) << " -> " << dt_str(ydt) << (bias ? " with bias" : ""));
          Tensor yg = poisoned(gpu, ydt, {m, n});
          gpu.linear(xg.view(), wg.view(), bias ? bg.view() : TensorView{}, yg.view());
          const double tol = ydt != kF32 ? tolerance(ydt, kLinearTol) : dt == kF32 ? kLinearTol : kWideOutTol;
          EXPECT_TRUE(rel_close(download(gpu, yg.view()), want, tol));
        }
      }
    }
  }
}

struct NormShape {
  int64_t n, hidden;
};
std::vector<NormShape> norm_shapes() {
  std::vector<NormShape> s;
  for (int64_t n : {1, 7, 130})
    for (int64_t h : {16, 1000, 4096, 8192}) s.push_back({n, h});
  // Rows the 16-byte kernel does not take (36: not whole 16-bit vectors; 20000 f32: more than 4 vectors
  // a thread) or takes with 1024 threads (20000 16-bit).
  s.push_back({3, 36});
  s.push_back({3, 20000});
  return s;
}

TEST(KernelParity, RmsNorm) {
  STRATA_PARITY_SETUP(env);
  Backend &gpu = *env.gpu, &cpu = *env.cpu;
  for (const NormShape& s : norm_shapes()) {
    const Shape shape{s.n, s.hidden};
    const auto x0 = uniform(env.rng, s.n * s.hidden, -2, 2), w0 = uniform(env.rng, s.hidden, 0.8f, 1.2f);
    std::vector<DType> dts = {kF32, kBF16};
    if (s.n == 7 && s.hidden == 4096) dts.push_back(kF16);
    for (DType dt : dts) {
      SCOPED_TRACE(::testing::Message() << dt_str(dt) << " n " << s.n << " hidden " << s.hidden);
      const auto x = rounded(dt, x0), w = rounded(dt, w0);
      Tensor xc = to_backend(cpu, kF32, shape, x), wc = to_backend(cpu, kF32, {s.hidden}, w), oc = cpu.alloc(kF32, shape);
      cpu.rms_norm(xc.view(), wc.view(), 1e-5f, oc.view());
      Tensor xg = to_backend(gpu, dt, shape, x), wg = to_backend(gpu, dt, {s.hidden}, w), og = poisoned(gpu, dt, shape);
      gpu.rms_norm(xg.view(), wg.view(), 1e-5f, og.view());
      EXPECT_TRUE(rel_close(download(gpu, og.view()), values_of(oc), tolerance(dt, kElemTol)));
    }
  }
}

TEST(KernelParity, AddRmsNorm) {
  STRATA_PARITY_SETUP(env);
  Backend &gpu = *env.gpu, &cpu = *env.cpu;
  for (const NormShape& s : norm_shapes()) {
    const Shape shape{s.n, s.hidden};
    const auto r0 = uniform(env.rng, s.n * s.hidden, -2, 2), x0 = uniform(env.rng, s.n * s.hidden, -1, 1),
               w0 = uniform(env.rng, s.hidden, 0.8f, 1.2f);
    std::vector<DType> dts = {kF32, kBF16};
    if (s.n == 7 && s.hidden == 4096) dts.push_back(kF16);
    for (DType dt : dts) {
      SCOPED_TRACE(::testing::Message() << dt_str(dt) << " n " << s.n << " hidden " << s.hidden);
      const auto r = rounded(dt, r0), x = rounded(dt, x0), w = rounded(dt, w0);
      Tensor rc = to_backend(cpu, kF32, shape, r), xc = to_backend(cpu, kF32, shape, x),
             wc = to_backend(cpu, kF32, {s.hidden}, w), oc = cpu.alloc(kF32, shape);
      cpu.add_rms_norm(rc.view(), xc.view(), wc.view(), 1e-5f, oc.view());
      Tensor rg = to_backend(gpu, dt, shape, r), xg = to_backend(gpu, dt, shape, x),
             wg = to_backend(gpu, dt, {s.hidden}, w), og = poisoned(gpu, dt, shape);
      gpu.add_rms_norm(rg.view(), xg.view(), wg.view(), 1e-5f, og.view());
      EXPECT_TRUE(rel_close(download(gpu, og.view()), values_of(oc), tolerance(dt, kElemTol))) << "out";
      EXPECT_TRUE(rel_close(download(gpu, rg.view()), values_of(rc), tolerance(dt, kElemTol))) << "residual";
    }
  }
}

struct Heads {
  int64_t heads, kv_heads, head_dim;
};
const std::vector<Heads> kHeadConfigs = {{8, 2, 128}, {4, 4, 64}, {4, 2, 16}, {2, 1, 8}};
constexpr int kMaxPos = 2048;

TEST(KernelParity, Rope) {
  STRATA_PARITY_SETUP(env);
  Backend &gpu = *env.gpu, &cpu = *env.cpu;
  for (int64_t n : {1, 13})
    for (const Heads& h : kHeadConfigs) {
      const auto table = rope_table(h.head_dim, kMaxPos);
      const auto pos = random_positions(env.rng, n, kMaxPos);
      const Shape qs{n, h.heads, h.head_dim}, ks{n, h.kv_heads, h.head_dim}, ts{kMaxPos, h.head_dim};
      const auto q0 = uniform(env.rng, shape_numel(qs), -2, 2), k0 = uniform(env.rng, shape_numel(ks), -2, 2);
      for (DType dt : {kF32, kBF16}) {
        SCOPED_TRACE(::testing::Message() << dt_str(dt) << " n " << n << " heads " << h.heads << "/" << h.kv_heads
                                          << " head_dim " << h.head_dim);
        const auto q = rounded(dt, q0), k = rounded(dt, k0);
        Tensor qc = to_backend(cpu, kF32, qs, q), kc = to_backend(cpu, kF32, ks, k);
        Tensor pc = ints_to_backend(cpu, {n}, pos), tc = to_backend(cpu, kF32, ts, table);
        cpu.rope(qc.view(), kc.view(), pc.view(), tc.view());
        Tensor qg = to_backend(gpu, dt, qs, q), kg = to_backend(gpu, dt, ks, k);
        Tensor pg = ints_to_backend(gpu, {n}, pos), tg = to_backend(gpu, kF32, ts, table);
        gpu.rope(qg.view(), kg.view(), pg.view(), tg.view());
        EXPECT_TRUE(rel_close(download(gpu, qg.view()), values_of(qc), tolerance(dt, kElemTol))) << "q";
        EXPECT_TRUE(rel_close(download(gpu, kg.view()), values_of(kc), tolerance(dt, kElemTol))) << "k";
      }
    }
}

TEST(KernelParity, QkvRopeCache) {
  STRATA_PARITY_SETUP(env);
  Backend &gpu = *env.gpu, &cpu = *env.cpu;
  constexpr int64_t kBlock = 16;
  for (int64_t n : {1, 13, 100})
    for (const Heads& h : kHeadConfigs) {
      const int64_t d = h.head_dim, width = (h.heads + 2 * h.kv_heads) * d, row = h.kv_heads * d;
      const int64_t num_blocks = (n + n / 2 + 5 + kBlock - 1) / kBlock;  // spare slots no token maps to
      const Shape qkv_s{n, width}, q_s{n, h.heads, d}, cache_s{num_blocks, kBlock, h.kv_heads, d}, ts{kMaxPos, d};
      const auto table = rope_table(d, kMaxPos);
      const auto pos = random_positions(env.rng, n, kMaxPos);
      const auto slots = random_slots(env.rng, n, num_blocks * kBlock);
      const auto qkv0 = uniform(env.rng, n * width, -2, 2);
      std::vector<DType> dts = {kF32, kBF16};
      if (n == 13 && d == 128) dts.push_back(kF16);
      for (DType dt : dts) {
        SCOPED_TRACE(::testing::Message() << dt_str(dt) << " n " << n << " heads " << h.heads << "/" << h.kv_heads
                                          << " head_dim " << d);
        const auto qkv = rounded(dt, qkv0);
        const float poison = gputest::round_to(dt, gputest::kPoison);
        Tensor xc = to_backend(cpu, kF32, qkv_s, qkv), pc = ints_to_backend(cpu, {n}, pos);
        Tensor tc = to_backend(cpu, kF32, ts, table), sc = ints_to_backend(cpu, {n}, slots);
        Tensor qc = cpu.alloc(kF32, q_s), kc = poisoned(cpu, kF32, cache_s, poison), vc = poisoned(cpu, kF32, cache_s, poison);
        cpu.qkv_rope_cache(xc.view(), pc.view(), tc.view(), qc.view(), kc.view(), vc.view(), sc.view());
        Tensor xg = to_backend(gpu, dt, qkv_s, qkv), pg = ints_to_backend(gpu, {n}, pos);
        Tensor tg = to_backend(gpu, kF32, ts, table), sg = ints_to_backend(gpu, {n}, slots);
        Tensor qg = poisoned(gpu, dt, q_s), kg = poisoned(gpu, dt, cache_s), vg = poisoned(gpu, dt, cache_s);
        gpu.qkv_rope_cache(xg.view(), pg.view(), tg.view(), qg.view(), kg.view(), vg.view(), sg.view());
        const double tol = tolerance(dt, kElemTol);
        EXPECT_TRUE(rel_close(download(gpu, qg.view()), values_of(qc), tol)) << "q_out";
        EXPECT_TRUE(cache_matches(download(gpu, kg.view()), values_of(kc), slots, row, poison, tol)) << "k_cache";
        EXPECT_TRUE(cache_matches(download(gpu, vg.view()), values_of(vc), slots, row, poison, 0.0)) << "v_cache";
      }
    }
}

TEST(KernelParity, WriteKv) {
  STRATA_PARITY_SETUP(env);
  Backend &gpu = *env.gpu, &cpu = *env.cpu;
  constexpr int64_t kBlock = 8;
  for (int64_t n : {1, 13, 64})
    for (auto [kv_heads, d] : {std::pair<int64_t, int64_t>{2, 128}, {1, 8}, {8, 64}}) {
      const int64_t num_blocks = (n + 7 + kBlock - 1) / kBlock;
      const Shape kv_s{n, kv_heads, d}, cache_s{num_blocks, kBlock, kv_heads, d};
      const auto slots = random_slots(env.rng, n, num_blocks * kBlock);
      const auto k0 = uniform(env.rng, n * kv_heads * d, -2, 2), v0 = uniform(env.rng, n * kv_heads * d, -2, 2);
      for (DType dt : {kF32, kBF16}) {
        SCOPED_TRACE(::testing::Message() << dt_str(dt) << " n " << n << " kv_heads " << kv_heads << " head_dim " << d);
        const auto k = rounded(dt, k0), v = rounded(dt, v0);
        const float poison = gputest::round_to(dt, gputest::kPoison);
        Tensor kc = to_backend(cpu, kF32, kv_s, k), vc = to_backend(cpu, kF32, kv_s, v);
        Tensor sc = ints_to_backend(cpu, {n}, slots);
        Tensor kcc = poisoned(cpu, kF32, cache_s, poison), vcc = poisoned(cpu, kF32, cache_s, poison);
        cpu.write_kv(kc.view(), vc.view(), kcc.view(), vcc.view(), sc.view());
        Tensor kg = to_backend(gpu, dt, kv_s, k), vg = to_backend(gpu, dt, kv_s, v);
        Tensor sg = ints_to_backend(gpu, {n}, slots);
        Tensor kgc = poisoned(gpu, dt, cache_s), vgc = poisoned(gpu, dt, cache_s);
        gpu.write_kv(kg.view(), vg.view(), kgc.view(), vgc.view(), sg.view());
        EXPECT_TRUE(cache_matches(download(gpu, kgc.view()), values_of(kcc), slots, kv_heads * d, poison, 0.0)) << "k";
        EXPECT_TRUE(cache_matches(download(gpu, vgc.view()), values_of(vcc), slots, kv_heads * d, poison, 0.0)) << "v";
      }
    }
}

TEST(KernelParity, SiluMul) {
  STRATA_PARITY_SETUP(env);
  Backend &gpu = *env.gpu, &cpu = *env.cpu;
  for (auto [n, d] : {std::pair<int64_t, int64_t>{1, 16}, {7, 1000}, {33, 3584}, {130, 8192}, {3, 12}}) {
    const auto x0 = uniform(env.rng, n * 2 * d, -5, 5);
    std::vector<DType> dts = {kF32, kBF16};
    if (n == 33) dts.push_back(kF16);
    for (DType dt : dts) {
      SCOPED_TRACE(::testing::Message() << dt_str(dt) << " n " << n << " d " << d);
      const auto x = rounded(dt, x0);
      Tensor xc = to_backend(cpu, kF32, {n, 2 * d}, x), oc = cpu.alloc(kF32, {n, d});
      cpu.silu_mul(xc.view(), oc.view());
      Tensor xg = to_backend(gpu, dt, {n, 2 * d}, x), og = poisoned(gpu, dt, {n, d});
      gpu.silu_mul(xg.view(), og.view());
      EXPECT_TRUE(rel_close(download(gpu, og.view()), values_of(oc), tolerance(dt, kElemTol)));
    }
  }
}

TEST(KernelParity, GatherRows) {
  STRATA_PARITY_SETUP(env);
  Backend &gpu = *env.gpu, &cpu = *env.cpu;
  struct Case {
    int64_t n, d, m;
  };
  for (const Case& c : {Case{10, 64, 3}, Case{200, 4096, 37}, Case{5, 7, 5}, Case{1, 128, 4}}) {
    const auto x0 = uniform(env.rng, c.n * c.d, -3, 3);
    std::vector<int32_t> rows(c.m);
    for (auto& r : rows) r = rand_int(env.rng, 0, static_cast<int>(c.n) - 1);  // repeats allowed
    rows[0] = static_cast<int32_t>(c.n - 1);
    for (DType dt : {kF32, kBF16}) {
      SCOPED_TRACE(::testing::Message() << dt_str(dt) << " n " << c.n << " d " << c.d << " m " << c.m);
      const auto x = rounded(dt, x0);
      Tensor xc = to_backend(cpu, kF32, {c.n, c.d}, x), rc = ints_to_backend(cpu, {c.m}, rows), oc = cpu.alloc(kF32, {c.m, c.d});
      cpu.gather_rows(xc.view(), rc.view(), oc.view());
      Tensor xg = to_backend(gpu, dt, {c.n, c.d}, x), rg = ints_to_backend(gpu, {c.m}, rows),
             og = poisoned(gpu, dt, {c.m, c.d});
      gpu.gather_rows(xg.view(), rg.view(), og.view());
      EXPECT_TRUE(all_equal(download(gpu, og.view()), values_of(oc)));
    }
  }
}

TEST(KernelParity, AddInplace) {
  STRATA_PARITY_SETUP(env);
  Backend &gpu = *env.gpu, &cpu = *env.cpu;
  for (auto [r, c] : {std::pair<int64_t, int64_t>{1, 1}, {10, 100}, {7, 4099}, {64, 4096}}) {
    const auto a0 = uniform(env.rng, r * c, -3, 3), b0 = uniform(env.rng, r * c, -1, 1);
    std::vector<DType> dts = {kF32, kBF16};
    if (r == 7) dts.push_back(kF16);
    for (DType dt : dts) {
      SCOPED_TRACE(::testing::Message() << dt_str(dt) << " shape " << r << "x" << c);
      const auto a = rounded(dt, a0), b = rounded(dt, b0);
      Tensor ac = to_backend(cpu, kF32, {r, c}, a), bc = to_backend(cpu, kF32, {r, c}, b);
      cpu.add_inplace(ac.view(), bc.view());
      Tensor ag = to_backend(gpu, dt, {r, c}, a), bg = to_backend(gpu, dt, {r, c}, b);
      gpu.add_inplace(ag.view(), bg.view());
      EXPECT_TRUE(rel_close(download(gpu, ag.view()), values_of(ac), tolerance(dt, kElemTol)));
    }
  }
}

TEST(KernelParity, Embedding) {
  STRATA_PARITY_SETUP(env);
  Backend &gpu = *env.gpu, &cpu = *env.cpu;
  struct Case {
    int64_t vocab_local, hidden, vocab_start;
  };
  for (const Case& c : {Case{1000, 64, 3000}, Case{1000, 4096, 3000}, Case{500, 128, 0}}) {
    const int lo = static_cast<int>(c.vocab_start), hi = static_cast<int>(c.vocab_start + c.vocab_local);
    // Ids around the slice, and its edges: rows outside [vocab_start, vocab_start + vocab_local) are zeros.
    std::vector<int32_t> ids = {lo, hi - 1, hi, 128255, 0};
    if (lo > 0) ids.push_back(lo - 1);
    while (ids.size() < 40) ids.push_back(rand_int(env.rng, std::max(0, lo - 200), hi + 199));
    std::shuffle(ids.begin(), ids.end(), env.rng);
    const int64_t n = static_cast<int64_t>(ids.size());
    const auto t0 = uniform(env.rng, c.vocab_local * c.hidden, -1, 1);
    for (DType dt : {kF32, kBF16}) {
      SCOPED_TRACE(::testing::Message() << dt_str(dt) << " vocab " << c.vocab_local << " from " << c.vocab_start
                                        << " hidden " << c.hidden);
      const auto t = rounded(dt, t0);
      Tensor tc = to_backend(cpu, kF32, {c.vocab_local, c.hidden}, t), ic = ints_to_backend(cpu, {n}, ids),
             oc = cpu.alloc(kF32, {n, c.hidden});
      cpu.embedding(ic.view(), tc.view(), c.vocab_start, oc.view());
      Tensor tg = to_backend(gpu, dt, {c.vocab_local, c.hidden}, t), ig = ints_to_backend(gpu, {n}, ids),
             og = poisoned(gpu, dt, {n, c.hidden});
      gpu.embedding(ig.view(), tg.view(), c.vocab_start, og.view());
      EXPECT_TRUE(all_equal(download(gpu, og.view()), values_of(oc)));
    }
  }
}

TEST(KernelParity, ArgmaxRows) {
  STRATA_PARITY_SETUP(env);
  Backend &gpu = *env.gpu, &cpu = *env.cpu;
  for (int64_t m : {1, 3, 64})
    for (int64_t vocab : {16, 128256}) {
      SCOPED_TRACE(::testing::Message() << "m " << m << " vocab " << vocab);
      auto logits = uniform(env.rng, m * vocab, -10, 10);
      // Row 0: the maximum twice (the lower index wins). Row 1: all equal (index 0). Row 2: the
      // maximum at the last index. Row m - 1 (m > 3): a tie between indices far apart.
      const int v = static_cast<int>(vocab);
      const int t1 = rand_int(env.rng, 0, v - 2), t2 = rand_int(env.rng, t1 + 1, v - 1);
      logits[t1] = logits[t2] = 20.0f;
      std::vector<int32_t> expect_at = {t1};
      if (m >= 3) {
        std::fill(logits.begin() + vocab, logits.begin() + 2 * vocab, 0.5f);
        logits[2 * vocab + vocab - 1] = 30.0f;
        expect_at.push_back(0);
        expect_at.push_back(v - 1);
      }
      if (m > 3) logits[(m - 1) * vocab + 1] = logits[(m - 1) * vocab + vocab - 2] = 25.0f;
      Tensor lc = to_backend(cpu, kF32, {m, vocab}, logits), ic = cpu.alloc(DType::kI32, {m});
      cpu.argmax_rows(lc.view(), ic.view());
      Tensor lg = to_backend(gpu, kF32, {m, vocab}, logits);
      Tensor ig = ints_to_backend(gpu, {m}, std::vector<int32_t>(m, -7));
      gpu.argmax_rows(lg.view(), ig.view());
      const auto got = download_raw<int32_t>(gpu, ig.view());
      const std::vector<int32_t> want(ic.data<int32_t>(), ic.data<int32_t>() + m);
      EXPECT_TRUE(all_equal(got, want));
      for (size_t r = 0; r < expect_at.size(); ++r) EXPECT_EQ(got[r], expect_at[r]) << "row " << r;
      if (m > 3) {
        EXPECT_EQ(got[m - 1], 1) << "row " << m - 1;
      }
    }
}

TEST(KernelParity, SampleRowsMatchesCpuDraws) {
  STRATA_PARITY_SETUP(env);
  Backend &gpu = *env.gpu, &cpu = *env.cpu;
  const int64_t m = 256, vocab = 128256;
  auto logits = uniform(env.rng, m * vocab, -4, 4);
  std::vector<float> temps(m);
  std::vector<int64_t> seeds(m);
  for (int64_t i = 0; i < m; ++i) {
    temps[i] = i % 4 == 0 ? 0.0f : 0.3f + 0.2f * static_cast<float>(i % 7);
    seeds[i] = static_cast<int64_t>(gputest::seed64(env.rng));
  }
  auto run = [&](Backend& b) {
    Tensor l = to_backend(b, kF32, {m, vocab}, logits), t = to_backend(b, kF32, {m}, temps);
    Tensor s = ints_to_backend(b, {m}, seeds), ids = ints_to_backend(b, {m}, std::vector<int32_t>(m, -7));
    b.sample_rows(l.view(), t.view(), s.view(), ids.view());
    return download_raw<int32_t>(b, ids.view());
  };
  const auto got = run(gpu), want = run(cpu);
  // logf on the device and std::log on the host may differ in the last bit: a near-tie can flip.
  int same = 0;
  for (int64_t i = 0; i < m; ++i) same += got[i] == want[i];
  EXPECT_GE(same, m - 2) << same << " of " << m << " draws equal";
  for (int64_t i = 0; i < m; i += 4) EXPECT_EQ(got[i], want[i]) << "greedy row " << i;
}

}  // namespace
}  // namespace strata
