// The CUDA sampling kernel's device code (backend/cuda/sampling_row.cuh, the body of
// Backend::sample_filtered on the GPU) run on the host under cuda_emulation.h, with CTAs of 64
// threads (smaller histograms and gather lists than the GPU's 256, so the crowded-bin paths run more
// often), against the CPU backend's sample_filtered. The emulation computes the Gumbel noise with the
// host's logf, so tokens must be identical; logprobs (f32 sums against the CPU's f64) within 1e-4.
// This checks the kernel's logic (thresholds, ties, cluster exchanges, no deadlock) in CI; the real
// kernel runs against the CPU backend in tests/gpu/sampling_parity_test.cpp.
#define STRATA_SAMPLING_THREADS 64
#include "cuda_emulation.h"
// (cuda_emulation.h first: it stands in for the CUDA headers.)
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "backend/backend.h"
#include "backend/cuda/sampling_row.cuh"

namespace strata {
namespace {

namespace sc = cuda::sampling_emulated;  // sampling_cluster's code, compiled for the emulation
constexpr int64_t kWidth = 1 + kMaxSampleLogprobs;

// kind 0: continuous; 1: a coarse grid (ties); 2: three values (huge ties); 3: peaked.
std::vector<float> logits_of(int kind, int64_t vocab, std::mt19937_64& gen) {
  std::normal_distribution<float> normal(0.0f, 2.0f);
  std::uniform_int_distribution<int> grid(-8, 8), three(0, 2), rare(0, 99);
  std::vector<float> v(static_cast<size_t>(vocab));
  for (float& x : v) {
    switch (kind) {
      case 0:
        x = normal(gen);
        break;
      case 1:
        x = 0.5f * static_cast<float>(grid(gen));
        break;
      case 2:
        x = 0.5f * static_cast<float>(three(gen));
        break;
      default:
        x = rare(gen) == 0 ? 6.0f + normal(gen) : normal(gen) - 3.0f;
    }
  }
  return v;
}

struct Batch {
  int64_t m = 0, vocab = 0;
  std::vector<float> logits;
  std::vector<SamplingRowParams> params;
  std::vector<int32_t> offsets{0}, entries;
};

struct Out {
  std::vector<int32_t> ids, lp_ids;
  std::vector<float> lp;
  explicit Out(int64_t m)
      : ids(static_cast<size_t>(m), -7),
        lp_ids(static_cast<size_t>(m * kWidth), -7),
        lp(static_cast<size_t>(m * kWidth), -7.0f) {}
};

Out run_cpu(const Batch& b) {
  Out o(b.m);
  auto cpu = create_cpu_backend();
  std::vector<SamplingRowParams> params = b.params;
  std::vector<int32_t> offsets = b.offsets, entries = b.entries;
  std::vector<float> logits = b.logits;
  const int64_t n = static_cast<int64_t>(entries.size() / 2);
  cpu->sample_filtered({logits.data(), DType::kF32, {b.m, b.vocab}},
                       {params.data(), DType::kU8, {b.m, static_cast<int64_t>(sizeof(SamplingRowParams))}},
                       {offsets.data(), DType::kI32, {b.m + 1}}, {entries.data(), DType::kI32, {n, 2}},
                       {o.ids.data(), DType::kI32, {b.m}}, {o.lp_ids.data(), DType::kI32, {b.m, kWidth}},
                       {o.lp.data(), DType::kF32, {b.m, kWidth}});
  return o;
}

Out run_emulated(const Batch& b, uint64_t seed) {
  Out o(b.m);
  const int slice = static_cast<int>(((b.vocab + sc::kCluster - 1) / sc::kCluster + 3) / 4 * 4);
  const size_t shared_bytes = (sizeof(sc::Shared) + 15) / 16 * 16;
  emu::Cluster cluster(sc::kCluster, sc::kThreads, shared_bytes + static_cast<size_t>(slice) * 4, seed);
  const std::function<void(int, unsigned char*)> body = [&](int, unsigned char* smem) {
    sc::sample_filtered_row(*reinterpret_cast<sc::Shared*>(smem),
                            reinterpret_cast<float*>(smem + shared_bytes), b.logits.data(), b.vocab, slice,
                            b.params.data(), b.offsets.data(), b.entries.empty() ? nullptr : b.entries.data(),
                            o.ids.data(), o.lp_ids.data(), o.lp.data());
  };
  for (int64_t r = 0; r < b.m; ++r) cluster.run(static_cast<unsigned>(r), body);
  return o;
}

void expect_equal(const Batch& b, const Out& got, const Out& want) {
  for (int64_t r = 0; r < b.m; ++r) {
    const SamplingRowParams& p = b.params[r];
    SCOPED_TRACE(::testing::Message() << "row " << r << " vocab " << b.vocab << " t " << p.temperature
                                      << " top_k " << p.top_k << " top_p " << p.top_p << " min_p " << p.min_p
                                      << " rep " << p.repetition_penalty << " logprobs " << p.num_logprobs);
    EXPECT_EQ(got.ids[r], want.ids[r]);
    if (p.num_logprobs < 0) continue;
    EXPECT_EQ(got.lp_ids[r * kWidth], want.lp_ids[r * kWidth]) << "rank";
    EXPECT_NEAR(got.lp[r * kWidth], want.lp[r * kWidth], 1e-4) << "sampled logprob";
    const int64_t top = std::min<int64_t>(std::min(p.num_logprobs, kMaxSampleLogprobs), b.vocab);
    for (int64_t j = 1; j <= kMaxSampleLogprobs; ++j) {
      EXPECT_EQ(got.lp_ids[r * kWidth + j], want.lp_ids[r * kWidth + j]) << "top " << j;
      if (j <= top) {
        EXPECT_NEAR(got.lp[r * kWidth + j], want.lp[r * kWidth + j], 1e-4) << "top " << j;
      }
    }
  }
}

SamplingRowParams random_params(std::mt19937_64& gen, int64_t vocab) {
  auto pick = [&](auto const& options) { return options[gen() % std::size(options)]; };
  SamplingRowParams p;
  const float temps[] = {0.0f, 0.3f, 0.8f, 1.0f, 1.0f, 1.7f};
  const int32_t ks[] = {0, 0, 0, 1, 3, 40, 200, static_cast<int32_t>(vocab - 1)};
  const float ps[] = {1.0f, 1.0f, 0.97f, 0.9f, 0.5f, 0.05f};
  const float min_ps[] = {0.0f, 0.0f, 0.0f, 0.02f, 0.3f};
  const int32_t lps[] = {-1, -1, 0, 3, 20};
  p.temperature = pick(temps);
  p.top_k = pick(ks);
  p.top_p = pick(ps);
  p.min_p = pick(min_ps);
  p.num_logprobs = pick(lps);
  p.seed = gen();
  if (gen() % 2) {
    const float reps[] = {1.0f, 1.3f, 0.8f}, pens[] = {0.0f, 0.7f, -0.4f};
    p.repetition_penalty = pick(reps);
    p.frequency_penalty = pick(pens);
    p.presence_penalty = pick(pens);
  }
  return p;
}

void add_row(Batch& b, int kind, const SamplingRowParams& p, std::mt19937_64& gen) {
  const auto row = logits_of(kind, b.vocab, gen);
  b.logits.insert(b.logits.end(), row.begin(), row.end());
  b.params.push_back(p);
  if (p.repetition_penalty != 1.0f || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f) {
    std::vector<char> used(static_cast<size_t>(b.vocab), 0);
    for (int i = 0; i < 60; ++i) {
      const int32_t t = static_cast<int32_t>(gen() % static_cast<uint64_t>(b.vocab));
      if (used[t]) continue;
      used[t] = 1;
      const uint32_t count = static_cast<uint32_t>(gen() % 4);
      b.entries.push_back(t);
      b.entries.push_back(
          static_cast<int32_t>(count | (count == 0 || gen() % 2 ? sampling::kInPromptBit : 0u)));
    }
  }
  b.offsets.push_back(static_cast<int32_t>(b.entries.size() / 2));
  ++b.m;
}

TEST(SamplingKernelEmulation, RandomRowsMatchTheCpuBackend) {
  std::mt19937_64 gen(42);
  for (int64_t vocab : {37, 999, 1000, 4000}) {
    Batch b;
    b.vocab = vocab;
    for (int r = 0; r < 24; ++r) add_row(b, static_cast<int>(gen() % 4), random_params(gen, vocab), gen);
    expect_equal(b, run_emulated(b, gen()), run_cpu(b));
  }
}

// Rows that take the kernel's rarer paths: a boundary in a crowded histogram bin (radix rounds over
// the keys), a tie split by id (q-th id), the tail bin, top_k beyond the gather list.
TEST(SamplingKernelEmulation, CrowdedBinsTiesAndDeepBoundaries) {
  std::mt19937_64 gen(7);
  struct Case {
    int kind;
    float t, top_p, min_p;
    int32_t top_k, logprobs;
  };
  const Case cases[] = {
      {2, 1.0f, 0.3f, 0.0f, 0, -1},      // a tie of ~1300 split by id
      {2, 1.0f, 1.0f, 0.0f, 100, -1},    // k-th inside a huge tie: all of it kept
      {1, 1.0f, 0.9f, 0.0f, 0, 20},      // grid ties, top-20 with ties at the boundary
      {0, 0.2f, 0.999f, 0.0f, 0, -1},    // boundary deep, in the tail bin
      {0, 1.0f, 1.0f, 0.0f, 3000, -1},   // top_k far beyond the gather list
      {3, 0.7f, 0.95f, 0.05f, 2500, 5},  // everything at once
      {1, 1.5f, 0.6f, 0.0f, 700, 0},    {0, 1.0f, 0.5f, 0.1f, 0, 20},
  };
  for (const Case& c : cases) {
    Batch b;
    b.vocab = 4000;
    for (int r = 0; r < 6; ++r) {
      SamplingRowParams p;
      p.temperature = c.t;
      p.top_p = c.top_p;
      p.min_p = c.min_p;
      p.top_k = c.top_k;
      p.num_logprobs = c.logprobs;
      p.seed = gen();
      add_row(b, c.kind, p, gen);
    }
    expect_equal(b, run_emulated(b, gen()), run_cpu(b));
  }
}

// One row drawn with many seeds at a high temperature, so the draws spread over the whole kept set
// and a boundary off by one token shows: every draw must be the CPU's (and so within its kept set).
TEST(SamplingKernelEmulation, ManySeedsAtHighTemperatureFindTheBoundaries) {
  std::mt19937_64 gen(99);
  struct Case {
    int kind;
    float t, top_p, min_p;
    int32_t top_k;
  };
  const Case cases[] = {
      {0, 4.0f, 1.0f, 0.0f, 3},  {0, 4.0f, 1.0f, 0.0f, 40},  {0, 4.0f, 1.0f, 0.0f, 300},
      {1, 4.0f, 1.0f, 0.0f, 7},  {2, 4.0f, 1.0f, 0.0f, 500}, {0, 2.0f, 0.3f, 0.0f, 0},
      {0, 2.0f, 0.8f, 0.0f, 0},  {1, 3.0f, 0.5f, 0.0f, 0},   {2, 3.0f, 0.2f, 0.0f, 0},
      {0, 3.0f, 0.7f, 0.0f, 60}, {0, 3.0f, 1.0f, 0.6f, 0},   {3, 0.5f, 0.9f, 0.0f, 0},
  };
  for (const Case& c : cases) {
    Batch b;
    b.vocab = 1000;
    const auto row = logits_of(c.kind, b.vocab, gen);
    for (int r = 0; r < 40; ++r) {
      SamplingRowParams p;
      p.temperature = c.t;
      p.top_p = c.top_p;
      p.min_p = c.min_p;
      p.top_k = c.top_k;
      p.seed = gen();
      b.logits.insert(b.logits.end(), row.begin(), row.end());
      b.params.push_back(p);
      b.offsets.push_back(0);
      ++b.m;
    }
    expect_equal(b, run_emulated(b, gen()), run_cpu(b));
  }
}

}  // namespace
}  // namespace strata
