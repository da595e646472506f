#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/commands.h"

namespace strata::cli {

Runner add_tokenize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "print the token ids of TEXT as {\"ids\": [...]}");
  struct State {
    std::string model, tokenizer, text;
    bool no_special = false;
  };
  auto s = std::make_shared<State>();
  cmd->add_option("--model", s->model, "Hugging Face model directory")->required();
  cmd->add_option("--tokenizer", s->tokenizer, "tokenizer directory (default: the model directory)");
  cmd->add_flag("--no-special-tokens", s->no_special, "do not add BOS/EOS from the post-processor");
  cmd->add_option("text", s->text, "text to tokenize")->required();
  return [s]() {
    auto tok = Tokenizer::from_dir(s->tokenizer.empty() ? s->model : s->tokenizer);
    if (!tok.ok()) return fail("tokenize", tok.error().message());
    nlohmann::json out;
    out["ids"] = (*tok)->encode(s->text, !s->no_special);
    std::printf("%s\n", out.dump().c_str());
    return 0;
  };
}

}  // namespace strata::cli
