// Logging through spdlog behind one header, so the rest of the code never names spdlog's
// setup. Per-query logging never happens at info level (the hot path stays quiet).
// Thread safety: spdlog's default logger is thread safe; setup happens once at startup.
#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

namespace vnetdns::util {

struct LogOptions {
  std::string_view level = "info";  // trace, debug, info, warn, error, critical, off
  bool timestamps = true;           // journald adds its own; see log.cpp
};

// Configures the default logger to write to stderr. Returns false for an unknown level.
bool setup_logging(const LogOptions& options);

}  // namespace vnetdns::util

#define VLOG_TRACE(...) SPDLOG_TRACE(__VA_ARGS__)
#define VLOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define VLOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define VLOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define VLOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
