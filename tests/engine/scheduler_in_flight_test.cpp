// The scheduler with steps in flight (pipeline parallelism keeps several launched at once): a request
// in flight is never scheduled again or preempted until its step is back.
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

TEST(SchedulerInFlight, RequestsInFlightAreSkippedUntilTheirStepIsBack) {
  KvCacheManager kv(64, 4, true);
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 64;
  Scheduler sched(cfg, kv);
  auto a = make_request(1, 8), b = make_request(2, 8);
  sched.add(a.get());
  StepPlan first = sched.schedule();  // a's prompt
  ASSERT_EQ(first.chunks.size(), 1u);
  a->in_flight = true;
  sched.add(b.get());
  StepPlan second = sched.schedule();  // only b: a is in flight
  ASSERT_EQ(second.chunks.size(), 1u);
  EXPECT_EQ(second.chunks[0].request, b.get());
  b->in_flight = true;
  EXPECT_TRUE(sched.schedule().empty());  // both in flight
  a->in_flight = false;
  sched.on_step_done(first);
  a->tokens.push_back(7);
  StepPlan third = sched.schedule();  // a's decode, b still in flight
  ASSERT_EQ(third.chunks.size(), 1u);
  EXPECT_EQ(third.chunks[0].request, a.get());
  EXPECT_EQ(third.chunks[0].start, 8);
}

TEST(SchedulerInFlight, NoPreemptionOfARequestInFlight) {
  // 4 blocks of 4 tokens: old b and new a hold 2 each; b needs a third to decode. The newest request
  // (a) would give way, but it is in flight: b itself goes back to the waiting queue instead.
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
  a->in_flight = true;
  StepPlan q = sched.schedule();
  ASSERT_EQ(q.preempted.size(), 1u);
  EXPECT_EQ(q.preempted[0], b.get()) << "a is in flight: its blocks stay";
  EXPECT_TRUE(q.chunks.empty());
  EXPECT_EQ(kv.num_blocks_of(a->key), 2);
  // Without a step in flight the newest gives way, as before.
  a->in_flight = false;
  a->tokens.push_back(1);
  StepPlan r = sched.schedule();
  ASSERT_EQ(r.chunks.size(), 1u);
  EXPECT_EQ(r.chunks[0].request, a.get());
}

}  // namespace
}  // namespace strata
