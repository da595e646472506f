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

}  // namespace
}  // namespace strata
