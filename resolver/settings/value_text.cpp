#include "resolver/settings/value_text.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <limits>
#include <vector>

namespace vnetdns::settings {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] =
          std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool valid_domain_text(std::string_view s) {
  if (s == ".") return true;
  if (s.empty() || s.size() > 254) return false;
  if (s.back() == '.') s.remove_suffix(1);
  if (s.size() > 253) return false;
  std::size_t label = 0;
  for (char c : s) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return label != 0;
}

bool parse_duration_text(std::string_view s, Millis& out) {
  if (s.empty()) return false;
  if (s == "0") {
    out = Millis(0);
    return true;
  }
  constexpr std::int64_t kMax = std::int64_t{1} << 50;  // ~35,000 years in ms: no overflow
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    std::int64_t n = 0;
    const std::size_t digits_start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      n = n * 10 + (s[i] - '0');
      if (n > kMax) return false;
      ++i;
    }
    if (i == digits_start) return false;
    std::int64_t unit = 0;
    if (s.substr(i, 2) == "ms") {
      unit = 1;
      i += 2;
    } else if (i < s.size()) {
      switch (s[i]) {
        case 's': unit = 1000; break;
        case 'm': unit = 60 * 1000; break;
        case 'h': unit = 3600 * 1000; break;
        case 'd': unit = 86400 * 1000; break;
        default: return false;
      }
      ++i;
    } else {
      return false;  // a number without unit is only allowed as "0" or as a TOML integer
    }
    total += n * unit;
    if (total > kMax) return false;
  }
  out = Millis(total);
  return true;
}

bool valid_base64(const std::string& v) {
  std::size_t n = 0;
  std::size_t pad = 0;
  for (const char c : v) {
    if (c == '=') {
      ++pad;
    } else if (pad > 0 || !(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/')) {
      return false;
    }
    ++n;
  }
  return n > 0 && n % 4 == 0 && pad <= 2;
}

}  // namespace vnetdns::settings
