#include "resolver/util/log.hpp"

#include <cstdlib>

#include <spdlog/sinks/stdout_sinks.h>

namespace vnetdns::util {

bool setup_logging(const LogOptions& options) {
  auto level = spdlog::level::from_str(std::string(options.level));
  if (level == spdlog::level::off && options.level != "off") return false;
  auto logger = spdlog::get("vnetdns");
  if (!logger) {
    logger = spdlog::stderr_logger_mt("vnetdns");
    spdlog::set_default_logger(logger);
  }
  spdlog::set_level(level);
  // Under systemd, journald stamps every line itself (JOURNAL_STREAM is set for us).
  const bool journald = std::getenv("JOURNAL_STREAM") != nullptr;
  if (!options.timestamps || journald) {
    spdlog::set_pattern("%l: %v");
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l: %v");
  }
  spdlog::flush_on(spdlog::level::info);
  return true;
}

}  // namespace vnetdns::util
