#include "engine/offline_generator.h"

#include <algorithm>
#include <deque>
#include <random>
#include <span>

#include "engine/block_allocator.h"
#include "engine/sampler.h"

namespace strata {

namespace {
struct Seq {
  size_t index;
  std::vector<int32_t> tokens;  // prompt + output
  size_t prompt_len;
  size_t computed = 0;          // tokens whose KV is in the cache
  int64_t max_tokens;
  std::vector<int32_t> blocks;
  std::mt19937_64 rng;
};
}  // namespace

OfflineGenerator::OfflineGenerator(ModelRunner& runner, int32_t num_blocks, const ModelConfig& model,
                                   GeneratorConfig config)
    : runner_(runner), num_blocks_(num_blocks), model_(model), config_(config) {}

Result<std::vector<GenerationResult>> OfflineGenerator::generate(const std::vector<GenerationRequest>& requests) {
  const int32_t bs = runner_.block_size();
  auto blocks_for = [&](int64_t tokens) { return static_cast<int32_t>((tokens + bs - 1) / bs); };
  std::deque<Seq> waiting;
  for (size_t i = 0; i < requests.size(); ++i) {
    const auto& r = requests[i];
    const int64_t len = static_cast<int64_t>(r.prompt_ids.size());
    if (len == 0) return make_error("prompt {}: empty prompt", i);
    if (len >= config_.max_model_len)
      return make_error("prompt {}: {} tokens, longer than max_model_len {} allows (at most {})", i, len,
                        config_.max_model_len, config_.max_model_len - 1);
    for (int32_t id : r.prompt_ids)
      if (id < 0 || id >= model_.vocab_size)
        return make_error("prompt {}: token id {} is outside the vocabulary [0, {})", i, id, model_.vocab_size);
    if (r.params.max_tokens < 1) return make_error("prompt {}: max_tokens must be at least 1", i);
    Seq s{i, r.prompt_ids, r.prompt_ids.size(), 0,
          std::min<int64_t>(r.params.max_tokens, config_.max_model_len - len), {}, {}};
    s.rng.seed(r.params.seed ? *r.params.seed : config_.seed * 1000003ull + i);
    if (blocks_for(len + s.max_tokens) > num_blocks_)
      return make_error("prompt {}: needs {} KV blocks for {} tokens, the cache has {}", i,
                        blocks_for(len + s.max_tokens), len + s.max_tokens, num_blocks_);
    waiting.push_back(std::move(s));
  }
  std::vector<GenerationResult> results(requests.size());
  BlockAllocator allocator(num_blocks_);
  std::vector<Seq> running;
  while (!waiting.empty() || !running.empty()) {
    // Admit prompts in order while the budget, the sequence limit and the blocks allow.
    int64_t budget = config_.max_num_batched_tokens - static_cast<int64_t>(running.size());
    while (!waiting.empty() && static_cast<int32_t>(running.size()) < config_.max_num_seqs) {
      Seq& s = waiting.front();
      const int64_t need = static_cast<int64_t>(s.prompt_len);
      if (need > budget && !(running.empty() && need > config_.max_num_batched_tokens)) break;
      auto blocks = allocator.allocate(blocks_for(need + s.max_tokens));
      if (!blocks) break;
      s.blocks = std::move(*blocks);
      budget -= need;
      running.push_back(std::move(s));
      waiting.pop_front();
      if (budget <= 0) break;
    }
    std::vector<SeqChunk> chunks;
    for (Seq& s : running) {
      SeqChunk c;
      c.tokens = std::span<const int32_t>(s.tokens).subspan(s.computed);
      c.start = static_cast<int32_t>(s.computed);
      c.block_table = s.blocks;
      chunks.push_back(c);
    }
    std::vector<float> logits = runner_.step(chunks);
    const size_t vocab = static_cast<size_t>(model_.vocab_size);
    std::vector<Seq> still;
    for (size_t i = 0; i < running.size(); ++i) {
      Seq& s = running[i];
      s.computed = s.tokens.size();
      const SamplingParams& p = requests[s.index].params;
      int32_t tok = sample_token(std::span<const float>(logits).subspan(i * vocab, vocab), p, s.rng);
      s.tokens.push_back(tok);
      const int64_t out_len = static_cast<int64_t>(s.tokens.size() - s.prompt_len);
      bool eos = !p.ignore_eos && std::find(model_.eos_token_ids.begin(), model_.eos_token_ids.end(), tok) !=
                                      model_.eos_token_ids.end();
      bool stop_id = std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), tok) != p.stop_token_ids.end();
      std::string reason;
      if (eos || stop_id) reason = "stop";
      else if (out_len >= s.max_tokens) reason = "length";
      if (reason.empty()) {
        still.push_back(std::move(s));
        continue;
      }
      GenerationResult& r = results[s.index];
      r.prompt_ids.assign(s.tokens.begin(), s.tokens.begin() + static_cast<std::ptrdiff_t>(s.prompt_len));
      r.output_ids.assign(s.tokens.begin() + static_cast<std::ptrdiff_t>(s.prompt_len), s.tokens.end());
      r.finish_reason = reason;
      allocator.free(s.blocks);
    }
    running = std::move(still);
  }
  STRATA_CHECK(allocator.num_free() == num_blocks_, "KV blocks leaked");
  return results;
}

}  // namespace strata
