// Jinja2 semantics probed by small templates whose expected output (or error) comes from Python
// jinja2 configured as transformers does (tests/fixtures/chat_templates/jinja_cases.json, refreshed
// by tools/make_chat_template_goldens.py): scoping, filters, tests, methods, Python repr/str,
// json.dumps, operators, syntax errors, and seeded random whitespace-control templates.
#include <gtest/gtest.h>

#include "jinja_test_util.h"

namespace strata::test {
namespace {

bool is_syntax_error_type(const std::string& type) {
  return type == "TemplateSyntaxError" || type == "TemplateAssertionError" || type == "SyntaxError";
}

// Returns the number of cases that matched; reports each mismatch.
size_t check_cases(const nlohmann::ordered_json& cases, const jinja::LocalTime& now) {
  size_t passed = 0;
  for (const auto& c : cases) {
    const std::string source = c.at("template").get<std::string>();
    SCOPED_TRACE("template: " + source);
    auto out = render_template(source, c.at("context"), &now);
    if (c.contains("expected")) {
      if (!out.ok()) {
        ADD_FAILURE() << "error: " << out.error().message();
        continue;
      }
      EXPECT_EQ(*out, c.at("expected").get<std::string>());
      passed += *out == c.at("expected").get<std::string>();
      continue;
    }
    const std::string type = c.at("error_type").get<std::string>();
    const std::string want = c.at("expected_error").get<std::string>();
    if (out.ok()) {
      ADD_FAILURE() << "rendered '" << *out << "' but jinja2 raised " << type << ": " << want;
      continue;
    }
    if (is_syntax_error_type(type)) {
      // Syntax errors carry the line number; their wording follows jinja2 loosely.
      EXPECT_EQ(out.error().message().rfind("syntax error on line ", 0), 0u) << out.error().message();
      passed += out.error().message().rfind("syntax error on line ", 0) == 0;
    } else {
      EXPECT_EQ(out.error().message(), want) << type;
      passed += out.error().message() == want;
    }
  }
  return passed;
}

TEST(JinjaCases, CuratedSemanticsMatchJinja2) {
  auto data = read_ordered_json(fixtures_dir() + "/chat_templates/jinja_cases.json");
  const auto& cases = data.at("curated");
  ASSERT_GE(cases.size(), 200u);
  EXPECT_EQ(check_cases(cases, local_time_from_json(data.at("now"))), cases.size());
}

TEST(JinjaCases, RandomWhitespaceControlMatchesJinja2) {
  auto data = read_ordered_json(fixtures_dir() + "/chat_templates/jinja_cases.json");
  const auto& cases = data.at("whitespace");
  ASSERT_GE(cases.size(), 200u);
  EXPECT_EQ(check_cases(cases, local_time_from_json(data.at("now"))), cases.size());
}

}  // namespace
}  // namespace strata::test
