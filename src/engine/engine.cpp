#include "engine/engine.h"

#include <omp.h>

#include <algorithm>
#include <chrono>

#include "core/logging.h"

namespace strata {

namespace {
double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

struct Engine::Seq {
  Request req;
  std::shared_ptr<RequestStream> stream;
  int index = 0;
  std::unique_ptr<SequenceText> text;
  std::vector<SampleLogprobs> prompt_logprobs;
  bool first_token_sent = false;
  bool abort_pending = false;   // aborted while a step of it was in flight
  bool finish_pending = false;  // its final event is out; released when the step it is in is back
  int64_t num_cached_tokens = -1;  // known at first scheduling
  RequestTimes times;
};

Engine::Engine(Executor& runner, const Tokenizer& tokenizer, const ModelConfig& model, EngineConfig config)
    : runner_(runner),
      tokenizer_(tokenizer),
      model_(model),
      config_(config),
      kv_(config.num_blocks, config.block_size, config.enable_prefix_caching),
      scheduler_(
          [&] {
            SchedulerConfig c = config.scheduler;  // a pipeline takes steps of ~1/depth of the requests
            c.pipeline_depth = runner.max_in_flight();
            return c;
          }(),
          kv_) {
  STRATA_CHECK(config.scheduler.max_model_len > 0 && config.num_blocks > 0, "engine needs max_model_len and KV blocks");
  ahead_ = config.async_scheduling && runner.overlaps() && runner.runs_ahead() && runner.max_in_flight() == 1;
  depth_ = ahead_ ? 2 : runner.max_in_flight();
  STRATA_CHECK(config.scheduler.enable_chunked_prefill ||
                   config.scheduler.max_num_batched_tokens >= config.scheduler.max_model_len,
               "without chunked prefill max_num_batched_tokens must be >= max_model_len");
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Result<std::shared_ptr<RequestStream>> Engine::submit(EngineRequest r) {
  const int64_t len = static_cast<int64_t>(r.prompt_ids.size());
  const int64_t max_len = config_.scheduler.max_model_len;
  if (len == 0) return make_error("the prompt is empty");
  if (len >= max_len)
    return make_error("This model's maximum context length is {} tokens. However, your request has {} input tokens. "
                      "Please reduce the length of the input messages.", max_len, len);
  for (int32_t id : r.prompt_ids)
    if (id < 0 || id >= model_.vocab_size)
      return make_error("token id {} is out of vocabulary (vocab size {})", id, model_.vocab_size);
  STRATA_RETURN_IF_ERROR(validate(r.params, model_.vocab_size, config_.max_logprobs));
  // Each sample must fit in the KV cache alone, so the oldest running one can always finish.
  const int64_t capacity = static_cast<int64_t>(config_.num_blocks) * config_.block_size;
  const int64_t need = std::min(len + r.params.max_tokens, max_len);
  if (need > capacity)
    return make_error("the request needs KV cache for {} tokens (prompt {} + max_tokens {}), more than the cache "
                      "holds ({} tokens); lower max_tokens or raise --kv-cache-memory", need, len,
                      r.params.max_tokens, capacity);
  normalize_sampling_params(r.params);
  auto stream = std::make_shared<RequestStream>(r.params.n);
  {
    std::lock_guard<std::mutex> lock(mu_);
    incoming_.emplace_back(std::move(r), stream);
  }
  cv_.notify_all();
  return stream;
}

void Engine::abort(const std::string& id) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    aborts_.push_back(id);
  }
  cv_.notify_all();
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Engine::start(EngineRequest r, std::shared_ptr<RequestStream> stream) {
  const double t = now_s();
  std::vector<RequestKey>& keys = by_id_[r.id];
  for (int i = 0; i < r.params.n; ++i) {
    auto s = std::make_unique<Seq>();
    Request& q = s->req;
    q.key = next_key_++;
    q.id = r.id;
    q.tokens = r.prompt_ids;
    q.prompt_len = r.prompt_ids.size();
    q.params = r.params;
    q.max_tokens = std::min<int64_t>(r.params.max_tokens, config_.scheduler.max_model_len - q.num_tokens());
    // Never reallocated: steps in flight read spans of it on the runner's thread while the engine
    // appends (async scheduling's placeholders).
    q.tokens.reserve(static_cast<size_t>(q.num_tokens() + q.max_tokens + 1));
    q.priority = r.priority;
    q.arrival = q.key;
    q.cache_salt = r.cache_salt;
    q.skip_prefix_cache = r.params.prompt_logprobs.has_value();
    q.prompt_logits = r.params.prompt_logprobs.has_value();
    q.rng.seed(r.params.seed ? *r.params.seed + static_cast<uint64_t>(i) : config_.seed * 0x9e3779b97f4a7c15ull + q.key);
    s->stream = stream;
    s->index = i;
    s->text = std::make_unique<SequenceText>(tokenizer_, std::span<const int32_t>(q.tokens).first(q.prompt_len),
                                             s->req.params);
    s->times.arrival = t;
    keys.push_back(q.key);
    scheduler_.add(&s->req);
    seqs_[q.key] = std::move(s);
  }
}

void Engine::finish_event(Seq& s, const std::string& reason, StreamEvent& e) {
  s.times.finished = now_s();
  e.index = s.index;
  if (e.time == 0) e.time = s.times.finished;
  e.finished = true;
  e.finish_reason = reason;
  e.times = s.times;
  e.num_prompt_tokens = static_cast<int64_t>(s.req.prompt_len);
  e.num_output_tokens = s.req.num_output();
  e.num_cached_tokens = std::max<int64_t>(0, s.num_cached_tokens);
}

void Engine::finish(Seq& s, const std::string& reason, StreamEvent e) {
  finish_event(s, reason, e);
  s.stream->push(std::move(e));
  release(s);
}

void Engine::release(Seq& s) {
  scheduler_.remove(&s.req);  // (again, harmlessly, if pass 1 already did)
  auto& keys = by_id_[s.req.id];
  keys.erase(std::remove(keys.begin(), keys.end(), s.req.key), keys.end());
  if (keys.empty()) by_id_.erase(s.req.id);
  seqs_.erase(s.req.key);  // s is dangling after this
}

void Engine::loop() {
  while (true) {
    std::vector<std::pair<EngineRequest, std::shared_ptr<RequestStream>>> incoming;
    std::vector<std::string> aborts;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !incoming_.empty() || !aborts_.empty() || has_work(); });
      if (stop_) break;
      incoming.swap(incoming_);
      aborts.swap(aborts_);
    }
    for (auto& [r, stream] : incoming) start(std::move(r), std::move(stream));
    for (const auto& id : aborts) {
      auto it = by_id_.find(id);
      if (it == by_id_.end()) continue;
      std::vector<RequestKey> keys = it->second;
      for (RequestKey k : keys) {
        Seq& s = *seqs_.at(k);
        if (s.finish_pending) continue;             // already finished for the client
        if (s.req.in_flight > 0) {  // its blocks are in use until its steps are back
          s.abort_pending = true;
          scheduler_.remove(&s.req, /*free_blocks=*/false);
        } else {
          finish(s, "abort", StreamEvent{});
        }
      }
    }
    if (has_work()) {
      // Keep up to depth_ steps going (a pipeline's stages each work on one; async scheduling runs one
      // ahead), then take the oldest one's output.
      launch_more();
      if (!in_flight_.empty()) complete();
    }
    std::lock_guard<std::mutex> lock(mu_);
    stats_ = counters_;
    // Running: every sample not waiting, including those whose final event is out but whose blocks a
    // step in flight still holds.
    stats_.num_running = static_cast<int64_t>(seqs_.size() - scheduler_.num_waiting());
    stats_.num_waiting = static_cast<int64_t>(scheduler_.num_waiting());
    stats_.kv_usage = kv_.usage();
    stats_.prefix_queries = kv_.prefix_queries();
    stats_.prefix_hits = kv_.prefix_hits();
    stats_.num_preemptions = scheduler_.num_preemptions();
  }
  // Shutting down: steps in flight finish (launching no more), then every unfinished sample ends as
  // aborted.
  draining_ = true;
  while (!in_flight_.empty()) complete();
  std::vector<RequestKey> keys;
  for (auto& [k, s] : seqs_) keys.push_back(k);
  for (RequestKey k : keys) finish(*seqs_.at(k), "abort", StreamEvent{});
}

