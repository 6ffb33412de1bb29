#include "resolver/util/endpoint.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace vnetdns::util {

namespace {
bool parse_port(std::string_view s, std::uint16_t& out) {
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v == 0 || v > 65535) return false;
  out = static_cast<std::uint16_t>(v);
  return true;
}
}  // namespace

std::optional<Endpoint> Endpoint::parse(std::string_view text, std::uint16_t default_port) {
  std::string host;
  std::uint16_t port = default_port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = std::string(text.substr(1, close - 1));
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':' || !parse_port(rest.substr(1), port)) return std::nullopt;
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    auto colon = text.find(':');
    host = std::string(text.substr(0, colon));
    if (!parse_port(text.substr(colon + 1), port)) return std::nullopt;
  } else {
    host = std::string(text);
  }
  Endpoint ep;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&ep.storage_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&ep.storage_);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return ep;
  }
  std::memset(&ep.storage_, 0, sizeof(ep.storage_));
  if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return ep;
  }
  return std::nullopt;
}

Endpoint Endpoint::from_sockaddr(const sockaddr* sa, socklen_t len) {
  Endpoint ep;
  std::memcpy(&ep.storage_, sa, std::min<std::size_t>(len, sizeof(ep.storage_)));
  return ep;
}

std::uint16_t Endpoint::port() const noexcept {
  if (family() == AF_INET6)
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
}

const std::uint8_t* Endpoint::address_bytes() const noexcept {
  if (family() == AF_INET6) {
    return reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr.s6_addr;
  }
  return reinterpret_cast<const std::uint8_t*>(
      &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr);
}

bool Endpoint::is_loopback() const noexcept {
  const auto* a = address_bytes();
  if (family() == AF_INET) return a[0] == 127;
  static constexpr std::uint8_t kLoop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (std::memcmp(a, kLoop6, 16) == 0) return true;
  // IPv4-mapped loopback ::ffff:127.x.y.z
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a, kMapped, 12) == 0 && a[12] == 127;
}

bool Endpoint::is_unspecified() const noexcept {
  const auto* a = address_bytes();
  const std::size_t n = family() == AF_INET ? 4 : 16;
  for (std::size_t i = 0; i < n; ++i) {
    if (a[i] != 0) return false;
  }
  return true;
}

std::string Endpoint::address_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family(), address_bytes(), buf, sizeof(buf));
  return buf;
}

std::string Endpoint::to_string() const {
  if (family() == AF_INET6) return "[" + address_string() + "]:" + std::to_string(port());
  return address_string() + ":" + std::to_string(port());
}

bool Endpoint::operator==(const Endpoint& other) const noexcept {
  return family() == other.family() && port() == other.port() &&
         std::memcmp(address_bytes(), other.address_bytes(), address_length()) == 0;
}

}  // namespace vnetdns::util
