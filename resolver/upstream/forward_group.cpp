#include "resolver/upstream/forward_group.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include "resolver/util/random.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::upstream {

namespace {
std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

ForwardGroup::ForwardGroup(settings::ForwardSettings settings) : settings_(std::move(settings)) {
  for (std::size_t i = 0; i < settings_.upstreams.size(); ++i) {
    health_.push_back(std::make_unique<UpstreamHealth>());
    cookies_.push_back(std::make_unique<ClientCookie>(settings_.upstreams[i]));
  }
}

bool ForwardGroup::any_up() const noexcept {
  return std::any_of(health_.begin(), health_.end(), [](const auto& h) { return !h->down.load(); });
}

void ForwardGroup::plan(std::vector<std::size_t>& order) {
  const std::size_t n = settings_.upstreams.size();
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
  for (std::size_t k = 0; k < n; ++k) {
    const std::size_t i = (start + k) % n;
    if (!health_[i]->down.load(std::memory_order_relaxed)) order.push_back(i);
  }
  if (settings_.policy == settings::UpstreamPolicy::kFastest) {
    // Unmeasured servers (srtt 0) go first so that each gets measured.
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      return health_[a]->srtt_us.load() < health_[b]->srtt_us.load();
    });
  }
}

bool ForwardGroup::take_qps(UpstreamHealth& h) {
  const std::int64_t second = steady_ms() / 1000;
  if (h.qps_second.load(std::memory_order_relaxed) != second) {
    h.qps_second.store(second, std::memory_order_relaxed);
    h.qps_count.store(0, std::memory_order_relaxed);
  }
  return h.qps_count.fetch_add(1, std::memory_order_relaxed) < settings_.max_qps;
}

void ForwardGroup::record(std::size_t i, bool ok, std::chrono::microseconds rtt) {
  UpstreamHealth& h = *health_[i];
  if (ok) {
    h.observe_latency(rtt);
    h.consecutive_failures.store(0);
    h.down.store(false);
    h.probe_backoff_ms.store(0);
    const auto sample = static_cast<std::uint32_t>(std::min<std::int64_t>(rtt.count(), 10'000'000));
    const auto old = h.srtt_us.load();
    h.srtt_us.store(old == 0 ? sample : (old * 7 + sample) / 8);
    return;
  }
  if (h.consecutive_failures.fetch_add(1) + 1 >= kFailuresBeforeDown && !h.down.exchange(true)) {
    h.probe_backoff_ms.store(kFirstProbeMs);
    h.next_probe_ms.store(steady_ms() + kFirstProbeMs);
  }
}

void ForwardGroup::maybe_probe(std::size_t i, const boost::asio::any_io_executor& executor) {
  UpstreamHealth& h = *health_[i];
  if (!h.down.load()) return;
  std::int64_t due = h.next_probe_ms.load();
  const std::int64_t now = steady_ms();
  if (now < due) return;
  // One prober at a time: claim the probe by moving its due time forward.
  if (!h.next_probe_ms.compare_exchange_strong(due, now + kMaxProbeMs)) return;
  boost::asio::co_spawn(executor, probe(i), boost::asio::detached);
}

boost::asio::awaitable<void> ForwardGroup::probe(std::size_t i) {
  auto self = shared_from_this();  // the probe may outlive the snapshot that holds us
  UpstreamHealth& h = *health_[i];
  h.probes.fetch_add(1, std::memory_order_relaxed);
  UpstreamQuery q;
  q.qname = settings_.health_probe;
  q.qtype = wire::type::kNS;
  ExchangeOptions opt;
  opt.timeout = settings_.timeout;
  opt.tcp = settings_.protocol == settings::UpstreamProtocol::kTcp;
  opt.edns = !h.no_edns.load();
  opt.cookie = cookies_[i].get();
  const auto started = std::chrono::steady_clock::now();
  const ExchangeResult ex = co_await exchange(settings_.upstreams[i], q, opt);
  const bool ok = ex.status == ExchangeStatus::kOk &&
                  wire::header_rcode(ex.reply.data()) != static_cast<std::uint8_t>(wire::Rcode::kServFail) &&
                  wire::header_rcode(ex.reply.data()) != static_cast<std::uint8_t>(wire::Rcode::kRefused);
  if (ok) {
    record(i, true, std::chrono::duration_cast<std::chrono::microseconds>(
                        std::chrono::steady_clock::now() - started));
    co_return;
  }
  const std::int64_t backoff = std::min(kMaxProbeMs, std::max(kFirstProbeMs, h.probe_backoff_ms.load() * 2));
  h.probe_backoff_ms.store(backoff);
  h.next_probe_ms.store(steady_ms() + backoff);
}

