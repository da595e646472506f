// Typed access to tokenizer.json / tokenizer_config.json fields with errors that name the field
// ("pre_tokenizer.pretokenizers[1].behavior must be a string"); the loader prefixes the file path.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "core/status.h"
#include "tokenizer/regex.h"

namespace strata::json_fields {

using json = nlohmann::json;

inline std::string join(const std::string& where, const std::string& key) {
  return where.empty() ? key : where + "." + key;
}

inline Result<std::string> string_field(const json& j, const std::string& key, const std::string& where) {
  if (!j.is_object() || !j.contains(key)) return make_error("{} is missing", join(where, key));
  if (!j[key].is_string()) return make_error("{} must be a string, got {}", join(where, key), j[key].dump());
  return j[key].get<std::string>();
}

inline Result<bool> bool_field(const json& j, const std::string& key, const std::string& where, bool dflt) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return dflt;
  if (!j[key].is_boolean())
    return make_error("{} must be true or false, got {}", join(where, key), j[key].dump());
  return j[key].get<bool>();
}

// The component's "type" string.
inline Result<std::string> type_field(const json& j, const std::string& where) {
  if (!j.is_object()) return make_error("{} must be an object, got {}", where, j.dump().substr(0, 80));
  return string_field(j, "type", where);
}

inline Error unsupported(const std::string& where, const std::string& type, const char* supported) {
  return make_error("{}.type '{}' is not supported (supported: {})", where, type, supported);
}

// A split/replace pattern: {"String": "..."} or {"Regex": "..."}.
inline Result<std::unique_ptr<Regex>> pattern_field(const json& j, const std::string& key,
                                                    const std::string& where) {
  const std::string field = join(where, key);
  if (!j.is_object() || !j.contains(key) || !j[key].is_object()) {
    return make_error("{} must be an object {{\"String\": ...}} or {{\"Regex\": ...}}", field);
  }
  const json& p = j[key];
  if (p.contains("String") && p["String"].is_string()) {
    auto re = Regex::compile(Regex::escape(p["String"].get<std::string>()));
    if (!re.ok()) return re.error().with_context(field);
    return std::move(re).value();
  }
  if (p.contains("Regex") && p["Regex"].is_string()) {
    auto re = Regex::compile(p["Regex"].get<std::string>());
    if (!re.ok()) return re.error().with_context(field);
    return std::move(re).value();
  }
  return make_error("{} must be an object {{\"String\": ...}} or {{\"Regex\": ...}}", field);
}

}  // namespace strata::json_fields
