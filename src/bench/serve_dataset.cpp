#include "bench/serve_dataset.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "bench/serve_http.h"

namespace strata::bench {

using nlohmann::json;

Result<std::vector<int64_t>> ServerTokenizer::tokenize(const std::string& text, bool add_special_tokens) {
  json body = {{"model", model_}, {"prompt", text}, {"add_special_tokens", add_special_tokens}};
  STRATA_TRY(json r, client_.post_json("/tokenize", body));
  if (!r.contains("tokens") || !r["tokens"].is_array())
    return make_error("/tokenize: no \"tokens\" in the response");
  std::vector<int64_t> ids;
  ids.reserve(r["tokens"].size());
  for (const json& t : r["tokens"]) {
    if (!t.is_number_integer()) return make_error("/tokenize: \"tokens\" holds a non-integer");
    ids.push_back(t.get<int64_t>());
  }
  return ids;
}

Result<std::string> ServerTokenizer::detokenize(const std::vector<int64_t>& ids) {
  json body = {{"model", model_}, {"tokens", ids}};
  STRATA_TRY(json r, client_.post_json("/detokenize", body));
  if (!r.contains("prompt") || !r["prompt"].is_string())
    return make_error("/detokenize: no \"prompt\" in the response");
  return r["prompt"].get<std::string>();
}

namespace {

// Runs fn(0..n-1) on up to num_workers threads; returns the first error.
Status parallel_for(int64_t n, int num_workers, const std::function<Status(int64_t)>& fn) {
  std::atomic<int64_t> next{0};
  std::mutex mu;
  std::optional<Error> first_error;
  auto work = [&] {
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error) return;
      }
      const int64_t i = next.fetch_add(1);
      if (i >= n) return;
      Status st = fn(i);
      if (!st.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (!first_error) first_error = st.error();
      }
    }
  };
  const int64_t threads = std::clamp<int64_t>(num_workers, 1, std::max<int64_t>(n, 1));
  std::vector<std::thread> pool;
  for (int64_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (first_error) return *first_error;
  return ok_status();
}

bool looks_like_markup(const std::string& s) {
  return s.size() >= 3 && s.front() == '<' && s.back() == '>' &&
         s.find_first_of(" \t\r\n") == std::string::npos;
}

// Decode, re-encode, then truncate or pad until the text is target tokens (vLLM's
// gen_prompt_decode_to_target_len with max_retry 10). Returns the text and its token ids.
Result<std::pair<std::string, std::vector<int64_t>>> decode_to_target_len(
    BenchTokenizer& tok, std::vector<int64_t> ids, int64_t target, const std::vector<int64_t>& pad_pool,
    std::mt19937_64& rng) {
  int remaining = 10;
  std::string text;
  while (true) {
    STRATA_TRY(text, tok.detokenize(ids));
    STRATA_TRY(ids, tok.tokenize(text, false));
    const int64_t len = static_cast<int64_t>(ids.size());
    if (remaining <= 0 || len == target) break;
    if (len < target) {
      std::uniform_int_distribution<size_t> pick(0, pad_pool.size() - 1);
      while (static_cast<int64_t>(ids.size()) < target) ids.push_back(pad_pool[pick(rng)]);
    } else {
      ids.resize(static_cast<size_t>(target));
    }
    --remaining;
  }
  return std::make_pair(std::move(text), std::move(ids));
}

}  // namespace

Result<VocabInfo> discover_vocab(BenchTokenizer& tok) {
  auto text_of = [&](int64_t id) -> std::optional<std::string> {
    auto r = tok.detokenize({id});
    if (!r.ok() || r->empty()) return std::nullopt;
    return std::move(*r);
  };
  if (!text_of(0)) return make_error("/detokenize does not accept token id 0; cannot sample random prompts");
  // Gallop up to the first refused id, then bisect: [0, hi) detokenizes.
  int64_t lo = 0, hi = 1;
  constexpr int64_t kMaxIds = int64_t{1} << 24;
  while (hi < kMaxIds && text_of(hi)) {
    lo = hi;
    hi *= 2;
  }
  if (hi >= kMaxIds)
    return make_error("/detokenize accepts every id up to {}; cannot bound the vocabulary", kMaxIds);
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    (text_of(mid) ? lo : hi) = mid;
  }
  VocabInfo v;
  v.num_ids = hi;
  v.num_ordinary = hi;
  // Added special tokens ("<|eot_id|>", "<｜place▁holder▁no▁1｜>") sit at the top: leave that run out.
  auto markup = [&](int64_t id) {
    auto t = text_of(id);
    return t && looks_like_markup(*t);
  };
  if (markup(v.num_ids - 1)) {
    int64_t special = v.num_ids - 1, ordinary = -1;
    for (int64_t step = 1; special - step >= 0; step *= 2) {
      if (!markup(special - step)) {
        ordinary = special - step;
        break;
      }
      special -= step;
    }
    while (special - ordinary > 1) {
      const int64_t mid = ordinary + (special - ordinary) / 2;
      (markup(mid) ? special : ordinary) = mid;
    }
    if (special >= v.num_ids / 2) v.num_ordinary = special;  // otherwise the heuristic misfired
  }
  return v;
}

