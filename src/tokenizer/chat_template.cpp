#include "tokenizer/chat_template.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tokenizer/jinja_analysis.h"
#include "tokenizer/jinja_json.h"
#include "tokenizer/jinja_lexer.h"
#include "tokenizer/jinja_parser.h"
#include "tokenizer/jinja_pystr.h"
#include "tokenizer/jinja_unicode.h"

namespace strata {
namespace {

std::optional<std::string> read_text_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<nlohmann::ordered_json> read_json_file(const std::filesystem::path& path) {
  auto text = read_text_file(path);
  if (!text) return make_error("{}: cannot read file", path.string());
  auto j = nlohmann::ordered_json::parse(*text, nullptr, false);
  if (j.is_discarded()) return make_error("{}: invalid JSON", path.string());
  return j;
}

// A special token value: "<s>" or an AddedToken dict {"content": "<s>", ...}.
std::optional<std::string> token_text(const nlohmann::ordered_json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  return std::nullopt;
}

Status read_templates(const nlohmann::ordered_json& value, ChatTemplateConfig& config,
                      const std::string& where) {
  if (value.is_string()) {
    config.chat_template = value.get<std::string>();
    return ok_status();
  }
  if (value.is_array()) {
    for (const auto& entry : value) {
      if (!entry.is_object() || !entry.contains("name") || !entry.contains("template") ||
          !entry["name"].is_string() || !entry["template"].is_string()) {
        return make_error("{}: chat_template list entries need string \"name\" and \"template\"", where);
      }
      config.named_templates[entry["name"].get<std::string>()] = entry["template"].get<std::string>();
    }
    auto it = config.named_templates.find("default");
    if (it != config.named_templates.end()) config.chat_template = it->second;
    return ok_status();
  }
  if (!value.is_null()) return make_error("{}: chat_template must be a string or a list", where);
  return ok_status();
}

// Python's codecs.decode(s, "unicode_escape") of a str: the UTF-8 bytes are read as Latin-1 with
// backslash escapes processed.
Result<std::string> unicode_escape_decode(const std::string& s) {
  std::u32string latin1(s.begin(), s.end());
  for (char32_t& c : latin1) c &= 0xFF;  // bytes, not signed chars
  auto r = jinja::decode_python_escapes(latin1, false);
  if (!r.ok()) return Error("chat template string: " + r.error().message());
  return r;
}

// Request JSON nested deeper than this is refused before the (recursive) conversion to Values.
constexpr size_t kMaxContextDepth = 256;

template <typename Json>
Status check_depth(const Json& root) {
  std::vector<std::pair<const Json*, size_t>> stack = {{&root, 1}};
  while (!stack.empty()) {
    auto [j, depth] = stack.back();
    stack.pop_back();
    if (!j->is_structured()) continue;
    if (depth > kMaxContextDepth)
      return make_error("chat template context is nested deeper than {} levels", kMaxContextDepth);
    for (const auto& child : *j) stack.emplace_back(&child, depth + 1);
  }
  return ok_status();
}

}  // namespace

// ---- ChatTemplate -----------------------------------------------------------------------------

Result<ChatTemplate> ChatTemplate::parse(const std::string& source) {
  try {
    STRATA_TRY(jinja::TemplateAst ast, jinja::parse_template(source));
    return ChatTemplate(source, std::make_shared<const jinja::TemplateAst>(std::move(ast)));
  } catch (const std::exception& e) {
    return make_error("chat template parsing failed: {}", e.what());
  }
}

Result<std::string> ChatTemplate::render(const nlohmann::ordered_json& context) const {
  STRATA_RETURN_IF_ERROR(check_depth(context));
  return render_value(jinja::from_json(context));
}

Result<std::string> ChatTemplate::render(const nlohmann::json& context) const {
  STRATA_RETURN_IF_ERROR(check_depth(context));
  return render_value(jinja::from_json(context));
}

std::string ChatTemplate::content_format() const {
  return jinja::detect_content_format(*ast_);
}

Result<std::string> ChatTemplate::render_value(const jinja::Value& context) const {
  if (!context.is_dict()) return Error("chat template context must be a JSON object");
  try {
    jinja::Interpreter interpreter(clock_);
    return interpreter.render(*ast_, context.as_dict());
  } catch (const std::exception& e) {  // allocation failure on absurd sizes; nothing else throws
    return make_error("chat template rendering failed: {}", e.what());
  }
}

// ---- configuration ----------------------------------------------------------------------------

Result<ChatTemplateConfig> load_chat_template_config(const std::string& model_dir) {
  namespace fs = std::filesystem;
  ChatTemplateConfig config;
  fs::path dir(model_dir);
  fs::path tokenizer_config = dir / "tokenizer_config.json";
  nlohmann::ordered_json tc = nlohmann::ordered_json::object();
  if (fs::exists(tokenizer_config)) {
    STRATA_TRY(tc, read_json_file(tokenizer_config));
    if (!tc.is_object()) return make_error("{}: expected a JSON object", tokenizer_config.string());
    if (tc.contains("chat_template")) {
      STRATA_RETURN_IF_ERROR(read_templates(tc["chat_template"], config, tokenizer_config.string()));
    }
  }
  // Newer transformers save the template beside the tokenizer; those files win.
  fs::path chat_template_json = dir / "chat_template.json";
  if (fs::exists(chat_template_json)) {
    STRATA_TRY(auto j, read_json_file(chat_template_json));
    if (j.is_object() && j.contains("chat_template")) {
      STRATA_RETURN_IF_ERROR(read_templates(j["chat_template"], config, chat_template_json.string()));
    }
  }
  if (auto text = read_text_file(dir / "chat_template.jinja")) config.chat_template = *text;

  nlohmann::ordered_json special_map = nlohmann::ordered_json::object();
  fs::path special_path = dir / "special_tokens_map.json";
  if (fs::exists(special_path)) {
    STRATA_TRY(special_map, read_json_file(special_path));
    if (!special_map.is_object()) special_map = nlohmann::ordered_json::object();
  }
  for (const char* key :
       {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"}) {
    std::optional<std::string> text;
    if (tc.contains(key)) text = token_text(tc[key]);
    if (!text && special_map.contains(key)) text = token_text(special_map[key]);
    if (text) config.special_tokens[key] = *text;
  }
  const nlohmann::ordered_json* additional = nullptr;
  if (tc.contains("additional_special_tokens") && tc["additional_special_tokens"].is_array()) {
    additional = &tc["additional_special_tokens"];
  } else if (special_map.contains("additional_special_tokens") &&
             special_map["additional_special_tokens"].is_array()) {
    additional = &special_map["additional_special_tokens"];
  }
  if (additional != nullptr && !additional->empty()) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& t : *additional) {
      if (auto text = token_text(t)) list.push_back(*text);
    }
    config.special_tokens["additional_special_tokens"] = list;
  }
  if (config.special_tokens.contains("bos_token"))
    config.bos_token = config.special_tokens["bos_token"].get<std::string>();
  if (config.special_tokens.contains("eos_token"))
    config.eos_token = config.special_tokens["eos_token"].get<std::string>();
  return config;
}

