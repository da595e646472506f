#include "core/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace strata {

void init_logging(std::string_view level) {
  static auto logger = [] {
    auto l = spdlog::stderr_color_mt("strata");
    l->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    spdlog::set_default_logger(l);
    return l;
  }();
  auto lvl = spdlog::level::from_str(std::string(level));
  if (level == "warning") lvl = spdlog::level::warn;
  logger->set_level(lvl);
}

}  // namespace strata
