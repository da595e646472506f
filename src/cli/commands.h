// `strata` subcommands. Each registers its flags on a CLI11 subcommand and returns the process exit
// code when run; errors are printed as one line "strata <command>: error: <message>" on stderr.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "runtime/model_loader.h"

namespace strata::cli {

using Runner = std::function<int()>;

Runner add_generate_command(CLI::App& app);
Runner add_tokenize_command(CLI::App& app);
Runner add_bench_command(CLI::App& app);
Runner add_serve_command(CLI::App& app);

// Flags every command that loads a model shares (--model, --tokenizer, --load-format, --seed, ...).
void add_model_flags(CLI::App& cmd, LoadOptions& o);
int fail(const std::string& command, const std::string& message);
// "4GiB", "512MiB", "1e9", "1000000" → bytes; error text on failure.
Result<int64_t> parse_bytes(const std::string& text);

}  // namespace strata::cli
