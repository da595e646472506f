// Scheduler: pure CPU policy deciding, each step, which tokens of which requests run.
//
// Running requests first (decodes and unfinished prefill chunks, oldest first), then waiting ones
// (FCFS, or by (priority, arrival) under the priority policy), within --max-num-batched-tokens and
// --max-num-seqs. A prompt longer than the remaining budget is split into chunks (chunked prefill).
// When the KV cache cannot grow a running request, the newest running request (lowest priority
// under the priority policy) is preempted: its blocks are freed and it re-enters the waiting queue
// to be recomputed. Waiting requests start from their longest cached prefix.
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "engine/request.h"

namespace strata {

struct SchedulerConfig {
  int32_t max_num_seqs = 256;
  int64_t max_num_batched_tokens = 2048;
  int64_t max_model_len = 0;
  bool enable_chunked_prefill = true;
  bool priority_policy = false;
  int pipeline_depth = 1;  // steps in flight at once (pipeline stages): each step takes ~1/depth of the requests
};

struct ScheduledChunk {
  Request* request;
  int64_t start;       // first token computed this step (= num_computed before the step)
  int64_t num_tokens;  // tokens computed this step
  bool ran_ahead = false;  // the engine advanced the request at launch (async scheduling): on_step_done skips it
  // The chunk reaches the end of the known tokens, so its last logits produce the next token.
  bool samples() const { return start + num_tokens == request->num_tokens(); }
};

struct StepPlan {
  std::vector<ScheduledChunk> chunks;
  int64_t num_tokens = 0;
  std::vector<Request*> preempted;
  bool empty() const { return chunks.empty(); }
};

class Scheduler {
 public:
  Scheduler(SchedulerConfig config, KvCacheManager& kv) : config_(config), kv_(kv) {}

  void add(Request* r);
  StepPlan schedule();
  // After the model ran the plan: num_computed advances by each chunk's tokens (but ran_ahead ones).
  void on_step_done(const StepPlan& plan);
  // Removes a request (finished or aborted) from the queues and frees its blocks at once, or, with
  // free_blocks false (a step in flight still writes them), leaves its blocks to a later remove().
  void remove(Request* r, bool free_blocks = true);

  size_t num_waiting() const { return waiting_.size(); }
  size_t num_running() const { return running_.size(); }
  int64_t num_preemptions() const { return num_preemptions_; }
  const std::vector<Request*>& running() const { return running_; }
  const std::deque<Request*>& waiting() const { return waiting_; }

 private:
  static int64_t logit_rows(const Request* r, int64_t start, int64_t num);
  int64_t cap_for_logits(const Request* r, int64_t start, int64_t num, int64_t rows_left) const;
  void preempt(Request* r, StepPlan& plan);
  Request* pick_victim() const;
  void insert_waiting(Request* r, bool front);

  SchedulerConfig config_;
  KvCacheManager& kv_;
  std::vector<Request*> running_;
  std::deque<Request*> waiting_;
  int64_t num_preemptions_ = 0;
};

}  // namespace strata
