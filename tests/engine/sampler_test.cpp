// Sampler and SamplingParams: the processing pipeline step by step, the distributions drawn, seeded
// determinism, logprobs and vLLM's validation messages.
#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/sampling_params.h"

namespace strata {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> random_row(size_t vocab, uint64_t seed, float scale = 3.0f) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> row(vocab);
  for (float& v : row) v = normal(gen);
  return row;
}

std::vector<double> softmax(const std::vector<float>& logits, double temperature = 1.0) {
  double mx = -kInf;
  for (float v : logits) mx = std::max(mx, static_cast<double>(v));
  std::vector<double> p(logits.size());
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) sum += p[i] = std::exp((logits[i] - mx) / temperature);
  for (double& x : p) x /= sum;
  return p;
}

// Frequencies of `draws` samples.
std::vector<double> histogram(const std::vector<float>& logits, const SamplingParams& params, int draws,
                              uint64_t seed, SamplingContext context = {}) {
  Sampler sampler;
  std::mt19937_64 rng(seed);
  std::vector<double> freq(logits.size(), 0.0);
  for (int i = 0; i < draws; ++i) freq[sampler.sample(logits, params, context, rng).token] += 1.0 / draws;
  return freq;
}

SamplingParams with_temperature(float t) {
  SamplingParams p;
  p.temperature = t;
  return p;
}

// ---- greedy and the truncations -------------------------------------------------------------------

TEST(Sampler, GreedyTakesArgmaxLowestIdOnTiesAndDrawsNothing) {
  Sampler sampler;
  const SamplingParams greedy = with_temperature(0.0f);
  std::mt19937_64 rng(7), untouched(7);
  const std::vector<float> row = {0.5f, 2.0f, -1.0f, 2.0f, 1.9f};
  EXPECT_EQ(sampler.sample(row, greedy, {}, rng).token, 1);
  EXPECT_EQ(rng(), untouched());  // greedy consumed no randomness
  EXPECT_EQ(argmax(row), 1);
  EXPECT_EQ(argmax(std::vector<float>{-kInf, -kInf, -3.0f}), 2);
  EXPECT_EQ(argmax(std::vector<float>{std::nanf(""), 1.0f, 0.0f}), 1);
  // Below kSamplingEps is greedy too.
  for (uint64_t s = 0; s < 20; ++s) {
    const auto r = random_row(1000, s);
    EXPECT_EQ(sampler.sample(r, with_temperature(1e-6f), {}, rng).token, argmax(r));
  }
}

TEST(Sampler, TopKOneAndTinyTopPEqualGreedy) {
  Sampler sampler;
  std::mt19937_64 rng(1);
  SamplingParams k1 = with_temperature(1.5f);
  k1.top_k = 1;
  SamplingParams p_tiny = with_temperature(1.5f);
  p_tiny.top_p = 1e-6f;
  SamplingParams min_p_one = with_temperature(1.5f);
  min_p_one.min_p = 1.0f;
  for (uint64_t s = 0; s < 50; ++s) {
    const auto row = random_row(5000, s, 0.5f);  // flat: plain sampling would rarely hit the argmax
    const int32_t best = argmax(row);
    EXPECT_EQ(sampler.sample(row, k1, {}, rng).token, best) << s;
    EXPECT_EQ(sampler.sample(row, p_tiny, {}, rng).token, best) << s;
    EXPECT_EQ(sampler.sample(row, min_p_one, {}, rng).token, best) << s;
  }
}

TEST(Sampler, TopKKeepsTheKLargestAndTheirTies) {
  SamplingParams p;
  p.top_k = 2;
  const std::vector<float> row = {1.0f, 3.0f, 0.0f, 2.5f, 2.0f};
  auto f = histogram(row, p, 20000, 3);
  const double z = std::exp(3.0) + std::exp(2.5);
  EXPECT_NEAR(f[1], std::exp(3.0) / z, 0.015);
  EXPECT_NEAR(f[3], std::exp(2.5) / z, 0.015);
  EXPECT_EQ(f[0] + f[2] + f[4], 0.0);
  // vLLM keeps every token equal to the k-th largest logit.
  p.top_k = 1;
  f = histogram({3.0f, 0.0f, 3.0f, 3.0f, 2.9f}, p, 9000, 4);
  EXPECT_NEAR(f[0], 1.0 / 3, 0.03);
  EXPECT_NEAR(f[2], 1.0 / 3, 0.03);
  EXPECT_NEAR(f[3], 1.0 / 3, 0.03);
  EXPECT_EQ(f[1] + f[4], 0.0);
}