Result<std::string> select_chat_template(const ChatTemplateConfig& config, const std::string& name,
                                         bool has_tools) {
  if (!config.named_templates.empty()) {
    if (!name.empty()) {
      auto it = config.named_templates.find(name);
      if (it != config.named_templates.end()) return it->second;
      // transformers treats an unknown name as a template string when it looks like one.
      if (name.find_first_of("{}") != std::string::npos) return name;
      return make_error("The specified chat template '{}' is not available. Available template names are {}.",
                        name, [&] {
                          std::string names;
                          for (const auto& [n, t] : config.named_templates)
                            names += (names.empty() ? "" : ", ") + n;
                          return names;
                        }());
    }
    if (has_tools) {
      auto it = config.named_templates.find("tool_use");
      if (it != config.named_templates.end()) return it->second;
    }
    auto it = config.named_templates.find("default");
    if (it != config.named_templates.end()) return it->second;
    return Error(
        "This model has multiple chat templates with no default specified! Please either pass a chat "
        "template or the name of the template you wish to use to the `chat_template` argument.");
  }
  if (!name.empty()) return name;
  if (config.chat_template) return *config.chat_template;
  return Error(
      "Cannot use chat template functions because tokenizer.chat_template is not set and no template "
      "argument was passed! For information about writing templates and setting the "
      "tokenizer.chat_template attribute, please see the documentation at "
      "https://huggingface.co/docs/transformers/main/en/chat_templating");
}

Result<std::string> load_chat_template_arg(const std::string& arg) {
  if (auto text = read_text_file(arg)) {
    if (!std::filesystem::is_directory(arg)) return *text;
  }
  if (arg.find_first_of("{}\n") == std::string::npos) {
    return make_error("The supplied chat template ({}) looks like a file path, but it failed to be opened.",
                      arg);
  }
  return unicode_escape_decode(arg);
}

nlohmann::ordered_json make_chat_context(const ChatTemplateConfig& config,
                                         const nlohmann::ordered_json& messages,
                                         const nlohmann::ordered_json& tools,
                                         const nlohmann::ordered_json& documents, bool add_generation_prompt,
                                         const nlohmann::ordered_json& extra_kwargs) {
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  ctx["messages"] = messages;
  ctx["tools"] = tools;
  ctx["documents"] = documents;
  ctx["add_generation_prompt"] = add_generation_prompt;
  for (auto it = config.special_tokens.begin(); it != config.special_tokens.end(); ++it)
    ctx[it.key()] = it.value();
  if (extra_kwargs.is_object()) {
    for (auto it = extra_kwargs.begin(); it != extra_kwargs.end(); ++it) ctx[it.key()] = it.value();
  }
  return ctx;
}

