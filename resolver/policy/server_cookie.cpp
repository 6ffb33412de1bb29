#include "resolver/policy/server_cookie.hpp"

#include <sys/random.h>

#include <cstring>

#include "resolver/util/siphash.hpp"

namespace vnetdns::policy {

ServerCookie::ServerCookie() {
  std::size_t got = 0;
  while (got < secret_.size()) {
    const ssize_t n = getrandom(secret_.data() + got, secret_.size() - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
}

std::uint64_t ServerCookie::hash(const std::uint8_t* client_cookie, const std::uint8_t* header8,
                                 const util::Endpoint& client) const noexcept {
  // RFC 9018 section 4.4: Client Cookie | Version | Reserved | Timestamp | Client-IP.
  std::uint8_t buf[8 + 8 + 16];
  std::memcpy(buf, client_cookie, 8);
  std::memcpy(buf + 8, header8, 8);
  const std::size_t alen = client.address_length();
  std::memcpy(buf + 16, client.address_bytes(), alen);
  return util::siphash24(secret_.data(), buf, 16 + alen);
}

void ServerCookie::make(const std::uint8_t* client_cookie, const util::Endpoint& client,
                        std::uint32_t now, std::uint8_t* out) const noexcept {
  out[0] = 1;  // version
  out[1] = out[2] = out[3] = 0;
  out[4] = static_cast<std::uint8_t>(now >> 24);
  out[5] = static_cast<std::uint8_t>(now >> 16);
  out[6] = static_cast<std::uint8_t>(now >> 8);
  out[7] = static_cast<std::uint8_t>(now);
  const std::uint64_t h = hash(client_cookie, out, client);
  for (int i = 0; i < 8; ++i) out[8 + i] = static_cast<std::uint8_t>(h >> (8 * i));
}

bool ServerCookie::valid(const std::uint8_t* cookie, std::size_t len, const util::Endpoint& client,
                         std::uint32_t now) const noexcept {
  if (len != 8 + kServerCookieSize || cookie[8] != 1) return false;
  const std::uint32_t ts = (static_cast<std::uint32_t>(cookie[12]) << 24) |
                           (static_cast<std::uint32_t>(cookie[13]) << 16) |
                           (static_cast<std::uint32_t>(cookie[14]) << 8) | cookie[15];
  // Serial-number arithmetic (RFC 1982) on the 32-bit timestamp.
  const auto age = static_cast<std::int32_t>(now - ts);
  if (age > 3600 || age < -300) return false;
  const std::uint64_t h = hash(cookie, cookie + 8, client);
  std::uint8_t expect[8];
  for (int i = 0; i < 8; ++i) expect[i] = static_cast<std::uint8_t>(h >> (8 * i));
  return std::memcmp(expect, cookie + 16, 8) == 0;
}

}  // namespace vnetdns::policy
