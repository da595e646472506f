// Loading of HfTokenizer from a model directory: tokenizer.json (model, added tokens, normalizer,
// pre-tokenizer, post-processor, decoder) and tokenizer_config.json.
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/logging.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/json_fields.h"

namespace strata {
namespace {

using json_fields::json;

Result<std::string> read_text_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return make_error("{}: file not found", path);
  std::ifstream f(path, std::ios::binary);
  if (!f) return make_error("{}: cannot open", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return make_error("{}: read error", path);
  return ss.str();
}

Result<json> parse_json(const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    return make_error("invalid JSON: {}", e.what());
  }
}

bool present(const json& j, const char* key) {
  return j.contains(key) && !j[key].is_null();
}

// An added token as stored in tokenizer.json's added_tokens or tokenizer_config.json's
// added_tokens_decoder (content plus flags); special tokens are not normalized by default.
Result<AddedToken> parse_added_token(const json& j, const std::string& where) {
  AddedToken t;
  STRATA_TRY(t.content, json_fields::string_field(j, "content", where));
  STRATA_TRY(t.special, json_fields::bool_field(j, "special", where, false));
  STRATA_TRY(t.single_word, json_fields::bool_field(j, "single_word", where, false));
  STRATA_TRY(t.lstrip, json_fields::bool_field(j, "lstrip", where, false));
  STRATA_TRY(t.rstrip, json_fields::bool_field(j, "rstrip", where, false));
  STRATA_TRY(t.normalized, json_fields::bool_field(j, "normalized", where, !t.special));
  return t;
}

// bos_token / eos_token / ...: a string, an AddedToken object {"content": ...}, or null.
Result<std::optional<std::string>> special_token_content(const json& j, const char* key) {
  if (!present(j, key)) return std::optional<std::string>();
  if (j[key].is_string()) return std::optional<std::string>(j[key].get<std::string>());
  if (j[key].is_object()) {
    STRATA_TRY(std::string content, json_fields::string_field(j[key], "content", key));
    return std::optional<std::string>(content);
  }
  return make_error("{} must be a string or an object with \"content\"", key);
}

// transformers tokenizer classes whose __init__ rebuilds the post-processor from add_bos_token and
// add_eos_token (LlamaTokenizerFast.update_post_processor and its copies).
bool rebuilds_bos_eos_template(const std::string& tokenizer_class) {
  for (const char* c : {"LlamaTokenizerFast", "LlamaTokenizer", "CodeLlamaTokenizerFast",
                        "CodeLlamaTokenizer", "GemmaTokenizerFast", "GemmaTokenizer"}) {
    if (tokenizer_class == c) return true;
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<HfTokenizer>> HfTokenizer::load(const std::string& dir) {
  const std::string json_path = (std::filesystem::path(dir) / "tokenizer.json").string();
  STRATA_TRY(std::string text, read_text_file(json_path));
  std::unique_ptr<HfTokenizer> tok(new HfTokenizer());
  if (Status s = tok->load_tokenizer_json(text); !s.ok()) return s.error().with_context(json_path);

  const std::string config_path = (std::filesystem::path(dir) / "tokenizer_config.json").string();
  std::error_code ec;
  if (std::filesystem::exists(config_path, ec)) {
    STRATA_TRY(std::string config, read_text_file(config_path));
    if (Status s = tok->load_tokenizer_config(config); !s.ok()) return s.error().with_context(config_path);
  }
  return tok;
}

Status HfTokenizer::load_tokenizer_json(const std::string& text) {
  STRATA_TRY(json j, parse_json(text));
  if (!j.is_object()) return make_error("the top level must be an object");
  if (present(j, "version") && (!j["version"].is_string() || j["version"].get<std::string>() != "1.0")) {
    return make_error("version {} is not supported (1.0)", j["version"].dump());
  }

  if (!present(j, "model")) return make_error("model is missing");
  const json& model = j["model"];
  if (!model.is_object()) return make_error("model must be an object");
  if (present(model, "type")) {
    STRATA_TRY(std::string type, json_fields::type_field(model, "model"));
    if (type != "BPE") return json_fields::unsupported("model", type, "BPE");
  } else if (!model.contains("merges")) {
    return make_error("model.type is missing and the model is not BPE (no merges)");
  }
  STRATA_TRY(model_, BpeModel::from_json(model, "model"));

  if (present(j, "normalizer")) {
    STRATA_TRY(normalizer_, Normalizer::from_json(j["normalizer"], "normalizer"));
  }
  if (present(j, "pre_tokenizer")) {
    STRATA_TRY(pre_tokenizer_, PreTokenizer::from_json(j["pre_tokenizer"], "pre_tokenizer"));
  }
  if (present(j, "post_processor")) {
    STRATA_TRY(post_processor_, PostProcessor::from_json(j["post_processor"], "post_processor"));
  }
  if (present(j, "decoder")) {
    STRATA_TRY(decoder_, Decoder::from_json(j["decoder"], "decoder"));
  }

  if (present(j, "added_tokens")) {
    if (!j["added_tokens"].is_array()) return make_error("added_tokens must be a list");
    for (size_t i = 0; i < j["added_tokens"].size(); ++i) {
      const json& e = j["added_tokens"][i];
      const std::string where = fmt::format("added_tokens[{}]", i);
      STRATA_TRY(AddedToken t, parse_added_token(e, where));
      if (!e.contains("id") || !e["id"].is_number_integer() || e["id"].get<int64_t>() < 0) {
        return make_error("{}.id must be a non-negative integer", where);
      }
      // A token already in the model vocabulary keeps the model's id, as in tokenizers.
      auto model_id = model_->token_to_id(t.content);
      t.id = model_id ? *model_id : e["id"].get<int32_t>();
      if (model_id && *model_id != e["id"].get<int32_t>()) {
        LOG_WARN("tokenizer.json: added token '{}' has id {} but the vocabulary gives {}", t.content,
                 e["id"].get<int64_t>(), *model_id);
      }
      added_.add(t);
    }
  }
  added_.build(normalizer_.get());
  return ok_status();
}

Status HfTokenizer::load_tokenizer_config(const std::string& text) {
  STRATA_TRY(json j, parse_json(text));
  if (!j.is_object()) return make_error("the top level must be an object");

  bool changed = false;
  if (present(j, "added_tokens_decoder")) {
    const json& decoder = j["added_tokens_decoder"];
    if (!decoder.is_object()) return make_error("added_tokens_decoder must be an object");
    for (auto it = decoder.begin(); it != decoder.end(); ++it) {
      const std::string where = "added_tokens_decoder." + it.key();
      STRATA_TRY(AddedToken t, parse_added_token(it.value(), where));
      if (added_.find(t.content)) continue;  // tokenizer.json already has it
      try {
        t.id = std::stoi(it.key());
      } catch (const std::exception&) {
        return make_error("{}: the key must be an integer id", where);
      }
      if (auto model_id = model_->token_to_id(t.content)) t.id = *model_id;
      added_.add(t);
      changed = true;
    }
  }

  // transformers adds the named special tokens it does not find among the added tokens.
  std::vector<std::string> specials;
  for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
    STRATA_TRY(auto content, special_token_content(j, key));
    if (content) specials.push_back(*content);
  }
  if (present(j, "additional_special_tokens") && j["additional_special_tokens"].is_array()) {
    for (const json& e : j["additional_special_tokens"]) {
      if (e.is_string()) specials.push_back(e.get<std::string>());
      if (e.is_object() && e.contains("content") && e["content"].is_string())
        specials.push_back(e["content"]);
    }
  }
  for (const std::string& content : specials) {
    if (content.empty() || added_.find(content)) continue;
    AddedToken t;
    t.content = content;
    t.special = true;
    t.normalized = false;
    auto model_id = model_->token_to_id(content);
    t.id = model_id ? *model_id : vocab_size();
    added_.add(t);
    changed = true;
  }
  if (changed) added_.build(normalizer_.get());

  STRATA_TRY(auto bos, special_token_content(j, "bos_token"));
  STRATA_TRY(auto eos, special_token_content(j, "eos_token"));
  if (bos) bos_id_ = token_to_id(*bos);
  if (eos) eos_id_ = token_to_id(*eos);

  std::string tokenizer_class;
  if (present(j, "tokenizer_class") && j["tokenizer_class"].is_string())
    tokenizer_class = j["tokenizer_class"];
  if (rebuilds_bos_eos_template(tokenizer_class)) {
    STRATA_TRY(bool add_bos, json_fields::bool_field(j, "add_bos_token", "", true));
    STRATA_TRY(bool add_eos, json_fields::bool_field(j, "add_eos_token", "", false));
    if (add_bos && !bos_id_) return make_error("add_bos_token is true but bos_token is not set");
    if (add_eos && !eos_id_) return make_error("add_eos_token is true but eos_token is not set");
    std::vector<int32_t> prefix, suffix;
    if (add_bos) prefix.push_back(*bos_id_);
    if (add_eos) suffix.push_back(*eos_id_);
    post_processor_ = PostProcessor::bos_eos(std::move(prefix), std::move(suffix));
  }
  return ok_status();
}

}  // namespace strata
