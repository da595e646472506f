#include "weights/model_config.h"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

namespace strata {
using json = nlohmann::json;

namespace {
const char* const kArchitectures[] = {"LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM"};

// Typed field access with errors naming the file and field.
struct Reader {
  const json& j;
  const std::string& source;
  Error err(const std::string& field, const std::string& what) const {
    return Error(source + ": field '" + field + "' " + what);
  }
  Result<int64_t> int_field(const std::string& f, std::optional<int64_t> dflt = std::nullopt) const {
    if (!j.contains(f) || j[f].is_null()) {
      if (dflt) return *dflt;
      return err(f, "is missing");
    }
    if (!j[f].is_number_integer()) return err(f, "must be an integer, got " + j[f].dump());
    return j[f].get<int64_t>();
  }
  Result<double> num_field(const std::string& f, std::optional<double> dflt = std::nullopt) const {
    if (!j.contains(f) || j[f].is_null()) {
      if (dflt) return *dflt;
      return err(f, "is missing");
    }
    if (!j[f].is_number()) return err(f, "must be a number, got " + j[f].dump());
    return j[f].get<double>();
  }
  Result<bool> bool_field(const std::string& f, bool dflt) const {
    if (!j.contains(f) || j[f].is_null()) return dflt;
    if (!j[f].is_boolean()) return err(f, "must be true or false, got " + j[f].dump());
    return j[f].get<bool>();
  }
};

Result<std::vector<int64_t>> token_ids(const json& v, const std::string& source, const std::string& field) {
  std::vector<int64_t> out;
  if (v.is_number_integer()) {
    out.push_back(v.get<int64_t>());
  } else if (v.is_array()) {
    for (const auto& x : v) {
      if (!x.is_number_integer()) return Error(source + ": field '" + field + "' must hold integers");
      out.push_back(x.get<int64_t>());
    }
  } else if (!v.is_null()) {
    return Error(source + ": field '" + field + "' must be an integer or a list of integers");
  }
  return out;
}

Result<RopeScaling> parse_rope(const json& r, const std::string& source, const std::string& field) {
  RopeScaling s;
  if (r.is_null()) return s;
  if (!r.is_object()) return Error(source + ": field '" + field + "' must be an object");
  std::string type;
  if (r.contains("rope_type") && r["rope_type"].is_string()) type = r["rope_type"].get<std::string>();
  else if (r.contains("type") && r["type"].is_string()) type = r["type"].get<std::string>();
  Reader rd{r, source};
  auto num = [&](const char* f, double d) { return rd.num_field(f, d); };
  if (type.empty() || type == "default") return s;
  if (type == "linear") s.type = RopeScaling::Type::kLinear;
  else if (type == "dynamic") s.type = RopeScaling::Type::kDynamic;
  else if (type == "llama3") s.type = RopeScaling::Type::kLlama3;
  else if (type == "yarn") s.type = RopeScaling::Type::kYarn;
  else return Error(source + ": " + field + ".rope_type '" + type + "' is not supported (none, linear, dynamic, llama3, yarn)");
  STRATA_TRY(s.factor, num("factor", 1.0));
  if (s.factor < 1.0 && s.type != RopeScaling::Type::kLinear)
    return Error(source + ": " + field + ".factor must be >= 1");
  if (s.factor <= 0) return Error(source + ": " + field + ".factor must be > 0");
  STRATA_TRY(s.low_freq_factor, num("low_freq_factor", 1.0));
  STRATA_TRY(s.high_freq_factor, num("high_freq_factor", 4.0));
  STRATA_TRY(s.original_max_position_embeddings, rd.int_field("original_max_position_embeddings", 0));
  STRATA_TRY(s.beta_fast, num("beta_fast", 32.0));
  STRATA_TRY(s.beta_slow, num("beta_slow", 1.0));
  STRATA_TRY(s.mscale, num("mscale", 1.0));
  STRATA_TRY(s.mscale_all_dim, num("mscale_all_dim", 0.0));
  if (r.contains("attention_factor") && r["attention_factor"].is_number())
    s.attention_factor = r["attention_factor"].get<double>();
  STRATA_TRY(s.truncate, rd.bool_field("truncate", true));
  if (s.type == RopeScaling::Type::kLlama3 && s.original_max_position_embeddings <= 0)
    return Error(source + ": " + field + ".original_max_position_embeddings is required for llama3");
  if (s.type == RopeScaling::Type::kLlama3 && s.high_freq_factor <= s.low_freq_factor)
    return Error(source + ": " + field + ": high_freq_factor must exceed low_freq_factor");
  return s;
}

Result<DType> parse_dtype(const json& j, const std::string& source) {
  for (const char* f : {"torch_dtype", "dtype"}) {
    if (!j.contains(f) || !j[f].is_string()) continue;
    std::string d = j[f].get<std::string>();
    if (d == "bfloat16") return DType::kBF16;
    if (d == "float16") return DType::kF16;
    if (d == "float32") return DType::kF32;
    return Error(source + ": field '" + f + "' value '" + d + "' is not supported");
  }
  return DType::kBF16;
}
}  // namespace

bool is_supported_architecture(const std::string& arch) {
  for (const char* a : kArchitectures)
    if (arch == a) return true;
  return false;
}

Result<ModelConfig> parse_model_config(const json& j, const std::string& source) {
  if (!j.is_object()) return Error(source + ": not a JSON object");
  ModelConfig c;
  if (!j.contains("architectures") || !j["architectures"].is_array() || j["architectures"].empty() ||
      !j["architectures"][0].is_string())
    return Error(source + ": field 'architectures' is missing or not a list of names");
  c.architecture = j["architectures"][0].get<std::string>();
  if (!is_supported_architecture(c.architecture))
    return Error(source + ": architecture '" + c.architecture +
                 "' is not supported (supported: LlamaForCausalLM, Qwen2ForCausalLM, MistralForCausalLM)");
  if (j.contains("model_type") && j["model_type"].is_string()) c.model_type = j["model_type"].get<std::string>();
  Reader rd{j, source};
  STRATA_TRY(c.vocab_size, rd.int_field("vocab_size"));
  STRATA_TRY(c.hidden_size, rd.int_field("hidden_size"));
  STRATA_TRY(c.intermediate_size, rd.int_field("intermediate_size"));
  STRATA_TRY(c.num_hidden_layers, rd.int_field("num_hidden_layers"));
  STRATA_TRY(c.num_attention_heads, rd.int_field("num_attention_heads"));
  STRATA_TRY(c.num_key_value_heads, rd.int_field("num_key_value_heads", c.num_attention_heads));
  for (auto [name, v] : {std::pair{"vocab_size", c.vocab_size}, {"hidden_size", c.hidden_size},
                         {"intermediate_size", c.intermediate_size}, {"num_hidden_layers", c.num_hidden_layers},
                         {"num_attention_heads", c.num_attention_heads},
                         {"num_key_value_heads", c.num_key_value_heads}})
    if (v <= 0) return rd.err(name, "must be positive");
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    return rd.err("num_key_value_heads", "must divide num_attention_heads");
  int64_t default_head_dim = c.hidden_size / c.num_attention_heads;
  STRATA_TRY(c.head_dim, rd.int_field("head_dim", default_head_dim));
  if (c.head_dim <= 0 || c.head_dim % 2 != 0) return rd.err("head_dim", "must be a positive even number");
  STRATA_TRY(c.rms_norm_eps, rd.num_field("rms_norm_eps", 1e-6));
  STRATA_TRY(c.max_position_embeddings, rd.int_field("max_position_embeddings", 4096));
  STRATA_TRY(c.tie_word_embeddings, rd.bool_field("tie_word_embeddings", false));
  bool qwen2 = c.architecture == "Qwen2ForCausalLM";
  STRATA_TRY(c.attention_bias, rd.bool_field("attention_bias", qwen2));
  c.o_proj_bias = c.attention_bias && !qwen2;  // Llama's attention_bias covers o_proj too; Qwen2's never
  STRATA_TRY(c.mlp_bias, rd.bool_field("mlp_bias", false));
  if (j.contains("hidden_act") && j["hidden_act"].is_string()) c.hidden_act = j["hidden_act"].get<std::string>();
  if (c.hidden_act != "silu") return rd.err("hidden_act", "'" + c.hidden_act + "' is not supported (silu)");
  STRATA_TRY(c.dtype, parse_dtype(j, source));
  bool swa = !j.contains("use_sliding_window") || (j["use_sliding_window"].is_boolean() && j["use_sliding_window"].get<bool>());
  if (swa && j.contains("sliding_window") && j["sliding_window"].is_number_integer() && j["sliding_window"].get<int64_t>() > 0)
    c.sliding_window = j["sliding_window"].get<int64_t>();
  // Rope: transformers >= 5 writes rope_parameters {rope_type, rope_theta, ...}; the hub writes
  // rope_theta + rope_scaling.
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    Reader rp{j["rope_parameters"], source};
    STRATA_TRY(c.rope_theta, rp.num_field("rope_theta", 10000.0));
    STRATA_TRY(c.rope_scaling, parse_rope(j["rope_parameters"], source, "rope_parameters"));
  } else {
    STRATA_TRY(c.rope_theta, rd.num_field("rope_theta", 10000.0));
    if (j.contains("rope_scaling")) {
      STRATA_TRY(c.rope_scaling, parse_rope(j["rope_scaling"], source, "rope_scaling"));
    }
  }
  if (c.rope_theta <= 0) return rd.err("rope_theta", "must be positive");
  if (j.contains("bos_token_id") && j["bos_token_id"].is_number_integer())
    c.bos_token_id = j["bos_token_id"].get<int64_t>();
  if (j.contains("eos_token_id")) {
    STRATA_TRY(c.eos_token_ids, token_ids(j["eos_token_id"], source, "eos_token_id"));
  }
  return c;
}

