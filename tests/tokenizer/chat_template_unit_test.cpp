// Hand-written checks of the chat template engine: whitespace control, undefined values, error
// values (raise_exception text, syntax errors with line numbers), strftime_now's clock hook, tojson
// and Python repr output, and the model-directory / --chat-template helpers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "jinja_test_util.h"

namespace strata::test {
namespace {

using nlohmann::ordered_json;

TEST(ChatTemplateWhitespace, TrimBlocksLstripBlocksAndDashes) {
  ordered_json ctx = {{"msgs", {"a", "b"}}};
  EXPECT_EQ(render_or_error("{% if true %}\n  yes\n{% endif %}\n"), "  yes\n");
  EXPECT_EQ(render_or_error("<div>\n    {% if true %}\n    yes\n    {% endif %}\n</div>"),
            "<div>\n    yes\n</div>");
  EXPECT_EQ(render_or_error("a  {%- if true -%}  b  {%- endif -%}  c"), "abc");
  EXPECT_EQ(render_or_error("{% for x in [1, 2] -%}\n  {{ x }}\n{%- endfor %}"), "12");
  EXPECT_EQ(render_or_error("  {%+ if true %}x{% endif %}"), "  x");
  EXPECT_EQ(render_or_error("{{ 'a' }}\n{{ 'b' }}\n"), "a\nb");
  EXPECT_EQ(render_or_error("x {# comment #}\ny\n  {# own line #}\nz"), "x y\nz");
  EXPECT_EQ(render_or_error("{% raw %}{{ not rendered }}{% endraw %}"), "{{ not rendered }}");
  EXPECT_EQ(render_or_error("line\r\nnext\rlast\n"), "line\nnext\nlast");
  EXPECT_EQ(render_or_error("{{- '  x  ' -}}   \n  y"), "  x  y");
  EXPECT_EQ(render_or_error("{% set t = 1 %}\n\n{{ t }}"), "\n1");
  EXPECT_EQ(render_or_error("{%- for m in msgs %}\n  {{- m }}\n{%- endfor %}\n", ctx), "ab");
}

TEST(ChatTemplateUndefined, BehavesLikeJinja2Undefined) {
  EXPECT_EQ(render_or_error("[{{ missing }}]"), "[]");
  EXPECT_EQ(render_or_error("{% if missing %}t{% else %}f{% endif %}"), "f");
  EXPECT_EQ(render_or_error("{{ missing is defined }}{{ missing is undefined }}{{ missing is none }}"),
            "FalseTrueFalse");
  EXPECT_EQ(render_or_error("{{ missing | length }}{{ missing | default('d') }}{{ missing ~ 'x' }}"), "0dx");
  EXPECT_EQ(render_or_error("{% for x in missing %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render_or_error("{{ missing == missing }}{{ 'a' in missing }}"), "TrueFalse");
  // A missing key is undefined; using it in arithmetic, attribute access or calls fails.
  ordered_json ctx = {{"m", {{"role", "user"}}}};
  EXPECT_EQ(render_or_error("{{ m.content is defined }}|{{ m['content'] }}|", ctx), "False||");
  EXPECT_EQ(render_or_error("{{ 'x' + m.content }}", ctx), "ERROR: 'dict object' has no attribute 'content'");
  EXPECT_EQ(render_or_error("{{ missing.attr }}"), "ERROR: 'missing' is undefined");
  EXPECT_EQ(render_or_error("{{ missing[0] }}"), "ERROR: 'missing' is undefined");
  EXPECT_EQ(render_or_error("{{ missing() }}"), "ERROR: 'missing' is undefined");
  EXPECT_EQ(render_or_error("{{ [1][5] }}|{{ {}.x }}|{{ none.x }}"), "||");
  EXPECT_EQ(render_or_error("{{ ([1][5]) + 1 }}"), "ERROR: list object has no element 5");
}

TEST(ChatTemplateErrors, RaiseExceptionReturnsTheExactMessage) {
  auto out = render_template(
      "before{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}",
      ordered_json::object());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message(), "Conversation roles must alternate user/assistant/user/assistant/...");
  out = render_template("{% if true %}{{ raise_exception(\"Ünïcode 'quotes' \\\"x\\\"\") }}{% endif %}",
                        ordered_json::object());
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message(), "Ünïcode 'quotes' \"x\"");
}

TEST(ChatTemplateErrors, SyntaxErrorsNameTheLine) {
  auto tpl = ChatTemplate::parse("line one\n\n{{ x | nosuchfilter }}\n");
  ASSERT_FALSE(tpl.ok());
  EXPECT_EQ(tpl.error().message(), "syntax error on line 3: No filter named 'nosuchfilter'.");
  // Inside an if block an unknown filter only fails when it runs (jinja2's soft frames).
  EXPECT_EQ(render_or_error("{% if x %}{{ x | nosuchfilter }}{% endif %}ok"), "ok");
  EXPECT_EQ(render_or_error("{% if true %}{{ 1 | nosuchfilter }}{% endif %}"),
            "ERROR: No filter named 'nosuchfilter' found.");
  tpl = ChatTemplate::parse("{% for m in messages %}\n\n{{ m }\n{% endfor %}");
  ASSERT_FALSE(tpl.ok());
  EXPECT_EQ(tpl.error().message(), "syntax error on line 3: unexpected '}'");
  tpl = ChatTemplate::parse("a\n{% if true %}\nb");
  ASSERT_FALSE(tpl.ok());
  EXPECT_EQ(tpl.error().message().rfind("syntax error on line 3: Unexpected end of template.", 0), 0u)
      << tpl.error().message();
  tpl = ChatTemplate::parse("{% include 'other.jinja' %}");
  ASSERT_FALSE(tpl.ok());
  tpl = ChatTemplate::parse("{# never closed");
  ASSERT_FALSE(tpl.ok());
  EXPECT_EQ(tpl.error().message(), "syntax error on line 1: Missing end of comment tag");
}

TEST(ChatTemplateErrors, ContextMustBeAnObjectAndRecursionIsBounded) {
  auto tpl = ChatTemplate::parse("x");
  ASSERT_TRUE(tpl.ok());
  EXPECT_FALSE(tpl->render(ordered_json::array()).ok());
  auto deep =
      render_template("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", ordered_json::object());
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().message(), "maximum recursion depth exceeded");
}

TEST(ChatTemplateClock, StrftimeNowUsesTheInjectedClock) {
  auto tpl =
      ChatTemplate::parse("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%dT%H:%M:%S.%f %A %j') }}");
  ASSERT_TRUE(tpl.ok());
  tpl->set_clock([] { return jinja::LocalTime{2024, 2, 29, 23, 59, 58, 7}; });
  auto out = tpl->render(ordered_json::object());
  ASSERT_TRUE(out.ok()) << out.error().message();
  EXPECT_EQ(*out, "29 Feb 2024|2024-02-29T23:59:58.000007 Thursday 060");
  // Without a hook the wall clock is used.
  auto now = render_template("{{ strftime_now('%Y') | int > 2000 }}", ordered_json::object());
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(*now, "True");
}

TEST(ChatTemplateJson, TojsonMatchesPythonJsonDumps) {
  ordered_json ctx = {{"t",
                       {{"name", "f"},
                        {"description", "Ünï \"q\" \n\u0001"},
                        {"n", 1.5},
                        {"i", 3},
                        {"b", true},
                        {"z", nullptr},
                        {"l", ordered_json::array()},
                        {"o", ordered_json::object()}}}};
  EXPECT_EQ(
      render_or_error("{{ t | tojson }}", ctx),
      "{\"name\": \"f\", \"description\": \"Ünï \\\"q\\\" \\n\\u0001\", \"n\": 1.5, \"i\": 3, \"b\": true, "
      "\"z\": null, \"l\": [], \"o\": {}}");
  EXPECT_EQ(render_or_error("{{ {'b': [1, {'c': 2}]} | tojson(indent=2) }}"),
            "{\n  \"b\": [\n    1,\n    {\n      \"c\": 2\n    }\n  ]\n}");
  EXPECT_EQ(render_or_error("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true, separators=(',', ':')) }}"),
            "{\"a\":2,\"b\":1}");
  EXPECT_EQ(render_or_error("{{ 'é😀' | tojson(ensure_ascii=true) }}"), "\"\\u00e9\\ud83d\\ude00\"");
  // Generators (map/select) are not JSON serializable, exactly as in Python.
  EXPECT_EQ(render_or_error("{{ [1] | map('string') | tojson }}"),
            "ERROR: Object of type generator is not JSON serializable");
}

TEST(ChatTemplateRepr, PrintsPythonStrAndRepr) {
  EXPECT_EQ(render_or_error("{{ [1, 2.0, 'a', \"it's\", none, true, {'k': (1,)}] }}"),
            "[1, 2.0, 'a', \"it's\", None, True, {'k': (1,)}]");
  EXPECT_EQ(render_or_error("{{ 1e16 }} {{ 1e-5 }} {{ 0.1 + 0.2 }} {{ 1/3 }} {{ 10 / 2 }}"),
            "1e+16 1e-05 0.30000000000000004 0.3333333333333333 5.0");
  EXPECT_EQ(render_or_error("{{ ['\\n\\t\\x01é'] }}"), "['\\n\\t\\x01é']");
}

TEST(ChatTemplateJson, PlainJsonOverloadSortsKeys) {
  auto tpl = ChatTemplate::parse("{{ x | tojson }}");
  ASSERT_TRUE(tpl.ok());
  nlohmann::json sorted = {{"x", {{"b", 1}, {"a", 2}}}};
  auto out = tpl->render(sorted);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "{\"a\": 2, \"b\": 1}");
}