// A launched step: what complete() needs once its output is back (the chunks' spans point into
// `tables` and into requests that no other step touches while this one is in flight).
struct Engine::InFlight {
  StepPlan plan;
  std::vector<std::vector<int32_t>> tables;
  std::vector<SeqChunk> chunks;
  std::future<StepOutput> output;
};

void Engine::launch_more() {
  while (static_cast<int>(in_flight_.size()) < depth_) {
    // A step ahead of one in flight only when no running request waits for that one: else the waiting
    // request would make every other step only.
    if (ahead_ && !in_flight_.empty()) {
      const auto& running = scheduler_.running();
      if (std::any_of(running.begin(), running.end(), [](const Request* r) { return r->awaits_step; })) return;
    }
    if (!launch()) return;
  }
}

bool Engine::launch() {
  StepPlan plan = scheduler_.schedule();
  if (plan.empty()) return false;
  const double t = now_s();
  const uint64_t serial = ++step_serial_;
  if (ahead_ && !in_flight_.empty()) ++counters_.num_steps_ahead;
  auto step = std::make_unique<InFlight>();
  std::vector<std::vector<int32_t>>& tables = step->tables;
  std::vector<SeqChunk>& chunks = step->chunks;
  tables.resize(plan.chunks.size());
  chunks.resize(plan.chunks.size());
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    const ScheduledChunk& c = plan.chunks[i];
    Seq& s = *seqs_.at(c.request->key);
    if (s.num_cached_tokens < 0) {
      s.num_cached_tokens = c.start;  // prefix-cache hit at first admission
      s.times.first_scheduled = t;
    }
    tables[i] = kv_.block_ids(c.request->key);
    SeqChunk& sc = chunks[i];
    sc.tokens = std::span<const int32_t>(c.request->tokens).subspan(static_cast<size_t>(c.start),
                                                                      static_cast<size_t>(c.num_tokens));
    if (c.start >= c.request->num_known()) {  // its token is a placeholder: the previous step draws it
      STRATA_CHECK(c.num_tokens == 1 && c.start == c.request->num_known() && c.request->ahead_step + 1 == serial,
                   "request {}: a chunk at {} starts past its {} known tokens", c.request->id, c.start,
                   c.request->num_known());
      sc.token_from = c.request->ahead_chunk;
    }
    sc.start = static_cast<int32_t>(c.start);
    sc.block_table = tables[i];
    sc.want_logits = c.samples();
    sc.all_logits = c.request->params.prompt_logprobs.has_value() &&
                    c.start < static_cast<int64_t>(c.request->prompt_len);
    {
      const Request& q = *c.request;
      const SamplingParams& p = q.params;
      const auto prompt = std::span<const int32_t>(q.tokens).first(q.prompt_len);
      const auto output = q.known_tokens().subspan(q.prompt_len);
      const SamplingContext ctx{prompt, output, model_.eos_token_ids};
      sc.device_sample = sc.want_logits && !sc.all_logits && device_sampling_supports(p, ctx, model_.vocab_size);
      if (sc.device_sample) {
        if (!is_greedy(p)) {
          sc.temperature = p.temperature;
          sc.seed = c.request->rng();  // one number per step from the request's own RNG: batch-independent
          sc.sampling.top_k = p.top_k;
          sc.sampling.top_p = p.top_p;
          sc.sampling.min_p = p.min_p;
        }
        sc.sampling.repetition_penalty = p.repetition_penalty;
        sc.sampling.frequency_penalty = p.frequency_penalty;
        sc.sampling.presence_penalty = p.presence_penalty;
        sc.sampling.num_logprobs = p.logprobs ? *p.logprobs : -1;
        sc.prompt_ids = prompt;
        sc.output_ids = output;
      }
    }
    if (c.start < static_cast<int64_t>(c.request->prompt_len))
      counters_.prompt_tokens += std::min<int64_t>(c.num_tokens, static_cast<int64_t>(c.request->prompt_len) - c.start);
  }
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    ScheduledChunk& c = plan.chunks[i];
    Request& q = *c.request;
    ++q.in_flight;
    // Run ahead: the next step may schedule the request before this one is back when what this one
    // yields is KV only, or a token drawn on the device that the next step can take from there (and
    // count in its penalties: DeviceSampling's extra token); not after the request's last token.
    const bool ahead =
        ahead_ && (!chunks[i].want_logits ||
                   (chunks[i].device_sample && q.num_tokens() + 1 - static_cast<int64_t>(q.prompt_len) < q.max_tokens &&
                    q.num_tokens() + 1 < config_.scheduler.max_model_len));
    if (!ahead) {
      q.awaits_step = true;
      continue;
    }
    c.ran_ahead = true;
    q.num_computed = c.start + c.num_tokens;
    if (chunks[i].want_logits) {
      q.tokens.push_back(-1);  // (within the reserved capacity: spans into it stay valid)
      ++q.num_pending;
      q.ahead_chunk = static_cast<int32_t>(i);
      q.ahead_step = serial;
    }
  }
  step->output = runner_.submit(chunks);
  step->plan = std::move(plan);
  in_flight_.push_back(std::move(step));
  return true;
}