TEST(Sampler, TopPKeepsTheSmallestPrefixReachingP) {
  // probabilities 0.5, 0.3, 0.15, 0.05
  const std::vector<float> row = {std::log(0.3f), std::log(0.5f), std::log(0.05f), std::log(0.15f)};
  SamplingParams p;
  p.top_p = 0.6f;  // 0.5 < 0.6 → the 0.3 token crosses it and is kept; the rest dropped
  auto f = histogram(row, p, 40000, 5);
  EXPECT_NEAR(f[1], 0.5 / 0.8, 0.01);
  EXPECT_NEAR(f[0], 0.3 / 0.8, 0.01);
  EXPECT_EQ(f[2] + f[3], 0.0);
  p.top_p = 0.85f;  // 0.8 < 0.85 → the 0.15 token too
  f = histogram(row, p, 40000, 6);
  EXPECT_NEAR(f[3], 0.15 / 0.95, 0.01);
  EXPECT_EQ(f[2], 0.0);
}

TEST(Sampler, TopPOnALargeVocabularyDrawsFromTheWholeNucleus) {
  // A nucleus of several hundred tokens: more than the first sorted chunk, so the incremental sort
  // must keep extending it.
  const auto row = random_row(8000, 11, 1.0f);
  SamplingParams p;
  p.top_p = 0.5f;
  const auto probs = softmax(row);
  std::vector<int32_t> order(row.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return row[a] > row[b]; });
  std::set<int32_t> nucleus;
  double mass = 0;
  for (int32_t id : order) {
    if (mass >= 0.5) break;
    nucleus.insert(id);
    mass += probs[id];
  }
  ASSERT_GT(nucleus.size(), 500u);
  Sampler sampler;
  std::mt19937_64 rng(12);
  std::set<int32_t> seen;
  for (int i = 0; i < 20000; ++i) {
    const int32_t t = sampler.sample(row, p, {}, rng).token;
    ASSERT_TRUE(nucleus.count(t)) << "token " << t << " is outside the nucleus";
    seen.insert(t);
  }
  EXPECT_GT(seen.size(), nucleus.size() * 95 / 100);
}

TEST(Sampler, TopPBoundaryIsExactAmongCloseAndEqualLogits) {
  // Thousands of negligible tokens force the bucketed path; the nucleus is a few tokens whose logits
  // differ by less than one bucket (0.001) or by many (0.1), stored at scattered ids.
  const std::vector<int32_t> ids = {4000, 17, 2500, 999, 3, 3200, 1500, 64};
  for (float step : {0.001f, 0.1f}) {
    std::vector<float> row(4096, -20.0f);
    for (size_t k = 0; k < ids.size(); ++k)
      row[ids[k]] = 5.0f - step * static_cast<float>(k);  // ids[0] most likely
    const auto probs = softmax(row);
    SamplingParams p;
    p.top_p = 0.55f;
    std::set<int32_t> nucleus;
    double mass = 0;
    for (int32_t id : ids) {
      if (mass >= 0.55) break;
      nucleus.insert(id);
      mass += probs[id];
    }
    ASSERT_GE(nucleus.size(), 4u);
    const auto f = histogram(row, p, 6000, 41);
    std::set<int32_t> seen;
    for (size_t i = 0; i < f.size(); ++i)
      if (f[i] > 0) seen.insert(static_cast<int32_t>(i));
    EXPECT_EQ(seen, nucleus) << "step " << step;
  }
  // Equal logits: the lower id comes first (4 tokens of 1/4 each; top_p 0.45 keeps two).
  std::vector<float> row(4096, -40.0f);
  for (int32_t id : {700, 100, 900, 300}) row[id] = 0.0f;
  SamplingParams p;
  p.top_p = 0.45f;
  const auto f = histogram(row, p, 4000, 42);
  EXPECT_NEAR(f[100], 0.5, 0.05);
  EXPECT_NEAR(f[300], 0.5, 0.05);
  EXPECT_EQ(f[700] + f[900], 0.0);
}

