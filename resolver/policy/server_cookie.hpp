// ServerCookie: DNS Cookies (RFC 7873) with the interoperable server cookie of RFC 9018:
// version 1, 3 reserved bytes, a 32-bit timestamp, and SipHash-2-4 over client cookie,
// version, reserved, timestamp and the client's address, keyed by a 128-bit secret made at
// startup. A valid server cookie proves the client saw an earlier answer from us at that
// address (so the source is not spoofed): such clients are exempt from the UDP rate limit.
// Thread safety: immutable after construction; make() and valid() are const.
#pragma once

#include <array>
#include <cstdint>

#include "resolver/util/endpoint.hpp"

namespace vnetdns::policy {

class ServerCookie {
 public:
  ServerCookie();  // random secret from the kernel CSPRNG
  explicit ServerCookie(const std::array<std::uint8_t, 16>& secret) : secret_(secret) {}

  static constexpr std::size_t kServerCookieSize = 16;
  // Writes the 16-byte server cookie for `client_cookie` (8 bytes) into out.
  void make(const std::uint8_t* client_cookie, const util::Endpoint& client, std::uint32_t now,
            std::uint8_t* out) const noexcept;
  // True when `cookie` (client 8 + server 16 bytes) carries a server cookie we made for this
  // client within the last hour (and not more than 5 minutes in the future; RFC 9018 4.3).
  [[nodiscard]] bool valid(const std::uint8_t* cookie, std::size_t len,
                           const util::Endpoint& client, std::uint32_t now) const noexcept;

 private:
  std::uint64_t hash(const std::uint8_t* client_cookie, const std::uint8_t* header8,
                     const util::Endpoint& client) const noexcept;
  std::array<std::uint8_t, 16> secret_{};
};

}  // namespace vnetdns::policy
