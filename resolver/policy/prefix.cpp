// Prefix parsing and matching. Choices documented in resolver/settings/README.md:
// - host bits set beyond the length ("10.1.2.3/8") are masked off and the prefix is accepted
//   (it becomes 10.0.0.0/8);
// - an IPv4-mapped IPv6 prefix (::ffff:a.b.c.d/n, n >= 96) is stored as the IPv4 prefix
//   a.b.c.d/(n-96), and an IPv4-mapped client address is matched as the IPv4 address it
//   carries, so dual-stack sockets need no special rules; such a client never matches an
//   IPv6 prefix (not even ::/0);
// - contains() allocates nothing and touches at most 16 bytes: it runs once per query.
#include "resolver/policy/prefix.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <charconv>
#include <cstring>

namespace vnetdns::policy {

namespace {

constexpr std::uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

// Zeroes every bit of `bytes` beyond `length`.
void mask_bits(std::array<std::uint8_t, 16>& bytes, unsigned length) noexcept {
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned bit = i * 8;
    if (bit >= length) {
      bytes[i] = 0;
    } else if (length - bit < 8) {
      bytes[i] &= static_cast<std::uint8_t>(0xffu << (8 - (length - bit)));
    }
  }
}

// True when the first `length` bits of `a` and `b` are equal.
bool equal_bits(const std::uint8_t* a, const std::uint8_t* b, unsigned length) noexcept {
  const unsigned whole = length / 8;
  if (whole != 0 && std::memcmp(a, b, whole) != 0) return false;
  const unsigned rest = length % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xffu << (8 - rest));
  return ((a[whole] ^ b[whole]) & mask) == 0;
}

}  // namespace

std::optional<Prefix> Prefix::parse(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  std::string_view addr = text;
  std::optional<unsigned> length;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    auto len_text = text.substr(slash + 1);
    unsigned v = 0;
    auto [p, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), v);
    if (len_text.empty() || len_text.size() > 3 || ec != std::errc() ||
        p != len_text.data() + len_text.size()) {
      return std::nullopt;
    }
    length = v;
  }
  char buf[65] = {};
  std::memcpy(buf, addr.data(), addr.size());

  Prefix out;
  if (inet_pton(AF_INET, buf, out.bytes.data()) == 1) {
    out.family = AF_INET;
    const unsigned len = length.value_or(32);
    if (len > 32) return std::nullopt;
    out.length = static_cast<std::uint8_t>(len);
  } else if (inet_pton(AF_INET6, buf, out.bytes.data()) == 1) {
    const unsigned len = length.value_or(128);
    if (len > 128) return std::nullopt;
    if (len >= 96 && std::memcmp(out.bytes.data(), kMappedPrefix, 12) == 0) {
      // ::ffff:a.b.c.d/n is the IPv4 prefix a.b.c.d/(n-96).
      std::array<std::uint8_t, 16> v4{};
      std::memcpy(v4.data(), out.bytes.data() + 12, 4);
      out.bytes = v4;
      out.family = AF_INET;
      out.length = static_cast<std::uint8_t>(len - 96);
    } else {
      out.family = AF_INET6;
      out.length = static_cast<std::uint8_t>(len);
    }
  } else {
    return std::nullopt;
  }
  mask_bits(out.bytes, out.length);
  return out;
}

bool Prefix::contains(const util::Endpoint& address) const noexcept {
  const std::uint8_t* a = address.address_bytes();
  const int fam = address.family();
  if (family == AF_INET) {
    if (fam == AF_INET) return equal_bits(bytes.data(), a, length);
    if (fam == AF_INET6 && std::memcmp(a, kMappedPrefix, 12) == 0) {
      return equal_bits(bytes.data(), a + 12, length);
    }
    return false;
  }
  if (family == AF_INET6 && fam == AF_INET6) {
    if (std::memcmp(a, kMappedPrefix, 12) == 0) return false;  // an IPv4 client in disguise
    return equal_bits(bytes.data(), a, length);
  }
  return false;
}

std::string Prefix::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family != AF_INET && family != AF_INET6) return "invalid";
  inet_ntop(family, bytes.data(), buf, sizeof(buf));
  return std::string(buf) + "/" + std::to_string(length);
}

bool PrefixList::contains(const util::Endpoint& address) const noexcept {
  for (const auto& p : prefixes_) {
    if (p.contains(address)) return true;
  }
  return false;
}

}  // namespace vnetdns::policy
