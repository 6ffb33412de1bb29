// RateLimiter: per-client-prefix token buckets for UDP queries (responses to spoofed sources
// are how a resolver becomes an amplifier). Clients are grouped by prefix (/24 and /56 by
// default); each prefix may send `qps` queries per second with bursts up to `burst`. A query
// over the limit is dropped, except every `slip`-th one, which gets an empty TC=1 answer so a
// real client behind the prefix retries over TCP (which cannot be spoofed). slip = 0 never
// slips; slip = 1 slips every limited query.
// Memory is fixed: a direct-mapped table of kSlots buckets; a prefix that collides with
// another takes its slot over (a flood of random sources cannot grow it).
// Thread safety: not thread safe; one per worker (SO_REUSEPORT keeps a client on one worker
// per flow; the limit applies per worker, documented in docs/security.md).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "resolver/util/endpoint.hpp"

namespace vnetdns::policy {

struct RateLimitOptions {
  unsigned qps = 200;
  unsigned burst = 400;
  unsigned slip = 2;
  unsigned ipv4_prefix = 24;
  unsigned ipv6_prefix = 56;
};

enum class RateDecision : std::uint8_t { kAllow, kSlip, kDrop };

class RateLimiter {
 public:
  explicit RateLimiter(const RateLimitOptions& options);
  // `now_ms`: a monotonic clock in milliseconds.
  RateDecision check(const util::Endpoint& client, std::int64_t now_ms) noexcept;
  [[nodiscard]] const RateLimitOptions& options() const noexcept { return options_; }

  static constexpr std::size_t kSlots = 1 << 16;

 private:
  struct Bucket {
    std::array<std::uint8_t, 16> key{};
    std::uint8_t family = 0;  // 0 = empty slot
    std::int64_t last_ms = 0;
    std::int64_t tokens_milli = 0;  // tokens * 1000
    std::uint32_t limited = 0;      // queries limited so far (for slip)
  };

  RateLimitOptions options_;
  std::vector<Bucket> buckets_;
};

}  // namespace vnetdns::policy
