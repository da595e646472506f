// The strata binary from outside: `generate` on the fixtures (JSON output equals the transformers
// goldens), `tokenize`, the built-in model, and bad input that must give one clear line on stderr
// naming the file and the problem, a non-zero exit, and no crash.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "testutil.h"

namespace strata {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

struct CliRun {
  int code;
  std::string out, err;
};

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

CliRun run_strata(const std::vector<std::string>& args) {
  std::string dir = test::make_temp_dir("run");
  std::string cmd = quote(STRATA_BINARY);
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " >" + dir + "/out 2>" + dir + "/err";
  int status = std::system(cmd.c_str());
  CliRun r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = test::read_file(dir + "/out");
  r.err = test::read_file(dir + "/err");
  return r;
}

// A copy of a fixture model directory as users have them (real files, so tests can break them; no
// goldens).
std::string copy_fixture(const std::string& name) {
  std::string src = test::fixture_model_dir(name);
  std::string dst = test::make_temp_dir("copy-" + name);
  for (const auto& e : fs::directory_iterator(src))
    if (e.path().filename().string().rfind("golden", 0) != 0)
      fs::copy_file(fs::canonical(e.path()), fs::path(dst) / e.path().filename());
  return dst;
}

// Exit code 1 (not a crash), and the error is the last stderr line, alone: "strata generate: error: ...".
// Log lines at info level may precede it.
void expect_one_line_error(const CliRun& r, const std::string& must_contain) {
  EXPECT_EQ(r.code, 1) << r.err;
  ASSERT_FALSE(r.err.empty());
  ASSERT_EQ(r.err.back(), '\n');
  const size_t start = r.err.rfind('\n', r.err.size() - 2);
  const std::string last = r.err.substr(start == std::string::npos ? 0 : start + 1);
  EXPECT_EQ(last.rfind("strata generate: error: ", 0), 0u) << r.err;
  EXPECT_NE(last.find(must_contain), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(r.err.find("error:"), r.err.size() - last.size() + 17) << "only one error line: " << r.err;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override { STRATA_REQUIRE_TESTDATA(); }
};

TEST_F(Cli, GenerateJsonMatchesTransformersGreedyBatched) {
  std::string dir = test::fixture_model_dir("llama3");
  json golden = json::parse(test::read_file(dir + "/golden.json"));
  std::vector<std::string> args = {"generate", "--model", dir, "--temperature", "0", "--max-tokens", "32",
                                   "--ignore-eos", "--json"};
  for (const auto& c : golden["cases"]) args.insert(args.end(), {"--prompt", c["text"].get<std::string>()});
  CliRun r = run_strata(args);
  ASSERT_EQ(r.code, 0) << r.err;
  std::istringstream lines(r.out);
  std::string line;
  size_t i = 0;
  while (std::getline(lines, line)) {
    json j = json::parse(line);
    ASSERT_LT(i, golden["cases"].size());
    EXPECT_EQ(j["prompt_token_ids"], golden["cases"][i]["prompt_ids"]);
    EXPECT_EQ(j["output_token_ids"], golden["cases"][i]["greedy_ids"]);
    EXPECT_EQ(j["finish_reason"], "length");
    EXPECT_TRUE(j["text"].is_string());
    ++i;
  }
  EXPECT_EQ(i, golden["cases"].size());
}

TEST_F(Cli, Tokenize) {
  CliRun r = run_strata({"tokenize", "--model", test::fixture_model_dir("llama3"), "Hello world"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out), json::parse(R"({"ids":[128000,9906,1917]})"));
}

TEST_F(Cli, BuiltinModelRunsAndSaysItIsRandom) {
  CliRun r = run_strata({"generate", "--prompt", "San Francisco is a", "--max-tokens", "8", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["prompt_token_ids"].size(), 19u);  // <s> + 18 bytes
  EXPECT_GE(j["output_token_ids"].size(), 1u);
  EXPECT_LE(j["output_token_ids"].size(), 8u);
  EXPECT_NE(r.err.find("RANDOM weights"), std::string::npos) << r.err;
  // Same seed, same output; the dummy weights and sampling are deterministic.
  CliRun again = run_strata({"generate", "--prompt", "San Francisco is a", "--max-tokens", "8", "--json"});
  EXPECT_EQ(again.out, r.out);
}

TEST_F(Cli, MissingWeights) {
  std::string d = copy_fixture("qwen2");
  for (const auto& e : fs::directory_iterator(d))
    if (e.path().extension() == ".safetensors" || e.path().filename() == "model.safetensors.index.json")
      fs::remove(e.path());
  expect_one_line_error(run_strata({"generate", "--model", d, "-p", "hi"}), d + ": no *.safetensors weights found");
}

TEST_F(Cli, MissingTensor) {
  std::string d = copy_fixture("mistral");
  json cfg = json::parse(test::read_file(d + "/config.json"));
  cfg["num_hidden_layers"] = 4;  // the checkpoint has 3
  std::ofstream(d + "/config.json") << cfg.dump();
  expect_one_line_error(run_strata({"generate", "--model", d, "-p", "hi"}),
                        d + ": tensor 'model.layers.3.input_layernorm.weight' not found in the checkpoint");
}

TEST_F(Cli, MissingShard) {
  std::string d = copy_fixture("qwen2");
  fs::remove(d + "/model-00002-of-00002.safetensors");
  expect_one_line_error(run_strata({"generate", "--model", d, "-p", "hi"}),
                        "model-00002-of-00002.safetensors: shard listed in model.safetensors.index.json is missing");
}

TEST_F(Cli, CorruptSafetensorsHeader) {
  std::string d = copy_fixture("qwen2");
  std::fstream f(d + "/model-00002-of-00002.safetensors", std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(8);
  f.write("#garbage", 8);
  f.close();
  expect_one_line_error(run_strata({"generate", "--model", d, "-p", "hi"}),
                        "model-00002-of-00002.safetensors: header is not a valid JSON object");
}

TEST_F(Cli, TruncatedSafetensors) {
  std::string d = copy_fixture("qwen2");
  fs::resize_file(d + "/model-00001-of-00002.safetensors", 100);
  expect_one_line_error(run_strata({"generate", "--model", d, "-p", "hi"}),
                        "model-00001-of-00002.safetensors: header length");
}

TEST_F(Cli, WrongShape) {
  std::string d = copy_fixture("llama3");
  json cfg = json::parse(test::read_file(d + "/config.json"));
  cfg["intermediate_size"] = 100;
  std::ofstream(d + "/config.json") << cfg.dump();
  expect_one_line_error(run_strata({"generate", "--model", d, "-p", "hi"}),
                        "tensor 'model.layers.0.mlp.gate_proj.weight' has shape [96, 32], expected [100, 32]");
}

TEST_F(Cli, WrongDtype) {
  std::string d = copy_fixture("llama3");
  std::string path = d + "/model-00002-of-00002.safetensors";
  std::string bytes = test::read_file(path);
  size_t at = bytes.find("\"BF16\"");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 6, "\"I16\" ");  // same length: the header stays valid JSON
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  CliRun r = run_strata({"generate", "--model", d, "-p", "hi"});
  expect_one_line_error(r, "has dtype I16, expected a floating-point type");
  EXPECT_NE(r.err.find("model-00002-of-00002.safetensors"), std::string::npos);
}

TEST_F(Cli, UnsupportedArchitecture) {
  std::string d = copy_fixture("mistral");
  json cfg = json::parse(test::read_file(d + "/config.json"));
  cfg["architectures"] = {"MixtralForCausalLM"};
  std::ofstream(d + "/config.json") << cfg.dump();
  expect_one_line_error(run_strata({"generate", "--model", d, "-p", "hi"}),
                        "config.json: architecture 'MixtralForCausalLM' is not supported");
}

TEST_F(Cli, MissingTokenizer) {
  std::string d = copy_fixture("mistral");
  fs::remove(d + "/tokenizer.json");
  expect_one_line_error(run_strata({"generate", "--model", d, "-p", "hi"}), d + "/tokenizer.json");
}

TEST_F(Cli, PromptLongerThanMaxModelLen) {
  CliRun r = run_strata({"generate", "--model", test::fixture_model_dir("mistral"), "--max-model-len", "8", "-p",
                      "one two three four five six seven eight nine ten"});
  expect_one_line_error(r, "maximum context length is 8 tokens. However, your request has 11 input tokens");
}

TEST_F(Cli, NumGpuBlocksOverrideSizesTheCache) {
  // 2 blocks x 16 tokens cannot hold a 5-token prompt + 40 new tokens: refused with the reason.
  CliRun r = run_strata({"generate", "--model", test::fixture_model_dir("qwen2"), "--num-gpu-blocks-override", "2",
                         "--max-tokens", "40", "-p", "San Francisco is a"});
  expect_one_line_error(r, "more than the cache holds (32 tokens)");
  CliRun ok = run_strata({"generate", "--model", test::fixture_model_dir("qwen2"), "--num-gpu-blocks-override", "2",
                          "--max-tokens", "8", "-p", "San Francisco is a"});
  EXPECT_EQ(ok.code, 0) << ok.err;
}

TEST_F(Cli, UnknownFlagIsAnError) {
  CliRun r = run_strata({"generate", "--no-such-flag"});
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("--no-such-flag"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace strata
