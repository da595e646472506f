// Backend::sample_filtered on the CUDA backend against the CPU backend (backend/cpu/cpu_sampling.cpp,
// itself tested against the host Sampler in tests/engine): random logits of four kinds (flat, peaked,
// bf16-rounded peaked with many ties, three values only) at vocabularies of 1000, 32000 and 128256,
// m = 1, 7, 64, 256 rows of random parameter mixes (temperature, top_k, top_p, min_p, penalties with
// random entries, logprobs). Tokens must be equal: both sides compute the same f32 values with the
// same arithmetic (backend/sampling_math.h), except the Gumbel noise's logf, which may differ in the
// last bit between host and device, so a token may differ only where the two tokens' Gumbel keys
// are a near-tie and both are kept. Logprobs within 1e-4, ranks and top ids equal. Then the op's
// time at 256 x 128256 (printed on lines starting "sampling op").
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "backend/cpu/cpu_sampling.h"
#include "backend/sampling_math.h"
#include "gpu_testutil.h"

namespace strata {
namespace {

using gputest::rand_int;
using gputest::seed64;
using gputest::uniform;

constexpr int64_t kWidth = 1 + kMaxSampleLogprobs;

// kind 0: flat in [-4, 4); 1: peaked (most in [-6, 2), 1% in [4, 12)); 2: kind 1 rounded to bf16
// (ties); 3: three values only (huge ties).
std::vector<float> logits_of(int kind, int64_t vocab, std::mt19937& rng) {
  if (kind == 0) return uniform(rng, static_cast<size_t>(vocab), -4.0f, 4.0f);
  std::vector<float> v = uniform(rng, static_cast<size_t>(vocab), -6.0f, 2.0f);
  if (kind == 3) {
    for (float& x : v) x = x < -3.0f ? 0.0f : x < 0.0f ? 0.5f : 1.0f;
    return v;
  }
  const auto boost = uniform(rng, static_cast<size_t>(vocab), 0.0f, 1.0f);
  for (size_t j = 0; j < v.size(); ++j)
    if (boost[j] < 0.01f) v[j] = 4.0f + 800.0f * boost[j];
  if (kind == 2)
    for (float& x : v) x = bf16_to_f32(f32_to_bf16(x));
  return v;
}

struct Batch {
  int64_t m = 0, vocab = 0;
  std::vector<float> logits;
  std::vector<SamplingRowParams> params;
  std::vector<int32_t> offsets{0}, entries;
};

SamplingRowParams random_params(std::mt19937& rng, int64_t vocab) {
  SamplingRowParams p;
  const float temps[] = {0.0f, 0.3f, 0.7f, 1.0f, 1.0f, 1.5f};
  const int32_t ks[] = {0, 0, 0, 1, 5, 50, 700, static_cast<int32_t>(vocab - 1)};
  const float ps[] = {1.0f, 1.0f, 0.95f, 0.9f, 0.5f, 0.1f};
  const float min_ps[] = {0.0f, 0.0f, 0.0f, 0.02f, 0.2f};
  const int32_t lps[] = {-1, -1, -1, 0, 5, 20};
  p.temperature = temps[rand_int(rng, 0, 5)];
  p.top_k = ks[rand_int(rng, 0, 7)];
  p.top_p = ps[rand_int(rng, 0, 5)];
  p.min_p = min_ps[rand_int(rng, 0, 4)];
  p.num_logprobs = lps[rand_int(rng, 0, 5)];
  p.seed = seed64(rng);
  if (rand_int(rng, 0, 1)) {
    const float reps[] = {1.0f, 1.2f, 0.8f}, pens[] = {0.0f, 0.5f, -0.5f};
    p.repetition_penalty = reps[rand_int(rng, 0, 2)];
    p.frequency_penalty = pens[rand_int(rng, 0, 2)];
    p.presence_penalty = pens[rand_int(rng, 0, 2)];
  }
  return p;
}

// Up to 300 distinct tokens with random output counts and prompt flags.
void add_entries(Batch& b, std::mt19937& rng) {
  const int n = rand_int(rng, 0, 300);
  std::vector<char> used(static_cast<size_t>(b.vocab), 0);
  for (int i = 0; i < n; ++i) {
    const int32_t t = rand_int(rng, 0, static_cast<int>(b.vocab - 1));
    if (used[t]) continue;
    used[t] = 1;
    const uint32_t count = static_cast<uint32_t>(rand_int(rng, 0, 5));
    const bool in_prompt = count == 0 || rand_int(rng, 0, 1);
    b.entries.push_back(t);
    b.entries.push_back(static_cast<int32_t>(count | (in_prompt ? sampling::kInPromptBit : 0u)));
  }
  b.offsets.push_back(static_cast<int32_t>(b.entries.size() / 2));
}

struct Out {
  std::vector<int32_t> ids, lp_ids;
  std::vector<float> lp;
};

Out run_op(Backend& be, const Batch& b) {
  const int64_t m = b.m, n = static_cast<int64_t>(b.entries.size() / 2);
  Tensor logits = gputest::to_backend(be, DType::kF32, {m, b.vocab}, b.logits);
  Tensor params = be.alloc(DType::kU8, {m * static_cast<int64_t>(sizeof(SamplingRowParams))});
  be.copy_from_host(b.params.data(), params.view());
  Tensor offsets = gputest::ints_to_backend(be, {m + 1}, b.offsets);
  Tensor entries = be.alloc(DType::kI32, {std::max<int64_t>(n, 1), 2});
  if (n > 0) be.copy_from_host(b.entries.data(), TensorView{entries.data<void>(), DType::kI32, {n, 2}});
  Tensor ids = gputest::ints_to_backend(be, {m}, std::vector<int32_t>(static_cast<size_t>(m), -7));
  Tensor lp_ids =
      gputest::ints_to_backend(be, {m, kWidth}, std::vector<int32_t>(static_cast<size_t>(m * kWidth), -7));
  Tensor lp = gputest::poisoned(be, DType::kF32, {m, kWidth});
  be.sample_filtered(logits.view(), TensorView{params.data<void>(), DType::kU8, {m, 40}}, offsets.view(),
                     TensorView{entries.data<void>(), DType::kI32, {n, 2}}, ids.view(), lp_ids.view(),
                     lp.view());
  return {gputest::download_raw<int32_t>(be, ids.view()), gputest::download_raw<int32_t>(be, lp_ids.view()),
          gputest::download(be, lp.view())};
}

// Compares the GPU's outputs with the CPU's row by row; returns the number of near-tie token flips.
int compare(const Batch& b, const Out& gpu, const Out& cpu) {
  int flips = 0;
  for (int64_t r = 0; r < b.m; ++r) {
    const SamplingRowParams& p = b.params[r];
    SCOPED_TRACE(::testing::Message() << "row " << r << " t " << p.temperature << " top_k " << p.top_k
                                      << " top_p " << p.top_p << " min_p " << p.min_p << " rep "
                                      << p.repetition_penalty << " logprobs " << p.num_logprobs);
    const int32_t g = gpu.ids[r], c = cpu.ids[r];
    if (g != c) {
      // Allowed only as a near-tie of the Gumbel keys of two kept tokens.
      const std::span<const float> raw(b.logits.data() + r * b.vocab, static_cast<size_t>(b.vocab));
      const std::span<const int32_t> ent(b.entries.data() + 2 * b.offsets[r],
                                         static_cast<size_t>(2 * (b.offsets[r + 1] - b.offsets[r])));
      std::vector<float> row;
      cpu_sampling::penalized_row(raw, p, ent, row);
      const auto kept = cpu_sampling::kept_tokens(row, p);
      ++flips;
      EXPECT_GT(p.temperature, 0.0f) << "greedy rows must agree: gpu " << g << ", cpu " << c;
      if (g < 0 || g >= b.vocab) {
        ADD_FAILURE() << "gpu token " << g << ", cpu " << c;
        continue;
      }
      EXPECT_TRUE(std::binary_search(kept.begin(), kept.end(), g)) << "gpu token " << g << " is not kept";
      const float kg = sampling::gumbel_key(row[g], p.temperature, p.seed, g);
      const float kc = sampling::gumbel_key(row[c], p.temperature, p.seed, c);
      EXPECT_LE(std::fabs(kg - kc), 1e-5f * std::max(1.0f, std::fabs(kc))) << "gpu " << g << " cpu " << c;
    }
    if (p.num_logprobs < 0) continue;
    const int64_t top = std::min<int64_t>(p.num_logprobs, b.vocab);
    for (int64_t j = 1; j <= top; ++j) {
      EXPECT_EQ(gpu.lp_ids[r * kWidth + j], cpu.lp_ids[r * kWidth + j]) << "top " << j;
      EXPECT_NEAR(gpu.lp[r * kWidth + j], cpu.lp[r * kWidth + j], 1e-4) << "top " << j;
    }
    if (top < kMaxSampleLogprobs) {
      EXPECT_EQ(gpu.lp_ids[r * kWidth + top + 1], -7) << "written past the top";
    }
    if (g == c) {
      EXPECT_EQ(gpu.lp_ids[r * kWidth], cpu.lp_ids[r * kWidth]) << "rank";
      EXPECT_NEAR(gpu.lp[r * kWidth], cpu.lp[r * kWidth], 1e-4) << "sampled logprob";
    }
  }
  return flips;
}

TEST(SamplingParity, SampleFilteredMatchesCpu) {
  STRATA_PARITY_SETUP(env);
  for (int64_t vocab : {1000, 32000, 128256})
    for (int64_t m : {1, 7, 64, 256}) {
      SCOPED_TRACE(::testing::Message() << "vocab " << vocab << " m " << m);
      Batch b;
      b.m = m;
      b.vocab = vocab;
      for (int64_t r = 0; r < m; ++r) {
        const auto row = logits_of(rand_int(env.rng, 0, 3), vocab, env.rng);
        b.logits.insert(b.logits.end(), row.begin(), row.end());
        b.params.push_back(random_params(env.rng, vocab));
        if (b.params.back().repetition_penalty != 1.0f || b.params.back().frequency_penalty != 0.0f ||
            b.params.back().presence_penalty != 0.0f || rand_int(env.rng, 0, 3) == 0) {
          add_entries(b, env.rng);
        } else {
          b.offsets.push_back(b.offsets.back());
        }
      }
      const Out gpu = run_op(*env.gpu, b), cpu = run_op(*env.cpu, b);
      const int flips = compare(b, gpu, cpu);
      EXPECT_LE(flips, 2) << "near-tie flips";
    }
}

// One row repeated with many seeds: every GPU token must lie in the CPU's kept set (a boundary off
// by a token shows on flat rows, where the boundary tokens are likely).
TEST(SamplingParity, SampleFilteredKeptSetsOverManySeeds) {
  STRATA_PARITY_SETUP(env);
  const int64_t vocab = 32000, m = 256;
  struct Case {
    int kind;
    float t, top_p, min_p;
    int32_t top_k;
  };
  for (const Case& c :
       {Case{0, 1.0f, 0.9f, 0.0f, 0}, Case{0, 1.0f, 1.0f, 0.0f, 600}, Case{3, 1.0f, 0.3f, 0.0f, 0},
        Case{3, 1.0f, 1.0f, 0.0f, 100}, Case{2, 0.7f, 0.95f, 0.05f, 40}, Case{0, 0.5f, 0.5f, 0.3f, 0},
        Case{1, 1.0f, 0.99f, 0.0f, 0}, Case{0, 2.0f, 0.999f, 0.0f, 31000}}) {
    SCOPED_TRACE(::testing::Message() << "kind " << c.kind << " t " << c.t << " top_p " << c.top_p
                                      << " min_p " << c.min_p << " top_k " << c.top_k);
    const auto row = logits_of(c.kind, vocab, env.rng);
    Batch b;
    b.m = m;
    b.vocab = vocab;
    for (int64_t r = 0; r < m; ++r) {
      b.logits.insert(b.logits.end(), row.begin(), row.end());
      SamplingRowParams p;
      p.temperature = c.t;
      p.top_p = c.top_p;
      p.min_p = c.min_p;
      p.top_k = c.top_k;
      p.seed = seed64(env.rng);
      b.params.push_back(p);
      b.offsets.push_back(0);
    }
    const Out gpu = run_op(*env.gpu, b), cpu = run_op(*env.cpu, b);
    EXPECT_LE(compare(b, gpu, cpu), 2) << "near-tie flips";
  }
}

TEST(SamplingParity, SampleFilteredTiming) {
  STRATA_PARITY_SETUP(env);
  Backend& gpu = *env.gpu;
  const int64_t m = 256, vocab = 128256;
  std::vector<float> host;
  for (int64_t r = 0; r < m; ++r) {
    const auto row = logits_of(1, vocab, env.rng);
    host.insert(host.end(), row.begin(), row.end());
  }
  Tensor logits = gputest::to_backend(gpu, DType::kF32, {m, vocab}, host);
  Tensor offsets =
      gputest::ints_to_backend(gpu, {m + 1}, std::vector<int32_t>(static_cast<size_t>(m + 1), 0));
  Tensor entries = gpu.alloc(DType::kI32, {1, 2});
  Tensor ids = gpu.alloc(DType::kI32, {m}), lp_ids = gpu.alloc(DType::kI32, {m, kWidth});
  Tensor lp = gpu.alloc(DType::kF32, {m, kWidth});
  Tensor params = gpu.alloc(DType::kU8, {m * 40});
  auto time_us = [&](auto&& launch) {
    for (int i = 0; i < 3; ++i) launch();
    gpu.synchronize();
    constexpr int kIters = 20;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kIters; ++i) launch();
    gpu.synchronize();
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / kIters;
  };
  struct Case {
    const char* name;
    float top_p;
    int32_t top_k, logprobs;
  };
  for (const Case& c : {Case{"(a) top_p 0.9", 0.9f, 0, -1}, Case{"(b) top_k 50 + top_p 0.9", 0.9f, 50, -1},
                        Case{"(c) logprobs 5", 1.0f, 0, 5}, Case{"(d) temperature only", 1.0f, 0, -1}}) {
    std::vector<SamplingRowParams> p(static_cast<size_t>(m));
    for (auto& x : p) {
      x.temperature = 1.0f;
      x.top_p = c.top_p;
      x.top_k = c.top_k;
      x.num_logprobs = c.logprobs;
      x.seed = seed64(env.rng);
    }
    gpu.copy_from_host(p.data(), params.view());
    const double us = time_us([&] {
      gpu.sample_filtered(logits.view(), TensorView{params.data<void>(), DType::kU8, {m, 40}}, offsets.view(),
                          TensorView{entries.data<void>(), DType::kI32, {0, 2}}, ids.view(), lp_ids.view(),
                          lp.view());
    });
    std::printf("sampling op %s, %lld x %lld: %.1f us\n", c.name, static_cast<long long>(m),
                static_cast<long long>(vocab), us);
  }
  std::vector<float> temps(static_cast<size_t>(m), 1.0f);
  std::vector<int64_t> seeds(static_cast<size_t>(m), 1);
  Tensor t = gputest::to_backend(gpu, DType::kF32, {m}, temps);
  Tensor s = gputest::ints_to_backend(gpu, {m}, seeds);
  const double us = time_us([&] { gpu.sample_rows(logits.view(), t.view(), s.view(), ids.view()); });
  std::printf("sampling op (reference) sample_rows, %lld x %lld: %.1f us\n", static_cast<long long>(m),
              static_cast<long long>(vocab), us);
}

}  // namespace
}  // namespace strata
