#include "resolver/upstream/forward_group.hpp"

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include "resolver/upstream/question.hpp"
#include "resolver/util/log.hpp"
#include "resolver/util/log_limiter.hpp"
#include "resolver/util/random.hpp"
#include "resolver/util/timer.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::upstream {

namespace {
util::LogLimiter g_state_log(20);
util::LogLimiter g_suspect_log(10);
}  // namespace

ForwardGroup::ForwardGroup(settings::ForwardSettings settings) : settings_(std::move(settings)) {
  for (std::size_t i = 0; i < settings_.upstreams.size(); ++i) {
    health_.push_back(std::make_unique<ServerHealth>());
    cookies_.push_back(std::make_unique<ClientCookie>(settings_.upstreams[i]));
  }
  // A name the upstream can answer: `health_probe` if set, else the rule's own zone (an
  // upstream that serves only that zone answers its SOA; `. NS` it may well refuse).
  probe_query_.qname = settings_.health_probe.is_root() ? settings_.zone : settings_.health_probe;
  probe_query_.qtype = wire::type::kSOA;
}

bool ForwardGroup::any_up() const noexcept {
  return std::any_of(health_.begin(), health_.end(), [](const auto& h) { return !h->is_down(); });
}

void ForwardGroup::report(std::size_t i, ServerHealth::Change change, const char* why) const {
  if (change == ServerHealth::Change::kNone) return;
  std::uint64_t suppressed = 0;
  const bool state = change == ServerHealth::Change::kDown || change == ServerHealth::Change::kUp ||
                     change == ServerHealth::Change::kMarked;
  if (state) {
    // Changes an operator wants to see: warn/info level, rate limited.
    if (!g_state_log.allow(suppressed)) return;
  } else if (!spdlog::should_log(spdlog::level::debug) || !g_suspect_log.allow(suppressed)) {
    return;
  }
  const std::string server = settings_.upstreams[i].to_string();
  const std::string rule = settings_.zone.to_text();
  if (suppressed > 0) VLOG_DEBUG("({} similar lines left out)", suppressed);
  switch (change) {
    case ServerHealth::Change::kDown:
      VLOG_WARN(
          "upstream {} of forward rule {} marked down after {} failed questions ({}); "
          "probed every second",
          server, rule, ServerHealth::kStrikesBeforeDown, why);
      break;
    case ServerHealth::Change::kUp:
      VLOG_INFO("upstream {} of forward rule {} is up again ({})", server, rule, why);
      break;
    case ServerHealth::Change::kMarked:
      if (std::string_view(why) == "EDNS") {
        VLOG_WARN(
            "upstream {} of forward rule {}: {} names failed with EDNS and succeeded "
            "without; asking it without EDNS for {} s",
            server, rule, ServerHealth::kEdnsFailNames, ServerHealth::kNoEdnsMemoryMs / 1000);
      } else {
        VLOG_WARN(
            "upstream {} of forward rule {} does not keep the letter case of names "
            "(0x20); asking it without 0x20 for {} s",
            server, rule, ServerHealth::kNo0x20MemoryMs / 1000);
      }
      break;
    case ServerHealth::Change::kSuspect:
      VLOG_DEBUG("upstream {} of forward rule {} is suspect ({})", server, rule, why);
      break;
    case ServerHealth::Change::kHealthy:
      VLOG_DEBUG("upstream {} of forward rule {} answers again ({})", server, rule, why);
      break;
    case ServerHealth::Change::kNone: break;
  }
}

void ForwardGroup::plan(std::vector<std::size_t>& order, std::int64_t now_ms,
                        const boost::asio::any_io_executor& executor) {
  const std::size_t n = health_.size();
  order.clear();
  std::size_t start = 0;
  switch (settings_.policy) {
    case settings::UpstreamPolicy::kSequential: break;
    case settings::UpstreamPolicy::kRoundRobin: start = next_.fetch_add(1) % n; break;
    case settings::UpstreamPolicy::kRandom:
      start = util::Random::thread_instance().below(static_cast<std::uint32_t>(n));
      break;
    case settings::UpstreamPolicy::kFastest: break;
  }
  std::size_t healthy = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (start + k) % n;
    const ServerHealth& h = *health_[i];
    if (h.is_down()) continue;
    if (h.is_suspect()) {
      order.push_back(i);  // after the healthy ones
    } else {
      order.insert(order.begin() + static_cast<std::ptrdiff_t>(healthy++), i);
    }
  }
  if (settings_.policy == settings::UpstreamPolicy::kFastest) {
    // Unmeasured servers (srtt 0) go first so that each gets measured.
    std::stable_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(healthy),
                     [&](std::size_t a, std::size_t b) {
                       return health_[a]->rtt.srtt() < health_[b]->rtt.srtt();
                     });
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (health_[i]->claim_probe(now_ms)) {
      boost::asio::co_spawn(executor, probe(i), boost::asio::detached);
    }
  }
  if (!order.empty()) return;
  // Every server is down: one question a second goes to all of them anyway, so the first
  // fresh answer comes within about a second of the upstream's return.
  const std::int64_t second = now_ms / 1000;
  std::int64_t taken = passthrough_second_.load(std::memory_order_relaxed);
  if (taken == second ||
      !passthrough_second_.compare_exchange_strong(taken, second, std::memory_order_relaxed)) {
    return;
  }
  passthroughs_.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t k = 0; k < n; ++k) order.push_back((start + k) % n);
}

boost::asio::awaitable<void> ForwardGroup::probe(std::size_t i) {
  auto self = shared_from_this();  // the probe may outlive the snapshot that holds us
  health_[i]->probes.fetch_add(1, std::memory_order_relaxed);
  // One try, its answer awaited until the deadline (a slow server is not a dead one); a dead
  // server gets one probe a second, not a retry schedule.
  Question q(*this, probe_query_, util::TimerClock::now() + settings_.deadline, 1);
  const std::vector<std::size_t> only{i};
  (void)co_await q.run(only);  // its outcome went into the server's health
}

boost::asio::awaitable<ForwardResult> ForwardGroup::resolve(const UpstreamQuery& query) {
  const auto executor = co_await boost::asio::this_coro::executor;
  const util::TimePoint now = util::TimerClock::now();
  std::vector<std::size_t> order;
  plan(order, std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count(),
       executor);
  if (order.empty()) {
    ForwardResult result;
    result.all_down = true;  // fail fast: no server is up, and this second's passthrough went
    co_return result;
  }
  Question q(*this, query, now + settings_.deadline);
  co_return co_await q.run(order);
}

}  // namespace vnetdns::upstream
