// load_settings(): reads a TOML config file into Settings and validates it. Every problem is
// reported as "FILE:LINE: what is wrong" (all of them, not just the first), unknown keys
// included, so `vnetdns check-config` can print them and a failed reload can log them.
// Zone files are not opened here (the zone loader does that); their paths are resolved
// against the config file's folder. Thread safety: a pure function.
#pragma once

#include <string>
#include <vector>

#include "resolver/settings/settings.hpp"
#include "resolver/util/result.hpp"

namespace vnetdns::settings {

using Errors = std::vector<std::string>;

util::Result<Settings, Errors> load_settings(const std::string& path);
// Same, from text (for tests and fuzzing); `path` is used in messages and for relative paths.
util::Result<Settings, Errors> parse_settings(std::string_view text, const std::string& path);

}  // namespace vnetdns::settings
