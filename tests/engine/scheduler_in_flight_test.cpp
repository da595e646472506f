// The scheduler with steps in flight (pipeline parallelism keeps several launched at once): a request
// in flight is never scheduled again or preempted until its step is back; with async scheduling a
// request the engine ran ahead is scheduled again at once, and its placeholder token stays out of the
// prefix cache until it is known.
#include <gtest/gtest.h>

#include <memory>
#include <set>

#include "engine/scheduler.h"

namespace strata {
namespace {

std::unique_ptr<Request> make_request(RequestKey key, int64_t prompt_len) {
  auto r = std::make_unique<Request>();
  r->key = key;
  r->arrival = key;
  for (int64_t i = 0; i < prompt_len; ++i) r->tokens.push_back(static_cast<int32_t>(key * 100 + i));
  r->prompt_len = r->tokens.size();
  r->max_tokens = 100;
  return r;
}

// A step in flight computes r, and r's next chunk needs its output.
void set_in_flight(Request* r, bool on) {
  r->in_flight = on ? 1 : 0;
  r->awaits_step = on;
}

TEST(SchedulerInFlight, RequestsInFlightAreSkippedUntilTheirStepIsBack) {
  KvCacheManager kv(64, 4, true);
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 64;
  Scheduler sched(cfg, kv);
  auto a = make_request(1, 8), b = make_request(2, 8);
  sched.add(a.get());
  StepPlan first = sched.schedule();  // a's prompt
  ASSERT_EQ(first.chunks.size(), 1u);
  set_in_flight(a.get(), true);
  sched.add(b.get());
  StepPlan second = sched.schedule();  // only b: a is in flight
  ASSERT_EQ(second.chunks.size(), 1u);
  EXPECT_EQ(second.chunks[0].request, b.get());
  set_in_flight(b.get(), true);
  EXPECT_TRUE(sched.schedule().empty());  // both in flight
  set_in_flight(a.get(), false);
  sched.on_step_done(first);
  a->tokens.push_back(7);
  StepPlan third = sched.schedule();  // a's decode, b still in flight
  ASSERT_EQ(third.chunks.size(), 1u);
  EXPECT_EQ(third.chunks[0].request, a.get());
  EXPECT_EQ(third.chunks[0].start, 8);
}

TEST(SchedulerInFlight, NoPreemptionOfARequestInFlight) {
  // 4 blocks of 4 tokens: old b and new a hold 2 each; b needs a third to decode. The newest request
  // (a) would give way, but it is in flight: b waits for the next step (neither is preempted, and no
  // waiting request takes blocks meanwhile).
  KvCacheManager kv(4, 4, false);
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 64;
  Scheduler sched(cfg, kv);
  auto b = make_request(1, 8), a = make_request(2, 8);
  sched.add(b.get());
  sched.add(a.get());
  StepPlan p = sched.schedule();
  ASSERT_EQ(p.chunks.size(), 2u);
  sched.on_step_done(p);
  b->tokens.push_back(1);  // b's next token needs a new block
  set_in_flight(a.get(), true);
  auto c = make_request(3, 4);
  sched.add(c.get());
  StepPlan q = sched.schedule();
  EXPECT_TRUE(q.preempted.empty()) << "a is in flight: its blocks stay, and b waits";
  EXPECT_TRUE(q.chunks.empty()) << "c must not take the blocks b waits for";
  EXPECT_EQ(kv.num_blocks_of(a->key), 2);
  EXPECT_EQ(kv.num_blocks_of(b->key), 2);
  // a is back: now the newest (a) gives way, as without a pipeline, and b goes on.
  set_in_flight(a.get(), false);
  a->tokens.push_back(1);
  StepPlan r = sched.schedule();
  ASSERT_EQ(r.preempted.size(), 1u);
  EXPECT_EQ(r.preempted[0], a.get());
  ASSERT_EQ(r.chunks.size(), 1u);
  EXPECT_EQ(r.chunks[0].request, b.get());
}

TEST(SchedulerInFlight, APipelineStepTakesItsShareOfTheRequests) {
  KvCacheManager kv(64, 4, true);
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 256;
  cfg.pipeline_depth = 2;
  Scheduler sched(cfg, kv);
  std::vector<std::unique_ptr<Request>> reqs;
  for (int i = 0; i < 6; ++i) {
    reqs.push_back(make_request(static_cast<RequestKey>(i + 1), 4));
    sched.add(reqs.back().get());
  }
  StepPlan first = sched.schedule();
  EXPECT_EQ(first.chunks.size(), 3u);
  for (auto& c : first.chunks) set_in_flight(c.request, true);
  StepPlan second = sched.schedule();
  EXPECT_EQ(second.chunks.size(), 3u);  // the other half, while the first is in flight
}

// What Engine::launch does to a request whose chunk draws on the device (async scheduling): computed
// up to the chunk's end, a placeholder for the token being drawn.
void run_ahead(Request* r, const ScheduledChunk& c) {
  r->in_flight += 1;
  r->num_computed = c.start + c.num_tokens;
  r->tokens.push_back(-1);
  r->num_pending += 1;
}

TEST(SchedulerInFlight, ARequestRunAheadIsScheduledAgainAndItsPlaceholderIsNotCached) {
  KvCacheManager kv(64, 4, true);
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 64;
  Scheduler sched(cfg, kv);
  auto a = make_request(1, 7);  // blocks of 4: the token drawn by the prompt's step fills block 1
  const std::vector<int32_t> prompt = a->tokens;
  sched.add(a.get());
  StepPlan first = sched.schedule();
  ASSERT_EQ(first.chunks.size(), 1u);
  first.chunks[0].ran_ahead = true;
  run_ahead(a.get(), first.chunks[0]);
  StepPlan second = sched.schedule();  // the prompt's step is still in flight
  ASSERT_EQ(second.chunks.size(), 1u);
  EXPECT_EQ(second.chunks[0].start, 7);
  EXPECT_EQ(second.chunks[0].num_tokens, 1);
  EXPECT_TRUE(second.chunks[0].samples());
  // A prompt that continues a's tokens with 42: only block 0 is cached while a's token 7 is unknown.
  std::vector<int32_t> other = prompt;
  other.push_back(42);
  other.push_back(9);
  EXPECT_EQ(kv.get_computed_blocks(99, other, "").num_tokens, 4);
  kv.free(99);
  // The first step is back (its draw was 42); the second, also run ahead, is in flight; the third
  // allocates block 2 and registers block 1, now known.
  sched.on_step_done(first);  // (skips the chunk run ahead)
  a->in_flight -= 1;
  a->tokens[7] = 42;
  a->num_pending -= 1;
  EXPECT_EQ(a->num_computed, 7);
  second.chunks[0].ran_ahead = true;
  run_ahead(a.get(), second.chunks[0]);
  StepPlan third = sched.schedule();
  ASSERT_EQ(third.chunks.size(), 1u);
  EXPECT_EQ(third.chunks[0].start, 8);
  EXPECT_EQ(kv.get_computed_blocks(99, other, "").num_tokens, 8);
  kv.free(99);
}

}  // namespace
}  // namespace strata