Result<std::vector<SampleRequest>> sample_random_requests(BenchTokenizer& tok,
                                                          const RandomDatasetOptions& o) {
  if (o.num_prompts < 1) return make_error("--num-prompts must be at least 1");
  if (!(o.range_ratio >= 0.0 && o.range_ratio < 1.0))
    return make_error("--random-range-ratio must be in [0, 1)");
  if (o.prefix_len < 0 || o.input_len < 0 || o.output_len < 0)
    return make_error("random lengths must be >= 0");
  // Special tokens the server adds to a prompt (BOS): counted in the input length, never sampled.
  STRATA_TRY(std::vector<int64_t> specials, tok.tokenize("", true));
  const int64_t num_special = static_cast<int64_t>(specials.size());
  const int64_t real_input_len = std::max<int64_t>(0, o.input_len - num_special);
  const double r = o.range_ratio;
  const int64_t input_low = static_cast<int64_t>(std::floor(real_input_len * (1 - r)));
  const int64_t input_high = static_cast<int64_t>(std::ceil(real_input_len * (1 + r)));
  const int64_t output_low = std::max<int64_t>(static_cast<int64_t>(std::floor(o.output_len * (1 - r))), 1);
  const int64_t output_high = std::max<int64_t>(static_cast<int64_t>(std::ceil(o.output_len * (1 + r))), 1);
  if (o.prefix_len + input_low < 1)
    return make_error(
        "--random-input-len is too small: with {} special token(s) and --random-range-ratio {} the shortest "
        "prompt would have {} tokens",
        num_special, r, o.prefix_len + input_low);

  int64_t vocab = o.vocab_size;
  if (vocab <= 0) {
    STRATA_TRY(VocabInfo v, discover_vocab(tok));
    vocab = v.num_ordinary;
  }
  std::vector<int64_t> allowed;
  allowed.reserve(static_cast<size_t>(vocab));
  for (int64_t id = 0; id < vocab; ++id)
    if (std::find(specials.begin(), specials.end(), id) == specials.end()) allowed.push_back(id);
  if (allowed.empty()) return make_error("no ordinary token ids to sample random prompts from");

  std::mt19937_64 rng(o.seed);
  const size_t n = static_cast<size_t>(o.num_prompts);
  std::vector<int64_t> input_lens(n), output_lens(n), offsets(n);
  std::uniform_int_distribution<int64_t> in_dist(input_low, input_high), out_dist(output_low, output_high),
      off_dist(0, vocab - 1);
  for (auto& x : input_lens) x = in_dist(rng);
  for (auto& x : output_lens) x = out_dist(rng);
  for (auto& x : offsets) x = off_dist(rng);

  std::vector<int64_t> prefix;
  if (o.prefix_len > 0) {
    std::uniform_int_distribution<size_t> pick(0, allowed.size() - 1);
    for (int64_t i = 0; i < o.prefix_len; ++i) prefix.push_back(allowed[pick(rng)]);
    STRATA_TRY(auto fixed, decode_to_target_len(tok, prefix, o.prefix_len, allowed, rng));
    prefix = std::move(fixed.second);
  }

  std::vector<SampleRequest> out(n);
  const uint64_t seed = o.seed;
  Status st = parallel_for(o.num_prompts, o.num_workers, [&](int64_t i) -> Status {
    const size_t k = static_cast<size_t>(i);
    std::vector<int64_t> ids = prefix;
    const uint64_t m = allowed.size();
    for (int64_t j = 0; j < input_lens[k]; ++j)
      ids.push_back(allowed[static_cast<size_t>(static_cast<uint64_t>(offsets[k] + i + j) % m)]);
    // Padding draws come from a per-request stream so the result does not depend on thread timing.
    std::mt19937_64 pad_rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(i) + 1);
    const int64_t target = static_cast<int64_t>(prefix.size()) + input_lens[k];
    STRATA_TRY(auto fixed, decode_to_target_len(tok, std::move(ids), target, allowed, pad_rng));
    out[k] = SampleRequest{std::move(fixed.first), static_cast<int64_t>(fixed.second.size()), output_lens[k]};
    return ok_status();
  });
  if (!st.ok()) return st.error().with_context("random dataset");
  return out;
}

