#include "tokenizer/jinja_json.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tokenizer/jinja_unicode.h"

namespace strata::jinja {
namespace {

template <typename Json>
Value convert(const Json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value::none();
    case nlohmann::json::value_t::boolean:
      return Value::boolean(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::integer(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      uint64_t u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value::number(static_cast<double>(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value::number(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value::string(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& item : j) items.push_back(convert(item));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Dict d;
      for (auto it = j.begin(); it != j.end(); ++it) d.set(Value::string(it.key()), convert(it.value()));
      return Value::dict(std::move(d));
    }
    default:
      return Value::none();  // binary / discarded: not produced by JSON text
  }
}

class Dumper {
 public:
  explicit Dumper(const JsonDumpOptions& options) : options_(options) {
    item_sep_ = options.item_separator.value_or(options.indent ? "," : ", ");
    key_sep_ = options.key_separator.value_or(": ");
  }

  Status dump(const Value& v, int depth) {
    switch (v.kind()) {
      case ValueKind::kNone:
        out_ += "null";
        return ok_status();
      case ValueKind::kBool:
        out_ += v.as_bool() ? "true" : "false";
        return ok_status();
      case ValueKind::kInt:
        out_ += std::to_string(v.as_int());
        return ok_status();
      case ValueKind::kFloat:
        out_ += float_text(v.as_double());
        return ok_status();
      case ValueKind::kString:
        append_json_string(out_, v.as_string(), options_.ensure_ascii);
        return ok_status();
      case ValueKind::kList:
      case ValueKind::kTuple:
        return dump_list(v.as_list(), depth);
      case ValueKind::kDict:
        return dump_dict(v.as_dict(), depth);
      default:
        return make_error("Object of type {} is not JSON serializable", type_name(v));
    }
  }

  std::string take() { return std::move(out_); }

 private:
  static std::string float_text(double d) {
    if (std::isnan(d)) return "NaN";
    if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
    return float_repr(d);
  }

  void newline(int depth) {
    out_ += '\n';
    for (int i = 0; i < depth; ++i) out_ += *options_.indent;
  }

  Status dump_list(const std::vector<Value>& items, int depth) {
    if (items.empty()) {
      out_ += "[]";
      return ok_status();
    }
    out_ += '[';
    if (options_.indent) newline(depth + 1);
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) {
        out_ += item_sep_;
        if (options_.indent) newline(depth + 1);
      }
      STRATA_RETURN_IF_ERROR(dump(items[i], depth + 1));
    }
    if (options_.indent) newline(depth);
    out_ += ']';
    return ok_status();
  }

  Result<std::string> key_text(const Value& k) {
    switch (k.kind()) {
      case ValueKind::kString:
        return k.as_string();
      case ValueKind::kInt:
        return std::to_string(k.as_int());
      case ValueKind::kFloat:
        return float_text(k.as_double());
      case ValueKind::kBool:
        return std::string(k.as_bool() ? "true" : "false");
      case ValueKind::kNone:
        return std::string("null");
      default:
        return make_error("keys must be str, int, float, bool or None, not {}", type_name(k));
    }
  }

  Status dump_dict(const Dict& d, int depth) {
    if (d.size() == 0) {
      out_ += "{}";
      return ok_status();
    }
    std::vector<const Dict::Entry*> entries;
    entries.reserve(d.size());
    for (const auto& e : d.entries()) entries.push_back(&e);
    if (options_.sort_keys) {
      Status status = ok_status();
      std::stable_sort(entries.begin(), entries.end(), [&](const Dict::Entry* a, const Dict::Entry* b) {
        auto lt = less_than(a->first, b->first);
        if (!lt.ok()) {
          if (status.ok()) status = lt.error();
          return false;
        }
        return *lt;
      });
      STRATA_RETURN_IF_ERROR(status);
    }
    out_ += '{';
    if (options_.indent) newline(depth + 1);
    bool first = true;
    for (const Dict::Entry* e : entries) {
      if (!first) {
        out_ += item_sep_;
        if (options_.indent) newline(depth + 1);
      }
      first = false;
      STRATA_TRY(std::string key, key_text(e->first));
      append_json_string(out_, key, options_.ensure_ascii);
      out_ += key_sep_;
      STRATA_RETURN_IF_ERROR(dump(e->second, depth + 1));
    }
    if (options_.indent) newline(depth);
    out_ += '}';
    return ok_status();
  }

  const JsonDumpOptions& options_;
  std::string item_sep_;
  std::string key_sep_;
  std::string out_;
};

}  // namespace

Value from_json(const nlohmann::ordered_json& j) {
  return convert(j);
}
Value from_json(const nlohmann::json& j) {
  return convert(j);
}

void append_json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  char buf[16];
  auto escape_unit = [&](unsigned unit) {
    std::snprintf(buf, sizeof(buf), "\\u%04x", unit);
    out += buf;
  };
  auto plain = [&](char32_t cp) {
    switch (cp) {
      case '"':
        out += "\\\"";
        return true;
      case '\\':
        out += "\\\\";
        return true;
      case '\n':
        out += "\\n";
        return true;
      case '\r':
        out += "\\r";
        return true;
      case '\t':
        out += "\\t";
        return true;
      case '\b':
        out += "\\b";
        return true;
      case '\f':
        out += "\\f";
        return true;
      default:
        break;
    }
    if (cp < 0x20) {
      escape_unit(static_cast<unsigned>(cp));
      return true;
    }
    return false;
  };
  if (!ensure_ascii) {
    for (char c : s) {
      if (!plain(static_cast<unsigned char>(c))) out += c;
    }
  } else {
    for (char32_t cp : utf8_decode(s)) {
      if (plain(cp)) continue;
      if (cp < 0x7F) {
        out += static_cast<char>(cp);
      } else if (cp < 0x10000) {
        escape_unit(static_cast<unsigned>(cp));
      } else {
        char32_t v = cp - 0x10000;
        escape_unit(0xD800 | static_cast<unsigned>(v >> 10));
        escape_unit(0xDC00 | static_cast<unsigned>(v & 0x3FF));
      }
    }
  }
  out += '"';
}

Result<std::string> json_dumps(const Value& v, const JsonDumpOptions& options) {
  Dumper dumper(options);
  STRATA_RETURN_IF_ERROR(dumper.dump(v, 0));
  return dumper.take();
}

}  // namespace strata::jinja
