// Chat templates: render a conversation into the prompt text exactly as Hugging Face transformers'
// apply_chat_template does (and so as vLLM does), byte for byte.
//
// Data flow: the template source (tokenizer_config.json "chat_template", chat_template.jinja, or
// --chat-template) is parsed once by ChatTemplate::parse into a syntax tree (src/tokenizer/jinja_*:
// lexer -> parser -> AST). Each request builds a context JSON (make_chat_context: messages, tools,
// documents, add_generation_prompt, the tokenizer's special tokens, chat_template_kwargs) and
// render() interprets the tree over it with jinja2's semantics as transformers configures them:
// ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]),
// globals raise_exception(msg) and strftime_now(fmt), filter tojson = json.dumps(x,
// ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys). Template errors,
// including raise_exception("..."), come back as Error values whose message is the Python one.
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "tokenizer/jinja_interpreter.h"

namespace strata {

namespace jinja {
struct TemplateAst;
}

class ChatTemplate {
 public:
  // Syntax errors come back as "syntax error on line N: <message>".
  static Result<ChatTemplate> parse(const std::string& source);

  // context: a JSON object whose keys become template variables (messages, tools,
  // add_generation_prompt, bos_token, eos_token, extra kwargs). Objects keep their key order only
  // in the ordered_json overload, and `tojson` prints keys in that order, so request bodies should
  // be parsed as nlohmann::ordered_json to match transformers' output for tool schemas.
  Result<std::string> render(const nlohmann::ordered_json& context) const;
  Result<std::string> render(const nlohmann::json& context) const;

  // vLLM's detected chat template content format ("auto"): "openai" when the template loops over a
  // message's content parts, else "string" (text parts are then joined into one string first).
  std::string content_format() const;

  // For tests: the time strftime_now() sees (default: the local wall clock).
  void set_clock(jinja::ClockFn clock) { clock_ = std::move(clock); }
  const std::string& source() const { return source_; }

 private:
  ChatTemplate(std::string source, std::shared_ptr<const jinja::TemplateAst> ast)
      : source_(std::move(source)), ast_(std::move(ast)) {}
  Result<std::string> render_value(const jinja::Value& context) const;

  std::string source_;
  std::shared_ptr<const jinja::TemplateAst> ast_;
  jinja::ClockFn clock_;
};

// What a model directory says about chat templating.
struct ChatTemplateConfig {
  // The unnamed template ("chat_template": "<string>"), or the one named "default".
  std::optional<std::string> chat_template;
  // Named templates ("chat_template": [{"name": ..., "template": ...}, ...]).
  std::map<std::string, std::string> named_templates;
  // transformers' special_tokens_map as strings: bos_token, eos_token, unk_token, sep_token,
  // pad_token, cls_token, mask_token (only those set) and additional_special_tokens (a list).
  nlohmann::ordered_json special_tokens = nlohmann::ordered_json::object();
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
};

// Reads <model_dir>/tokenizer_config.json (plus chat_template.jinja, chat_template.json and
// special_tokens_map.json when present, as transformers' AutoTokenizer does).
Result<ChatTemplateConfig> load_chat_template_config(const std::string& model_dir);

// transformers' tokenizer.get_chat_template(name, tools): an explicit name picks that named
// template; otherwise "tool_use" when the request has tools and the model has one, else the
// default. An Error when the model has no chat template.
Result<std::string> select_chat_template(const ChatTemplateConfig& config, const std::string& name,
                                         bool has_tools);

// vLLM's load_chat_template for --chat-template: the contents of the file at `arg`; if it cannot
// be opened and `arg` contains "{", "}" or a newline, the string itself with Python
// unicode_escape decoding; otherwise an Error saying it looks like a missing file.
Result<std::string> load_chat_template_arg(const std::string& arg);

// The variables transformers passes to the template: messages, tools (null when absent),
// documents (null when absent), add_generation_prompt, the special tokens, then extra_kwargs
// (chat_template_kwargs) which override the special tokens.
nlohmann::ordered_json make_chat_context(
    const ChatTemplateConfig& config, const nlohmann::ordered_json& messages,
    const nlohmann::ordered_json& tools, const nlohmann::ordered_json& documents, bool add_generation_prompt,
    const nlohmann::ordered_json& extra_kwargs = nlohmann::ordered_json::object());

// vLLM's parse_chat_messages for a text-only model: the conversation the template sees.
// content_format is "string" (content parts' texts joined with "\n"; null content becomes "") or
// "openai" (content becomes a list of {"type": "text", "text": ...}). Only role, content and
// tool_calls/reasoning/reasoning_content (assistant), tool_call_id (tool), name, task and tools
// (developer) are kept, in that order; tool messages' text parts are joined into a string; tool call
// "arguments" given as JSON strings are parsed into objects (invalid JSON or null -> {}), and empty
// tool_calls lists are dropped. Non-text content parts are an Error.
Result<nlohmann::ordered_json> to_vllm_conversation(const nlohmann::ordered_json& messages,
                                                    const std::string& content_format);

// transformers' continue_final_message post-processing: cuts the rendered prompt right after the
// final message's content so generation continues it. `final_content` is the last message's
// content (a string, or a list of parts whose last "text" part is used).
Result<std::string> apply_continue_final_message(const std::string& rendered,
                                                 const nlohmann::ordered_json& final_content);

}  // namespace strata
