// Engine: the thread-safe front of the serving core. submit() validates a request and hands it to
// the one engine thread, which owns every piece of scheduling and cache state (no locks inside it):
//
//   loop: take new requests / aborts → Scheduler::schedule() → Executor::submit() (one batch of
//         prefill chunks and decodes) → sample each finished row → detokenize, check stops →
//         push StreamEvents → free finished requests' blocks at once
//
// With a pipeline of P stages the executor takes up to P steps at once: the engine launches steps
// over requests not already in flight until P are outstanding, then completes the oldest. When the
// executor runs steps on its own thread (Executor::overlaps), completing a step is two passes: the
// sampled tokens join their requests (and EOS / length retire them), the next step is launched, and
// only then does the host detokenize, check stop strings and push events — while the device runs.
//
// Async scheduling (an overlapping single-rank executor that runs_ahead(), unless
// EngineConfig::async_scheduling is off): the engine keeps two steps in flight and schedules step N+1
// before step N's tokens are back. A request whose chunk in step N draws on the device (not its last
// token) is advanced at launch: a placeholder joins its tokens and its next decode in N+1 takes the
// token N drew, on the runner's side (SeqChunk::token_from; its penalties count that token too). The
// placeholder is filled when N is back; it is not hashed into the prefix cache until then; a request
// that stops at N (EOS, stop string) has its N+1 output dropped and its blocks freed once N+1 is back.
// Requests sampled on the host (allowed_token_ids, logit_bias, min_tokens masks, whole-vocabulary
// logprobs) are not advanced, and while one of them is running the engine keeps one step in flight,
// so every request still runs in every step.
//
// n > 1 runs n sequences (seeds seed + i) that share the prompt's blocks through the prefix cache.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "engine/output_processor.h"
#include "engine/request_stream.h"
#include "engine/sampler.h"
#include "engine/scheduler.h"
#include "runtime/model_runner.h"
#include "tokenizer/tokenizer.h"
#include "weights/model_config.h"

namespace strata {

struct EngineConfig {
  SchedulerConfig scheduler;  // max_model_len must be set
  int32_t block_size = 16;
  int32_t num_blocks = 0;
  bool enable_prefix_caching = true;
  uint64_t seed = 0;
  int max_logprobs = kDefaultMaxLogprobs;
  bool async_scheduling = true;  // where the executor supports it (see above)
  std::function<void(int64_t num_tokens)> on_step;  // engine thread, after each model step (metrics)
};

struct EngineRequest {
  std::string id;
  std::vector<int32_t> prompt_ids;
  SamplingParams params;
  int priority = 0;
  std::string cache_salt;
};

// Counters and gauges for metrics, copied out under a lock after every step.
struct EngineStats {
  int64_t num_running = 0;
  int64_t num_waiting = 0;
  double kv_usage = 0;
  int64_t prefix_queries = 0;
  int64_t prefix_hits = 0;
  int64_t num_preemptions = 0;
  int64_t prompt_tokens = 0;      // computed prompt tokens (cache hits excluded)
  int64_t generation_tokens = 0;
  int64_t num_steps = 0;
  int64_t num_steps_ahead = 0;  // launched before the previous step was back (async scheduling)
};

class Engine {
 public:
  // `runner` runs the model (one rank's ModelRunner, or a parallel group's executor) over a KV cache
  // of config.num_blocks blocks of config.block_size.
  Engine(Executor& runner, const Tokenizer& tokenizer, const ModelConfig& model, EngineConfig config);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates (prompt length, token ids, sampling parameters) and queues the request.
  Result<std::shared_ptr<RequestStream>> submit(EngineRequest request);
  // Aborts every sample of the request (no-op if unknown or finished); its blocks are freed at once.
  void abort(const std::string& id);
  EngineStats stats() const;
  const EngineConfig& config() const { return config_; }

 private:
  struct Seq;
  void loop();
  void start(EngineRequest r, std::shared_ptr<RequestStream> stream);
  struct InFlight;
  bool launch();    // schedules and submits one step; false when nothing could be scheduled
  void launch_more();  // launches while fewer than depth_ steps are in flight (and a next one may go)
  void complete();  // waits for the oldest launched step and processes its output
  // The final event: fills `e`, pushes it, and releases the sequence (scheduler, blocks, maps).
  void finish(Seq& s, const std::string& reason, StreamEvent e);
  void finish_event(Seq& s, const std::string& reason, StreamEvent& e);  // fills e as a final event
  void release(Seq& s);  // s is gone after this
  bool has_work() const { return scheduler_.num_running() + scheduler_.num_waiting() > 0 || !in_flight_.empty(); }

  Executor& runner_;
  const Tokenizer& tokenizer_;
  const ModelConfig& model_;
  EngineConfig config_;
  KvCacheManager kv_;
  Scheduler scheduler_;
  std::vector<Sampler> samplers_;  // one per sampling thread (scratch buffers)
  std::unordered_map<RequestKey, std::unique_ptr<Seq>> seqs_;
  std::deque<std::unique_ptr<InFlight>> in_flight_;  // launched steps, oldest first
  bool draining_ = false;                            // shutting down: no new steps
  bool ahead_ = false;                               // async scheduling (see above)
  int depth_ = 1;                                    // steps kept in flight
  uint64_t step_serial_ = 0;                         // of the last launched step
  std::unordered_map<std::string, std::vector<RequestKey>> by_id_;
  uint64_t next_key_ = 1;
  EngineStats counters_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<EngineRequest, std::shared_ptr<RequestStream>>> incoming_;
  std::vector<std::string> aborts_;
  bool stop_ = false;
  EngineStats stats_;
  std::thread thread_;
};

}  // namespace strata