TEST(ChatTemplateContentFormat, DetectsLoopsOverMessageContent) {
  auto format = [](const std::string& source) {
    auto tpl = ChatTemplate::parse(source);
    return tpl.ok() ? tpl->content_format() : "ERROR: " + tpl.error().message();
  };
  EXPECT_EQ(format("{% for m in messages %}{{ m['content'] | trim }}{% endfor %}"), "string");
  EXPECT_EQ(
      format("{% for message in messages %}{% for part in message['content'] %}{{ part.text }}{% endfor %}"
             "{% endfor %}"),
      "openai");
  EXPECT_EQ(format("{% set loop_messages = messages[1:] %}{% for m in loop_messages %}"
                   "{% for c in m.content | selectattr('type', 'equalto', 'text') %}{{ c.text }}{% endfor %}"
                   "{% endfor %}"),
            "openai");
  EXPECT_EQ(format("{% for c in content %}{% endfor %}{% for m in messages %}{{ m.content }}{% endfor %}"),
            "string");
}

TEST(ChatTemplateErrors, DeeplyNestedInputIsRefused) {
  auto tpl = ChatTemplate::parse("{{ x | length }}");
  ASSERT_TRUE(tpl.ok());
  ordered_json deep = 1;
  for (int i = 0; i < 300; ++i) deep = ordered_json::array({deep});
  auto out = tpl->render(ordered_json{{"x", deep}});
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.error().message(), "chat template context is nested deeper than 256 levels");
  EXPECT_FALSE(
      ChatTemplate::parse("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}").ok());
  std::string nested_ifs;
  for (int i = 0; i < 5000; ++i) nested_ifs += "{% if 1 %}";
  EXPECT_FALSE(ChatTemplate::parse(nested_ifs).ok());
}

