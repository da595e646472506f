#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "backend/sampling_math.h"  // kMaxSampleLogprobs, kMaxSampleVocab
#include "core/status.h"

namespace strata {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
// top_k up to this finds the k-th largest logit with a heap in one pass; larger k select on all tokens.
constexpr size_t kMaxHeapTopK = 4096;
// top_p's histogram: -log(p / p_max) in [0, 32) in 1/128 steps; smaller weights share the last bucket.
constexpr uint32_t kNumBuckets = 4096;
constexpr float kBucketsPerNat = 128.0f;
// Up to this many candidates (e.g. after a small top_k) top_p simply sorts them.
constexpr size_t kMaxSortedNucleus = 512;

bool has_penalties(const SamplingParams& p) {
  return p.repetition_penalty != 1.0f || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f;
}

bool masks_stop_ids(const SamplingParams& p, const SamplingContext& c) {
  return static_cast<int64_t>(c.output_ids.size()) < p.min_tokens &&
         (!p.stop_token_ids.empty() || !c.eos_token_ids.empty());
}

bool needs_processing(const SamplingParams& p, const SamplingContext& c) {
  return p.allowed_token_ids.has_value() || masks_stop_ids(p, c) || !p.logit_bias.empty() || has_penalties(p);
}

}  // namespace

bool device_sampling_supports(const SamplingParams& p, const SamplingContext& c, int64_t vocab) {
  if (p.allowed_token_ids.has_value() || masks_stop_ids(p, c) || !p.logit_bias.empty()) return false;
  if (p.logprobs && (*p.logprobs < 0 || *p.logprobs > kMaxSampleLogprobs)) return false;
  return vocab <= kMaxSampleVocab;
}

namespace {

// [0, 1) from one rng() call: the same stream on every standard library.
double uniform01(std::mt19937_64& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// Draws i in [0, n) with probability weight(i) / sum of weights (all >= 0, some > 0), from one rng()
// call. Blocks are summed with independent lanes first, so neither the sum nor the search is one long
// chain of dependent additions.
template <typename Weight>
size_t draw_weighted(size_t n, Weight weight, std::vector<double>& block_sums, std::mt19937_64& rng) {
  constexpr size_t kBlock = 64;
  constexpr size_t kLanes = 8;
  const size_t num_blocks = (n + kBlock - 1) / kBlock;
  block_sums.resize(num_blocks);
  double total = 0.0;
  size_t last_positive = 0;
  for (size_t b = 0; b < num_blocks; ++b) {
    const size_t lo = b * kBlock, hi = std::min(n, lo + kBlock);
    float lane[kLanes] = {};
    size_t i = lo;
    for (; i + kLanes <= hi; i += kLanes)
      for (size_t j = 0; j < kLanes; ++j) lane[j] += weight(i + j);
    float sum = 0.0f;
    for (size_t j = 0; j < kLanes; ++j) sum += lane[j];
    for (; i < hi; ++i) sum += weight(i);
    block_sums[b] = sum;
    total += sum;
    if (sum > 0.0f) last_positive = b;
  }
  const double r = uniform01(rng) * total;
  double acc = 0.0;
  size_t b = 0;
  while (b < last_positive && acc + block_sums[b] <= r) acc += block_sums[b++];
  const size_t lo = b * kBlock, hi = std::min(n, lo + kBlock);
  size_t last = lo;
  for (size_t i = lo; i < hi; ++i) {
    const float w = weight(i);
    if (!(w > 0.0f)) continue;
    acc += w;
    last = i;
    if (r < acc) return i;
  }
  return last;  // rounding: r reached the block's end
}

void check_token(int64_t id, size_t vocab, const char* what) {
  STRATA_CHECK(id >= 0 && static_cast<size_t>(id) < vocab, "{} token id {} outside the vocabulary of {}",
               what, id, vocab);
}

}  // namespace

bool Sampler::before(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.token < b.token);
}

