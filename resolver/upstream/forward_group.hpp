// ForwardGroup: the upstream servers of one [[forward]] rule, what is known of each
// (ServerHealth: RTT, up/suspect/down, EDNS and 0x20 memories, counters) and which of them a
// question goes to. resolve() plans the order and hands the question to the Question engine
// (question.hpp), which makes the tries: RTT-adaptive per-try timeouts up to `timeout`, as
// many tries and servers as fit in `deadline`, late replies to earlier tries accepted, TC ->
// TCP, EDNS and 0x20 fallbacks, BADCOOKIE retries, each clamped to the deadline.
//
// The order (plan()): servers that are up in policy order (sequential = the configured order
// is a preference, so a private and a public view are never mixed at random), then suspect
// ones (a try timed out and nothing came since: the next question starts on a healthy
// server at once), never down ones while any other is up or suspect. When every server is
// down, one client question per second still goes to all of them (the rest fail at once, or
// are answered stale), so the first fresh answer comes within about a second of the
// upstream's return; suspect and down servers are also probed once a second with a name the
// upstream can answer (`health_probe`, by default the rule's own zone, type SOA), and the
// first answer, from a probe, a question or a late reply, makes a server up again.
// Caps: a server with max_outstanding tries in flight, or max_qps tries sent in the current
// second, gets no try (168.63.129.16 drops what is over 200 outstanding or 1,000 a second).
// DNS cookies (RFC 7873 section 5.3): every EDNS query carries the server's COOKIE option
// (client_cookie.hpp); a reply with another client cookie is a mismatch.
// Thread safety: resolve() may run on many worker threads at once; ServerHealth is atomics;
// each server's cookie state is a ClientCookie shared by every worker (its server cookie
// under a small mutex); the configuration part is immutable.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "resolver/settings/settings.hpp"
#include "resolver/upstream/client_cookie.hpp"
#include "resolver/upstream/server_health.hpp"
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
  std::uint32_t late_replies = 0;  // the answer (or another) came after its try's timeout
  std::uint32_t mismatches = 0;
  std::uint32_t capped = 0;  // tries not sent: every server at its max_outstanding or max_qps
  bool all_down = false;     // failed at once: every server is marked down
};

class ForwardGroup : public std::enable_shared_from_this<ForwardGroup> {
 public:
  explicit ForwardGroup(settings::ForwardSettings settings);

  boost::asio::awaitable<ForwardResult> resolve(const UpstreamQuery& query);

  [[nodiscard]] const settings::ForwardSettings& settings() const noexcept { return settings_; }
  [[nodiscard]] std::size_t size() const noexcept { return health_.size(); }
  [[nodiscard]] const ServerHealth& health(std::size_t i) const { return *health_[i]; }
  [[nodiscard]] ServerHealth& health(std::size_t i) { return *health_[i]; }
  [[nodiscard]] ClientCookie& cookie(std::size_t i) const { return *cookies_[i]; }
  // True while some server is not marked down.
  [[nodiscard]] bool any_up() const noexcept;
  // Client questions let through to an all-down rule, and probes started.
  [[nodiscard]] std::uint64_t passthroughs() const noexcept {
    return passthroughs_.load(std::memory_order_relaxed);
  }

  // Logs a state change of server i (rate limited), `why` saying what caused it.
  void report(std::size_t i, ServerHealth::Change change, const char* why) const;

 private:
  // Fills `order` with the servers this question should try, best first (see the file
  // comment); empty: fail at once. Starts due probes.
  void plan(std::vector<std::size_t>& order, std::int64_t now_ms,
            const boost::asio::any_io_executor& executor);
  boost::asio::awaitable<void> probe(std::size_t i);

  settings::ForwardSettings settings_;
  UpstreamQuery probe_query_;
  std::vector<std::unique_ptr<ServerHealth>> health_;
  std::vector<std::unique_ptr<ClientCookie>> cookies_;  // one per server, same order
  std::atomic<std::uint32_t> next_{0};
  std::atomic<std::int64_t> passthrough_second_{-1};  // the second whose passthrough is taken
  std::atomic<std::uint64_t> passthroughs_{0};
};

}  // namespace vnetdns::upstream
