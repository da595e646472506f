#include "engine/scheduler.h"

#include <algorithm>

#include "core/status.h"

namespace strata {

namespace {
bool runs_before(const Request* a, const Request* b) {
  return a->priority != b->priority ? a->priority < b->priority : a->arrival < b->arrival;
}
}  // namespace

void Scheduler::insert_waiting(Request* r, bool front) {
  r->status = RequestStatus::kWaiting;
  if (config_.priority_policy) {
    auto it = std::upper_bound(waiting_.begin(), waiting_.end(), r, runs_before);
    waiting_.insert(it, r);
  } else if (front) {
    waiting_.push_front(r);
  } else {
    waiting_.push_back(r);
  }
}

void Scheduler::add(Request* r) { insert_waiting(r, false); }

Request* Scheduler::pick_victim() const {
  // The request that gives way: the newest, or the last to run under the priority policy. When that
  // one is in flight (pipeline parallelism: its blocks are in use until its step is back), none: the
  // request that needs blocks waits a step instead of giving way itself.
  STRATA_CHECK(!running_.empty(), "nothing to preempt");
  Request* last = config_.priority_policy ? *std::max_element(running_.begin(), running_.end(), runs_before)
                                          : running_.back();
  return last->in_flight > 0 ? nullptr : last;
}

void Scheduler::preempt(Request* r, StepPlan& plan) {
  kv_.free(r->key);
  r->num_computed = 0;
  ++r->num_preemptions;
  ++num_preemptions_;
  plan.preempted.push_back(r);
  insert_waiting(r, true);
}

// Logits rows a chunk returns: every token of a prompt_logprobs prompt chunk, else one if it samples.
int64_t Scheduler::logit_rows(const Request* r, int64_t start, int64_t num) {
  if (r->prompt_logits && start < static_cast<int64_t>(r->prompt_len)) return num;
  return start + num == r->num_tokens() ? 1 : 0;
}

// A prompt_logprobs chunk returns a logits row per token: with chunked prefill, such chunks are cut so
// that a step returns at most max_num_seqs rows (the logits the runner's workspace was sized for).
int64_t Scheduler::cap_for_logits(const Request* r, int64_t start, int64_t num, int64_t rows_left) const {
  if (!r->prompt_logits || !config_.enable_chunked_prefill || start >= static_cast<int64_t>(r->prompt_len)) return num;
  return std::min(num, rows_left);
}

StepPlan Scheduler::schedule() {
  StepPlan plan;
  int64_t budget = config_.max_num_batched_tokens;
  int64_t rows_left = config_.max_num_seqs;
  bool preempted_any = false, blocked_any = false;
  // With a pipeline of `depth` stages, each step takes about 1/depth of the requests, so `depth` steps
  // can be in flight over disjoint requests (and no stage waits for the others).
  int64_t seqs_left = config_.max_num_seqs;
  if (config_.pipeline_depth > 1) {
    const int64_t all = static_cast<int64_t>(running_.size() + waiting_.size());
    seqs_left = std::min<int64_t>(seqs_left, std::max<int64_t>(1, (all + config_.pipeline_depth - 1) / config_.pipeline_depth));
  }
  size_t i = 0;
  while (i < running_.size() && budget > 0 && seqs_left > 0) {
    Request* r = running_[i];
    if (r->awaits_step) {  // a step over it is still running (pipeline parallelism, host sampling)
      ++i;
      continue;
    }
    const int64_t num_new =
        cap_for_logits(r, r->num_computed, std::min(r->num_tokens() - r->num_computed, budget), rows_left);
    if (num_new <= 0) {
      ++i;
      continue;
    }
    bool scheduled = false, blocked = false;
    while (true) {
      // (Placeholders are not hashed into the prefix cache: their block is registered once they are known.)
      if (kv_.allocate_slots(r->key, r->known_tokens(), r->num_computed, num_new, nullptr, r->cache_salt)) {
        scheduled = true;
        break;
      }
      Request* victim = pick_victim();
      if (!victim) {  // the one to give way is in flight: try again next step
        blocked = true;
        blocked_any = true;
        break;
      }
      const size_t at = static_cast<size_t>(std::find(running_.begin(), running_.end(), victim) - running_.begin());
      running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(at));
      if (at < i) {  // already scheduled this step (priority policy): take its chunk back
        --i;
        auto c = std::find_if(plan.chunks.begin(), plan.chunks.end(),
                              [&](const ScheduledChunk& x) { return x.request == victim; });
        if (c != plan.chunks.end()) {  // (a request skipped this step has no chunk)
          budget += c->num_tokens;
          plan.num_tokens -= c->num_tokens;
          ++seqs_left;
          plan.chunks.erase(c);
        }
      }
      preempt(victim, plan);
      preempted_any = true;
      if (victim == r) break;
    }
    if (blocked) {
      ++i;
      continue;
    }
    if (!scheduled) continue;  // r itself was preempted; running_[i] is now the next request
    plan.chunks.push_back({r, r->num_computed, num_new});
    plan.num_tokens += num_new;
    budget -= num_new;
    rows_left -= logit_rows(r, r->num_computed, num_new);
    --seqs_left;
    ++i;
  }
  // New work only when nothing had to be preempted (or wait for blocks) this step.
  while (!preempted_any && !blocked_any && !waiting_.empty() && budget > 0 && seqs_left > 0 &&
         static_cast<int32_t>(running_.size()) < config_.max_num_seqs) {
    Request* r = waiting_.front();
    PrefixHit hit;
    if (!r->skip_prefix_cache) hit = kv_.get_computed_blocks(r->key, r->tokens, r->cache_salt);
    int64_t num_new = r->num_tokens() - hit.num_tokens;
    if (!config_.enable_chunked_prefill && num_new > budget) break;
    num_new = cap_for_logits(r, hit.num_tokens, std::min(num_new, budget), rows_left);
    if (num_new <= 0) break;
    if (!kv_.allocate_slots(r->key, r->tokens, hit.num_tokens, num_new, &hit, r->cache_salt)) break;
    waiting_.pop_front();
    r->status = RequestStatus::kRunning;
    r->num_computed = hit.num_tokens;
    running_.push_back(r);
    plan.chunks.push_back({r, r->num_computed, num_new});
    plan.num_tokens += num_new;
    budget -= num_new;
    rows_left -= logit_rows(r, r->num_computed, num_new);
    --seqs_left;
  }
  return plan;
}

void Scheduler::on_step_done(const StepPlan& plan) {
  for (const ScheduledChunk& c : plan.chunks)
    if (!c.ran_ahead) c.request->num_computed = c.start + c.num_tokens;
}

void Scheduler::remove(Request* r, bool free_blocks) {
  if (auto it = std::find(running_.begin(), running_.end(), r); it != running_.end()) running_.erase(it);
  if (auto it = std::find(waiting_.begin(), waiting_.end(), r); it != waiting_.end()) waiting_.erase(it);
  if (free_blocks) kv_.free(r->key);
  r->status = RequestStatus::kFinished;
}

}  // namespace strata
