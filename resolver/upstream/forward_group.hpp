// ForwardGroup: the upstream servers of one [[forward]] rule and how a query is tried on
// them: in policy order (sequential = the configured order is a preference), each try
// bounded by `timeout`, all tries by `deadline`; a reply with TC is retried over TCP on the
// same server (RFC 7766 section 5); SERVFAIL/REFUSED, a timeout or a network error moves on
// to the next server; FORMERR to an EDNS query is retried once without EDNS.
// Health: kFailuresBeforeDown consecutive failures (timeouts, network errors, SERVFAIL,
// REFUSED) mark a server down. A down server gets no queries while another is up; while it
// is down it is probed (health_probe, type NS) with exponential back-off from 1 s to 30 s,
// and the first good reply (probe or query) marks it up. When every server is down a query
// fails at once instead of waiting out timeouts. Caps: a server with max_outstanding queries
// in flight, or max_qps queries sent in the current second, is skipped (168.63.129.16 drops
// what is over 200 outstanding or 1,000 per second). An upstream that answers FORMERR to EDNS
// is remembered and asked without EDNS from then on.
// DNS cookies (RFC 7873 section 5.3): every EDNS query carries the server's COOKIE option
// (client_cookie.hpp); a reply with another client cookie is a mismatch; BADCOOKIE to our
// client cookie is retried at once with the server cookie it brought, and a second
// BADCOOKIE over UDP goes to TCP (section 5.3); one that persists counts like SERVFAIL.
// Thread safety: resolve() may run on many worker threads at once; the per-server health
// and latency figures are atomics; each server's cookie state is a ClientCookie shared by
// every worker (its server cookie under a small mutex); the configuration part is immutable.
#pragma once

#include <array>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "resolver/settings/settings.hpp"
#include "resolver/upstream/client_cookie.hpp"
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
  std::uint32_t capped = 0;  // servers skipped at their max_outstanding or max_qps
  bool all_down = false;     // failed at once: every server is marked down
};

struct UpstreamHealth {
  std::atomic<std::uint32_t> consecutive_failures{0};
  std::atomic<bool> down{false};
  std::atomic<std::int64_t> next_probe_ms{0};    // steady clock, ms
  std::atomic<std::int64_t> probe_backoff_ms{0};
  std::atomic<std::int64_t> qps_second{0};       // the second the qps window counts
  std::atomic<std::uint32_t> qps_count{0};
  std::atomic<bool> no_edns{false};
  std::atomic<std::uint64_t> probes{0};
  // Round-trip times of answered tries: counts per bucket (not cumulative) and their sum.
  static constexpr std::array<std::uint32_t, 12> kLatencyBoundsUs = {
      500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000};
  std::array<std::atomic<std::uint64_t>, kLatencyBoundsUs.size() + 1> latency{};
  std::atomic<std::uint64_t> latency_sum_us{0};
  void observe_latency(std::chrono::microseconds rtt) noexcept {
    std::size_t i = 0;
    while (i < kLatencyBoundsUs.size() && rtt.count() > kLatencyBoundsUs[i]) ++i;
    latency[i].fetch_add(1, std::memory_order_relaxed);
    latency_sum_us.fetch_add(static_cast<std::uint64_t>(rtt.count()), std::memory_order_relaxed);
  }
  std::atomic<std::uint64_t> capped{0};
  std::atomic<std::uint32_t> srtt_us{0};        // smoothed round-trip time
  std::atomic<std::uint64_t> queries{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::int64_t> outstanding{0};
};

class ForwardGroup : public std::enable_shared_from_this<ForwardGroup> {
 public:
  explicit ForwardGroup(settings::ForwardSettings settings);

  boost::asio::awaitable<ForwardResult> resolve(const UpstreamQuery& query);

  [[nodiscard]] const settings::ForwardSettings& settings() const noexcept { return settings_; }
  [[nodiscard]] const UpstreamHealth& health(std::size_t i) const { return *health_[i]; }
  [[nodiscard]] const ClientCookie& cookie(std::size_t i) const { return *cookies_[i]; }
  [[nodiscard]] bool any_up() const noexcept;

  static constexpr std::uint32_t kFailuresBeforeDown = 3;
  static constexpr std::uint32_t kMismatchBurst = 3;  // forged-looking replies before TCP
  static constexpr std::int64_t kFirstProbeMs = 1000;
  static constexpr std::int64_t kMaxProbeMs = 30000;

 private:
  // Fills `order` with the indices of the servers that are up, in the order this query
  // should try them; starts due probes of the servers that are down.
  void plan(std::vector<std::size_t>& order);
  void record(std::size_t i, bool ok, std::chrono::microseconds rtt);
  // Takes one unit of the server's per-second budget; false when it is spent.
  bool take_qps(UpstreamHealth& h);
  void maybe_probe(std::size_t i, const boost::asio::any_io_executor& executor);
  boost::asio::awaitable<void> probe(std::size_t i);

  settings::ForwardSettings settings_;
  std::vector<std::unique_ptr<UpstreamHealth>> health_;
  std::vector<std::unique_ptr<ClientCookie>> cookies_;  // one per server, same order
  std::atomic<std::uint32_t> next_{0};
};

}  // namespace vnetdns::upstream
