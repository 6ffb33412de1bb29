// SipHash-2-4 (Aumasson & Bernstein), 64-bit output: the keyed hash behind DNS cookies,
// server side (policy/server_cookie) and client side (upstream/client_cookie), as RFC 9018
// recommends. Thread safety: a pure function.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vnetdns::util {

// `key` is 16 bytes.
std::uint64_t siphash24(const std::uint8_t* key, const std::uint8_t* data,
                        std::size_t len) noexcept;

}  // namespace vnetdns::util
