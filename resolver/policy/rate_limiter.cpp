#include "resolver/policy/rate_limiter.hpp"

#include <algorithm>
#include <cstring>

namespace vnetdns::policy {

RateLimiter::RateLimiter(const RateLimitOptions& options) : options_(options), buckets_(kSlots) {}

RateDecision RateLimiter::check(const util::Endpoint& client, std::int64_t now_ms) noexcept {
  // The key: the client's address masked to its prefix (IPv4-mapped clients count as IPv4).
  std::array<std::uint8_t, 16> key{};
  const std::uint8_t* a = client.address_bytes();
  std::uint8_t family = 4;
  std::size_t len = 4;
  unsigned bits = options_.ipv4_prefix;
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (client.family() == AF_INET6) {
    if (std::memcmp(a, kMapped, 12) == 0) {
      a += 12;
    } else {
      family = 6;
      len = 16;
      bits = options_.ipv6_prefix;
    }
  }
  for (std::size_t i = 0; i < len; ++i) {
    const unsigned keep = bits >= 8 * (i + 1) ? 8 : (bits > 8 * i ? bits - 8 * i : 0);
    key[i] = static_cast<std::uint8_t>(a[i] & (keep == 0 ? 0 : (0xff << (8 - keep)) & 0xff));
  }
  // FNV-1a over the key picks the slot.
  std::uint64_t h = 1469598103934665603ULL ^ family;
  for (std::size_t i = 0; i < len; ++i) {
    h ^= key[i];
    h *= 1099511628211ULL;
  }
  Bucket& b = buckets_[h & (kSlots - 1)];
  const std::int64_t capacity = static_cast<std::int64_t>(options_.burst) * 1000;
  if (b.family != family || b.key != key) {
    b.family = family;
    b.key = key;
    b.tokens_milli = capacity;
    b.last_ms = now_ms;
    b.limited = 0;
  }
  const std::int64_t elapsed = std::max<std::int64_t>(0, now_ms - b.last_ms);
  b.last_ms = now_ms;
  b.tokens_milli = std::min(capacity, b.tokens_milli + elapsed * options_.qps);
  if (b.tokens_milli >= 1000) {
    b.tokens_milli -= 1000;
    return RateDecision::kAllow;
  }
  ++b.limited;
  if (options_.slip > 0 && b.limited % options_.slip == 0) return RateDecision::kSlip;
  return RateDecision::kDrop;
}

}  // namespace vnetdns::policy