float max_of(std::span<const float> logits) {
  // Eight independent lanes so the compiler can vectorize (one running max cannot be reordered).
  constexpr size_t kLanes = 8;
  float lane[kLanes];
  std::fill(lane, lane + kLanes, kNegInf);
  const size_t n = logits.size();
  size_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (size_t j = 0; j < kLanes; ++j) lane[j] = logits[i + j] > lane[j] ? logits[i + j] : lane[j];
  float m = kNegInf;
  for (size_t j = 0; j < kLanes; ++j) m = lane[j] > m ? lane[j] : m;
  for (; i < n; ++i) m = logits[i] > m ? logits[i] : m;
  return m;
}

int32_t argmax(std::span<const float> logits) {
  const float m = max_of(logits);
  if (!(m > kNegInf)) return 0;
  size_t i = 0;
  while (logits[i] != m) ++i;
  return static_cast<int32_t>(i);
}

SampleResult Sampler::sample(std::span<const float> logits, const SamplingParams& params,
                             const SamplingContext& context, std::mt19937_64& rng) {
  SampleResult result;
  std::span<const float> row = logits;
  if (needs_processing(params, context)) {
    work_.assign(logits.begin(), logits.end());
    process_logits(work_, params, context);
    row = work_;
  }
  result.token = draw(row, params, rng);
  if (params.logprobs) result.logprobs = logprobs_for(logits, result.token, *params.logprobs);
  return result;
}

void Sampler::process_logits(std::span<float> logits, const SamplingParams& p, const SamplingContext& c) {
  const size_t vocab = logits.size();
  if (p.allowed_token_ids) {
    saved_.clear();
    for (int32_t id : *p.allowed_token_ids) {
      check_token(id, vocab, "allowed_token_ids");
      saved_.emplace_back(id, logits[id]);
    }
    std::fill(logits.begin(), logits.end(), kNegInf);
    for (const auto& [id, value] : saved_) logits[id] = value;
  }
  if (masks_stop_ids(p, c)) {
    for (int32_t id : p.stop_token_ids) {
      check_token(id, vocab, "stop_token_ids");
      logits[id] = kNegInf;
    }
    for (int64_t id : c.eos_token_ids)
      if (id >= 0 && static_cast<size_t>(id) < vocab) logits[id] = kNegInf;
  }
  for (const auto& [id, bias] : p.logit_bias) {
    check_token(id, vocab, "logit_bias");
    logits[id] += std::clamp(bias, -100.0f, 100.0f);
  }
  if (has_penalties(p)) apply_penalties(logits, p, c);
}

void Sampler::apply_penalties(std::span<float> logits, const SamplingParams& p, const SamplingContext& c) {
  const size_t vocab = logits.size();
  if (seen_.size() != vocab) {
    seen_.assign(vocab, 0);
    counts_.assign(vocab, 0);
  }
  if (p.repetition_penalty != 1.0f) {
    const float r = p.repetition_penalty;
    auto penalize = [&](int32_t id) {
      check_token(id, vocab, "history");
      if (seen_[id]) return;
      seen_[id] = 1;
      float& l = logits[id];
      l = l > 0.0f ? l / r : l * r;
    };
    for (int32_t id : c.prompt_ids) penalize(id);
    for (int32_t id : c.output_ids) penalize(id);
    for (int32_t id : c.prompt_ids) seen_[id] = 0;
    for (int32_t id : c.output_ids) seen_[id] = 0;
  }
  if (p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f) {
    for (int32_t id : c.output_ids) {
      check_token(id, vocab, "output");
      ++counts_[id];
    }
    for (int32_t id : c.output_ids) {
      const uint32_t count = counts_[id];
      if (count == 0) continue;  // already done
      logits[id] -= p.frequency_penalty * static_cast<float>(count);
      logits[id] -= p.presence_penalty;
      counts_[id] = 0;
    }
  }
}