TEST(Sampler, MinPDropsTokensBelowTheFractionOfTheTopProbability) {
  // relative probabilities 1, 0.6, 0.4, 0.1
  const std::vector<float> row = {std::log(0.4f), 0.0f, std::log(0.1f), std::log(0.6f)};
  SamplingParams p;
  p.min_p = 0.5f;
  auto f = histogram(row, p, 40000, 8);
  EXPECT_NEAR(f[1], 1.0 / 1.6, 0.01);
  EXPECT_NEAR(f[3], 0.6 / 1.6, 0.01);
  EXPECT_EQ(f[0] + f[2], 0.0);
  // min_p acts on the temperature-scaled distribution: at T = 2 the ratios are sqrt'd (0.63 for 0.4).
  p.temperature = 2.0f;
  f = histogram(row, p, 20000, 9);
  EXPECT_GT(f[0], 0.1);
  EXPECT_EQ(f[2], 0.0);  // sqrt(0.1) = 0.32 < 0.5
}

TEST(Sampler, TemperatureOneMatchesSoftmaxAndTemperatureSharpens) {
  const std::vector<float> row = {1.0f, -0.5f, 2.0f, 0.3f, -2.0f, 1.5f, 0.0f, 0.9f};
  for (float t : {1.0f, 0.5f, 1.7f}) {
    const auto expected = softmax(row, t);
    const auto f = histogram(row, with_temperature(t), 200000, 21);
    for (size_t i = 0; i < row.size(); ++i)
      EXPECT_NEAR(f[i], expected[i], 0.005) << "T=" << t << " token " << i;
  }
}

TEST(Sampler, TopKThenTopPRenormalizeLikeVllm) {
  // top_k = 3 keeps probabilities ∝ 4, 3, 2 → 4/9, 3/9, 2/9; top_p = 0.7 over those keeps 4/9 + 3/9.
  const std::vector<float> row = {std::log(1.0f), std::log(4.0f), std::log(3.0f), std::log(2.0f)};
  SamplingParams p;
  p.top_k = 3;
  p.top_p = 0.7f;
  const auto f = histogram(row, p, 40000, 22);
  EXPECT_NEAR(f[1], 4.0 / 7, 0.01);
  EXPECT_NEAR(f[2], 3.0 / 7, 0.01);
  EXPECT_EQ(f[0] + f[3], 0.0);
}

TEST(Sampler, SeededDrawsAreDeterministic) {
  const auto row = random_row(32000, 5, 1.0f);
  for (int config = 0; config < 4; ++config) {
    SamplingParams p = with_temperature(0.8f);
    if (config == 1) p.top_k = 40;
    if (config == 2) p.top_p = 0.9f;
    if (config == 3) p.min_p = 0.05f;
    auto run = [&](uint64_t seed) {
      Sampler sampler;
      std::mt19937_64 rng(seed);
      std::mt19937_64 other(seed + 1000);
      std::vector<int32_t> out;
      for (int i = 0; i < 64; ++i) {
        out.push_back(sampler.sample(row, p, {}, rng).token);
        sample(row, p, {}, other);  // another request sharing the sampler thread changes nothing
      }
      return out;
    };
    EXPECT_EQ(run(42), run(42)) << config;
    EXPECT_NE(run(42), run(43)) << config;
  }
}

// ---- logits processing ----------------------------------------------------------------------------

TEST(Sampler, RepetitionPenaltyScalesExactlyTheSeenTokens) {
  Sampler sampler;
  std::vector<float> row = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 1.0f};
  const std::vector<float> raw = row;
  SamplingParams p;
  p.repetition_penalty = 2.0f;
  const std::vector<int32_t> prompt = {0, 1, 1};
  const std::vector<int32_t> output = {4, 0, 4};
  sampler.process_logits(row, p, {prompt, output, {}});
  EXPECT_EQ(row[0], 1.0f);   // positive: divided, once even though seen 3 times
  EXPECT_EQ(row[1], -2.0f);  // negative: multiplied
  EXPECT_EQ(row[4], -4.0f);  // from the output
  EXPECT_EQ(row[2], raw[2]);
  EXPECT_EQ(row[3], raw[3]);
  EXPECT_EQ(row[5], raw[5]);
  // The scratch marks were cleared: the same call again gives the same result on a fresh row.
  std::vector<float> again = raw;
  sampler.process_logits(again, p, {prompt, output, {}});
  EXPECT_EQ(again, row);
}

