// Logging: spdlog (header-only, external fmt) behind a few helpers so the rest of the tree does not
// configure sinks itself. Logs go to stderr; stdout is reserved for command output (JSON, text).
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

namespace strata {

// Sets up the stderr logger once; level is one of trace, debug, info, warning, error, critical.
void init_logging(std::string_view level = "info");

}  // namespace strata

#define LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
