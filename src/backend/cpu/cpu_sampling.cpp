// CpuBackend::sample_filtered: penalties, temperature, top_k / min_p / top_p, the Gumbel-max draw and
// raw logprobs, per row (rows in parallel), with the arithmetic of backend/sampling_math.h.
#include "backend/cpu/cpu_sampling.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>

#include "backend/cpu/cpu_backend.h"
#include "backend/sampling_math.h"
#include "core/status.h"

namespace strata {
namespace cpu_sampling {
namespace {

using namespace sampling;

struct Candidate {
  float v;
  int32_t id;
  uint64_t w;  // fixed-point mass
};

// Most likely first; lower id first on ties.
bool before(const Candidate& a, const Candidate& b) {
  return a.v > b.v || (a.v == b.v && a.id < b.id);
}

int32_t argmax(std::span<const float> row) {
  int32_t best = 0;
  float best_v = -INFINITY;
  for (size_t j = 0; j < row.size(); ++j)
    if (row[j] > best_v) best_v = row[j], best = static_cast<int32_t>(j);
  return best;
}

float max_of(std::span<const float> row) {
  float m = -INFINITY;
  for (float v : row) m = v > m ? v : m;
  return m;
}

// Moves c into (v desc, id asc) order from the front, a growing chunk at a time, until the running
// mass reaches target; returns the index of the candidate that reaches it.
size_t crossing(std::vector<Candidate>& c, uint64_t target) {
  uint64_t cum = 0;
  size_t done = 0, chunk = 256;
  while (done < c.size()) {
    const size_t end = std::min(c.size(), done + chunk);
    const auto first = c.begin() + static_cast<std::ptrdiff_t>(done),
               last = c.begin() + static_cast<std::ptrdiff_t>(end);
    if (end < c.size()) std::nth_element(first, last, c.end(), before);
    std::sort(first, last, before);
    for (size_t i = done; i < end; ++i) {
      cum += c[i].w;
      if (cum >= target) return i;
    }
    done = end;
    chunk *= 4;
  }
  return c.size() - 1;  // not reached: the target is at most the total
}

enum class Kept { kArgmax, kTokenZero, kAll, kList };

// Which tokens the draw chooses among; kList: those in `kept`.
Kept kept_set(std::span<const float> row, const SamplingRowParams& p, std::vector<Candidate>& kept) {
  if (!(p.temperature > 0.0f)) return Kept::kArgmax;
  const float max = max_of(row);
  if (!(max > -INFINITY)) return Kept::kTokenZero;
  const int64_t vocab = static_cast<int64_t>(row.size());
  const bool use_k = p.top_k > 0 && p.top_k < vocab;
  const bool use_p = p.top_p < 1.0f;
  const bool use_min = p.min_p > 0.0f;
  if (!use_k && !use_p && !use_min) return Kept::kAll;
  float kth = -INFINITY;
  if (use_k) {
    thread_local std::vector<float> values;
    values.assign(row.begin(), row.end());
    std::nth_element(values.begin(), values.begin() + (p.top_k - 1), values.end(), std::greater<float>());
    kth = values[static_cast<size_t>(p.top_k - 1)];
  }
  const float t = p.temperature, scaled_max = max / t;
  kept.clear();
  for (int64_t j = 0; j < vocab; ++j) {
    const float v = row[static_cast<size_t>(j)];
    if (use_k && !(v >= kth)) continue;
    const float w = relative_weight(v, t, scaled_max);
    if (use_min && !(w >= p.min_p)) continue;
    kept.push_back({v, static_cast<int32_t>(j), fixed_weight(w)});
  }
  if (use_p) {
    uint64_t total = 0;
    for (const Candidate& c : kept) total += c.w;
    kept.resize(crossing(kept, top_p_target(p.top_p, total)) + 1);
  }
  return Kept::kList;
}

}  // namespace

void penalized_row(std::span<const float> raw, const SamplingRowParams& p, std::span<const int32_t> entries,
                   std::vector<float>& row) {
  row.resize(raw.size());
  for (size_t j = 0; j < raw.size(); ++j) row[j] = sanitize(raw[j]);
  for (size_t e = 0; e + 1 < entries.size(); e += 2) {
    const int32_t token = entries[e];
    const uint32_t word = static_cast<uint32_t>(entries[e + 1]);
    STRATA_CHECK(token >= 0 && static_cast<size_t>(token) < raw.size(),
                 "penalty entry token {} outside the vocabulary of {}", token, raw.size());
    float& l = row[static_cast<size_t>(token)];
    l = penalize(l, word & ~kInPromptBit, (word & kInPromptBit) != 0, p.repetition_penalty,
                 p.frequency_penalty, p.presence_penalty);
  }
}

std::vector<int32_t> kept_tokens(std::span<const float> row, const SamplingRowParams& p) {
  std::vector<Candidate> kept;
  switch (kept_set(row, p, kept)) {
    case Kept::kArgmax:
      return {argmax(row)};
    case Kept::kTokenZero:
      return {0};
    case Kept::kAll: {
      std::vector<int32_t> all(row.size());
      std::iota(all.begin(), all.end(), 0);
      return all;
    }
    case Kept::kList:
      break;
  }
  std::vector<int32_t> ids;
  for (const Candidate& c : kept) ids.push_back(c.id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

int32_t draw(std::span<const float> row, const SamplingRowParams& p) {
  thread_local std::vector<Candidate> kept;
  const Kept how = kept_set(row, p, kept);
  if (how == Kept::kArgmax) return argmax(row);
  if (how == Kept::kTokenZero) return 0;
  const float t = p.temperature;
  float best = -INFINITY;
  int32_t best_id = INT32_MAX;
  auto consider = [&](float v, int32_t j) {
    const float key = gumbel_key(v, t, p.seed, j);
    if (key > best || (key == best && j < best_id)) best = key, best_id = j;
  };
  if (how == Kept::kAll) {
    const float max = max_of(row);
    for (size_t j = 0; j < row.size(); ++j)
      if (may_win(row[j], max, t)) consider(row[j], static_cast<int32_t>(j));
  } else {
    for (const Candidate& c : kept) consider(c.v, c.id);
  }
  return best_id == INT32_MAX ? 0 : best_id;
}

Logprobs raw_logprobs(std::span<const float> raw, int32_t token, int num_top) {
  const size_t vocab = raw.size();
  STRATA_CHECK(token >= 0 && static_cast<size_t>(token) < vocab, "token {} outside the vocabulary of {}",
               token, vocab);
  float max = -INFINITY;
  for (float v : raw) max = std::max(max, sanitize(v));
  double sum = 0.0;  // as logprobs_for: f32 exponentials, an f64 sum
  const float value = sanitize(raw[static_cast<size_t>(token)]);
  int64_t rank = 0;
  for (float x : raw) {
    const float v = sanitize(x);
    sum += std::exp(v - max);
    rank += v >= value ? 1 : 0;
  }
  const float log_sum = static_cast<float>(std::log(sum));
  auto logprob = [&](float v) { return (v - max) - log_sum; };
  Logprobs out;
  out.logprob = logprob(value);
  out.rank = static_cast<int32_t>(rank);
  const size_t n = std::min(static_cast<size_t>(std::max(num_top, 0)), vocab);
  if (n > 0) {
    std::vector<int32_t> ids(vocab);
    std::iota(ids.begin(), ids.end(), 0);
    auto better = [&](int32_t a, int32_t b) {
      const float va = sanitize(raw[static_cast<size_t>(a)]), vb = sanitize(raw[static_cast<size_t>(b)]);
      return va > vb || (va == vb && a < b);
    };
    std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n), ids.end(), better);
    for (size_t i = 0; i < n; ++i) {
      out.top_ids.push_back(ids[i]);
      out.top_logprobs.push_back(logprob(sanitize(raw[static_cast<size_t>(ids[i])])));
    }
  }
  return out;
}

}  // namespace cpu_sampling

void CpuBackend::sample_filtered(const TensorView& logits, const TensorView& params,
                                 const TensorView& offsets, const TensorView& entries, const TensorView& ids,
                                 const TensorView& logprob_ids, const TensorView& logprobs) {
  check_sample_filtered_args(logits, params, offsets, ids);
  const int64_t m = ids.numel(), vocab = logits.shape.back();
  constexpr int64_t kWidth = 1 + kMaxSampleLogprobs;
  const int32_t* off = offsets.as<int32_t>();
  const int32_t* ent = m > 0 && off[m] > 0 ? entries.as<int32_t>() : nullptr;
#pragma omp parallel for schedule(dynamic, 1) if (m > 1)
  for (int64_t i = 0; i < m; ++i) {
    SamplingRowParams p;
    std::memcpy(&p, static_cast<const char*>(params.data) + i * sizeof(SamplingRowParams), sizeof(p));
    const std::span<const float> raw(logits.as<float>() + i * vocab, static_cast<size_t>(vocab));
    const std::span<const int32_t> row_entries =
        ent ? std::span<const int32_t>(ent + 2 * off[i], static_cast<size_t>(2 * (off[i + 1] - off[i])))
            : std::span<const int32_t>();
    thread_local std::vector<float> row;
    cpu_sampling::penalized_row(raw, p, row_entries, row);
    const int32_t token = cpu_sampling::draw(row, p);
    ids.as<int32_t>()[i] = token;
    if (p.num_logprobs < 0) continue;
    const auto lp = cpu_sampling::raw_logprobs(raw, token, std::min(p.num_logprobs, kMaxSampleLogprobs));
    int32_t* lid = logprob_ids.as<int32_t>() + i * kWidth;
    float* lv = logprobs.as<float>() + i * kWidth;
    lid[0] = lp.rank;
    lv[0] = lp.logprob;
    for (size_t j = 0; j < lp.top_ids.size(); ++j) {
      lid[1 + j] = lp.top_ids[j];
      lv[1 + j] = lp.top_logprobs[j];
    }
  }
}

}  // namespace strata