class ChatTemplateConfigTest : public ::testing::Test {
 protected:
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << text;
  }
  std::string dir_ = make_temp_dir("chat-template-config");
};

TEST_F(ChatTemplateConfigTest, NamedTemplatesAndAddedTokens) {
  write("tokenizer_config.json", R"({
    "bos_token": {"__type": "AddedToken", "content": "<s>"},
    "eos_token": "</s>",
    "pad_token": null,
    "additional_special_tokens": ["<x>", {"content": "<y>"}],
    "chat_template": [{"name": "default", "template": "D"}, {"name": "tool_use", "template": "T"}]
  })");
  auto config = load_chat_template_config(dir_);
  ASSERT_TRUE(config.ok()) << config.error().message();
  EXPECT_EQ(config->bos_token, "<s>");
  EXPECT_EQ(config->eos_token, "</s>");
  EXPECT_EQ(config->special_tokens.dump(),
            R"({"bos_token":"<s>","eos_token":"</s>","additional_special_tokens":["<x>","<y>"]})");
  EXPECT_EQ(config->chat_template, "D");
  EXPECT_EQ(select_chat_template(*config, "", false).value(), "D");
  EXPECT_EQ(select_chat_template(*config, "", true).value(), "T");
  EXPECT_EQ(select_chat_template(*config, "tool_use", false).value(), "T");
  EXPECT_FALSE(select_chat_template(*config, "rag", false).ok());
  // A chat_template.jinja beside the tokenizer wins, as in newer transformers.
  write("chat_template.jinja", "J{{ bos_token }}");
  config = load_chat_template_config(dir_);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->chat_template, "J{{ bos_token }}");
}

