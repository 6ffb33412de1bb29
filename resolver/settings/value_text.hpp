// Value text: the checks and conversions of config values written as text, kept out of the
// TOML loader (loader.cpp) so they can be read and tested on their own: durations, domain
// names, base64 secrets, and the edit distance behind "did you mean" suggestions.
// Thread safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "resolver/settings/settings.hpp"

namespace vnetdns::settings {

// Levenshtein distance, for suggesting a known key for a misspelt one.
std::size_t edit_distance(std::string_view a, std::string_view b);

// A DNS name as written in the config: letters, digits, '-', '_', dot-separated, labels of
// 1..63 characters, optional trailing dot; "." is the root.
bool valid_domain_text(std::string_view s);

// "1s", "1800ms", "10m", "1h", "1d", "0", compounds like "1h30m". False if malformed.
bool parse_duration_text(std::string_view s, Millis& out);

// Base64 as `tsig-keygen` prints it (padded, a multiple of 4 characters).
bool valid_base64(const std::string& v);

}  // namespace vnetdns::settings
