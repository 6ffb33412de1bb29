// ForwardGroup: the upstream servers of one [[forward]] rule and how a query is tried on
// them: in policy order (sequential = the configured order is a preference), each try
// bounded by `timeout`, all tries by `deadline`; a reply with TC is retried over TCP on the
// same server (RFC 7766 section 5); SERVFAIL/REFUSED, a timeout or a network error moves on
// to the next server; FORMERR to an EDNS query is retried once without EDNS.
// Health is passive: consecutive failures mark a server down for a back-off period, and a
// down server is tried only after every server that is up.
// Thread safety: resolve() may run on many worker threads at once; the per-server health
// and latency figures are atomics; the configuration part is immutable.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "resolver/settings/settings.hpp"
#include "resolver/upstream/transport.hpp"
#include "resolver/upstream/upstream_query.hpp"

namespace vnetdns::upstream {

enum class ForwardStatus : std::uint8_t { kOk, kFailed };

struct ForwardResult {
  ForwardStatus status = ForwardStatus::kFailed;
  std::vector<std::uint8_t> reply;
  std::size_t upstream_index = 0;
  bool via_tcp = false;
  std::uint32_t tries = 0;
  std::uint32_t timeouts = 0;
  std::uint32_t mismatches = 0;
  std::uint32_t capped = 0;  // servers skipped at their max_outstanding
};

struct UpstreamHealth {
  std::atomic<std::uint32_t> consecutive_failures{0};
  std::atomic<std::int64_t> down_until_ms{0};  // steady clock, ms; 0 = up
  std::atomic<std::uint32_t> srtt_us{0};        // smoothed round-trip time
  std::atomic<std::uint64_t> queries{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::int64_t> outstanding{0};
};

class ForwardGroup {
 public:
  explicit ForwardGroup(settings::ForwardSettings settings);

  boost::asio::awaitable<ForwardResult> resolve(const UpstreamQuery& query);

  [[nodiscard]] const settings::ForwardSettings& settings() const noexcept { return settings_; }
  [[nodiscard]] const UpstreamHealth& health(std::size_t i) const { return *health_[i]; }
  [[nodiscard]] bool any_up() const noexcept;

  static constexpr std::uint32_t kFailuresBeforeDown = 3;
  static constexpr std::chrono::milliseconds kDownBackoff{5000};

 private:
  // Fills `order` with server indices in the order this query should try them.
  void plan(std::vector<std::size_t>& order);
  void record(std::size_t i, bool ok, std::chrono::microseconds rtt);

  settings::ForwardSettings settings_;
  std::vector<std::unique_ptr<UpstreamHealth>> health_;
  std::atomic<std::uint32_t> next_{0};
};

}  // namespace vnetdns::upstream
