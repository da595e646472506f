// Static analysis of a parsed chat template, as vLLM does it on jinja2's AST.
#pragma once

#include <string>

#include "tokenizer/jinja_ast.h"

namespace strata::jinja {

// vLLM's _detect_content_format ("auto" --chat-template-content-format): "openai" when the template
// loops over a message's content (`{% for part in message['content'] %}`, following `set`
// aliases of `messages` and of its items), otherwise "string" (the server then joins text parts
// of a message into one string before rendering).
std::string detect_content_format(const TemplateAst& ast);

}  // namespace strata::jinja
