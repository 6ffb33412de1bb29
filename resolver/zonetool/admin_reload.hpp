// admin_reload: asks a running vnetdns to reload by POSTing /reload to its admin endpoint
// ([admin] listen): a minimal HTTP/1.1 client over a plain TCP socket, with a deadline on
// connect, send and receive. Used after a zone edit; failure is reported, never fatal.
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
