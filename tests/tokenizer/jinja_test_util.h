// Shared helpers for the chat template tests: reading the golden fixtures, loading a template named
// by its testdata path, and rendering with a fixed strftime_now clock.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "testutil.h"
#include "tokenizer/chat_template.h"

namespace strata::test {

inline nlohmann::ordered_json read_ordered_json(const std::string& path) {
  return nlohmann::ordered_json::parse(read_file(path));
}

inline jinja::LocalTime local_time_from_json(const nlohmann::ordered_json& j) {
  jinja::LocalTime t;
  t.year = j.at("year").get<int>();
  t.month = j.at("month").get<int>();
  t.day = j.at("day").get<int>();
  t.hour = j.at("hour").get<int>();
  t.minute = j.at("minute").get<int>();
  t.second = j.at("second").get<int>();
  t.microsecond = j.at("microsecond").get<int>();
  return t;
}

// The template text of a goldens "template" entry: a .jinja file under testdata, or the
// "chat_template" string of a tokenizer_config.json there.
inline std::string load_testdata_template(const std::string& relative_path) {
  std::string path = testdata_dir() + "/" + relative_path;
  if (relative_path.size() > 5 && relative_path.substr(relative_path.size() - 5) == ".json") {
    return read_ordered_json(path).at("chat_template").get<std::string>();
  }
  return read_file(path);
}

// Parses and renders in one step; the Error text (syntax or render) on failure.
inline Result<std::string> render_template(const std::string& source, const nlohmann::ordered_json& context,
                                           const jinja::LocalTime* now = nullptr) {
  STRATA_TRY(ChatTemplate tpl, ChatTemplate::parse(source));
  if (now != nullptr) {
    jinja::LocalTime fixed = *now;
    tpl.set_clock([fixed] { return fixed; });
  }
  return tpl.render(context);
}

// Renders and returns the output, or "ERROR: <message>".
inline std::string render_or_error(const std::string& source, const nlohmann::ordered_json& context = {}) {
  auto out = render_template(source, context.is_null() ? nlohmann::ordered_json::object() : context);
  return out.ok() ? *out : "ERROR: " + out.error().message();
}

}  // namespace strata::test
