// Robustness: random conversations (odd roles, non-string contents, malformed tool calls, random
// Unicode) through every real template, and randomly mutated template sources, must come back as
// a rendering or an Error value -- never a crash -- and rendering must be deterministic.
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "jinja_test_util.h"
#include "tokenizer/jinja_unicode.h"

namespace strata::test {
namespace {

using nlohmann::ordered_json;

const char* const kTemplatePaths[] = {
    "llamacpp-templates/meta-llama-Llama-3.1-8B-Instruct.jinja",
    "llamacpp-templates/meta-llama-Llama-3.2-3B-Instruct.jinja",
    "llamacpp-templates/deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja",
    "llamacpp-templates/llama-cpp-deepseek-r1.jinja",
    "llamacpp-templates/Qwen-Qwen2.5-7B-Instruct.jinja",
    "hf-tokenizers/deepseek-r1/tokenizer_config.json",
};

class RandomConversation {
 public:
  explicit RandomConversation(uint32_t seed) : rng_(seed) {}

  std::string text() {
    static const char32_t kPieces[] = {U'a',   U'Z',   U' ',    U'\n',  U'\t',  U'"',   U'\'',
                                       U'\\',  U'{',   U'}',    U'%',   U'<',   U'>',   U'|',
                                       0x00E9, 0x4E2D, 0x1F600, 0x00A0, 0x200B, 0x0001, 0x007F};
    static const char* const kWords[] = {"<think>",    "</think>", "<|eot_id|>", "{{ x }}", "{% if %}",
                                         "<｜User｜>", "\\n",      "tool",       "null",    "[1, 2]"};
    std::string s;
    int n = pick(0, 12);
    for (int i = 0; i < n; ++i) {
      if (pick(0, 3) == 0) {
        s += kWords[pick(0, 9)];
      } else {
        jinja::utf8_append(s, kPieces[pick(0, static_cast<int>(sizeof(kPieces) / sizeof(kPieces[0])) - 1)]);
      }
    }
    return s;
  }

  ordered_json scalar() {
    switch (pick(0, 6)) {
      case 0:
        return nullptr;
      case 1:
        return pick(-5, 5);
      case 2:
        return pick(0, 100) / 8.0;
      case 3:
        return pick(0, 1) == 1;
      default:
        return text();
    }
  }

  ordered_json value(int depth = 0) {
    int kind = depth > 2 ? 0 : pick(0, 5);
    if (kind == 4) {
      ordered_json a = ordered_json::array();
      for (int i = pick(0, 3); i > 0; --i) a.push_back(value(depth + 1));
      return a;
    }
    if (kind == 5) {
      ordered_json o = ordered_json::object();
      for (int i = pick(0, 3); i > 0; --i) o[text()] = value(depth + 1);
      return o;
    }
    return scalar();
  }

  ordered_json tool_call() {
    ordered_json args = pick(0, 2) == 0 ? value() : ordered_json(pick(0, 1) ? text() : "{\"a\": 1}");
    ordered_json call = {
        {"id", text()},
        {"type", pick(0, 4) ? "function" : text()},
        {"function", {{"name", pick(0, 4) ? ordered_json(text()) : value()}, {"arguments", args}}}};
    if (pick(0, 10) == 0) call.erase("function");
    return call;
  }

  ordered_json message() {
    static const char* const kRoles[] = {"user", "assistant", "system", "tool", "ipython", "developer"};
    ordered_json m = ordered_json::object();
    if (pick(0, 15) != 0) m["role"] = kRoles[pick(0, 5)];
    int content = pick(0, 9);
    if (content < 6) {
      m["content"] = text();
    } else if (content == 6) {
      m["content"] = nullptr;
    } else if (content == 7) {
      m["content"] = ordered_json::array({{{"type", "text"}, {"text", text()}}});
    } else if (content == 8) {
      m["content"] = value();
    }
    if (pick(0, 3) == 0) {
      ordered_json calls = ordered_json::array();
      for (int i = pick(0, 3); i > 0; --i) calls.push_back(tool_call());
      m["tool_calls"] = calls;
    }
    if (pick(0, 5) == 0) m["name"] = text();
    return m;
  }