static Result<json> read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  if (!in) return Error(p.string() + ": cannot open");
  json j = json::parse(in, nullptr, false);
  if (j.is_discarded()) return Error(p.string() + ": not valid JSON");
  return j;
}

Result<ModelConfig> load_model_config(const std::string& dir) {
  namespace fs = std::filesystem;
  if (!fs::is_directory(dir)) return Error(dir + ": model directory not found");
  fs::path cfg = fs::path(dir) / "config.json";
  if (!fs::exists(cfg)) return Error(cfg.string() + ": not found (is this a Hugging Face model directory?)");
  STRATA_TRY(json j, read_json(cfg));
  STRATA_TRY(ModelConfig c, parse_model_config(j, cfg.string()));
  fs::path gen = fs::path(dir) / "generation_config.json";
  if (fs::exists(gen)) {
    STRATA_TRY(json g, read_json(gen));
    if (g.contains("eos_token_id")) {
      STRATA_TRY(auto ids, token_ids(g["eos_token_id"], gen.string(), "eos_token_id"));
      if (!ids.empty()) c.eos_token_ids = ids;
    }
    if (g.contains("bos_token_id") && g["bos_token_id"].is_number_integer())
      c.bos_token_id = g["bos_token_id"].get<int64_t>();
    auto num = [&](const char* f, std::optional<double>& out) {
      if (g.contains(f) && g[f].is_number()) out = g[f].get<double>();
    };
    num("temperature", c.generation.temperature);
    num("top_p", c.generation.top_p);
    num("min_p", c.generation.min_p);
    num("repetition_penalty", c.generation.repetition_penalty);
    if (g.contains("top_k") && g["top_k"].is_number_integer()) c.generation.top_k = g["top_k"].get<int64_t>();
    if (g.contains("max_new_tokens") && g["max_new_tokens"].is_number_integer())
      c.generation.max_new_tokens = g["max_new_tokens"].get<int64_t>();
  }
  return c;
}

}  // namespace strata
