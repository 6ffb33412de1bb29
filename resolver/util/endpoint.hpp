// Endpoint: an IPv4 or IPv6 address and a port, held as a sockaddr so sockets take it
// directly. Parses the config forms "ip", "ip:port" and "[v6]:port" (a bare IPv6 address
// without brackets is taken whole, with the default port).
// Invariant: family() is AF_INET or AF_INET6 for every parsed value.
// Thread safety: a plain value type.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vnetdns::util {

class Endpoint {
 public:
  Endpoint() = default;
  static std::optional<Endpoint> parse(std::string_view text, std::uint16_t default_port);
  static Endpoint from_sockaddr(const sockaddr* sa, socklen_t len);

  [[nodiscard]] int family() const noexcept { return storage_.ss_family; }
  [[nodiscard]] std::uint16_t port() const noexcept;
  [[nodiscard]] const sockaddr* sockaddr_ptr() const noexcept {
    return reinterpret_cast<const sockaddr*>(&storage_);
  }
  [[nodiscard]] sockaddr* sockaddr_ptr() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  [[nodiscard]] socklen_t size() const noexcept {
    return family() == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
  }
  // Address bytes (4 or 16) for prefix matching.
  [[nodiscard]] const std::uint8_t* address_bytes() const noexcept;
  [[nodiscard]] std::size_t address_length() const noexcept {
    return family() == AF_INET6 ? 16 : 4;
  }
  [[nodiscard]] bool is_loopback() const noexcept;
  // 0.0.0.0 or :: (a wildcard bind).
  [[nodiscard]] bool is_unspecified() const noexcept;
  [[nodiscard]] std::string to_string() const;  // "1.2.3.4:53" or "[::1]:53"
  [[nodiscard]] std::string address_string() const;
  // Same address and port (what a reply's source must equal, RFC 5452 section 9.1).
  bool operator==(const Endpoint& other) const noexcept;

 private:
  sockaddr_storage storage_{};
};

}  // namespace vnetdns::util
