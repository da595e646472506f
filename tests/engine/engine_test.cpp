// The Engine on a real (tiny, random-weight) Qwen2 checkpoint with its real tokenizer: continuous
// batching must not change greedy outputs, nor prefix caching, nor preemption under a tiny KV cache;
// seeded sampling is independent of batch composition; stops, n > 1, aborts and logprobs. Every test
// runs with the runner on the engine thread, on its own thread (AsyncExecutor), and on its own thread
// with async scheduling (steps launched before the previous one's tokens are back).
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <memory>
#include <thread>

#include "engine/engine.h"
#include "runtime/model_loader.h"
#include "testutil.h"

namespace strata {
namespace {

struct Output {
  std::vector<int32_t> ids;
  std::string text, finish_reason;
  std::optional<std::string> stop_string;
  std::vector<SampleLogprobs> logprobs;
  std::optional<std::vector<SampleLogprobs>> prompt_logprobs;
  int64_t cached = 0;
};

enum class Mode { kDirect, kOverlap, kAsync };

class EngineTest : public ::testing::TestWithParam<Mode> {
 protected:
  static void SetUpTestSuite() {
    if (!test::testdata_available()) return;
    LoadOptions o;
    o.model = test::fixture_model_dir("qwen2");
    o.max_model_len = 512;
    o.device = test::test_device();
    o.dtype = "float32";
    auto m = load_model(o);
    ASSERT_TRUE(m.ok()) << m.error().message();
    model_ = new LoadedModel(std::move(m).value());
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override {
    STRATA_REQUIRE_TESTDATA();
    mode_ = GetParam();
  }

  // A fresh cache + engine with the given knobs.
  void make_engine(int32_t num_blocks, int64_t max_batched = 2048, bool caching = true, int32_t max_seqs = 256) {
    engine_.reset();
    overlap_.reset();
    cache_ = model_->model->allocate_kv_cache(num_blocks, 16);
    runner_ = std::make_unique<ModelRunner>(*model_->model, *model_->backend, cache_);
    if (mode_ != Mode::kDirect) overlap_ = std::make_unique<AsyncExecutor>(*runner_);
    EngineConfig ec;
    ec.scheduler.max_model_len = model_->max_model_len;
    ec.scheduler.max_num_batched_tokens = max_batched;
    ec.scheduler.max_num_seqs = max_seqs;
    ec.num_blocks = num_blocks;
    ec.block_size = 16;
    ec.enable_prefix_caching = caching;
    ec.async_scheduling = mode_ == Mode::kAsync;
    Executor& executor = overlap_ ? static_cast<Executor&>(*overlap_) : *runner_;
    engine_ = std::make_unique<Engine>(executor, *model_->tokenizer, model_->config, ec);
  }

  std::vector<int32_t> ids(const std::string& text) { return model_->tokenizer->encode(text, true); }

  // Stats are published after each step: wait until the engine has gone idle.
  EngineStats idle_stats() {
    EngineStats st = engine_->stats();
    for (int i = 0; i < 500 && st.num_running + st.num_waiting > 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      st = engine_->stats();
    }
    return st;
  }

  static std::vector<Output> collect(RequestStream& s, int n = 1) {
    std::vector<Output> out(static_cast<size_t>(n));
    while (!s.done())
      for (StreamEvent& e : s.next()) {
        Output& o = out[static_cast<size_t>(e.index)];
        o.ids.insert(o.ids.end(), e.token_ids.begin(), e.token_ids.end());
        o.text += e.text;
        o.logprobs.insert(o.logprobs.end(), e.logprobs.begin(), e.logprobs.end());
        if (e.prompt_logprobs) o.prompt_logprobs = e.prompt_logprobs;
        if (e.finished) {
          o.finish_reason = e.finish_reason;
          o.stop_string = e.stop_string;
          o.cached = e.num_cached_tokens;
        }
      }
    return out;
  }

  std::vector<Output> run_all(const std::vector<EngineRequest>& reqs) {
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (const auto& r : reqs) {
      auto s = engine_->submit(r);
      EXPECT_TRUE(s.ok()) << s.error().message();
      streams.push_back(*s);
    }
    std::vector<Output> out;
    for (size_t i = 0; i < streams.size(); ++i) out.push_back(collect(*streams[i], reqs[i].params.n)[0]);
    return out;
  }

  EngineRequest greedy(const std::string& id, std::vector<int32_t> prompt, int64_t max_tokens) {
    EngineRequest r;
    r.id = id;
    r.prompt_ids = std::move(prompt);
    r.params.temperature = 0;
    r.params.max_tokens = max_tokens;
    r.params.ignore_eos = true;
    return r;
  }

  // 32 prompts of 1..~150 tokens; every fourth shares a long prefix with the others of its kind.
  std::vector<EngineRequest> mixed_requests(int64_t max_tokens) {
    const std::string shared =
        "You are a helpful assistant. Answer carefully and cite your sources. The following is a long "
        "conversation about the history of computing, from Babbage and Lovelace to modern accelerators. ";
    std::vector<EngineRequest> reqs;
    for (int i = 0; i < 32; ++i) {
      std::string text = (i % 4 == 0 ? shared : std::string()) + "Question " + std::to_string(i) + ":";
      for (int j = 0; j < (i * 7) % 23; ++j) text += " word" + std::to_string(j * i);
      reqs.push_back(greedy("r" + std::to_string(i), ids(text), max_tokens));
    }
    return reqs;
  }

  static LoadedModel* model_;
  Mode mode_ = Mode::kDirect;  // of the next make_engine
  KvCache cache_;
  std::unique_ptr<ModelRunner> runner_;
  std::unique_ptr<AsyncExecutor> overlap_;
  std::unique_ptr<Engine> engine_;
};
LoadedModel* EngineTest::model_ = nullptr;

INSTANTIATE_TEST_SUITE_P(Executors, EngineTest, ::testing::Values(Mode::kDirect, Mode::kOverlap, Mode::kAsync),
                         [](const ::testing::TestParamInfo<Mode>& i) {
                           return std::string(i.param == Mode::kDirect    ? "direct"
                                              : i.param == Mode::kOverlap ? "overlap"
                                                                          : "async");
                         });

TEST_P(EngineTest, ConcurrentGreedyEqualsAloneWithChunkedPrefill) {
  auto reqs = mixed_requests(20);
  make_engine(512, /*max_batched=*/64);  // small budget: long prompts are chunked
  auto together = run_all(reqs);
  for (size_t i = 0; i < reqs.size(); ++i) {
    make_engine(64, 2048);
    auto alone = run_all({reqs[i]});
    EXPECT_EQ(together[i].ids, alone[0].ids) << reqs[i].id;
    EXPECT_EQ(together[i].text, alone[0].text) << reqs[i].id;
    EXPECT_EQ(together[i].ids.size(), 20u);
    EXPECT_EQ(together[i].finish_reason, "length");
  }
}

TEST_P(EngineTest, PrefixCachingOnAndOffGiveTheSameOutputs) {
  auto reqs = mixed_requests(12);
  make_engine(512, 2048, /*caching=*/false);
  auto off = run_all(reqs);
  EXPECT_EQ(engine_->stats().prefix_hits, 0);
  make_engine(512, 2048, /*caching=*/true);
  // Submit in two waves so the second finds the first's blocks cached.
  std::vector<EngineRequest> first(reqs.begin(), reqs.begin() + 8), second(reqs.begin() + 8, reqs.end());
  auto on = run_all(first);
  auto on2 = run_all(second);
  on.insert(on.end(), on2.begin(), on2.end());
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(on[i].ids, off[i].ids) << reqs[i].id;
  const EngineStats st = idle_stats();
  EXPECT_GT(st.prefix_hits, 0);
  int64_t cached = 0;
  for (const auto& o : on2) cached += o.cached;
  EXPECT_GT(cached, 0) << "requests of the second wave report cached prompt tokens";
  EXPECT_EQ(st.kv_usage, 0.0) << "every block returned";
}

TEST_P(EngineTest, TinyKvCacheForcesPreemptionAndOutputsStayTheSame) {
  auto reqs = mixed_requests(40);
  make_engine(512);
  auto roomy = run_all(reqs);
  make_engine(/*num_blocks=*/16);  // 256 token slots for 32 requests of up to ~190 tokens
  auto tight = run_all(reqs);
  const EngineStats st = idle_stats();
  EXPECT_GT(st.num_preemptions, 0);
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(tight[i].ids, roomy[i].ids) << reqs[i].id;
    EXPECT_EQ(tight[i].finish_reason, "length");
  }
  EXPECT_EQ(st.kv_usage, 0.0);
}

TEST_P(EngineTest, SeededSamplingIsIndependentOfTheBatch) {
  EngineRequest r;
  r.id = "seeded";
  r.prompt_ids = ids("The weather today is");
  r.params.temperature = 1.0f;
  r.params.top_p = 0.9f;
  r.params.max_tokens = 16;
  r.params.seed = 1234;
  r.params.ignore_eos = true;
  make_engine(256);
  auto alone = run_all({r});
  auto others = mixed_requests(16);
  for (auto& o : others) o.params.temperature = 0.7f;
  others.insert(others.begin() + 5, r);
  auto batched = run_all(others);
  EXPECT_EQ(batched[5].ids, alone[0].ids);
  r.params.seed = 99;
  EXPECT_NE(run_all({r})[0].ids, alone[0].ids);
}

TEST_P(EngineTest, ParallelSamplesShareThePromptAndDiffer) {
  make_engine(256);
  EngineRequest r;
  r.id = "n4";
  r.prompt_ids = ids("Once upon a time in a land far away there lived a curious engineer who built engines that "
                     "served language models to many users at once, and every day she measured how fast they ran");
  ASSERT_GT(r.prompt_ids.size(), 32u);
  r.params.n = 4;
  r.params.temperature = 1.0f;
  r.params.max_tokens = 8;
  r.params.seed = 7;
  auto s = engine_->submit(r);
  ASSERT_TRUE(s.ok()) << s.error().message();
  auto outs = collect(**s, 4);
  std::set<std::vector<int32_t>> distinct;
  for (const auto& o : outs) {
    EXPECT_FALSE(o.ids.empty());
    distinct.insert(o.ids);
  }
  EXPECT_GT(distinct.size(), 1u);
  EXPECT_GT(idle_stats().prefix_hits, 0) << "samples 2..4 reuse the prompt's full blocks";
}

TEST_P(EngineTest, StopStringsTokensAndMinTokens) {
  make_engine(256);
  auto base = greedy("base", ids("San Francisco is a city where"), 24);
  Output full = run_all({base})[0];
  ASSERT_GE(full.text.size(), 12u);
  // A stop string spanning token boundaries, from the middle of the greedy text.
  const std::string stop = full.text.substr(full.text.size() / 2, 5);
  auto r = base;
  r.params.stop = {stop};
  Output cut = run_all({r})[0];
  EXPECT_EQ(cut.finish_reason, "stop");
  ASSERT_TRUE(cut.stop_string.has_value());
  EXPECT_EQ(*cut.stop_string, stop);
  EXPECT_EQ(cut.text, full.text.substr(0, full.text.find(stop)));
  r.params.include_stop_str_in_output = true;
  Output inc = run_all({r})[0];
  EXPECT_EQ(inc.text, full.text.substr(0, full.text.find(stop) + stop.size()));
  // A stop token id: the sequence ends on it.
  auto t = base;
  t.params.stop_token_ids = {full.ids[3]};
  const auto first = std::find(full.ids.begin(), full.ids.end(), full.ids[3]);
  Output st = run_all({t})[0];
  EXPECT_EQ(st.finish_reason, "stop");
  EXPECT_EQ(st.ids, std::vector<int32_t>(full.ids.begin(), first + 1));
  // min_tokens keeps it going past the stop token until 10 tokens exist.
  t.params.min_tokens = 10;
  Output mt = run_all({t})[0];
  EXPECT_GE(mt.ids.size(), 10u);
}

TEST_P(EngineTest, AbortFreesBlocksAtOnce) {
  make_engine(256);
  auto r = greedy("long", ids("Tell me a very long story about"), 400);
  auto s = engine_->submit(r);
  ASSERT_TRUE(s.ok());
  auto first = (*s)->next();  // wait for the first token
  engine_->abort("long");
  auto outs = collect(**s);
  EXPECT_EQ(outs[0].finish_reason, "abort");
  EXPECT_LT(outs[0].ids.size(), 400u);
  EXPECT_EQ(idle_stats().kv_usage, 0.0);
}

TEST_P(EngineTest, LogprobsAndPromptLogprobs) {
  make_engine(256);
  auto r = greedy("lp", ids("The capital of France is"), 5);
  r.params.logprobs = 3;
  r.params.prompt_logprobs = 2;
  Output o = run_all({r})[0];
  ASSERT_EQ(o.logprobs.size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(o.logprobs[i].sampled.token, o.ids[i]);
    EXPECT_EQ(o.logprobs[i].sampled.rank, 1) << "greedy picks the top token";
    ASSERT_EQ(o.logprobs[i].top.size(), 3u);
    EXPECT_LE(o.logprobs[i].sampled.logprob, 0.0f);
  }
  ASSERT_TRUE(o.prompt_logprobs.has_value());
  EXPECT_EQ(o.prompt_logprobs->size(), r.prompt_ids.size() - 1);
  EXPECT_EQ((*o.prompt_logprobs)[0].sampled.token, r.prompt_ids[1]);
}

TEST_P(EngineTest, DeviceSamplingMatchesTheHostSampler) {
  make_engine(256);
  // A logit_bias of 0 changes no logit but is host-only processing: the same request on the host path.
  auto on_host = [](EngineRequest r) {
    r.id += "-host";
    r.params.logit_bias[0] = 0.0f;
    return r;
  };
  auto penalized = greedy("pen", ids("The quick brown fox jumps over the lazy dog, and then the quick"), 24);
  penalized.params.repetition_penalty = 1.3f;
  penalized.params.frequency_penalty = 0.4f;
  penalized.params.presence_penalty = 0.3f;
  penalized.params.logprobs = 4;
  auto top1 = greedy("top1", ids("Once upon a time"), 16);
  top1.params.temperature = 1.0f;
  top1.params.top_k = 1;
  top1.params.top_p = 0.5f;
  top1.params.seed = 5;
  top1.params.logprobs = 0;
  const auto device = run_all({penalized, top1});
  const auto host = run_all({on_host(penalized), on_host(top1)});
  for (size_t r = 0; r < 2; ++r) {
    SCOPED_TRACE(r == 0 ? "greedy with penalties" : "top_k 1");
    EXPECT_EQ(device[r].ids, host[r].ids);
    ASSERT_EQ(device[r].logprobs.size(), host[r].logprobs.size());
    for (size_t i = 0; i < device[r].logprobs.size(); ++i) {
      const SampleLogprobs &d = device[r].logprobs[i], &h = host[r].logprobs[i];
      EXPECT_EQ(d.sampled.token, h.sampled.token);
      EXPECT_EQ(d.sampled.rank, h.sampled.rank);
      EXPECT_NEAR(d.sampled.logprob, h.sampled.logprob, 1e-4);
      ASSERT_EQ(d.top.size(), h.top.size());
      for (size_t j = 0; j < d.top.size(); ++j) {
        EXPECT_EQ(d.top[j].token, h.top[j].token);
        EXPECT_EQ(d.top[j].rank, h.top[j].rank);
        EXPECT_NEAR(d.top[j].logprob, h.top[j].logprob, 1e-4);
      }
    }
  }
  // The penalties did change the greedy text.
  auto plain = greedy("plain", penalized.prompt_ids, 24);
  EXPECT_NE(run_all({plain})[0].ids, device[0].ids);
}

// Every kind of request at once (chunked prompts, seeded top-p, penalties, logprobs, stop strings and
// stop ids, n = 2, a single token, prompt logprobs): the same outputs as with the runner on the engine
// thread, and every block back.
TEST_P(EngineTest, SameOutputsAsTheDirectRunner) {
  auto reqs = mixed_requests(14);
  reqs[1].params.temperature = 0.8f;
  reqs[1].params.top_p = 0.9f;
  reqs[1].params.seed = 11;
  reqs[2].params.repetition_penalty = 1.2f;
  reqs[2].params.presence_penalty = 0.5f;
  reqs[3].params.logprobs = 2;
  reqs[4].params.max_tokens = 1;
  reqs[5].params.n = 2;
  reqs[5].params.temperature = 1.0f;
  reqs[5].params.seed = 3;
  reqs[6].params.prompt_logprobs = 1;
  reqs[7].params.min_tokens = 3;
  reqs[7].params.logit_bias[5] = 1.5f;  // host sampling
  mode_ = Mode::kDirect;
  make_engine(512, /*max_batched=*/96);
  const auto ref = run_all(reqs);
  // Stops taken from the reference outputs: a token id and a string, each from the middle.
  reqs[8].params.stop_token_ids = {ref[8].ids[5]};
  reqs[9].params.stop = {ref[9].text.substr(ref[9].text.size() / 2, 3)};
  const auto ref_stops = run_all({reqs[8], reqs[9]});
  mode_ = GetParam();
  make_engine(512, 96);
  const auto got = run_all(reqs);
  const auto got_stops = run_all({reqs[8], reqs[9]});
  for (size_t i = 0; i < reqs.size(); ++i) {
    const Output& a = i == 8 || i == 9 ? got_stops[i - 8] : got[i];
    const Output& b = i == 8 || i == 9 ? ref_stops[i - 8] : ref[i];
    EXPECT_EQ(a.ids, b.ids) << reqs[i].id;
    EXPECT_EQ(a.text, b.text) << reqs[i].id;
    EXPECT_EQ(a.finish_reason, b.finish_reason) << reqs[i].id;
    ASSERT_EQ(a.logprobs.size(), b.logprobs.size()) << reqs[i].id;
    for (size_t j = 0; j < a.logprobs.size(); ++j) EXPECT_EQ(a.logprobs[j].sampled.token, b.logprobs[j].sampled.token);
    EXPECT_EQ(a.prompt_logprobs.has_value(), b.prompt_logprobs.has_value());
  }
  EXPECT_EQ(ref_stops[0].finish_reason, "stop");
  EXPECT_EQ(ref_stops[1].finish_reason, "stop");
  EXPECT_EQ(ref[4].ids.size(), 1u);
  const EngineStats st = idle_stats();
  EXPECT_EQ(st.kv_usage, 0.0) << "every block returned";
  if (GetParam() == Mode::kAsync) {
    EXPECT_GT(st.num_steps_ahead, 0);
  } else {
    EXPECT_EQ(st.num_steps_ahead, 0);
  }
}

// Greedy decodes only (nothing needs the host between steps): with async scheduling nearly every step
// is launched while the previous one runs, and the outputs do not change.
TEST_P(EngineTest, AsyncSchedulingRunsAheadOfEveryStep) {
  auto reqs = mixed_requests(24);
  reqs.resize(8);
  make_engine(512);
  const auto got = run_all(reqs);
  const EngineStats st = idle_stats();
  for (const Output& o : got) EXPECT_EQ(o.ids.size(), 24u);
  if (GetParam() == Mode::kAsync) {
    EXPECT_GE(st.num_steps_ahead, st.num_steps - 2) << st.num_steps;
  } else {
    EXPECT_EQ(st.num_steps_ahead, 0);
  }
  EXPECT_EQ(st.kv_usage, 0.0);
}

TEST_P(EngineTest, RejectsBadRequests) {
  make_engine(8);
  auto r = greedy("bad", std::vector<int32_t>(600, 5), 4);
  EXPECT_NE(engine_->submit(r).error().message().find("maximum context length is 512"), std::string::npos);
  r.prompt_ids = {1, 2, 999999};
  EXPECT_NE(engine_->submit(r).error().message().find("out of vocabulary"), std::string::npos);
  r.prompt_ids = std::vector<int32_t>(100, 5);
  r.params.max_tokens = 100;  // 200 tokens > 8 blocks x 16
  EXPECT_NE(engine_->submit(r).error().message().find("more than the cache holds"), std::string::npos);
  r.params.max_tokens = 4;
  r.params.temperature = -1;
  EXPECT_NE(engine_->submit(r).error().message().find("temperature"), std::string::npos);
}

}  // namespace
}  // namespace strata
