// admin_reload: asks a running vnetdns to reload by POSTing /reload to its admin endpoint
// ([admin] listen), through the project's one HTTP client (util/http_client.hpp), under one
// deadline. Used after a zone edit; failure is reported, never fatal.
// Thread safety: a pure function.
#pragma once

#include <string>

#include "resolver/util/endpoint.hpp"
#include "resolver/util/result.hpp"

namespace vnetdns::zonetool {

// Returns the response's status line ("HTTP/1.1 200 OK") when the status is 2xx; otherwise
// an error saying what happened (connection refused, timeout, the status line).
util::Result<std::string, std::string> post_reload(const util::Endpoint& admin,
                                                   int timeout_ms = 3000);

}  // namespace vnetdns::zonetool