TEST(Sampler, FrequencyAndPresencePenaltiesCountOnlyTheOutput) {
  Sampler sampler;
  const std::vector<float> raw = {2.0f, -1.0f, 0.5f, 3.0f, -2.0f, 1.0f};
  const std::vector<int32_t> prompt = {2, 3, 2, 5};  // token 3 in the prompt counts for neither
  const std::vector<int32_t> output = {3, 1, 3, 3};
  SamplingParams freq;
  freq.frequency_penalty = 0.5f;
  std::vector<float> row = raw;
  sampler.process_logits(row, freq, {prompt, output, {}});
  EXPECT_EQ(row, (std::vector<float>{2.0f, -1.5f, 0.5f, 1.5f, -2.0f, 1.0f}));

  SamplingParams presence;
  presence.presence_penalty = -0.25f;
  row = raw;
  sampler.process_logits(row, presence, {prompt, output, {}});
  EXPECT_EQ(row, (std::vector<float>{2.0f, -0.75f, 0.5f, 3.25f, -2.0f, 1.0f}));

  // All three, in vLLM's order: repetition (prompt + output), then frequency, then presence.
  SamplingParams all;
  all.repetition_penalty = 2.0f;
  all.frequency_penalty = 0.5f;
  all.presence_penalty = 1.0f;
  row = raw;
  sampler.process_logits(row, all, {prompt, output, {}});
  EXPECT_EQ(row, (std::vector<float>{2.0f, -3.5f, 0.25f, -1.0f, -2.0f, 0.5f}));
  // Counts were reset: a second row with no output is only repetition-penalized over the prompt.
  row = raw;
  sampler.process_logits(row, all, {prompt, {}, {}});
  EXPECT_EQ(row, (std::vector<float>{2.0f, -1.0f, 0.25f, 1.5f, -2.0f, 0.5f}));
}

TEST(Sampler, PenaltiesChangeWhatGreedyPicks) {
  Sampler sampler;
  std::mt19937_64 rng(0);
  const std::vector<float> row = {1.0f, 1.2f, 0.9f};
  SamplingParams p = with_temperature(0.0f);
  const std::vector<int32_t> output = {1};
  EXPECT_EQ(sampler.sample(row, p, {{}, output, {}}, rng).token, 1);
  p.presence_penalty = 0.5f;
  EXPECT_EQ(sampler.sample(row, p, {{}, output, {}}, rng).token, 0);
}

TEST(Sampler, LogitBiasIsAddedAndClamped) {
  Sampler sampler;
  std::vector<float> row = {0.0f, 1.0f, 2.0f, 3.0f};
  SamplingParams p;
  p.logit_bias = {{0, 5.0f}, {2, -1.5f}, {1, 1000.0f}};
  sampler.process_logits(row, p, {});
  EXPECT_EQ(row, (std::vector<float>{5.0f, 101.0f, 0.5f, 3.0f}));
  std::mt19937_64 rng(0);
  p.temperature = 0.0f;
  p.logit_bias = {{0, 3.5f}};
  EXPECT_EQ(sampler.sample(std::vector<float>{0.0f, 1.0f, 2.0f, 3.0f}, p, {}, rng).token, 0);
  p.logit_bias = {{3, -100.0f}};
  EXPECT_EQ(sampler.sample(std::vector<float>{0.0f, 1.0f, 2.0f, 3.0f}, p, {}, rng).token, 2);
}

TEST(Sampler, AllowedTokenIdsMaskEverythingElse) {
  Sampler sampler;
  std::vector<float> row = {4.0f, 1.0f, 2.0f, 3.0f, 0.5f};
  SamplingParams p;
  p.allowed_token_ids = std::vector<int32_t>{1, 4};
  sampler.process_logits(row, p, {});
  EXPECT_EQ(row, (std::vector<float>{-kInf, 1.0f, -kInf, -kInf, 0.5f}));
  const auto f = histogram({4.0f, 1.0f, 2.0f, 3.0f, 0.5f}, p, 20000, 31);
  EXPECT_NEAR(f[1], std::exp(1.0) / (std::exp(1.0) + std::exp(0.5)), 0.015);
  EXPECT_EQ(f[0] + f[2] + f[3], 0.0);
  p.temperature = 0.0f;
  std::mt19937_64 rng(0);
  EXPECT_EQ(sampler.sample(std::vector<float>{4.0f, 1.0f, 2.0f, 3.0f, 0.5f}, p, {}, rng).token, 1);
}

