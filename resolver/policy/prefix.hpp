// Prefix: an IPv4 or IPv6 network ("10.0.0.0/8", "::1/128", a bare address = host prefix),
// and PrefixList, the ordered allow-list the ACL checks client addresses against.
// IPv4-mapped IPv6 clients (::ffff:a.b.c.d) match IPv4 prefixes.
// Invariant: bits beyond `length` are zero. Thread safety: immutable after construction.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resolver/util/endpoint.hpp"

namespace vnetdns::policy {

struct Prefix {
  int family = 0;  // AF_INET or AF_INET6
  std::array<std::uint8_t, 16> bytes{};
  std::uint8_t length = 0;

  static std::optional<Prefix> parse(std::string_view text);
  [[nodiscard]] bool contains(const util::Endpoint& address) const noexcept;
  [[nodiscard]] std::string to_string() const;
};

class PrefixList {
 public:
  PrefixList() = default;
  explicit PrefixList(std::vector<Prefix> prefixes) : prefixes_(std::move(prefixes)) {}
  [[nodiscard]] bool contains(const util::Endpoint& address) const noexcept;
  [[nodiscard]] bool empty() const noexcept { return prefixes_.empty(); }
  [[nodiscard]] const std::vector<Prefix>& prefixes() const noexcept { return prefixes_; }

 private:
  std::vector<Prefix> prefixes_;
};

}  // namespace vnetdns::policy
