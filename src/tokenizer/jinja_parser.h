// Jinja2 parser: tokens -> TemplateAst, following jinja2.parser.Parser (operator precedence,
// tuples, filters/tests binding, test arguments without parentheses, `{% set ns.x %}` targets).
// Supported statements: if/elif/else, for (with `if` filter, else, recursive), set (also block
// set), macro, call, filter, with, break/continue (loopcontrols), block, print, autoescape and
// transformers' `generation`. Templates that need a loader (extends, include, import) are refused.
#pragma once

#include <string>

#include "core/status.h"
#include "tokenizer/jinja_ast.h"

namespace strata::jinja {

// Errors read "syntax error on line N: <message>".
Result<TemplateAst> parse_template(const std::string& source);

}  // namespace strata::jinja