TEST(Sampler, MinTokensMasksEosAndStopIdsUntilReached) {
  Sampler sampler;
  const std::vector<float> raw = {1.0f, 5.0f, 2.0f, 4.0f, 3.0f};
  const std::vector<int64_t> eos = {1};
  SamplingParams p = with_temperature(0.0f);
  p.min_tokens = 2;
  p.stop_token_ids = {3};
  p.ignore_eos = true;  // vLLM still masks EOS under min_tokens
  const std::vector<int32_t> one = {0};
  const std::vector<int32_t> two = {0, 2};
  std::vector<float> row = raw;
  sampler.process_logits(row, p, {{}, one, eos});
  EXPECT_EQ(row, (std::vector<float>{1.0f, -kInf, 2.0f, -kInf, 3.0f}));
  std::mt19937_64 rng(0);
  EXPECT_EQ(sampler.sample(raw, p, {{}, one, eos}, rng).token, 4);
  EXPECT_EQ(sampler.sample(raw, p, {{}, two, eos}, rng).token, 1);  // reached: EOS allowed again
  row = raw;
  sampler.process_logits(row, p, {{}, two, eos});
  EXPECT_EQ(row, raw);
}

// ---- logprobs -------------------------------------------------------------------------------------

TEST(Sampler, LogprobsAreRawLogSoftmaxWithRanks) {
  const std::vector<float> row = {0.5f, 2.0f, -1.0f, 2.0f, 1.0f, -3.0f};
  const auto probs = softmax(row);
  const SampleLogprobs lp = logprobs_for(row, 4, 3);
  EXPECT_EQ(lp.sampled.token, 4);
  EXPECT_NEAR(lp.sampled.logprob, std::log(probs[4]), 1e-5);
  EXPECT_EQ(lp.sampled.rank, 3);  // two tokens are more likely
  ASSERT_EQ(lp.top.size(), 3u);
  const int32_t expected_ids[] = {1, 3, 4};  // tie at 2.0: lower id first
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(lp.top[i].token, expected_ids[i]);
    EXPECT_EQ(lp.top[i].rank, i + 1);
    EXPECT_NEAR(lp.top[i].logprob, std::log(probs[expected_ids[i]]), 1e-5);
  }
  // A tied token's rank counts every token at least as likely (vLLM's count of >=).
  EXPECT_EQ(logprobs_for(row, 1, 0).sampled.rank, 2);
  EXPECT_TRUE(logprobs_for(row, 1, 0).top.empty());
  // -1: the whole vocabulary, sorted.
  const auto all = logprobs_for(row, 5, -1);
  ASSERT_EQ(all.top.size(), row.size());
  EXPECT_EQ(all.sampled.rank, 6);
  for (size_t i = 1; i < all.top.size(); ++i) EXPECT_GE(all.top[i - 1].logprob, all.top[i].logprob);
}

TEST(Sampler, LogprobsTopListOnALargeVocabulary) {
  const auto row = random_row(50000, 77);
  const auto probs = softmax(row);
  std::vector<int32_t> order(row.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int32_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return row[a] > row[b]; });
  for (int k : {1, 20, 2000}) {
    const auto lp = logprobs_for(row, order[100], k);
    ASSERT_EQ(lp.top.size(), static_cast<size_t>(k));
    for (int i = 0; i < k; ++i) {
      EXPECT_EQ(lp.top[i].token, order[i]);
      EXPECT_NEAR(lp.top[i].logprob, std::log(probs[order[i]]), 1e-4);
    }
    EXPECT_EQ(lp.sampled.rank, 101);
  }
}

