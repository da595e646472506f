// Scheduler + KvCacheManager + BlockPool with a fake model: random admit / step / abort traffic with
// every invariant checked after every operation, plus focused cases for chunked prefill, preemption,
// prefix hits and eviction order.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <random>
#include <set>

#include "engine/scheduler.h"

namespace strata {
namespace {

struct Harness {
  Harness(int32_t blocks, int32_t bs, bool caching, SchedulerConfig cfg)
      : kv(blocks, bs, caching), sched(cfg, kv), cfg(cfg) {}

  Request* add(std::vector<int32_t> prompt, int64_t max_tokens, int priority = 0) {
    auto r = std::make_unique<Request>();
    r->key = next_key++;
    r->arrival = r->key;
    r->tokens = std::move(prompt);
    r->prompt_len = r->tokens.size();
    r->max_tokens = max_tokens;
    r->priority = priority;
    Request* p = r.get();
    reqs[p->key] = std::move(r);
    sched.add(p);
    return p;
  }

  // One engine step with a fake model: sampled token = (last token * 31 + 7) % 1000.
  StepPlan step() {
    StepPlan plan = sched.schedule();
    EXPECT_LE(plan.num_tokens, cfg.max_num_batched_tokens);
    EXPECT_LE(static_cast<int32_t>(sched.num_running()), cfg.max_num_seqs);
    std::set<Request*> seen;
    for (const auto& c : plan.chunks) {
      EXPECT_TRUE(seen.insert(c.request).second) << "request scheduled twice";
      EXPECT_EQ(c.start, c.request->num_computed);
      EXPECT_GT(c.num_tokens, 0);
      EXPECT_LE(c.start + c.num_tokens, c.request->num_tokens());
      // Blocks cover every token computed so far and this step.
      EXPECT_GE(kv.num_blocks_of(c.request->key) * kv.block_size(), c.start + c.num_tokens);
    }
    sched.on_step_done(plan);
    for (const auto& c : plan.chunks) {
      Request* r = c.request;
      if (!c.samples()) continue;
      r->tokens.push_back((r->tokens.back() * 31 + 7) % 1000);
      if (r->num_output() >= r->max_tokens) finish(r);
    }
    check();
    return plan;
  }

  void finish(Request* r) {
    sched.remove(r);
    done[r->key] = std::vector<int32_t>(r->tokens.begin() + static_cast<std::ptrdiff_t>(r->prompt_len), r->tokens.end());
    reqs.erase(r->key);
  }

  void check() {
    kv.pool().check_invariants();
    // Each block's ref_cnt equals the number of live requests holding it.
    std::map<int32_t, int> refs;
    int64_t held = 0;
    for (auto& [k, r] : reqs) {
      for (int32_t b : kv.block_ids(k)) ++refs[b];
      held += kv.num_blocks_of(k);
      if (r->status == RequestStatus::kWaiting) {
        EXPECT_EQ(kv.num_blocks_of(k), 0) << "waiting request holds blocks";
      }
    }
    for (auto& [b, n] : refs) EXPECT_EQ(kv.pool().block_const(b).ref_cnt, n) << "block " << b;
    int32_t in_use = 0;
    for (int32_t b = 0; b < kv.pool().num_blocks(); ++b) in_use += kv.pool().block_const(b).ref_cnt > 0;
    EXPECT_EQ(in_use, kv.pool().num_blocks() - kv.pool().num_free());
  }

