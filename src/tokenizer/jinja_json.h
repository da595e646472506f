// JSON in and out of the Jinja2 value model: request JSON becomes Values (objects keep their key
// order when given as nlohmann::ordered_json), and `tojson` reproduces Python's json.dumps byte for
// byte (as transformers overrides the filter: ensure_ascii=False by default, indent, separators,
// sort_keys).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/status.h"
#include "tokenizer/jinja_value.h"

namespace strata::jinja {

Value from_json(const nlohmann::ordered_json& j);
Value from_json(const nlohmann::json& j);

struct JsonDumpOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;          // nullopt: single line
  std::optional<std::string> item_separator;  // default ", " (or "," with indent)
  std::optional<std::string> key_separator;   // default ": "
  bool sort_keys = false;
};

// Python's json.dumps(v, ...); an Error (TypeError text) for values JSON cannot hold.
Result<std::string> json_dumps(const Value& v, const JsonDumpOptions& options);
// Appends the JSON string literal for s (quotes included).
void append_json_string(std::string& out, const std::string& s, bool ensure_ascii);

}  // namespace strata::jinja
