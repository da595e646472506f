#include <cmath>
#include <cstdio>

#include "cli/commands.h"

namespace strata::cli {

void add_model_flags(CLI::App& cmd, LoadOptions& o) {
  cmd.add_option("--model", o.model, "Hugging Face model directory (default: the built-in random tiny model)");
  cmd.add_option("--tokenizer", o.tokenizer, "tokenizer directory (default: the model directory)");
  cmd.add_option("--load-format", o.load_format, "auto | safetensors | dummy (random weights of the right shapes)")
      ->check(CLI::IsMember({"auto", "safetensors", "dummy"}));
  cmd.add_option("--max-model-len", o.max_model_len, "context length (default: from config.json)");
  cmd.add_option("--device", o.device, "auto (CUDA when a GPU answers) | cpu | cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // as argparse: the last one wins
  cmd.add_option("--dtype", o.dtype, "auto | bfloat16 | float16 | float32 (the CPU backend computes in float32)")
      ->check(CLI::IsMember({"auto", "bfloat16", "float16", "float32", "half", "float", "bf16", "fp16"}))
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
}

int fail(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "strata %s: error: %s\n", command.c_str(), message.c_str());
  return 1;
}

Result<int64_t> parse_bytes(const std::string& text) {
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(text, &pos);
  } catch (...) {
    return make_error("'{}' is not a size (examples: 4GiB, 512MiB, 1000000)", text);
  }
  std::string unit = text.substr(pos);
  double mult = 1;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "KiB" || unit == "K") mult = 1024.0;
  else if (unit == "MiB" || unit == "M") mult = 1024.0 * 1024;
  else if (unit == "GiB" || unit == "G") mult = 1024.0 * 1024 * 1024;
  else if (unit == "KB") mult = 1e3;
  else if (unit == "MB") mult = 1e6;
  else if (unit == "GB") mult = 1e9;
  else return make_error("'{}': unknown unit '{}' (B, KiB, MiB, GiB, KB, MB, GB)", text, unit);
  if (!(v > 0) || !std::isfinite(v)) return make_error("'{}' must be a positive size", text);
  return static_cast<int64_t>(v * mult);
}

}  // namespace strata::cli
