#include "resolver/zonetool/ip_address.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <cstring>

#include "resolver/util/endpoint.hpp"

namespace vnetdns::zonetool {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.empty() || text.size() > 45) return std::nullopt;
  const std::string s(text);
  IpAddress a;
  if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
    a.family = AF_INET6;
    return a;
  }
  return std::nullopt;
}

std::optional<IpAddress> IpAddress::from_rdata(const std::uint8_t* data, std::size_t size) {
  if (size != 4 && size != 16) return std::nullopt;
  IpAddress a;
  a.family = size == 4 ? AF_INET : AF_INET6;
  std::memcpy(a.bytes.data(), data, size);
  return a;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(family, bytes.data(), buf, sizeof buf) == nullptr) return "?";
  return buf;
}

bool IpAddress::is_private() const noexcept {
  const auto* b = bytes.data();
  if (family == AF_INET) {
    return b[0] == 10 || (b[0] == 172 && (b[1] & 0xf0) == 16) || (b[0] == 192 && b[1] == 168);
  }
  return (b[0] & 0xfe) == 0xfc;  // fc00::/7
}

bool IpAddress::in(const policy::PrefixList& prefixes) const {
  auto ep = util::Endpoint::parse(family == AF_INET6 ? "[" + to_string() + "]:0" : to_string(), 0);
  return ep && prefixes.contains(*ep);
}

}  // namespace vnetdns::zonetool
