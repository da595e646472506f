#include "bench/throughput.h"

#include <chrono>
#include <random>

namespace strata {

Result<ThroughputResult> run_throughput(Engine& engine, int64_t vocab_size, const ThroughputOptions& o) {
  if (o.num_prompts < 1 || o.input_len < 1 || o.output_len < 1)
    return make_error("--num-prompts, --input-len and --output-len must be at least 1");
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int32_t> tok(0, static_cast<int32_t>(vocab_size - 1));
  std::vector<EngineRequest> reqs(static_cast<size_t>(o.num_prompts));
  for (int64_t i = 0; i < o.num_prompts; ++i) {
    EngineRequest& r = reqs[static_cast<size_t>(i)];
    r.id = "bench-" + std::to_string(i);
    for (int64_t t = 0; t < o.input_len; ++t) r.prompt_ids.push_back(tok(rng));
    r.params.temperature = 1.0f;
    r.params.top_p = 1.0f;
    r.params.max_tokens = o.output_len;
    r.params.ignore_eos = true;
  }
  ThroughputResult res;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (auto& r : reqs) {
    STRATA_TRY(auto s, engine.submit(r));
    streams.push_back(std::move(s));
  }
  for (auto& s : streams) {
    while (!s->done())
      for (const StreamEvent& e : s->next()) res.output_tokens += static_cast<int64_t>(e.token_ids.size());
  }
  res.elapsed_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  res.num_requests = o.num_prompts;
  res.input_tokens = o.num_prompts * o.input_len;
  return res;
}

}  // namespace strata
