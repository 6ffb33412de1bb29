#include "resolver/upstream/dnssec_check.hpp"

#include <algorithm>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "resolver/util/log.hpp"
#include "resolver/wire/message_view.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::upstream {

namespace asio = boost::asio;

struct DnssecCheck::Loops {
  bool ended = false;
  std::vector<std::shared_ptr<asio::steady_timer>> timers;
};

namespace {

// RCODE values (RFC 1035 section 4.1.1).
constexpr std::uint16_t kFormErr = 1, kServFail = 2, kNotImp = 4, kRefused = 5;

asio::awaitable<DnssecProbeOutcome> probe(util::Endpoint server,
                                          std::chrono::milliseconds timeout) {
  UpstreamQuery q;
  q.qname = wire::Name();
  q.qtype = wire::type::kDNSKEY;
  q.dnssec_ok = true;
  q.checking_disabled = true;
  ExchangeOptions options;
  options.timeout = timeout;
  ExchangeResult r = co_await exchange(server, q, options);
  if (r.status == ExchangeStatus::kOk && r.reply.size() >= wire::kHeaderSize &&
      (wire::header_flags(r.reply.data()) & wire::kFlagTC) != 0) {
    options.tcp = true;  // the keys and their signatures did not fit: ask over TCP
    r = co_await exchange(server, q, options);
  }
  co_return classify_dnssec_probe(r);
}

double seconds(std::chrono::milliseconds d) { return std::chrono::duration<double>(d).count(); }

// One server's loop (see the header); ends when `loops` has ended.
asio::awaitable<void> check_loop(std::shared_ptr<DnssecCheck::Loops> loops,
                                 std::shared_ptr<asio::steady_timer> timer,
                                 std::shared_ptr<ForwardGroup> group, std::size_t i,
                                 DnssecCheckOptions options) {
  const util::Endpoint server = group->settings().upstreams[i];
  const std::string rule = group->settings().zone.to_text();
  std::chrono::milliseconds retry = options.first_retry;
  std::uint32_t unanswered = 0;  // checks in a row with no verdict
  while (!loops->ended) {
    const DnssecProbeOutcome out = co_await probe(server, options.timeout);
    if (loops->ended) break;
    ServerHealth& h = group->health(i);
    std::chrono::milliseconds next = options.recheck;
    switch (out.verdict) {
      case DnssecVerdict::kSigned:
        if (h.dnssec.exchange(ServerHealth::kDnssecOk) != ServerHealth::kDnssecOk) {
          VLOG_INFO("dnssec: upstream {} of forward rule {} returns DNSSEC data",
                    server.to_string(), rule);
        }
        break;
      case DnssecVerdict::kStrips:
        h.dnssec_strips.fetch_add(1);
        if (h.dnssec.exchange(ServerHealth::kDnssecStrips) != ServerHealth::kDnssecStrips) {
          VLOG_ERROR(
              "dnssec: upstream {} of forward rule {} strips DNSSEC data ({}): names it "
              "answers that are signed will be SERVFAIL (validation cannot be done without "
              "the signatures)",
              server.to_string(), rule, out.why);
        }
        break;
      case DnssecVerdict::kNone:
        next = retry;
        if (unanswered++ == 0) {
          VLOG_WARN(
              "dnssec: could not check whether upstream {} of forward rule {} returns DNSSEC "
              "data ({}); asking again in {:g} s, then less often",
              server.to_string(), rule, out.why, seconds(next));
        } else {
          VLOG_DEBUG("dnssec: upstream {} of forward rule {}: still no check ({})",
                     server.to_string(), rule, out.why);
        }
        retry = std::min(retry * 2, options.max_retry);
        break;
    }
    if (out.verdict != DnssecVerdict::kNone) {
      unanswered = 0;
      retry = options.first_retry;
    }
    timer->expires_after(next);
    co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace

DnssecProbeOutcome classify_dnssec_probe(const ExchangeResult& r) {
  switch (r.status) {
    case ExchangeStatus::kOk: break;
    case ExchangeStatus::kTimeout: return {DnssecVerdict::kNone, "no answer"};
    case ExchangeStatus::kNetworkError: return {DnssecVerdict::kNone, "network error"};
    default: return {DnssecVerdict::kNone, "the query could not be sent"};
  }
  wire::MessageView view;
  if (wire::parse_message(r.reply.data(), r.reply.size(), view) != wire::MessageError::kNone) {
    return {DnssecVerdict::kNone, "an unreadable answer"};
  }
  const std::uint16_t rcode = view.rcode();
  const std::string rcode_text = wire::rcode_name(rcode);
  // A server that cannot take EDNS cannot return DNSSEC records (RFC 6891 section 7).
  if (rcode == kFormErr) return {DnssecVerdict::kStrips, "FORMERR to a query with EDNS"};
  // Failures to resolve say nothing about what the server does with signatures.
  if (rcode == kServFail || rcode == kRefused || rcode == kNotImp) {
    return {DnssecVerdict::kNone, "answered " + rcode_text};
  }
  for (const auto& rr : view.rrs) {
    if (rr.section == wire::Section::kAnswer && rr.type == wire::type::kRRSIG && rr.rdlength >= 2 &&
        wire::load16(view.msg + rr.rdata_offset) == wire::type::kDNSKEY) {
      return {DnssecVerdict::kSigned, {}};
    }
  }
  return {DnssecVerdict::kStrips,
          "answered " + rcode_text + " without the RRSIG of the root DNSKEY"};
}

DnssecCheck::DnssecCheck(asio::any_io_executor executor, DnssecCheckOptions options)
    : executor_(std::move(executor)), options_(options) {}

DnssecCheck::~DnssecCheck() { stop(); }

void DnssecCheck::stop() {
  if (!loops_) return;
  loops_->ended = true;
  for (const auto& t : loops_->timers) t->cancel();
  loops_.reset();
}

void DnssecCheck::start(const std::vector<std::shared_ptr<ForwardGroup>>& groups) {
  stop();
  loops_ = std::make_shared<Loops>();
  for (const auto& g : groups) {
    for (std::size_t i = 0; i < g->size(); ++i) {
      auto timer = std::make_shared<asio::steady_timer>(executor_);
      loops_->timers.push_back(timer);
      asio::co_spawn(executor_, check_loop(loops_, timer, g, i, options_), asio::detached);
    }
  }
}

}  // namespace vnetdns::upstream
