// Backend::sample_filtered on the CPU backend (the reference of the CUDA kernel, tests/gpu) against the
// host Sampler's semantics: the same kept set for top_k / min_p / top_p (ties, the crossing token),
// the same penalized logits, the same raw logprobs; draws that follow the renormalized distribution;
// temperature-only rows equal to sample_rows; and DeviceSampling (the runner's side) building the
// penalty entries and logprobs from a chunk's token lists.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "backend/backend.h"
#include "backend/cpu/cpu_sampling.h"
#include "engine/sampler.h"
#include "runtime/model_runner.h"

namespace strata {
namespace {

// Logits of three kinds: continuous, on a coarse grid (many ties), or all equal.
std::vector<float> row_of(int kind, size_t vocab, std::mt19937_64& gen) {
  std::normal_distribution<float> normal(0.0f, 2.5f);
  std::uniform_int_distribution<int> grid(-12, 12);
  std::vector<float> row(vocab);
  for (float& v : row) v = kind == 0 ? normal(gen) : kind == 1 ? 0.25f * static_cast<float>(grid(gen)) : 1.5f;
  return row;
}

SamplingRowParams row_params(const SamplingParams& s, uint64_t seed = 0, int32_t num_logprobs = -1) {
  SamplingRowParams p;
  p.temperature = is_greedy(s) ? 0.0f : s.temperature;
  p.top_k = s.top_k;
  p.top_p = s.top_p;
  p.min_p = s.min_p;
  p.repetition_penalty = s.repetition_penalty;
  p.frequency_penalty = s.frequency_penalty;
  p.presence_penalty = s.presence_penalty;
  p.num_logprobs = num_logprobs;
  p.seed = seed;
  return p;
}

// Backend::sample_filtered on one row (no penalty entries).
struct OneRow {
  int32_t token;
  std::vector<int32_t> lp_ids;
  std::vector<float> lp;
};
OneRow run_one(Backend& b, std::vector<float> row, const SamplingRowParams& p) {
  const int64_t v = static_cast<int64_t>(row.size()), w = 1 + kMaxSampleLogprobs;
  std::vector<int32_t> offsets = {0, 0}, ids = {-7}, lp_ids(w, -7);
  std::vector<float> lp(w, -7.0f);
  SamplingRowParams params = p;
  b.sample_filtered({row.data(), DType::kF32, {1, v}}, {&params, DType::kU8, {1, sizeof(params)}},
                    {offsets.data(), DType::kI32, {2}}, {nullptr, DType::kI32, {0, 2}},
                    {ids.data(), DType::kI32, {1}}, {lp_ids.data(), DType::kI32, {1, w}},
                    {lp.data(), DType::kF32, {1, w}});
  return {ids[0], lp_ids, lp};
}

TEST(SampleFiltered, KeptSetEqualsTheSamplers) {
  std::mt19937_64 gen(2024);
  Sampler sampler;
  int checked = 0, filtered = 0;
  for (size_t vocab : {2, 5, 17, 64, 300, 1500}) {
    for (int kind = 0; kind < 3; ++kind) {
      for (int trial = 0; trial < 40; ++trial) {
        const auto row = row_of(kind, vocab, gen);
        SamplingParams s;
        const float temps[] = {0.0f, 0.3f, 0.7f, 1.0f, 1.6f};
        const int32_t ks[] = {
            0, 0, 1, 2, 3, 10, static_cast<int32_t>(vocab) - 1, static_cast<int32_t>(vocab)};
        const float ps[] = {1.0f, 1.0f, 0.95f, 0.9f, 0.5f, 0.2f, 0.01f};
        const float min_ps[] = {0.0f, 0.0f, 0.05f, 0.3f};
        s.temperature = temps[gen() % 5];
        s.top_k = ks[gen() % 8];
        s.top_p = ps[gen() % 7];
        s.min_p = min_ps[gen() % 4];
        const auto want = sampler.kept_tokens(row, s);
        const auto got = cpu_sampling::kept_tokens(row, row_params(s));
        EXPECT_EQ(got, want) << "vocab " << vocab << " kind " << kind << " t " << s.temperature << " top_k "
                             << s.top_k << " top_p " << s.top_p << " min_p " << s.min_p;
        ++checked;
        filtered += want.size() > 1 && want.size() < vocab;
      }
    }
  }
  EXPECT_GT(filtered, checked / 3) << "the cases should mostly cut something";
}

TEST(SampleFiltered, KeptSetOnALargeVocabularyMatchesTheSamplersHistogramPaths) {
  // Large enough for the Sampler's bucketed top_p (> 512 candidates) and its nth_element top_k (> 4096).
  std::mt19937_64 gen(7);
  Sampler sampler;
  for (int kind = 0; kind < 2; ++kind) {
    const auto row = row_of(kind, 20000, gen);
    for (int32_t k : {0, 50, 5000}) {
      for (float top_p : {1.0f, 0.9f, 0.6f}) {
        SamplingParams s;
        s.temperature = 1.3f;
        s.top_k = k;
        s.top_p = top_p;
        s.min_p = kind == 1 && k == 0 ? 0.01f : 0.0f;
        EXPECT_EQ(cpu_sampling::kept_tokens(row, row_params(s)), sampler.kept_tokens(row, s))
            << "kind " << kind << " k " << k << " top_p " << top_p;
      }
    }
  }
}

TEST(SampleFiltered, TopPKeepsTheCrossingTokenAndSplitsTiesById) {
  // Four equal most likely tokens: top_p keeps them by id until the running mass reaches the target.
  const std::vector<float> row = {0.0f, 1.0f, 0.0f, 1.0f, 1.0f, 1.0f};
  SamplingParams s;
  s.temperature = 1.0f;
  s.top_p = 0.4f;
  // Masses: four of e^0 = 1 and two of e^-1 = 0.37: total 4.74, target 1.9: tokens 1 and 3.
  EXPECT_EQ(cpu_sampling::kept_tokens(row, row_params(s)), (std::vector<int32_t>{1, 3}));
  Sampler sampler;
  EXPECT_EQ(sampler.kept_tokens(row, s), (std::vector<int32_t>{1, 3}));
  s.top_p = 0.01f;  // the most likely token only, the lowest id of the tie
  EXPECT_EQ(cpu_sampling::kept_tokens(row, row_params(s)), (std::vector<int32_t>{1}));
  s.top_p = 1.0f;
  s.top_k = 2;  // ties at the k-th are all kept
  EXPECT_EQ(cpu_sampling::kept_tokens(row, row_params(s)), (std::vector<int32_t>{1, 3, 4, 5}));
}

TEST(SampleFiltered, PenaltiesChangeTheLogitsExactlyAsProcessLogits) {
  std::mt19937_64 gen(11);
  Sampler sampler;
  const size_t vocab = 200;
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<float> raw = row_of(trial % 2, vocab, gen);
    std::vector<int32_t> prompt(gen() % 40), output(gen() % 30);
    for (auto& t : prompt) t = static_cast<int32_t>(gen() % 60);  // overlapping prompt and output ids
    for (auto& t : output) t = static_cast<int32_t>(gen() % 60 + 30);
    SamplingParams s;
    const float reps[] = {1.0f, 1.3f, 0.7f}, pens[] = {0.0f, 0.5f, -1.2f, 2.0f};
    s.repetition_penalty = reps[gen() % 3];
    s.frequency_penalty = pens[gen() % 4];
    s.presence_penalty = pens[gen() % 4];
    // The entries as DeviceSampling builds them: every prompt or output token once.
    std::map<int32_t, std::pair<uint32_t, bool>> seen;
    for (int32_t t : prompt) seen[t].second = true;
    for (int32_t t : output) ++seen[t].first;
    std::vector<int32_t> entries;
    for (const auto& [t, e] : seen) {
      entries.push_back(t);
      entries.push_back(static_cast<int32_t>(e.first | (e.second ? sampling::kInPromptBit : 0u)));
    }
    std::vector<float> got;
    cpu_sampling::penalized_row(raw, row_params(s), entries, got);
    std::vector<float> want = raw;
    sampler.process_logits(want, s, SamplingContext{prompt, output, {}});
    ASSERT_EQ(got.size(), want.size());
    for (size_t j = 0; j < vocab; ++j) EXPECT_EQ(got[j], want[j]) << "trial " << trial << " token " << j;
  }
}

TEST(SampleFiltered, RawLogprobsEqualLogprobsFor) {
  auto b = create_cpu_backend();
  std::mt19937_64 gen(5);
  for (int kind = 0; kind < 3; ++kind) {
    for (size_t vocab : {3, 50, 5000}) {
      const auto row = row_of(kind, vocab, gen);
      for (int n : {0, 1, 5, 20}) {
        SamplingParams s;
        s.temperature = 0.8f;
        s.repetition_penalty = 1.5f;  // the logprobs are of the raw row all the same
        const OneRow got = run_one(*b, row, row_params(s, gen(), n));
        const SampleLogprobs want = logprobs_for(row, got.token, n);
        EXPECT_EQ(got.lp_ids[0], want.sampled.rank);
        EXPECT_NEAR(got.lp[0], want.sampled.logprob, 1e-5);
        const size_t top = std::min<size_t>(static_cast<size_t>(n), vocab);
        ASSERT_EQ(want.top.size(), top);
        for (size_t j = 0; j < top; ++j) {
          EXPECT_EQ(got.lp_ids[1 + j], want.top[j].token)
              << "kind " << kind << " vocab " << vocab << " j " << j;
          EXPECT_NEAR(got.lp[1 + j], want.top[j].logprob, 1e-5);
        }
        if (top < static_cast<size_t>(kMaxSampleLogprobs)) {
          EXPECT_EQ(got.lp_ids[1 + top], -7) << "written past n";
        }
      }
    }
  }
}

TEST(SampleFiltered, DrawsFollowTheRenormalizedDistribution) {
  auto b = create_cpu_backend();
  const std::vector<float> row = {1.0f, 2.0f, 0.5f, -1.0f, 2.0f, 0.0f, 1.5f};
  struct Case {
    float t, top_p, min_p;
    int32_t top_k;
  };
  for (const Case& c : {Case{1.0f, 0.8f, 0.0f, 0}, Case{0.7f, 1.0f, 0.0f, 3}, Case{1.5f, 1.0f, 0.2f, 0},
                        Case{1.0f, 0.9f, 0.0f, 4}}) {
    SamplingParams s;
    s.temperature = c.t;
    s.top_p = c.top_p;
    s.min_p = c.min_p;
    s.top_k = c.top_k;
    const auto kept = cpu_sampling::kept_tokens(row, row_params(s));
    std::vector<double> p(row.size(), 0.0);
    double z = 0;
    for (int32_t id : kept) z += p[id] = std::exp(row[id] / c.t);
    const int n = 20000;
    std::vector<double> count(row.size(), 0.0);
    for (int i = 0; i < n; ++i) ++count[run_one(*b, row, row_params(s, 1000003ull * i + 17)).token];
    for (size_t j = 0; j < row.size(); ++j) {
      const double expect = p[j] / z, got = count[j] / n;
      EXPECT_NEAR(got, expect, 5 * std::sqrt(expect * (1 - expect) / n) + 1e-9)
          << "t " << c.t << " top_p " << c.top_p << " min_p " << c.min_p << " top_k " << c.top_k << " token "
          << j;
    }
  }
}

TEST(SampleFiltered, TemperatureOnlyRowsDrawSampleRowsTokenAndZeroIsTheArgmax) {
  auto b = create_cpu_backend();
  std::mt19937_64 gen(3);
  const auto row = row_of(0, 1000, gen);
  for (int i = 0; i < 200; ++i) {
    SamplingParams s;
    s.temperature = 0.5f + 0.01f * static_cast<float>(i % 100);
    const uint64_t seed = gen();
    std::vector<float> logits = row, temps = {s.temperature};
    std::vector<int64_t> seeds = {static_cast<int64_t>(seed)};
    std::vector<int32_t> ids = {-1};
    b->sample_rows({logits.data(), DType::kF32, {1, 1000}}, {temps.data(), DType::kF32, {1}},
                   {seeds.data(), DType::kI64, {1}}, {ids.data(), DType::kI32, {1}});
    EXPECT_EQ(run_one(*b, row, row_params(s, seed)).token, ids[0]);
  }
  SamplingParams greedy;
  greedy.temperature = 0.0f;
  const std::vector<float> tied = {0.1f, 3.0f, -2.0f, 3.0f};
  EXPECT_EQ(run_one(*b, tied, row_params(greedy, 5)).token, 1);
  const std::vector<float> masked(6, -INFINITY);
  greedy.temperature = 1.0f;
  EXPECT_EQ(run_one(*b, masked, row_params(greedy, 5)).token, 0) << "nothing above -inf: token 0";
}

// DeviceSampling (the runner's side) on the CPU backend: penalty entries from the chunks' token
// lists (plus the extra token of a chunk run ahead), argmax rows for chunks that are not
// device_sample, logprobs per row.
TEST(SampleFiltered, DeviceSamplingBuildsEntriesFromTheChunksTokenLists) {
  auto b = create_cpu_backend();
  std::mt19937_64 gen(9);
  const int64_t vocab = 300, m = 6;
  std::vector<float> logits;
  for (int64_t r = 0; r < m; ++r) {
    const auto row = row_of(static_cast<int>(r % 2), vocab, gen);
    logits.insert(logits.end(), row.begin(), row.end());
  }
  std::vector<std::vector<int32_t>> prompts(m), outputs(m);
  std::vector<SeqChunk> chunks(m);
  std::vector<SamplingParams> params(m);
  for (int64_t r = 0; r < m; ++r) {
    for (int i = 0; i < 30; ++i) prompts[r].push_back(static_cast<int32_t>(gen() % 80));
    for (int i = 0; i < 20; ++i) outputs[r].push_back(static_cast<int32_t>(gen() % 80));
    SamplingParams& s = params[r];
    s.temperature = 0.0f;  // greedy: the argmax of the penalized row
    s.repetition_penalty = r % 3 == 0 ? 1.0f : 1.4f;
    s.frequency_penalty = r % 2 ? 0.8f : 0.0f;
    s.presence_penalty = r == 5 ? 0.0f : 0.6f;
    SeqChunk& c = chunks[r];
    c.device_sample = r != 4;  // row 4: a host row, whose token is the plain argmax
    c.sampling.repetition_penalty = s.repetition_penalty;
    c.sampling.frequency_penalty = s.frequency_penalty;
    c.sampling.presence_penalty = s.presence_penalty;
    c.sampling.num_logprobs = r == 1 ? 5 : r == 2 ? 0 : -1;
    c.prompt_ids = prompts[r];
    c.output_ids = outputs[r];
  }
  // Rows 1 and 3 as chunks run ahead (async scheduling): one more output token, not in output_ids but
  // given as the extra token. It is the token the row would pick without it, so counting it moves the
  // pick.
  Sampler picker;
  std::vector<int32_t> extra(static_cast<size_t>(m), -1);
  std::vector<std::vector<int32_t>> known(m);  // output_ids of rows 1 and 3
  for (int64_t r : {1, 3}) {
    std::vector<float> row(logits.begin() + r * vocab, logits.begin() + (r + 1) * vocab);
    picker.process_logits(row, params[r], SamplingContext{prompts[r], outputs[r], {}});
    const int32_t before = argmax(row);
    known[r] = outputs[r];
    chunks[r].output_ids = known[r];
    outputs[r].push_back(before);  // what the reference below counts
    extra[static_cast<size_t>(r)] = before;
  }
  std::vector<const SeqChunk*> rows;
  for (const SeqChunk& c : chunks) rows.push_back(&c);
  DeviceSampling sampling(*b);
  std::vector<int32_t> tokens;
  std::vector<RowLogprobs> lps;
  sampling.sample({logits.data(), DType::kF32, {m, vocab}}, rows, extra, tokens, lps);
  ASSERT_EQ(tokens.size(), static_cast<size_t>(m));
  ASSERT_EQ(lps.size(), static_cast<size_t>(m));
  Sampler sampler;
  for (int64_t r = 0; r < m; ++r) {
    std::vector<float> row(logits.begin() + r * vocab, logits.begin() + (r + 1) * vocab);
    const std::vector<float> raw = row;
    if (chunks[r].device_sample)
      sampler.process_logits(row, params[r], SamplingContext{prompts[r], outputs[r], {}});
    EXPECT_EQ(tokens[r], argmax(row)) << "row " << r;
    if (chunks[r].sampling.num_logprobs < 0 || !chunks[r].device_sample) {
      EXPECT_EQ(lps[r].token, -1) << "row " << r;
      continue;
    }
    const SampleLogprobs want = logprobs_for(raw, tokens[r], chunks[r].sampling.num_logprobs);
    EXPECT_EQ(lps[r].token, tokens[r]);
    EXPECT_EQ(lps[r].rank, want.sampled.rank);
    EXPECT_NEAR(lps[r].logprob, want.sampled.logprob, 1e-5);
    ASSERT_EQ(lps[r].top_ids.size(), want.top.size());
    for (size_t j = 0; j < want.top.size(); ++j) EXPECT_EQ(lps[r].top_ids[j], want.top[j].token);
  }
}

TEST(SampleFiltered, DeviceSamplingSupportsEverythingButHostOnlyProcessing) {
  SamplingParams p;
  const std::vector<int32_t> prompt = {1, 2, 3}, output = {4};
  const std::vector<int64_t> eos = {7};
  const SamplingContext ctx{prompt, output, eos};
  EXPECT_TRUE(device_sampling_supports(p, ctx, 1000));
  p.top_p = 0.9f, p.top_k = 40, p.min_p = 0.1f, p.repetition_penalty = 1.2f, p.presence_penalty = 0.5f;
  p.logprobs = 20;
  EXPECT_TRUE(device_sampling_supports(p, ctx, 128256));
  EXPECT_FALSE(device_sampling_supports(p, ctx, kMaxSampleVocab + 1));
  auto host = [&](auto change) {
    SamplingParams q = p;
    change(q);
    return !device_sampling_supports(q, ctx, 1000);
  };
  EXPECT_TRUE(host([](SamplingParams& q) { q.logprobs = 21; }));
  EXPECT_TRUE(host([](SamplingParams& q) { q.logprobs = -1; }));
  EXPECT_TRUE(host([](SamplingParams& q) { q.logit_bias[3] = 1.0f; }));
  EXPECT_TRUE(host([](SamplingParams& q) { q.allowed_token_ids = std::vector<int32_t>{1, 2}; }));
  EXPECT_TRUE(host([](SamplingParams& q) { q.min_tokens = 5; }));  // output of 1 < 5: EOS masked
  SamplingParams reached = p;
  reached.min_tokens = 1;  // reached: nothing masked any more
  EXPECT_TRUE(device_sampling_supports(reached, ctx, 1000));
}

}  // namespace
}  // namespace strata
