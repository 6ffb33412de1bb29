// IpAddress: an IPv4 or IPv6 address as the zone tools handle it: parsed strictly with
// inet_pton (no ports, no prefixes, no zone ids), printed in canonical form (RFC 5952 for
// IPv6), classified as private (RFC 1918, RFC 4193 ULA) and matched against prefix lists.
// The record type it belongs in follows from the family: A for IPv4, AAAA for IPv6.
// Thread safety: a plain value type.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "resolver/policy/prefix.hpp"

namespace vnetdns::zonetool {

struct IpAddress {
  int family = 0;  // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> bytes{};

  static std::optional<IpAddress> parse(std::string_view text);
  // From the rdata of an A (4 bytes) or AAAA (16 bytes) record.
  static std::optional<IpAddress> from_rdata(const std::uint8_t* data, std::size_t size);

  [[nodiscard]] std::size_t size() const noexcept { return family == AF_INET6 ? 16 : 4; }
  [[nodiscard]] std::uint16_t rr_type() const noexcept { return family == AF_INET6 ? 28 : 1; }
  [[nodiscard]] const char* rr_type_text() const noexcept {
    return family == AF_INET6 ? "AAAA" : "A";
  }
  [[nodiscard]] std::string to_string() const;
  // RFC 1918 (10/8, 172.16/12, 192.168/16) or RFC 4193 (fc00::/7).
  [[nodiscard]] bool is_private() const noexcept;
  [[nodiscard]] bool in(const policy::PrefixList& prefixes) const;

  bool operator==(const IpAddress& o) const noexcept {
    return family == o.family && bytes == o.bytes;
  }
  bool operator<(const IpAddress& o) const noexcept {
    return family != o.family ? family < o.family : bytes < o.bytes;
  }
};

}  // namespace vnetdns::zonetool