int32_t Sampler::draw(std::span<const float> logits, const SamplingParams& p, std::mt19937_64& rng) {
  if (is_greedy(p)) return argmax(logits);
  size_t n = 0;
  float max_logit = kNegInf;
  if (!filter(logits, p, n, max_logit)) return draw_unfiltered(logits, max_logit, p.temperature, rng);
  if (n == 0) return argmax(logits);  // everything masked: nothing to draw from
  const Candidate* kept = candidates_.data();
  auto weight = [kept](size_t i) { return kept[i].weight; };
  return kept[draw_weighted(n, weight, block_sums_, rng)].token;
}

std::vector<int32_t> Sampler::kept_tokens(std::span<const float> logits, const SamplingParams& p) {
  if (is_greedy(p)) return {argmax(logits)};
  size_t n = 0;
  float max_logit = kNegInf;
  std::vector<int32_t> ids;
  if (!filter(logits, p, n, max_logit)) {
    const float scaled_max = max_logit / p.temperature;
    for (size_t i = 0; i < logits.size(); ++i)
      if (std::exp(logits[i] / p.temperature - scaled_max) > 0.0f) ids.push_back(static_cast<int32_t>(i));
    return ids;
  }
  if (n == 0) return {argmax(logits)};
  for (size_t i = 0; i < n; ++i) ids.push_back(candidates_[i].token);
  std::sort(ids.begin(), ids.end());
  return ids;
}

bool Sampler::filter(std::span<const float> logits, const SamplingParams& p, size_t& n, float& max_logit) {
  const size_t vocab = logits.size();
  const bool use_top_k = p.top_k > 0 && static_cast<size_t>(p.top_k) < vocab;
  const bool use_top_p = p.top_p < 1.0f;
  const bool use_min_p = p.min_p > 0.0f;
  const bool small_k = use_top_k && static_cast<size_t>(p.top_k) <= kMaxHeapTopK;
  max_logit = kNegInf;
  const float floor = small_k ? kth_largest(logits, static_cast<size_t>(p.top_k), max_logit) : kNegInf;
  if (!small_k) max_logit = max_of(logits);
  n = 0;
  if (!(max_logit > kNegInf)) return true;
  if (!use_top_k && !use_top_p && !use_min_p) return false;
  // Candidates: the top k (ties with the k-th included) when k is small, else every token; min_p
  // keeps p_i / p_max = exp((l_i - l_max) / T) >= min_p. min_p and top_k both keep a most-likely
  // prefix, so applying min_p to the top-k set equals vLLM's min_p-then-top_k.
  const float t = p.temperature;
  const float scaled_max = max_logit / t;
  candidates_.clear();
  candidates_.reserve(vocab);
  for (size_t i = 0; i < vocab; ++i) {
    if (!(logits[i] >= floor)) continue;
    const float log_w = logits[i] / t - scaled_max;  // <= 0
    const float w = std::exp(log_w);
    if (w > 0.0f && w >= p.min_p) {
      // top_p's histogram bucket of -log w, monotone in the logit (equal logits share one).
      const auto bucket = static_cast<uint32_t>(std::min(-log_w * kBucketsPerNat, kNumBuckets - 1.0f));
      candidates_.push_back({logits[i], w, static_cast<int32_t>(i), bucket});
    }
  }
  const auto first = candidates_.begin();
  n = candidates_.size();  // >= 1: the most likely token has weight 1
  if (use_top_k && !small_k && static_cast<size_t>(p.top_k) < n) {
    const auto kth = first + (p.top_k - 1);
    std::nth_element(first, kth, candidates_.end(), before);
    const float kth_logit = kth->logit;
    const auto tied_end =
        std::partition(kth + 1, candidates_.end(), [&](const Candidate& c) { return c.logit == kth_logit; });
    n = static_cast<size_t>(tied_end - first);
  }
  if (use_top_p) n = select_nucleus(std::span<Candidate>(candidates_).first(n), p.top_p);
  return true;
}

