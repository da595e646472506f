// Model parity against Hugging Face transformers goldens (tools/make_model_fixtures.py): the tiny
// random-weight Llama 3 / Qwen2 / Mistral checkpoints in tests/fixtures/models, loaded from their
// real on-disk layout with the real tokenizers. Prompt ids, all-position logits statistics,
// last-position logits (1e-3 relative) and 32 greedy tokens must match.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "runtime/model_loader.h"
#include "testutil.h"
#include "weights/safetensors.h"

namespace strata {
namespace {

using nlohmann::json;

class ModelParity : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    STRATA_REQUIRE_TESTDATA();
    dir_ = test::fixture_model_dir(GetParam());
    golden_ = json::parse(test::read_file(dir_ + "/golden.json"));
    LoadOptions o;
    o.model = dir_;
    o.max_model_len = 256;
    o.device = test::test_device();
    o.dtype = "float32";
    auto m = load_model(o);
    ASSERT_TRUE(m.ok()) << m.error().message();
    model_ = std::make_unique<LoadedModel>(std::move(m).value());
    cache_ = model_->model->allocate_kv_cache(64, 16);
    runner_ = std::make_unique<ModelRunner>(*model_->model, *model_->backend, cache_);
  }

  // All-position logits of one prompt run alone: [len, vocab].
  std::vector<float> all_logits(const std::vector<int32_t>& ids, int block_size_blocks_offset = 0) {
    std::vector<int32_t> table;
    for (int b = 0; b < 16; ++b) table.push_back(block_size_blocks_offset + b);
    SeqChunk c{ids, 0, table, true, true};
    return runner_->step(std::span<const SeqChunk>(&c, 1));
  }

  std::string dir_;
  json golden_;
  std::unique_ptr<LoadedModel> model_;
  KvCache cache_;
  std::unique_ptr<ModelRunner> runner_;
};

TEST_P(ModelParity, PromptIdsMatchTransformersTokenizer) {
  for (const auto& c : golden_["cases"]) {
    auto ids = model_->tokenizer->encode(c["text"].get<std::string>(), true);
    EXPECT_EQ(ids, c["prompt_ids"].get<std::vector<int32_t>>()) << c["text"];
  }
}

TEST_P(ModelParity, LogitsMatchTransformers) {
  auto ref = SafetensorsFile::open(dir_ + "/golden_logits.safetensors");
  ASSERT_TRUE(ref.ok()) << ref.error().message();
  const int64_t vocab = model_->config.vocab_size;
  for (size_t i = 0; i < golden_["cases"].size(); ++i) {
    const auto& c = golden_["cases"][i];
    auto ids = c["prompt_ids"].get<std::vector<int32_t>>();
    std::vector<float> logits = all_logits(ids);
    ASSERT_EQ(logits.size(), ids.size() * vocab);
    // Every position: mean, std, min, max, argmax.
    for (size_t p = 0; p < ids.size(); ++p) {
      const float* row = logits.data() + p * vocab;
      double sum = 0, sq = 0, mn = INFINITY, mx = -INFINITY;
      int64_t am = 0;
      for (int64_t v = 0; v < vocab; ++v) {
        sum += row[v];
        sq += static_cast<double>(row[v]) * row[v];
        mn = std::min<double>(mn, row[v]);
        if (row[v] > mx) mx = row[v], am = v;
      }
      const auto& s = c["position_stats"][p];
      const double mean = sum / vocab, sd = std::sqrt(std::max(0.0, sq / vocab - mean * mean));
      const double scale = std::max(1.0, s["max"].get<double>() - s["min"].get<double>());
      EXPECT_NEAR(mean, s["mean"].get<double>(), 1e-3 * scale) << "position " << p;
      EXPECT_NEAR(sd, s["std"].get<double>(), 1e-3 * scale) << "position " << p;
      EXPECT_NEAR(mn, s["min"].get<double>(), 1e-3 * scale) << "position " << p;
      EXPECT_NEAR(mx, s["max"].get<double>(), 1e-3 * scale) << "position " << p;
      EXPECT_EQ(am, s["argmax"].get<int64_t>()) << "position " << p;
    }
    // Last position, every vocabulary entry, within 1e-3 relative to the row's magnitude.
    TensorView want = (*ref)->view("prompt" + std::to_string(i));
    ASSERT_EQ(want.numel(), vocab);
    const float* got = logits.data() + (ids.size() - 1) * vocab;
    double max_abs = 0, max_err = 0;
    for (int64_t v = 0; v < vocab; ++v) {
      max_abs = std::max(max_abs, std::fabs(static_cast<double>(want.as<float>()[v])));
      max_err = std::max(max_err, std::fabs(static_cast<double>(got[v]) - want.as<float>()[v]));
    }
    EXPECT_LE(max_err, 1e-3 * max_abs) << "case " << i << ": max |error| " << max_err << " vs max |logit| " << max_abs;
  }
}

