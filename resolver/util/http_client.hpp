// http_request: the project's one HTTP/1.1 client, for the commands that talk to a running
// vnetdns's admin endpoint (`vnetdns ctl ...`, and `vnetdns zone ...` asking for a reload
// after an edit). One request on a fresh connection (Connection: close), every step under one
// deadline; a reply body up to 64 MiB (a cache dump).
// Thread safety: a pure function; each call runs its own event loop.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "resolver/util/endpoint.hpp"

namespace vnetdns::util {

struct HttpReply {
  bool ok = false;  // an HTTP response came; then status and body are set
  unsigned status = 0;
  std::string status_line;  // "HTTP/1.1 200 OK"
  std::string body;
  std::string error;  // when !ok: what went wrong, naming the server
};

// `method`: "GET" or "POST" (any token Beast knows). `user_agent`: e.g. "vnetdns-ctl".
HttpReply http_request(const Endpoint& server, std::string_view method, const std::string& target,
                       std::chrono::milliseconds timeout, std::string_view user_agent);

}  // namespace vnetdns::util