float Sampler::kth_largest(std::span<const float> logits, size_t k, float& max_logit) {
  // Min-heap of the k largest seen so far; its front is the k-th largest.
  heap_.clear();
  auto greater = std::greater<float>();
  for (float v : logits) {
    if (!(v == v)) continue;  // NaN
    if (heap_.size() < k) {
      heap_.push_back(v);
      std::push_heap(heap_.begin(), heap_.end(), greater);
    } else if (v > heap_.front()) {
      std::pop_heap(heap_.begin(), heap_.end(), greater);
      heap_.back() = v;
      std::push_heap(heap_.begin(), heap_.end(), greater);
    }
  }
  max_logit = heap_.empty() ? kNegInf : *std::max_element(heap_.begin(), heap_.end());
  return heap_.size() < k ? kNegInf : heap_.front();
}

size_t Sampler::select_nucleus(std::span<Candidate> c, float top_p) {
  if (c.size() <= kMaxSortedNucleus) {
    double total = 0.0;
    for (const Candidate& x : c) total += x.weight;
    const double target = static_cast<double>(top_p) * total;
    std::sort(c.begin(), c.end(), before);
    double kept = 0.0;
    size_t n = 0;
    while (n < c.size() && kept < target) kept += c[n++].weight;
    return std::max<size_t>(n, 1);
  }
  // The candidates' masses by bucket (bucket 0 holds the largest weights). The bucket where the mass
  // counted from the top reaches the target is the only one sorted: the buckets before it are all
  // in, those after all out.
  bucket_mass_.assign(kNumBuckets, 0.0);
  double total = 0.0;
  for (const Candidate& x : c) {
    bucket_mass_[x.bucket] += x.weight;
    total += x.weight;
  }
  const double target = static_cast<double>(top_p) * total;
  double above = 0.0;  // mass of the buckets before b
  uint32_t b = 0;
  while (b < kNumBuckets && above + bucket_mass_[b] < target) above += bucket_mass_[b++];
  if (b == kNumBuckets) return c.size();  // rounding: the target is the whole mass
  size_t n = 0;
  tail_.clear();
  for (const Candidate& x : c) {
    if (x.bucket < b) {
      c[n++] = x;  // compacts in place: n never passes the element read
    } else if (x.bucket == b) {
      tail_.push_back(x);
    }
  }
  std::sort(tail_.begin(), tail_.end(), before);
  double kept = above;
  for (size_t i = 0; i < tail_.size() && kept < target; ++i) {
    kept += tail_[i].weight;
    c[n++] = tail_[i];
  }
  return std::max<size_t>(n, 1);
}

int32_t Sampler::draw_unfiltered(std::span<const float> logits, float max_logit, float temperature,
                                 std::mt19937_64& rng) {
  const size_t vocab = logits.size();
  weights_.resize(vocab);
  const float scaled_max = max_logit / temperature;
  for (size_t i = 0; i < vocab; ++i) {
    const float w = std::exp(logits[i] / temperature - scaled_max);
    weights_[i] = w > 0.0f ? w : 0.0f;  // NaN → 0
  }
  const float* w = weights_.data();
  auto weight = [w](size_t i) { return w[i]; };
  return static_cast<int32_t>(draw_weighted(vocab, weight, block_sums_, rng));
}

SampleResult sample(std::span<const float> logits, const SamplingParams& params,
                    const SamplingContext& context, std::mt19937_64& rng) {
  thread_local Sampler sampler;
  return sampler.sample(logits, params, context, rng);
}

int32_t sample_token(std::span<const float> logits, const SamplingParams& params, std::mt19937_64& rng) {
  if (params.min_tokens > 0) {  // no output history here: min_tokens cannot be tracked
    SamplingParams without_min = params;
    without_min.min_tokens = 0;
    return sample(logits, without_min, SamplingContext{}, rng).token;
  }
  return sample(logits, params, SamplingContext{}, rng).token;
}

}  // namespace strata