TEST(Sampler, SampleReportsLogprobsOfTheRawLogits) {
  Sampler sampler;
  std::mt19937_64 rng(3);
  const std::vector<float> row = {1.0f, 3.0f, 0.0f, 2.0f};
  const auto raw = softmax(row);
  SamplingParams p = with_temperature(0.0f);
  p.logit_bias = {{2, 10.0f}};  // changes what is sampled, not the logprobs reported
  p.repetition_penalty = 1.5f;
  p.logprobs = 2;
  const std::vector<int32_t> prompt = {1};
  const SampleResult r = sampler.sample(row, p, {prompt, {}, {}}, rng);
  EXPECT_EQ(r.token, 2);
  ASSERT_TRUE(r.logprobs.has_value());
  EXPECT_NEAR(r.logprobs->sampled.logprob, std::log(raw[2]), 1e-5);
  EXPECT_EQ(r.logprobs->sampled.rank, 4);
  ASSERT_EQ(r.logprobs->top.size(), 2u);
  EXPECT_EQ(r.logprobs->top[0].token, 1);
  EXPECT_EQ(r.logprobs->top[1].token, 3);
  p.logprobs.reset();
  EXPECT_FALSE(sampler.sample(row, p, {}, rng).logprobs.has_value());
}

TEST(Sampler, PromptLogprobsScoreEachNextToken) {
  const size_t vocab = 7;
  std::vector<float> logits;
  for (uint64_t r = 0; r < 3; ++r) {
    const auto row = random_row(vocab, 100 + r);
    logits.insert(logits.end(), row.begin(), row.end());
  }
  const std::vector<int32_t> prompt = {5, 2, 6, 0};  // rows 0..2 predict prompt[1..3]
  const auto out = prompt_logprobs_for(logits, vocab, std::span<const int32_t>(prompt).subspan(1), 2);
  ASSERT_EQ(out.size(), 3u);
  for (size_t r = 0; r < 3; ++r) {
    const std::vector<float> row(logits.begin() + r * vocab, logits.begin() + (r + 1) * vocab);
    EXPECT_EQ(out[r].sampled.token, prompt[r + 1]);
    EXPECT_NEAR(out[r].sampled.logprob, std::log(softmax(row)[prompt[r + 1]]), 1e-5);
    EXPECT_EQ(out[r].top.size(), 2u);
    EXPECT_EQ(out[r].top[0].token, argmax(row));
  }
}

TEST(Sampler, SampleTokenKeepsTheOfflineBehaviour) {
  const auto row = random_row(1000, 9);
  std::mt19937_64 a(5), b(5);
  SamplingParams p = with_temperature(0.7f);
  p.top_k = 50;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(sample_token(row, p, a), sample(row, p, {}, b).token);
  p.temperature = 0.0f;
  EXPECT_EQ(sample_token(row, p, a), argmax(row));
  p.min_tokens = 3;  // no history to count: ignored
  p.stop_token_ids = {argmax(row)};
  EXPECT_EQ(sample_token(row, p, a), argmax(row));
}

// ---- validation -----------------------------------------------------------------------------------

std::string error_of(const SamplingParams& p, int64_t vocab = 100, int max_logprobs = 20) {
  const Status s = validate(p, vocab, max_logprobs);
  return s.ok() ? "ok" : s.error().message();
}

TEST(SamplingParamsValidate, AcceptsDefaultsAndTypicalRequests) {
  EXPECT_EQ(error_of(SamplingParams{}), "ok");
  SamplingParams p;
  p.temperature = 0.0f;
  p.top_k = -1;
  p.logprobs = 20;
  p.prompt_logprobs = 0;
  p.logit_bias = {{99, 1.0f}};
  p.allowed_token_ids = std::vector<int32_t>{0, 99};
  p.stop_token_ids = {0};
  p.min_tokens = 16;
  EXPECT_EQ(error_of(p), "ok");
  p.logprobs = -1;
  EXPECT_EQ(error_of(p, 100, -1), "ok");
}