TEST_F(ChatTemplateConfigTest, MissingTemplateIsAnError) {
  write("tokenizer_config.json", R"({"eos_token": "</s>"})");
  auto config = load_chat_template_config(dir_);
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(config->chat_template.has_value());
  EXPECT_FALSE(select_chat_template(*config, "", false).ok());
  EXPECT_EQ(select_chat_template(*config, "{{ 'inline' }}", false).value(), "{{ 'inline' }}");
  write("tokenizer_config.json", "{ not json");
  EXPECT_FALSE(load_chat_template_config(dir_).ok());
}

TEST_F(ChatTemplateConfigTest, ChatTemplateArgument) {
  write("t.jinja", "{{ messages[0].content }}\n");
  auto from_file = load_chat_template_arg(dir_ + "/t.jinja");
  ASSERT_TRUE(from_file.ok());
  EXPECT_EQ(*from_file, "{{ messages[0].content }}\n");
  // Inline templates are unicode_escape-decoded, as vLLM does.
  auto inline_template = load_chat_template_arg("{% for m in messages %}{{ m.content }}\\n{% endfor %}");
  ASSERT_TRUE(inline_template.ok());
  EXPECT_EQ(*inline_template, "{% for m in messages %}{{ m.content }}\n{% endfor %}");
  EXPECT_FALSE(load_chat_template_arg(dir_ + "/missing.jinja").ok());
}

TEST(ChatTemplateVllmConversation, NormalizesMessagesLikeVllm) {
  ordered_json messages = ordered_json::parse(R"([
    {"role": "system", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "extra": 1},
    {"role": "user", "content": "hi", "name": "bob"},
    {"role": "assistant", "content": null, "reasoning": "r",
     "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}},
                    {"id": "2", "type": "function", "function": {"name": "g", "arguments": "not json"}}]},
    {"role": "tool", "tool_call_id": "1", "content": [{"type": "text", "text": "t1"}, {"type": "text", "text": "t2"}]},
    {"role": "assistant", "content": "done", "tool_calls": []}
  ])");
  auto conv = to_vllm_conversation(messages, "string");
  ASSERT_TRUE(conv.ok()) << conv.error().message();
  EXPECT_EQ(
      conv->dump(),
      R"([{"role":"system","content":"a\nb"},{"role":"user","content":"hi","name":"bob"},)"
      R"({"role":"assistant","content":"","tool_calls":[{"id":"1","type":"function","function":)"
      R"({"name":"f","arguments":{"x":1}}},{"id":"2","type":"function","function":{"name":"g",)"
      R"("arguments":{}}}],"reasoning":"r","reasoning_content":"r"},)"
      R"({"role":"tool","content":"t1\nt2","tool_call_id":"1"},{"role":"assistant","content":"done"}])");
  auto openai = to_vllm_conversation(ordered_json::parse(R"([{"role": "user", "content": "hi"}])"), "openai");
  ASSERT_TRUE(openai.ok());
  EXPECT_EQ(openai->dump(), R"([{"role":"user","content":[{"type":"text","text":"hi"}]}])");
  EXPECT_FALSE(to_vllm_conversation(
                   ordered_json::parse(R"([{"role": "user", "content": [{"type": "image_url"}]}])"), "string")
                   .ok());
}

TEST(ChatTemplateContinueFinal, CutsAfterTheFinalMessage) {
  const std::string rendered = "<|user|>hi<|end|><|assistant|>The answer is<|end|>";
  auto out = apply_continue_final_message(rendered, "The answer is");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "<|user|>hi<|end|><|assistant|>The answer is");
  // Trailing spaces trimmed by the template: cut after the stripped text.
  out = apply_continue_final_message(rendered, "The answer is  ");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "<|user|>hi<|end|><|assistant|>The answer is");
  out = apply_continue_final_message(rendered,
                                     ordered_json::array({{{"type", "text"}, {"text", "The answer"}}}));
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "<|user|>hi<|end|><|assistant|>The answer");
  EXPECT_FALSE(apply_continue_final_message(rendered, "not there").ok());
}

}  // namespace
}  // namespace strata::test