void Engine::complete() {
  std::unique_ptr<InFlight> step = std::move(in_flight_.front());
  in_flight_.pop_front();
  StepOutput out = step->output.get();
  const StepPlan& plan = step->plan;
  const std::vector<SeqChunk>& chunks = step->chunks;
  for (const ScheduledChunk& c : plan.chunks) {
    --c.request->in_flight;
    if (!c.ran_ahead) c.request->awaits_step = false;
  }
  const std::vector<float>& logits = out.logits;
  scheduler_.on_step_done(plan);
  if (config_.on_step) config_.on_step(plan.num_tokens);
  ++counters_.num_steps;
  const size_t vocab = static_cast<size_t>(model_.vocab_size);
  // Host sampling (what the device draw cannot do: allowed_token_ids, logit_bias, min_tokens masks,
  // whole-vocabulary logprobs) is ~1 ms a row at a 128K vocabulary: rows are independent (each request
  // has its own RNG), so they are drawn in parallel first, one Sampler per thread; everything else
  // below stays in order.
  std::vector<SampleResult> drawn(plan.chunks.size());
  {
    std::vector<std::pair<size_t, size_t>> host_rows;  // (chunk, its last logits row)
    size_t r = 0;
    for (size_t i = 0; i < plan.chunks.size(); ++i) {
      r += chunks[i].all_logits ? static_cast<size_t>(plan.chunks[i].num_tokens) : (chunks[i].want_logits ? 1 : 0);
      if (chunks[i].want_logits && !chunks[i].device_sample) host_rows.emplace_back(i, r - 1);
    }
    const int threads = std::max(1, std::min<int>(omp_get_max_threads(), static_cast<int>(host_rows.size())));
    if (static_cast<int>(samplers_.size()) < threads) samplers_.resize(static_cast<size_t>(threads));
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
    for (size_t k = 0; k < host_rows.size(); ++k) {
      const auto [i, last_row] = host_rows[k];
      Request& q = seqs_.at(plan.chunks[i].request->key)->req;
      SamplingContext ctx{std::span<const int32_t>(q.tokens).first(q.prompt_len),
                          std::span<const int32_t>(q.tokens).subspan(q.prompt_len), model_.eos_token_ids};
      drawn[i] = samplers_[static_cast<size_t>(omp_get_thread_num())].sample(
          std::span<const float>(logits.data() + last_row * vocab, vocab), q.params, ctx, q.rng);
    }
  }
  // Pass 1, per sampled row: the token joins its request and the token-level stops (EOS / stop ids
  // after min_tokens, length) retire the request from the scheduler, so the next step can be launched
  // before pass 2 (detokenizing, stop strings, events) — the device runs it meanwhile.
  struct Sampled {
    size_t chunk;
    int32_t token;
    std::string reason;
    bool length = false;
    StreamEvent event;
  };
  std::vector<Sampled> sampled;
  size_t row = 0;
  for (size_t i = 0; i < plan.chunks.size(); ++i) {
    const ScheduledChunk& c = plan.chunks[i];
    Seq& s = *seqs_.at(c.request->key);
    Request& q = s.req;
    const size_t rows = chunks[i].all_logits ? static_cast<size_t>(c.num_tokens) : (chunks[i].want_logits ? 1 : 0);
    std::span<const float> block;
    if (!logits.empty()) block = std::span<const float>(logits.data() + row * vocab, rows * vocab);
    row += rows;
    if (s.finish_pending || s.abort_pending) {  // its final event went out (or it was aborted) meanwhile
      if (q.in_flight > 0) continue;            // the blocks are in use until its last step is back
      if (s.finish_pending) release(s);
      else finish(s, "abort", StreamEvent{});
      continue;
    }
    if (chunks[i].all_logits) {
      // Row j (position start + j) predicts the prompt token at start + j + 1.
      const int64_t last_prompt = static_cast<int64_t>(q.prompt_len) - 1;
      const int64_t n = std::min<int64_t>(c.num_tokens, last_prompt - c.start);
      if (n > 0) {
        auto next = std::span<const int32_t>(q.tokens).subspan(static_cast<size_t>(c.start + 1), static_cast<size_t>(n));
        auto lp = prompt_logprobs_for(block.first(static_cast<size_t>(n) * vocab), model_.vocab_size, next,
                                      *q.params.prompt_logprobs);
        s.prompt_logprobs.insert(s.prompt_logprobs.end(), lp.begin(), lp.end());
      }
    }
    if (!chunks[i].want_logits) continue;
    SampleResult& res = drawn[i];
    if (chunks[i].device_sample) {  // drawn on the device
      res.token = out.tokens[i];
      if (!out.logprobs.empty() && out.logprobs[i].token >= 0) {
        const RowLogprobs& d = out.logprobs[i];
        SampleLogprobs lp;
        lp.sampled = {d.token, d.logprob, d.rank};
        for (size_t j = 0; j < d.top_ids.size(); ++j)
          lp.top.push_back({d.top_ids[j], d.top_logprobs[j], static_cast<int32_t>(j + 1)});
        res.logprobs = std::move(lp);
      }
    }
    if (c.ran_ahead) {  // its placeholder (the next step may already be computing from it)
      const int64_t at = c.start + c.num_tokens;
      STRATA_CHECK(q.num_pending > 0 && at == q.num_known(), "request {}: token {} is not its next placeholder",
                   q.id, at);
      q.tokens[static_cast<size_t>(at)] = res.token;
      --q.num_pending;
    } else {
      q.tokens.push_back(res.token);
    }
    ++counters_.generation_tokens;
    Sampled x;
    x.chunk = i;
    x.token = res.token;
    StreamEvent& e = x.event;
    e.index = s.index;
    e.time = now_s();
    e.token_ids = {res.token};
    if (res.logprobs) e.logprobs.push_back(std::move(*res.logprobs));
    if (!s.first_token_sent) {
      s.first_token_sent = true;
      s.times.first_token = now_s();
      if (q.params.prompt_logprobs) e.prompt_logprobs = std::move(s.prompt_logprobs);
      e.num_prompt_tokens = static_cast<int64_t>(q.prompt_len);
      e.num_cached_tokens = s.num_cached_tokens;
    }
    e.num_output_tokens = q.num_output();
    // Stop checks, in vLLM's order: EOS / stop token ids (after min_tokens), stop strings, length.
    const bool min_reached = q.num_output() >= q.params.min_tokens;
    const bool is_eos = std::find(model_.eos_token_ids.begin(), model_.eos_token_ids.end(), res.token) !=
                        model_.eos_token_ids.end();
    const bool is_stop_id = std::find(q.params.stop_token_ids.begin(), q.params.stop_token_ids.end(), res.token) !=
                            q.params.stop_token_ids.end();
    if (min_reached && is_eos && !q.params.ignore_eos) {
      x.reason = "stop";
    } else if (min_reached && is_stop_id) {
      x.reason = "stop";
      e.stop_token = res.token;
    }
    x.length = q.num_output() >= q.max_tokens || q.num_known() >= config_.scheduler.max_model_len;
    // Out of the next step; its blocks are free (once no step in flight writes them).
    if (!x.reason.empty() || x.length) scheduler_.remove(&q, q.in_flight == 0);
    sampled.push_back(std::move(x));
  }
  if (runner_.overlaps() && !draining_) launch_more();
  // Pass 2: text, stop strings and events (while the next step runs, when the executor overlaps).
  for (Sampled& x : sampled) {
    Seq& s = *seqs_.at(plan.chunks[x.chunk].request->key);
    Request& q = s.req;
    const int32_t token = x.token;
    const bool min_reached = q.num_output() >= q.params.min_tokens;
    // As vLLM V1: the EOS / stop token that ends the sequence is not detokenized into the text unless
    // include_stop_str_in_output.
    SequenceText::Delta d = !x.reason.empty() && !q.params.include_stop_str_in_output
                                ? s.text->finish()
                                : s.text->append(token, !x.reason.empty() || x.length, min_reached);
    x.event.text = std::move(d.text);
    if (x.reason.empty() && d.stop_string) {
      x.reason = "stop";
      x.event.stop_string = d.stop_string;
    }
    if (x.reason.empty() && x.length) x.reason = "length";
    if (x.reason.empty()) {
      s.stream->push(std::move(x.event));
    } else if (q.in_flight > 0) {
      // A stop string (or EOS, with async scheduling) ended it after a next step took it: the client
      // hears now, the blocks are released when that step is back.
      s.finish_pending = true;
      scheduler_.remove(&q, /*free_blocks=*/false);
      finish_event(s, x.reason, x.event);
      s.stream->push(std::move(x.event));
    } else {
      finish(s, x.reason, std::move(x.event));
    }
  }
}

}  // namespace strata