  KvCacheManager kv;
  Scheduler sched;
  SchedulerConfig cfg;
  uint64_t next_key = 1;
  std::map<uint64_t, std::unique_ptr<Request>> reqs;
  std::map<uint64_t, std::vector<int32_t>> done;
};

std::vector<int32_t> random_prompt(std::mt19937_64& rng, int len, bool shared_prefix) {
  std::vector<int32_t> p;
  for (int i = 0; i < len; ++i)
    p.push_back(shared_prefix && i < 40 ? i * 3 : static_cast<int32_t>(rng() % 1000));
  return p;
}

TEST(Scheduler, RandomTrafficKeepsEveryInvariant) {
  for (bool caching : {true, false}) {
    SchedulerConfig cfg;
    cfg.max_num_seqs = 12;
    cfg.max_num_batched_tokens = 64;
    cfg.max_model_len = 200;
    Harness h(40, 8, caching, cfg);
    std::mt19937_64 rng(caching ? 1 : 2);
    int64_t ops = 0, preempted = 0, aborted = 0;
    while (ops < 100000) {
      const int op = static_cast<int>(rng() % 10);
      if (op < 3 && h.reqs.size() < 40) {
        h.add(random_prompt(rng, 1 + static_cast<int>(rng() % 100), rng() % 2), 1 + static_cast<int64_t>(rng() % 60));
      } else if (op == 3 && !h.reqs.empty()) {
        auto it = h.reqs.begin();
        std::advance(it, static_cast<long>(rng() % h.reqs.size()));
        h.sched.remove(it->second.get());
        h.reqs.erase(it);
        ++aborted;
        h.check();
      } else {
        preempted += static_cast<int64_t>(h.step().preempted.size());
      }
      ++ops;
    }
    while (!h.reqs.empty()) preempted += static_cast<int64_t>(h.step().preempted.size());  // drain
    EXPECT_EQ(h.kv.pool().num_free(), h.kv.pool().num_blocks()) << "blocks leaked";
    EXPECT_GT(preempted, 0) << "the traffic should exercise preemption";
    EXPECT_GT(aborted, 0);
    EXPECT_EQ(h.sched.num_preemptions(), preempted);
    if (caching) {
      EXPECT_GT(h.kv.prefix_hits(), 0);
    }
  }
}

TEST(Scheduler, ChunkedPrefillSplitsLongPrompts) {
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 16;
  cfg.max_model_len = 100;
  Harness h(20, 4, false, cfg);
  Request* r = h.add(std::vector<int32_t>(40, 5), 2);
  std::vector<int64_t> sizes;
  while (h.reqs.count(r->key)) {
    auto plan = h.step();
    ASSERT_EQ(plan.chunks.size(), 1u);
    sizes.push_back(plan.chunks[0].num_tokens);
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{16, 16, 8, 1}));
}

TEST(Scheduler, WithoutChunkingALongPromptWaitsForAFullBudget) {
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 16;
  cfg.enable_chunked_prefill = false;
  Harness h(20, 4, false, cfg);
  h.add(std::vector<int32_t>(10, 1), 5);
  h.add(std::vector<int32_t>(10, 2), 5);
  auto plan = h.step();
  EXPECT_EQ(plan.chunks.size(), 1u);  // the second 10-token prompt does not fit beside the first
  EXPECT_EQ(plan.num_tokens, 10);
}

TEST(Scheduler, PromptLogitsChunksReturnAtMostMaxNumSeqsRows) {
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 256;
  cfg.max_num_seqs = 8;
  Harness h(200, 4, false, cfg);
  Request* plain = h.add(std::vector<int32_t>(5, 3), 4);
  h.step();  // `plain` prefills and decodes from now on: one row per step
  Request* r = h.add(std::vector<int32_t>(40, 1), 2);
  r->prompt_logits = r->skip_prefix_cache = true;
  std::vector<int64_t> chunks;
  while (h.reqs.count(r->key)) {
    auto plan = h.step();
    int64_t rows = 0;
    for (const auto& c : plan.chunks) {
      const bool prompt = c.request == r && c.start < static_cast<int64_t>(r->prompt_len);
      rows += prompt ? c.num_tokens : (c.samples() ? 1 : 0);
      if (prompt) chunks.push_back(c.num_tokens);
    }
    EXPECT_LE(rows, cfg.max_num_seqs);
  }
  EXPECT_GT(chunks.size(), 4u);  // 40 prompt rows over several steps, not one 40-row step
  int64_t total = 0;
  for (int64_t c : chunks) total += c;
  EXPECT_EQ(total, 40);
  (void)plain;
}

TEST(Scheduler, PreemptsNewestAndResumes) {
  SchedulerConfig cfg;
  cfg.max_num_batched_tokens = 64;
  Harness h(6, 4, false, cfg);  // 24 token slots
  Request* a = h.add(std::vector<int32_t>(8, 1), 12);
  Request* b = h.add(std::vector<int32_t>(8, 2), 12);
  uint64_t ka = a->key, kb = b->key;
  int64_t preempted = 0;
  while (!h.reqs.empty()) {
    auto plan = h.step();
    for (Request* p : plan.preempted) {
      EXPECT_EQ(p->key, kb) << "the newest request is preempted";
      ++preempted;
    }
  }
  EXPECT_GT(preempted, 0);
  ASSERT_EQ(h.done.size(), 2u);
  // Deterministic fake model: both continue as if never preempted.
  EXPECT_EQ(h.done[ka].size(), 12u);
  EXPECT_EQ(h.done[kb].size(), 12u);
  EXPECT_EQ(h.done[kb][0], (2 * 31 + 7) % 1000);
}

TEST(Scheduler, PriorityPolicyRunsLowValuesFirstAndPreemptsHighValues) {
  SchedulerConfig cfg;
  cfg.max_num_seqs = 1;
  cfg.priority_policy = true;
  Harness h(20, 4, false, cfg);
  h.add(std::vector<int32_t>(4, 1), 1, /*priority=*/5);
  Request* urgent = h.add(std::vector<int32_t>(4, 2), 1, /*priority=*/0);
  auto plan = h.step();
  ASSERT_EQ(plan.chunks.size(), 1u);
  EXPECT_EQ(plan.chunks[0].request, urgent);
}

TEST(KvCacheManager, PrefixHitsReuseBlocksAndLastTokenIsRecomputed) {
  KvCacheManager kv(10, 4, true);
  std::vector<int32_t> p(12);
  for (int i = 0; i < 12; ++i) p[i] = i;
  auto none = kv.get_computed_blocks(1, p, "");
  EXPECT_EQ(none.num_tokens, 0);
  ASSERT_TRUE(kv.allocate_slots(1, p, 0, 12, &none, ""));
  // Same prompt: 2 of 3 full blocks hit (the last token must be recomputed).
  auto hit = kv.get_computed_blocks(2, p, "");
  EXPECT_EQ(hit.num_tokens, 8);
  ASSERT_TRUE(kv.allocate_slots(2, p, 8, 4, &hit, ""));
  auto ids1 = kv.block_ids(1), ids2 = kv.block_ids(2);
  EXPECT_EQ(ids1[0], ids2[0]);
  EXPECT_EQ(ids1[1], ids2[1]);
  EXPECT_NE(ids1[2], ids2[2]);
  EXPECT_EQ(kv.pool().block_const(ids1[0]).ref_cnt, 2);
  // A different cache salt misses.
  EXPECT_EQ(kv.get_computed_blocks(3, p, "salt").num_tokens, 0);
  EXPECT_EQ(kv.prefix_hits(), 8);
  EXPECT_EQ(kv.prefix_queries(), 24);
}

TEST(KvCacheManager, FreedTailIsEvictedFirstAndCachedBlocksSurviveUntilReused) {
  KvCacheManager kv(4, 2, true);
  std::vector<int32_t> p = {1, 2, 3, 4, 5, 6, 7};
  PrefixHit none;
  ASSERT_TRUE(kv.allocate_slots(1, p, 0, 7, &none, ""));
  auto ids = kv.block_ids(1);
  kv.free(1);
  EXPECT_EQ(kv.pool().num_free(), 4);
  // The freed prefix is still cached...
  EXPECT_EQ(kv.get_computed_blocks(2, p, "").num_tokens, 6);
  kv.free(2);
  // ...and a one-block request evicts the freed request's tail (its last block) first.
  std::vector<int32_t> q = {9};
  ASSERT_TRUE(kv.allocate_slots(3, q, 0, 1, &none, ""));
  EXPECT_EQ(kv.block_ids(3)[0], ids[3]);
  ASSERT_TRUE(kv.allocate_slots(4, q, 0, 1, &none, ""));
  EXPECT_EQ(kv.block_ids(4)[0], ids[2]);
  EXPECT_EQ(kv.get_computed_blocks(5, p, "").num_tokens, 4);  // blocks 0, 1 still cached
  kv.pool().check_invariants();
}

TEST(KvCacheManager, AllocationIsAllOrNothing) {
  KvCacheManager kv(3, 4, false);
  std::vector<int32_t> p(20, 1);
  PrefixHit none;
  EXPECT_FALSE(kv.allocate_slots(1, p, 0, 20, &none, ""));
  EXPECT_EQ(kv.pool().num_free(), 3);
  EXPECT_EQ(kv.num_blocks_of(1), 0);
  EXPECT_TRUE(kv.allocate_slots(1, p, 0, 12, &none, ""));
  EXPECT_EQ(kv.pool().num_free(), 0);
}

}  // namespace
}  // namespace strata