bool is_valid_sharegpt_pair(int64_t prompt_len, int64_t output_len) {
  constexpr int64_t kMinLen = 4, kMaxPromptLen = 1024, kMaxTotalLen = 2048;
  return prompt_len >= kMinLen && output_len >= kMinLen && prompt_len <= kMaxPromptLen &&
         prompt_len + output_len <= kMaxTotalLen;
}

Result<std::vector<SampleRequest>> sample_sharegpt_requests(BenchTokenizer& tok, const ShareGptOptions& o) {
  if (o.path.empty()) return make_error("--dataset-path is required with --dataset-name sharegpt");
  if (o.num_prompts < 1) return make_error("--num-prompts must be at least 1");
  std::ifstream f(o.path, std::ios::binary);
  if (!f) return make_error("{}: cannot open", o.path);
  std::stringstream ss;
  ss << f.rdbuf();
  json data = json::parse(ss.str(), nullptr, false);
  if (data.is_discarded() || !data.is_array())
    return make_error("{}: not a JSON list of conversations", o.path);

  std::vector<std::pair<std::string, std::string>> pairs;
  for (const json& entry : data) {
    if (!entry.is_object() || !entry.contains("conversations")) continue;
    const json& turns = entry["conversations"];
    if (!turns.is_array() || turns.size() < 2) continue;
    auto value_of = [](const json& turn) -> std::optional<std::string> {
      if (!turn.is_object() || !turn.contains("value") || !turn["value"].is_string()) return std::nullopt;
      return turn["value"].get<std::string>();
    };
    auto prompt = value_of(turns[0]);
    auto completion = value_of(turns[1]);
    if (prompt && completion) pairs.emplace_back(std::move(*prompt), std::move(*completion));
  }
  data = json();
  std::mt19937_64 rng(o.seed);
  std::shuffle(pairs.begin(), pairs.end(), rng);

  std::vector<SampleRequest> samples;
  size_t pos = 0;
  const size_t wanted = static_cast<size_t>(o.num_prompts);
  while (samples.size() < wanted && pos < pairs.size()) {
    // Tokenize a window concurrently, then take the valid pairs in order.
    const size_t window = std::min(pairs.size() - pos, std::max<size_t>(2 * (wanted - samples.size()), 64));
    std::vector<std::optional<SampleRequest>> got(window);
    Status st = parallel_for(static_cast<int64_t>(window), o.num_workers, [&](int64_t w) -> Status {
      const auto& [prompt, completion] = pairs[pos + static_cast<size_t>(w)];
      STRATA_TRY(auto prompt_ids, tok.tokenize(prompt, true));
      STRATA_TRY(auto completion_ids, tok.tokenize(completion, true));
      const auto prompt_len = static_cast<int64_t>(prompt_ids.size());
      const auto output_len = static_cast<int64_t>(completion_ids.size());
      if (is_valid_sharegpt_pair(prompt_len, output_len))
        got[static_cast<size_t>(w)] = SampleRequest{prompt, prompt_len, output_len};
      return ok_status();
    });
    if (!st.ok()) return st.error().with_context("sharegpt dataset");
    for (auto& g : got)
      if (g && samples.size() < wanted) samples.push_back(std::move(*g));
    pos += window;
  }
  if (samples.empty())
    return make_error("{}: no usable conversation (needs 2 turns within the length limits)", o.path);
  if (samples.size() < wanted) {
    // vLLM's maybe_oversample_requests: draw among the valid ones again.
    std::uniform_int_distribution<size_t> pick(0, samples.size() - 1);
    const size_t have = samples.size();
    while (samples.size() < wanted) samples.push_back(samples[pick(rng) % have]);
  }
  return samples;
}

}  // namespace strata::bench
