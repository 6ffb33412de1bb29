// Socket helpers for the listeners: create a UDP or TCP socket bound to an Endpoint with
// SO_REUSEPORT (so every worker binds its own socket to the same address and the kernel
// spreads clients across them) and IPV6_V6ONLY on IPv6 (so "[::]:53" and "0.0.0.0:53" can
// be listed side by side). Errors come back as a message naming the address.
// Thread safety: stateless functions.
#pragma once

#include <string>

#include "resolver/util/endpoint.hpp"
#include "resolver/util/result.hpp"

namespace vnetdns::server {

enum class SocketKind { kUdp, kTcp };

// Returns the file descriptor of a bound (and, for TCP, listening) non-blocking socket.
util::Result<int, std::string> open_listener(const util::Endpoint& address, SocketKind kind);

}  // namespace vnetdns::server