TEST(SamplingParamsValidate, ReportsVllmMessages) {
  auto msg = [](auto edit) {
    SamplingParams p;
    edit(p);
    return error_of(p);
  };
  EXPECT_EQ(msg([](SamplingParams& p) { p.n = 0; }), "n must be at least 1, got 0.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.temperature = -1.0f; }),
            "temperature must be non-negative, got -1.0.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.temperature = 2.5f; }), "temperature must be in [0, 2], got 2.5.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.temperature = kInf; }),
            "temperature must be a finite number, got inf.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.top_p = 0.0f; }), "top_p must be in (0, 1], got 0.0.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.top_p = 1.5f; }), "top_p must be in (0, 1], got 1.5.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.top_k = -2; }),
            "top_k must be 0 (disable), or at least 1, got -2.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.min_p = 1.1f; }), "min_p must be in [0, 1], got 1.1.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.presence_penalty = 2.1f; }),
            "presence_penalty must be in [-2, 2], got 2.1.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.frequency_penalty = -3.0f; }),
            "frequency_penalty must be in [-2, 2], got -3.0.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.repetition_penalty = 0.0f; }),
            "repetition_penalty must be greater than zero, got 0.0.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.max_tokens = 0; }), "max_tokens must be at least 1, got 0.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.min_tokens = -1; }),
            "min_tokens must be greater than or equal to 0, got -1.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.min_tokens = 17; }),
            "min_tokens must be less than or equal to max_tokens=16, got 17.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.logprobs = -2; }), "logprobs must be non-negative or -1, got -2.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.prompt_logprobs = -5; }),
            "prompt_logprobs must be non-negative or -1, got -5.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.stop = {"a", ""}; }), "stop cannot contain an empty string.");
  EXPECT_EQ(msg([](SamplingParams& p) {
              p.temperature = 0.0f;
              p.n = 2;
            }),
            "n must be 1 when using greedy sampling, got 2.");
  EXPECT_EQ(msg([](SamplingParams& p) { p.logprobs = 21; }),
            "Requested sample logprobs of 21, which is greater than max allowed: 20");
  EXPECT_EQ(msg([](SamplingParams& p) { p.logprobs = -1; }),
            "Requested sample logprobs of 100, which is greater than max allowed: 20");
  EXPECT_EQ(msg([](SamplingParams& p) { p.prompt_logprobs = 30; }),
            "Requested prompt logprobs of 30, which is greater than max allowed: 20");
  EXPECT_EQ(msg([](SamplingParams& p) {
              p.logit_bias = {{-1, 1.0f}, {5, 1.0f}, {100, 2.0f}};
            }),
            "token_id(s) [-1, 100] in logit_bias contain out-of-vocab token ids. Vocabulary size: 100");
  EXPECT_EQ(msg([](SamplingParams& p) {
              p.stop_token_ids = {3, 250};
            }),
            "token_id(s) [250] in stop_token_ids contain out-of-vocab token ids. Vocabulary size: 100");
  EXPECT_EQ(msg([](SamplingParams& p) { p.allowed_token_ids = std::vector<int32_t>{}; }),
            "allowed_token_ids is not None and empty!");
  EXPECT_EQ(msg([](SamplingParams& p) {
              p.allowed_token_ids = std::vector<int32_t>{1, 100};
            }),
            "allowed_token_ids contains out-of-vocab token id!");
  // A tiny positive temperature is not greedy in vLLM (it becomes 0.01), so n > 1 is fine.
  EXPECT_EQ(msg([](SamplingParams& p) {
              p.temperature = 1e-6f;
              p.n = 2;
            }),
            "ok");
}

TEST(SamplingParamsNormalize, AppliesVllmPostInit) {
  SamplingParams p;
  p.temperature = 0.001f;
  p.stop_token_ids = {5, 3, 5, 7, 3};
  p.logit_bias = {{1, 250.0f}, {2, -300.0f}, {3, 4.0f}};
  normalize_sampling_params(p);
  EXPECT_EQ(p.temperature, 0.01f);
  EXPECT_EQ(p.stop_token_ids, (std::vector<int32_t>{5, 3, 7}));
  EXPECT_EQ(p.logit_bias, (std::map<int32_t, float>{{1, 100.0f}, {2, -100.0f}, {3, 4.0f}}));
  SamplingParams g;
  g.temperature = 0.0f;
  g.top_p = 0.5f;
  g.top_k = 5;
  g.min_p = 0.2f;
  normalize_sampling_params(g);
  EXPECT_EQ(g.top_p, 1.0f);
  EXPECT_EQ(g.top_k, 0);
  EXPECT_EQ(g.min_p, 0.0f);
}

}  // namespace
}  // namespace strata
