// The real chat templates of the testdata rendered byte-identically to Python jinja2 as transformers
// configures it (goldens from tools/make_chat_template_goldens.py), the huggingface.js end-to-end
// renderings, and ollama's llama3-instruct / chatml renderings.
#include <gtest/gtest.h>

#include <filesystem>

#include "jinja_test_util.h"

namespace strata::test {
namespace {

std::string goldens_path() {
  return fixtures_dir() + "/chat_templates/goldens.json";
}

TEST(ChatTemplateGolden, RealTemplatesMatchJinja2) {
  STRATA_REQUIRE_TESTDATA();
  auto goldens = read_ordered_json(goldens_path());
  const jinja::LocalTime now = local_time_from_json(goldens.at("now"));
  const auto& cases = goldens.at("cases");
  ASSERT_GE(cases.size(), 100u);
  size_t passed = 0;
  size_t errors = 0;
  for (const auto& c : cases) {
    const std::string name = c.at("name").get<std::string>();
    SCOPED_TRACE(name);
    auto out =
        render_template(load_testdata_template(c.at("template").get<std::string>()), c.at("context"), &now);
    if (c.contains("expected")) {
      ASSERT_TRUE(out.ok()) << out.error().message();
      EXPECT_EQ(*out, c.at("expected").get<std::string>());
      passed += *out == c.at("expected").get<std::string>();
    } else {
      ASSERT_FALSE(out.ok()) << "rendered although jinja2 failed with " << c.at("expected_error");
      // raise_exception() messages and Python's runtime error texts are reproduced exactly.
      EXPECT_EQ(out.error().message(), c.at("expected_error").get<std::string>());
      passed += out.error().message() == c.at("expected_error").get<std::string>();
      ++errors;
    }
  }
  EXPECT_EQ(passed, cases.size());
  EXPECT_GT(errors, 0u);
}

TEST(ChatTemplateGolden, RaiseExceptionMessageIsExact) {
  STRATA_REQUIRE_TESTDATA();
  // Llama 3.1 refuses parallel tool calls through raise_exception(); the server returns the text.
  auto tpl = ChatTemplate::parse(
      load_testdata_template("llamacpp-templates/meta-llama-Llama-3.1-8B-Instruct.jinja"));
  ASSERT_TRUE(tpl.ok()) << tpl.error().message();
  auto call = [](const char* id) {
    return nlohmann::ordered_json{
        {"id", id},
        {"type", "function"},
        {"function", {{"name", "f"}, {"arguments", nlohmann::ordered_json::object()}}}};
  };
  nlohmann::ordered_json ctx = {
      {"messages",
       {{{"role", "user"}, {"content", "hi"}},
        {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", {call("a"), call("b")}}}}},
      {"add_generation_prompt", true},
      {"bos_token", "<|begin_of_text|>"}};
  auto out = tpl->render(ctx);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message(), "This model only supports single tool-calls at once!");
}

TEST(ChatTemplateGolden, HuggingfaceJsEndToEndCases) {
  STRATA_REQUIRE_TESTDATA();
  auto cases = read_ordered_json(testdata_dir() +
                                 "/chat-template-expected/hfjs_e2e_cases.llama31_deepseekr1_qwen25.json");
  ASSERT_EQ(cases.size(), 3u);
  for (auto it = cases.begin(); it != cases.end(); ++it) {
    SCOPED_TRACE(it.key());
    auto out = render_template(it.value().at("chat_template").get<std::string>(), it.value().at("data"));
    ASSERT_TRUE(out.ok()) << out.error().message();
    EXPECT_EQ(*out, it.value().at("target").get<std::string>());
  }
}

// ollama's template testdata (chat-template-expected/*.txt) are the renderings of the Hugging Face
// Meta-Llama-3-8B-Instruct template (bos_token empty) and of the standard ChatML template, with
// add_generation_prompt=True, for the three conversations of ollama's template tests.
constexpr const char* kLlama3Template =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = "
    "'<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
    "'<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    "{% endif %}";
constexpr const char* kChatmlTemplate =
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% "
    "endif %}";

nlohmann::ordered_json ollama_conversation(const std::string& name) {
  nlohmann::ordered_json system = {{"role", "system"}, {"content", "You are a helpful assistant."}};
  nlohmann::ordered_json user1 = {{"role", "user"}, {"content", "Hello, how are you?"}};
  nlohmann::ordered_json assistant = {{"role", "assistant"},
                                      {"content", "I'm doing great. How can I help you today?"}};
  nlohmann::ordered_json user2 = {{"role", "user"},
                                  {"content", "I'd like to show off how chat templating works!"}};
  if (name == "user") return nlohmann::ordered_json::array({user1});
  if (name == "user-assistant-user") return nlohmann::ordered_json::array({user1, assistant, user2});
  return nlohmann::ordered_json::array({system, user1, assistant, user2});
}

TEST(ChatTemplateGolden, OllamaLlama3AndChatmlRenderings) {
  STRATA_REQUIRE_TESTDATA();
  int checked = 0;
  for (const char* family : {"llama3-instruct", "chatml"}) {
    for (const char* conversation : {"user", "user-assistant-user", "system-user-assistant-user"}) {
      SCOPED_TRACE(std::string(family) + "." + conversation);
      std::string expected =
          read_file(testdata_dir() + "/chat-template-expected/" + family + "." + conversation + ".txt");
      nlohmann::ordered_json ctx = {{"messages", ollama_conversation(conversation)},
                                    {"add_generation_prompt", true},
                                    {"bos_token", ""}};
      auto out = render_template(std::string(family) == "chatml" ? kChatmlTemplate : kLlama3Template, ctx);
      ASSERT_TRUE(out.ok()) << out.error().message();
      EXPECT_EQ(*out, expected);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 6);
}

// The special tokens the golden contexts were built with are what load_chat_template_config reads,
// and make_chat_context rebuilds the same contexts.
TEST(ChatTemplateGolden, ConfigSpecialTokensAndContextMatchTransformers) {
  STRATA_REQUIRE_TESTDATA();
  namespace fs = std::filesystem;
  auto goldens = read_ordered_json(goldens_path());
  const auto& tokens = goldens.at("special_tokens");
  for (auto it = tokens.begin(); it != tokens.end(); ++it) {
    SCOPED_TRACE(it.key());
    std::string src = testdata_dir() + "/" + it.key();
    std::string dir = src;
    if (!fs::is_directory(src)) {  // deepseek-tokenizer-config/<name>.tokenizer_config.json
      dir = make_temp_dir("chat-config");
      fs::copy_file(src + ".tokenizer_config.json", dir + "/tokenizer_config.json");
    }
    auto config = load_chat_template_config(dir);
    ASSERT_TRUE(config.ok()) << config.error().message();
    EXPECT_EQ(config->special_tokens, it.value());
    EXPECT_TRUE(config->chat_template.has_value());
  }
  for (const auto& c : goldens.at("cases")) {
    const std::string name = c.at("name").get<std::string>();
    if (name.rfind("llamacpp-templates/", 0) == 0) continue;
    SCOPED_TRACE(name);
    std::string dir = testdata_dir() + "/" + c.at("template").get<std::string>();
    dir = dir.substr(0, dir.rfind('/'));
    if (name.rfind("deepseek-tokenizer-config/", 0) == 0) continue;
    auto config = load_chat_template_config(dir);
    ASSERT_TRUE(config.ok()) << config.error().message();
    const auto& want = c.at("context");
    nlohmann::ordered_json extra = nlohmann::ordered_json::object();
    for (auto it = want.begin(); it != want.end(); ++it) {
      if (it.key() != "messages" && it.key() != "tools" && it.key() != "documents" &&
          it.key() != "add_generation_prompt" && !config->special_tokens.contains(it.key())) {
        extra[it.key()] = it.value();
      }
    }
    auto got = make_chat_context(*config, want.at("messages"), want.at("tools"), want.at("documents"),
                                 want.at("add_generation_prompt").get<bool>(), extra);
    EXPECT_EQ(got, want);
  }
}

}  // namespace
}  // namespace strata::test