TEST_P(ModelParity, GreedyTokensMatchTransformersBatched) {
  // All prompts submitted at once to the engine (one batch over the paged cache): each must produce
  // transformers' 32 greedy tokens.
  EngineConfig ec;
  ec.scheduler.max_model_len = model_->max_model_len;
  ec.num_blocks = static_cast<int32_t>(cache_.num_blocks);
  ec.block_size = cache_.block_size;
  Engine engine(*runner_, *model_->tokenizer, model_->config, ec);
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const auto& c : golden_["cases"]) {
    EngineRequest r;
    r.id = c["text"].get<std::string>();
    r.prompt_ids = c["prompt_ids"].get<std::vector<int32_t>>();
    r.params.temperature = 0;
    r.params.max_tokens = static_cast<int64_t>(c["greedy_ids"].size());
    r.params.ignore_eos = true;
    auto s = engine.submit(std::move(r));
    ASSERT_TRUE(s.ok()) << s.error().message();
    streams.push_back(*s);
  }
  for (size_t i = 0; i < streams.size(); ++i) {
    std::vector<int32_t> ids;
    std::string reason;
    while (!streams[i]->done())
      for (const auto& e : streams[i]->next()) {
        ids.insert(ids.end(), e.token_ids.begin(), e.token_ids.end());
        if (e.finished) reason = e.finish_reason;
      }
    EXPECT_EQ(ids, golden_["cases"][i]["greedy_ids"].get<std::vector<int32_t>>()) << "case " << i;
    EXPECT_EQ(reason, "length");
  }
}

TEST_P(ModelParity, ChunkedAndBatchedPrefillEqualsWholePrompt) {
  // Prefill split into two chunks (second chunk reading the first's KV from the cache), batched with
  // another sequence, gives the same last-position logits as the whole prompt alone.
  const auto ids = golden_["cases"][1]["prompt_ids"].get<std::vector<int32_t>>();
  const auto other = golden_["cases"][0]["prompt_ids"].get<std::vector<int32_t>>();
  const int64_t vocab = model_->config.vocab_size;
  std::vector<float> whole = all_logits(ids);
  std::vector<int32_t> table_a = {7, 3, 9, 1}, table_b = {20, 21};
  const size_t split = ids.size() / 2;
  SeqChunk first{std::span<const int32_t>(ids).first(split), 0, table_a, false, false};
  runner_->step(std::span<const SeqChunk>(&first, 1));
  SeqChunk chunks[2] = {{other, 0, table_b, true, false},
                        {std::span<const int32_t>(ids).subspan(split), static_cast<int32_t>(split), table_a, true, false}};
  std::vector<float> both = runner_->step(chunks);
  ASSERT_EQ(both.size(), 2 * static_cast<size_t>(vocab));
  for (int64_t v = 0; v < vocab; ++v)
    ASSERT_NEAR(both[vocab + v], whole[(ids.size() - 1) * vocab + v], 1e-4) << "vocab " << v;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelParity, ::testing::Values("llama3", "qwen2", "mistral"));

}  // namespace
}  // namespace strata
