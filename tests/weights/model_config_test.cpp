// config.json parsing: the real Llama 3.x configs, the transformers 5 rope_parameters spelling,
// the fixtures, and errors that name the file and field.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "testutil.h"
#include "weights/model_config.h"

namespace strata {
namespace {
using nlohmann::json;

TEST(ModelConfig, RealLlama31_8B) {
  STRATA_REQUIRE_TESTDATA();
  std::string src = test::testdata_dir() + "/llama3-hf-configs/Llama-3.1-8B.config.json";
  auto c = parse_model_config(json::parse(test::read_file(src)), src);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->architecture, "LlamaForCausalLM");
  EXPECT_EQ(c->vocab_size, 128256);
  EXPECT_EQ(c->hidden_size, 4096);
  EXPECT_EQ(c->num_key_value_heads, 8);
  EXPECT_EQ(c->head_dim, 128);
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_EQ(c->rope_scaling.factor, 8.0);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 8192);
  EXPECT_EQ(c->rope_theta, 500000.0);
  EXPECT_EQ(c->max_position_embeddings, 131072);
  EXPECT_FALSE(c->tie_word_embeddings);
  EXPECT_EQ(c->dtype, DType::kBF16);
}

TEST(ModelConfig, RealLlama32_1B_TiedAndGenerationConfig) {
  STRATA_REQUIRE_TESTDATA();
  std::string dir = test::make_temp_dir("cfg");
  std::string base = test::testdata_dir() + "/llama3-hf-configs/Llama-3.2-1B.";
  std::ofstream(dir + "/config.json") << test::read_file(base + "config.json");
  std::ofstream(dir + "/generation_config.json") << test::read_file(base + "generation_config.json");
  auto c = load_model_config(dir);
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_TRUE(c->tie_word_embeddings);
  EXPECT_EQ(c->head_dim, 64);
  EXPECT_EQ(c->num_hidden_layers, 16);
  EXPECT_FALSE(c->eos_token_ids.empty());
}

TEST(ModelConfig, FixturesParse) {
  for (const char* m : {"llama3", "qwen2", "mistral"}) {
    auto c = load_model_config(test::fixtures_dir() + "/models/" + m);
    ASSERT_TRUE(c.ok()) << c.error().message();
  }
  auto q = load_model_config(test::fixtures_dir() + "/models/qwen2");
  EXPECT_TRUE(q->attention_bias);
  EXPECT_FALSE(q->o_proj_bias);
  EXPECT_EQ(q->rope_scaling.type, RopeScaling::Type::kYarn);
  EXPECT_EQ(q->eos_token_ids, (std::vector<int64_t>{151645, 151643}));  // generation_config.json wins
  auto m = load_model_config(test::fixtures_dir() + "/models/mistral");
  EXPECT_EQ(m->rope_scaling.type, RopeScaling::Type::kLinear);
  EXPECT_FALSE(m->sliding_window.has_value());
}

TEST(ModelConfig, TransformersV5RopeParameters) {
  json j = {{"architectures", {"LlamaForCausalLM"}}, {"vocab_size", 100}, {"hidden_size", 64},
            {"intermediate_size", 128}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
            {"rope_parameters", {{"rope_type", "dynamic"}, {"rope_theta", 12345.0}, {"factor", 2.0}}}};
  auto c = parse_model_config(j, "config.json");
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->rope_theta, 12345.0);
  EXPECT_EQ(c->rope_scaling.type, RopeScaling::Type::kDynamic);
  EXPECT_EQ(c->num_key_value_heads, 4);
  EXPECT_EQ(c->head_dim, 16);
}

TEST(ModelConfig, ErrorsNameFileAndField) {
  json base = {{"architectures", {"LlamaForCausalLM"}}, {"vocab_size", 100}, {"hidden_size", 64},
               {"intermediate_size", 128}, {"num_hidden_layers", 2}, {"num_attention_heads", 4}};
  auto err = [&](json j) {
    auto c = parse_model_config(j, "/m/config.json");
    return c.ok() ? std::string("<ok>") : c.error().message();
  };
  json a = base;
  a["architectures"] = {"GPT2LMHeadModel"};
  EXPECT_EQ(err(a), "/m/config.json: architecture 'GPT2LMHeadModel' is not supported (supported: "
                    "LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM)");
  json b = base;
  b.erase("hidden_size");
  EXPECT_EQ(err(b), "/m/config.json: field 'hidden_size' is missing");
  json c = base;
  c["num_attention_heads"] = "four";
  EXPECT_EQ(err(c), "/m/config.json: field 'num_attention_heads' must be an integer, got \"four\"");
  json d = base;
  d["rope_scaling"] = {{"rope_type", "longrope"}, {"factor", 2.0}};
  EXPECT_NE(err(d).find("rope_scaling.rope_type 'longrope' is not supported"), std::string::npos);
  json e = base;
  e["num_key_value_heads"] = 3;
  EXPECT_NE(err(e).find("'num_key_value_heads' must divide"), std::string::npos);
  EXPECT_NE(load_model_config("/nonexistent/dir").error().message().find("/nonexistent/dir"), std::string::npos);
}

}  // namespace
}  // namespace strata