boost::asio::awaitable<ForwardResult> ForwardGroup::resolve(const UpstreamQuery& query) {
  ForwardResult result;
  std::vector<std::size_t> order;
  plan(order);
  const auto executor = co_await boost::asio::this_coro::executor;
  for (std::size_t i = 0; i < health_.size(); ++i) maybe_probe(i, executor);
  if (order.empty()) {
    result.all_down = true;  // fail fast: no server is up
    co_return result;
  }
  const auto deadline = std::chrono::steady_clock::now() + settings_.deadline;
  UpstreamQuery q = query;
  q.randomize_case = settings_.randomize_case;
  const bool tcp_only = settings_.protocol == settings::UpstreamProtocol::kTcp;
  // Keep going round the servers until the deadline, so a short outage of the only
  // server does not fail a query that still has time left.
  for (std::size_t attempt = 0;; ++attempt) {
    const std::size_t i = order[attempt % order.size()];
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    if (attempt >= 2 * order.size()) break;  // two rounds at most
    ExchangeOptions opt;
    opt.timeout = std::min<std::chrono::milliseconds>(
        settings_.timeout, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now));
    opt.tcp = tcp_only;
    UpstreamHealth& h = *health_[i];
    opt.edns = !h.no_edns.load(std::memory_order_relaxed);
    opt.cookie = cookies_[i].get();  // sent only with EDNS (RFC 7873 section 5.1)
    if (h.down.load(std::memory_order_relaxed) && attempt > 0) continue;  // went down meanwhile
    // Caps: queries outstanding at this server, and queries sent to it this second.
    if (h.outstanding.load(std::memory_order_relaxed) >=
            static_cast<std::int64_t>(settings_.max_outstanding) ||
        !take_qps(h)) {
      ++result.capped;
      h.capped.fetch_add(1, std::memory_order_relaxed);
      if (attempt + 1 >= order.size()) break;
      continue;
    }
    h.queries.fetch_add(1, std::memory_order_relaxed);
    h.outstanding.fetch_add(1, std::memory_order_relaxed);
    const auto started = std::chrono::steady_clock::now();
    ++result.tries;
    ExchangeResult ex = co_await exchange(settings_.upstreams[i], q, opt);
    // RFC 7873 section 5.3: BADCOOKIE to our client cookie: retry at once with the server
    // cookie it carried (now remembered); BADCOOKIE again to that fresh cookie: use TCP.
    for (int retry = 0; retry < 2 && ex.status == ExchangeStatus::kOk && ex.bad_cookie; ++retry) {
      if (retry == 1) {
        if (opt.tcp) break;
        opt.tcp = true;
        result.via_tcp = true;
      }
      const std::uint32_t mismatches = ex.mismatches;
      ex = co_await exchange(settings_.upstreams[i], q, opt);
      ex.mismatches += mismatches;
    }
    const bool truncated =
        ex.status == ExchangeStatus::kOk && (wire::header_flags(ex.reply.data()) & wire::kFlagTC);
    // RFC 7766 section 5: retry a truncated answer over TCP. A burst of forged-looking
    // replies (RFC 5452 section 9.1) moves the question to TCP as well.
    if ((truncated || ex.mismatches >= kMismatchBurst) && !opt.tcp) {
      const std::uint32_t mismatches = ex.mismatches;
      opt.tcp = true;
      result.via_tcp = true;
      ex = co_await exchange(settings_.upstreams[i], q, opt);
      ex.mismatches += mismatches;
    }
    if (ex.status == ExchangeStatus::kOk && wire::header_rcode(ex.reply.data()) == 1 &&
        wire::header_arcount(ex.reply.data()) == 0 && opt.edns) {
      opt.edns = false;  // FORMERR without OPT: an upstream that does not speak EDNS
      ex = co_await exchange(settings_.upstreams[i], q, opt);
      if (ex.status == ExchangeStatus::kOk && wire::header_rcode(ex.reply.data()) != 1) {
        h.no_edns.store(true, std::memory_order_relaxed);  // remembered per upstream
      }
    }
    h.outstanding.fetch_sub(1, std::memory_order_relaxed);
    result.mismatches += ex.mismatches;
    if (ex.status == ExchangeStatus::kLocalError) {
      // Out of sockets here: no server is to blame and none would do better now.
      --result.tries;
      h.queries.fetch_sub(1, std::memory_order_relaxed);
      break;
    }
    const auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started);
    if (ex.status != ExchangeStatus::kOk) {
      if (ex.status == ExchangeStatus::kTimeout) {
        ++result.timeouts;
        h.timeouts.fetch_add(1, std::memory_order_relaxed);
      } else {
        h.errors.fetch_add(1, std::memory_order_relaxed);
      }
      record(i, false, rtt);
      continue;
    }
    const auto rcode = wire::header_rcode(ex.reply.data());
    if (rcode == static_cast<std::uint8_t>(wire::Rcode::kServFail) ||
        rcode == static_cast<std::uint8_t>(wire::Rcode::kRefused) || ex.bad_cookie) {
      h.errors.fetch_add(1, std::memory_order_relaxed);
      record(i, false, rtt);
      result.reply = std::move(ex.reply);  // kept in case every server says the same
      result.upstream_index = i;
      if (attempt + 1 >= order.size()) break;  // each server had its say
      continue;
    }
    record(i, true, rtt);
    result.status = ForwardStatus::kOk;
    result.reply = std::move(ex.reply);
    result.upstream_index = i;
    co_return result;
  }
  co_return result;
}

}  // namespace vnetdns::upstream