namespace {

// The text of one content part (nullopt: skipped, as vLLM skips text parts without text).
Result<std::optional<std::string>> text_of_part(const nlohmann::ordered_json& part) {
  if (part.is_string()) return std::optional<std::string>(part.get<std::string>());
  if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
    return Error("Missing 'type' field in multimodal part.");
  }
  const std::string type = part["type"].get<std::string>();
  const char* key = type == "text" || type == "input_text" || type == "output_text" ? "text"
                    : type == "refusal"                                             ? "refusal"
                    : type == "thinking"                                            ? "thinking"
                                                                                    : nullptr;
  if (key == nullptr) return make_error("Unsupported chat content part type: '{}' (text-only model)", type);
  if (!part.contains(key) || part[key].is_null()) return std::optional<std::string>();
  if (!part[key].is_string()) return make_error("content part '{}' must be a string", key);
  return std::optional<std::string>(part[key].get<std::string>());
}

}  // namespace

Result<nlohmann::ordered_json> to_vllm_conversation(const nlohmann::ordered_json& messages,
                                                    const std::string& content_format) {
  using ojson = nlohmann::ordered_json;
  if (!messages.is_array()) return Error("'messages' must be a list");
  const bool openai = content_format == "openai";
  ojson out = ojson::array();
  for (const auto& message : messages) {
    if (!message.is_object() || !message.contains("role") || !message["role"].is_string()) {
      return Error("each message needs a 'role' string");
    }
    const std::string role = message["role"].get<std::string>();
    ojson parts = ojson::array();
    if (message.contains("content") && !message["content"].is_null()) {
      const ojson& content = message["content"];
      if (content.is_string()) {
        parts.push_back(content.get<std::string>());
      } else if (content.is_array()) {
        for (const auto& part : content) {
          STRATA_TRY(std::optional<std::string> text, text_of_part(part));
          if (text) parts.push_back(*text);
        }
      } else {
        return Error("message content must be a string or a list of content parts");
      }
    }
    ojson msg = ojson::object();
    msg["role"] = role;
    if (openai && role != "tool") {
      ojson wrapped = ojson::array();
      for (const auto& text : parts) wrapped.push_back({{"type", "text"}, {"text", text}});
      msg["content"] = wrapped;
    } else {
      std::string joined;
      for (size_t i = 0; i < parts.size(); ++i) {
        if (i > 0) joined += '\n';
        joined += parts[i].get<std::string>();
      }
      msg["content"] = joined;
    }
    if (role == "assistant") {
      if (message.contains("tool_calls") && !message["tool_calls"].is_null())
        msg["tool_calls"] = message["tool_calls"];
      if (message.contains("reasoning") && !message["reasoning"].is_null()) {
        msg["reasoning"] = message["reasoning"];
        msg["reasoning_content"] = message["reasoning"];
      }
    } else if (role == "tool" && message.contains("tool_call_id")) {
      msg["tool_call_id"] = message["tool_call_id"];
    }
    if (message.contains("name") && message["name"].is_string()) msg["name"] = message["name"];
    if (message.contains("task") && message["task"].is_string()) msg["task"] = message["task"];
    if (role == "developer") msg["tools"] = message.contains("tools") ? message["tools"] : ojson(nullptr);
    // Tool call arguments become objects (vLLM's _postprocess_messages).
    if (role == "assistant" && msg.contains("tool_calls") && msg["tool_calls"].is_array()) {
      if (msg["tool_calls"].empty()) {
        msg.erase("tool_calls");
      } else {
        for (auto& call : msg["tool_calls"]) {
          if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) {
            return Error("each tool call needs a 'function' object");
          }
          ojson& function = call["function"];
          const ojson args = function.contains("arguments") ? function["arguments"] : ojson(nullptr);
          if (args.is_string()) {
            auto parsed = ojson::parse(args.get<std::string>(), nullptr, false);
            function["arguments"] = parsed.is_discarded() ? ojson::object() : parsed;
          } else if (!args.is_object() && !args.is_array()) {
            function["arguments"] = ojson::object();
          }
        }
      }
    }
    out.push_back(std::move(msg));
  }
  return out;
}

Result<std::string> apply_continue_final_message(const std::string& rendered,
                                                 const nlohmann::ordered_json& final_content) {
  std::string final_message;
  if (final_content.is_string()) {
    final_message = final_content.get<std::string>();
  } else if (final_content.is_array()) {
    bool found = false;
    for (auto it = final_content.rbegin(); it != final_content.rend(); ++it) {
      if (it->is_object() && it->contains("text") && (*it)["text"].is_string()) {
        final_message = (*it)["text"].get<std::string>();
        found = true;
        break;
      }
    }
    if (!found) {
      return Error(
          "continue_final_message is set but we could not find any text to continuein the final message!");
    }
  } else {
    return Error("continue_final_message is set but the final message has no text content");
  }
  std::string stripped = jinja::py_strip(final_message, std::nullopt, true, true);
  size_t loc = rendered.rfind(stripped);
  if (loc == std::string::npos) {
    return Error(
        "continue_final_message is set but the final message does not appear in the chat after applying the "
        "chat template! This can happen if the chat template deletes portions of the final message. Please "
        "verify the chat template and final message in your chat to ensure they are compatible.");
  }
  std::string lstripped = jinja::py_strip(final_message, std::nullopt, true, false);
  if (rendered.compare(loc, lstripped.size(), final_message) == 0)
    return rendered.substr(0, loc + lstripped.size());
  return rendered.substr(0, loc + stripped.size());
}

}  // namespace strata