  ordered_json context() {
    ordered_json messages = ordered_json::array();
    for (int i = pick(0, 6); i > 0; --i) messages.push_back(message());
    ordered_json tools = nullptr;
    if (pick(0, 2) == 0) {
      tools = ordered_json::array();
      for (int i = pick(0, 2); i > 0; --i) {
        tools.push_back({{"type", "function"},
                         {"function", {{"name", text()}, {"description", text()}, {"parameters", value()}}}});
      }
    }
    ordered_json ctx = {{"messages", messages}, {"tools", tools},
                        {"documents", nullptr}, {"add_generation_prompt", pick(0, 1) == 1},
                        {"bos_token", "<s>"},   {"eos_token", "</s>"}};
    if (pick(0, 4) == 0) ctx["builtin_tools"] = ordered_json::array({"brave_search", text()});
    if (pick(0, 4) == 0) ctx["tools_in_user_message"] = pick(0, 1) == 1;
    if (pick(0, 4) == 0) ctx["date_string"] = value();
    return ctx;
  }

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::mt19937& rng() { return rng_; }

 private:
  std::mt19937 rng_;
};

TEST(ChatTemplateFuzz, RandomConversationsNeverCrash) {
  STRATA_REQUIRE_TESTDATA();
  RandomConversation gen(1234);
  const jinja::LocalTime now{2025, 1, 2, 3, 4, 5, 6};
  int rendered = 0;
  int failed = 0;
  for (const char* path : kTemplatePaths) {
    auto tpl = ChatTemplate::parse(load_testdata_template(path));
    ASSERT_TRUE(tpl.ok()) << path << ": " << tpl.error().message();
    tpl->set_clock([now] { return now; });
    for (int i = 0; i < 250; ++i) {
      ordered_json ctx = gen.context();
      auto first = tpl->render(ctx);
      auto second = tpl->render(ctx);
      ASSERT_EQ(first.ok(), second.ok()) << path;
      if (first.ok()) {
        EXPECT_EQ(*first, *second) << path;
        ++rendered;
      } else {
        EXPECT_FALSE(first.error().message().empty()) << path << " " << ctx.dump();
        EXPECT_EQ(first.error().message(), second.error().message());
        ++failed;
      }
    }
  }
  // Both outcomes occur: valid-looking conversations render, malformed ones fail cleanly.
  EXPECT_GT(rendered, 100);
  EXPECT_GT(failed, 100);
}

TEST(ChatTemplateFuzz, MutatedTemplatesNeverCrash) {
  STRATA_REQUIRE_TESTDATA();
  RandomConversation gen(99);
  static const char kAlphabet[] = "{}%#-+()[]'\"|.,:~=!<> \n\tifendforsetmacroxy0123456789\\";
  int parsed = 0;
  for (const char* path : kTemplatePaths) {
    const std::string source = load_testdata_template(path);
    for (int i = 0; i < 150; ++i) {
      std::string s = source;
      for (int edits = gen.pick(1, 6); edits > 0; --edits) {
        size_t pos = static_cast<size_t>(gen.pick(0, static_cast<int>(s.size())));
        switch (gen.pick(0, 3)) {
          case 0:
            s.insert(pos, 1, kAlphabet[gen.pick(0, static_cast<int>(sizeof(kAlphabet)) - 2)]);
            break;
          case 1:
            if (pos < s.size()) s.erase(pos, static_cast<size_t>(gen.pick(1, 8)));
            break;
          case 2: {
            size_t from = static_cast<size_t>(gen.pick(0, static_cast<int>(s.size())));
            s.insert(pos, s.substr(from, static_cast<size_t>(gen.pick(1, 40))));
            break;
          }
          default:
            s = s.substr(0, pos);
        }
      }
      auto tpl = ChatTemplate::parse(s);
      if (!tpl.ok()) {
        EXPECT_EQ(tpl.error().message().rfind("syntax error on line ", 0), 0u) << tpl.error().message();
        continue;
      }
      ++parsed;
      auto out = tpl->render(gen.context());
      if (!out.ok()) {
        EXPECT_FALSE(out.error().message().empty());
      }
    }
  }
  EXPECT_GT(parsed, 50);
}

TEST(ChatTemplateFuzz, LongConversationRendersQuickly) {
  STRATA_REQUIRE_TESTDATA();
  auto tpl = ChatTemplate::parse(
      load_testdata_template("llamacpp-templates/meta-llama-Llama-3.1-8B-Instruct.jinja"));
  ASSERT_TRUE(tpl.ok());
  ordered_json messages = ordered_json::array();
  std::string content(2000, 'x');
  for (int i = 0; i < 1000; ++i) {
    messages.push_back({{"role", i % 2 ? "assistant" : "user"}, {"content", content + std::to_string(i)}});
  }
  ordered_json ctx = {
      {"messages", messages}, {"add_generation_prompt", true}, {"bos_token", "<|begin_of_text|>"}};
  auto start = std::chrono::steady_clock::now();
  auto out = tpl->render(ctx);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_GT(out->size(), 2000u * 1000u);
  EXPECT_LT(ms, 2000.0);
}

}  // namespace
}  // namespace strata::test
