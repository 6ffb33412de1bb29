// append_json_string(): a JSON string literal (quotes, escapes, control and non-ASCII bytes
// as \u00XX) appended to `out`. Shared by the cache dump and the query log.
// Thread safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace vnetdns::admin {

void append_json_string(std::string& out, std::string_view s);

}  // namespace vnetdns::admin
