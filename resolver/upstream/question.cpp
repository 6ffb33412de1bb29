#include "resolver/upstream/question.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "resolver/upstream/sent_query.hpp"
#include "resolver/util/log.hpp"
#include "resolver/util/log_limiter.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::upstream {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

std::int64_t to_ms(util::TimePoint t) {
  return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count();
}

// One limiter per kind of debug line: a flood of one kind cannot crowd out the others.
util::LogLimiter g_timeout_log(10);
util::LogLimiter g_late_log(10);
util::LogLimiter g_mismatch_log(10);
util::LogLimiter g_fallback_log(10);

template <typename... Args>
void debug_limited(util::LogLimiter& limiter, spdlog::format_string_t<Args...> fmt,
                   Args&&... args) {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  std::uint64_t suppressed = 0;
  if (!limiter.allow(suppressed)) return;
  if (suppressed > 0) VLOG_DEBUG("({} similar lines left out)", suppressed);
  VLOG_DEBUG(fmt, std::forward<Args>(args)...);
}

bool is_rcode(const std::vector<std::uint8_t>& reply, wire::Rcode rcode) {
  return wire::header_rcode(reply.data()) == static_cast<std::uint8_t>(rcode);
}

}  // namespace

Question::Question(ForwardGroup& group, const UpstreamQuery& query, util::TimePoint deadline,
                   std::size_t max_tries)
    : group_(group),
      query_(query),
      deadline_(deadline),
      max_tries_(std::min(max_tries, kMaxTries)) {}

Question::~Question() {
  // Destroyed with tries still open only when the io_context goes away under a suspended
  // question (shutdown): forget the tickets without touching sockets.
  for (std::size_t i = 0; i < try_count_; ++i) {
    Try& t = *tries_[i];
    if (!t.closed && t.pool) t.pool->abandon(t.ticket);
  }
}

bool Question::any_open() const noexcept {
  for (std::size_t i = 0; i < try_count_; ++i) {
    if (!tries_[i]->closed) return true;
  }
  return false;
}

std::size_t Question::next_turn() {
  for (std::size_t k = 0; k < turns_.size(); ++k) {
    const std::size_t i = (rotation_ + k) % turns_.size();
    if (!turns_[i].said_no) {
      rotation_ = i + 1;
      return i;
    }
  }
  return kNone;
}

milliseconds Question::try_timeout(const Turn& t, util::TimePoint now) const {
  const milliseconds ceiling = group_.settings().timeout;
  milliseconds timeout = group_.health(t.server).rtt.rto(ceiling);
  // Exponential back-off within the question (RFC 6298 section 5.5).
  for (std::uint32_t i = 0; i < t.tries && timeout < ceiling; ++i) timeout *= 2;
  timeout = std::min(timeout, ceiling);
  // Rounded up: a try given the rest of the time ends at the deadline itself (send() caps
  // its expiry there), not a fraction of a millisecond before it.
  const auto left = std::chrono::ceil<milliseconds>(deadline_ - now);
  const milliseconds floor = std::min(ServerHealth::kMinTryTimeout, ceiling);
  // The last try ends with the deadline: no stub of a try after it.
  if (left - timeout < floor) timeout = left;
  return std::max(timeout, milliseconds(1));
}

asio::awaitable<Question::Sent> Question::send(std::size_t k, util::TimePoint now) {
  Turn& turn = turns_[k];
  ServerHealth& h = group_.health(turn.server);
  const settings::ForwardSettings& fs = group_.settings();
  const std::int64_t now_ms = to_ms(now);
  if (h.outstanding.load(std::memory_order_relaxed) >=
          static_cast<std::int64_t>(fs.max_outstanding) ||
      !h.take_qps(now_ms, fs.max_qps)) {
    ++result_.capped;
    h.capped.fetch_add(1, std::memory_order_relaxed);
    co_return Sent::kCapped;
  }
  const bool tcp = turn.tcp || burst_tcp_ || fs.protocol == settings::UpstreamProtocol::kTcp;
  UpstreamQuery q = query_;
  // 0x20 protects UDP only; over TCP the case is not worth the bytes.
  q.randomize_case = fs.randomize_case && !tcp && !turn.no_case && h.case_allowed(now_ms);
  ExchangeOptions opt;
  opt.edns = !turn.no_edns && h.edns_allowed(now_ms);
  opt.cookie = &group_.cookie(turn.server);  // sent only with EDNS (RFC 7873 section 5.1)
  auto t = std::make_unique<Try>();
  std::array<std::uint8_t, kMaxQuerySize> buf;
  SentQuery sent;
  if (!prepare_query(q, opt, buf.data(), sent)) co_return Sent::kOver;
  const milliseconds timeout = try_timeout(turn, now);
  ++turn.tries;
  ++result_.tries;
  h.queries.fetch_add(1, std::memory_order_relaxed);
  h.outstanding.fetch_add(1, std::memory_order_relaxed);
  const util::Endpoint& server = fs.upstreams[turn.server];
  if (tcp) {
    // Inline: TCP retransmits by itself; the try gets twice the ceiling (a connection and a
    // query), within the deadline. UDP tries still open are looked at when it is over.
    result_.via_tcp = true;
    milliseconds limit = std::max(2 * fs.timeout, timeout);
    const auto left = std::chrono::duration_cast<milliseconds>(deadline_ - now);
    if (left - limit < std::min(ServerHealth::kMinTryTimeout, fs.timeout)) limit = left;
    ExchangeResult ex = co_await exchange_tcp(server, sent, now + limit);
    h.outstanding.fetch_sub(1, std::memory_order_relaxed);
    const util::TimePoint after = util::TimerClock::now();
    if (ex.status == ExchangeStatus::kTimeout) {
      ++result_.timeouts;
      h.timeouts.fetch_add(1, std::memory_order_relaxed);
      group_.report(turn.server, h.on_try_timeout(), "a TCP try timed out");
      turn.ceiling_timeout = true;
    }
    next_send_ = after;  // whatever happened, the next step is due now
    if (outcome(k, ex, now, opt.edns, false, true, false, after)) co_return Sent::kOver;
    co_return Sent::kSent;
  }
  t->turn = k;
  t->pool = UdpPool::for_server(co_await asio::this_coro::executor, server);
  t->sent_at = now;
  t->expires = std::min(now + timeout, deadline_);
  t->edns = opt.edns;
  t->exact_case = q.randomize_case;
  t->at_ceiling = timeout >= fs.timeout || t->expires >= deadline_;
  next_send_ = t->expires;
  Try& placed = *t;
  tries_[try_count_++] = std::move(t);
  const UdpPool::PortRule rule{fs.source_ports == settings::SourcePorts::kPerQuestion,
                               &fs.avoid_ports};
  placed.pool->start(placed.ticket, sent, *wake_, rule);  // a failure shows at collect()
  co_return Sent::kSent;
}

void Question::mark_timeouts(util::TimePoint now) {
  for (std::size_t i = 0; i < try_count_; ++i) {
    Try& t = *tries_[i];
    if (t.closed || t.timed_out || now < t.expires) continue;
    t.timed_out = true;
    Turn& turn = turns_[t.turn];
    ServerHealth& h = group_.health(turn.server);
    ++result_.timeouts;
    h.timeouts.fetch_add(1, std::memory_order_relaxed);
    if (t.at_ceiling) turn.ceiling_timeout = true;
    group_.report(turn.server, h.on_try_timeout(), "a try timed out");
    debug_limited(g_timeout_log, "upstream {}: try {} for {} timed out after {} ms",
                  group_.settings().upstreams[turn.server].to_string(), turn.tries,
                  query_.qname.to_text(),
                  std::chrono::duration_cast<milliseconds>(t.expires - t.sent_at).count());
  }
}

bool Question::collect(util::TimePoint now) {
  std::uint32_t burst = 0;
  for (std::size_t i = 0; i < try_count_; ++i) {
    Try& t = *tries_[i];
    if (t.closed) continue;
    const ExchangeResult& seen = t.ticket.result();
    if (!t.ticket.done()) {
      burst = std::max(burst, seen.mismatches);
      if (seen.case_mismatches > t.case_seen) {
        t.case_seen = seen.case_mismatches;
        Turn& turn = turns_[t.turn];
        if (t.exact_case && !turn.no_case) {
          // Right ID and question but for the letter case: an upstream that does not keep
          // 0x20 case (or a forger who had the ID and port and not the case). Ask again
          // without 0x20; this try stays open for a reply in the right case.
          turn.no_case = true;
          turn.case_retry = true;
          turn.retry_now = true;
          debug_limited(g_mismatch_log, "upstream {}: reply for {} in another letter case (0x20)",
                        group_.settings().upstreams[turn.server].to_string(),
                        query_.qname.to_text());
        }
      }
      continue;
    }
    ExchangeResult ex = t.pool->finish(t.ticket);
    t.closed = true;
    group_.health(turns_[t.turn].server).outstanding.fetch_sub(1, std::memory_order_relaxed);
    if (outcome(t.turn, ex, t.sent_at, t.edns, t.exact_case, false, t.timed_out, now)) return true;
  }
  if (burst >= kMismatchBurst && !burst_tcp_) {
    // RFC 5452 section 9.1: a burst of forged-looking replies moves the question to TCP.
    burst_tcp_ = true;
    debug_limited(g_mismatch_log, "{} mismatched replies for {}: asking over TCP", burst,
                  query_.qname.to_text());
    if (try_count_ > 0) turns_[tries_[try_count_ - 1]->turn].retry_now = true;
  }
  return false;
}

bool Question::outcome(std::size_t k, ExchangeResult& ex, util::TimePoint sent_at, bool edns,
                       bool exact_case, bool tcp, bool timed_out, util::TimePoint now) {
  Turn& turn = turns_[k];
  ServerHealth& h = group_.health(turn.server);
  const std::int64_t now_ms = to_ms(now);
  result_.mismatches += ex.mismatches;
  switch (ex.status) {
    case ExchangeStatus::kOk: break;
    case ExchangeStatus::kTimeout: return false;  // TCP: counted by send()
    case ExchangeStatus::kLocalError:
      // Out of sockets or buffer space here: no server is to blame.
      --result_.tries;
      h.queries.fetch_sub(1, std::memory_order_relaxed);
      local_error_ = true;
      return false;
    case ExchangeStatus::kEncodeError: return true;
    case ExchangeStatus::kNetworkError:
      h.errors.fetch_add(1, std::memory_order_relaxed);
      turn.said_no = true;
      group_.report(turn.server, h.on_try_timeout(), "a network error");
      group_.report(turn.server, h.on_failure(now_ms), "a network error");
      next_send_ = now;  // the next server at once
      return false;
  }
  const std::vector<std::uint8_t>& reply = ex.reply;
  turn.answered = true;
  if (ex.bad_cookie) {
    // RFC 7873 section 5.3: BADCOOKIE to our client cookie: again at once with the server
    // cookie it carried (now remembered); BADCOOKIE again to that: over TCP.
    if (!turn.cookie_retried) {
      turn.cookie_retried = true;
      turn.retry_now = true;
      return false;
    }
    if (!tcp) {
      turn.tcp = true;
      turn.retry_now = true;
      return false;
    }
    // BADCOOKIE over TCP too: the server will not answer us; it counts like SERVFAIL.
  } else if ((wire::header_flags(reply.data()) & wire::kFlagTC) != 0 && !tcp) {
    // RFC 7766 section 5: a truncated answer is asked again over TCP, same server.
    turn.tcp = true;
    turn.retry_now = true;
    return false;
  } else if (is_rcode(reply, wire::Rcode::kFormErr) && wire::header_arcount(reply.data()) == 0 &&
             edns) {
    // FORMERR without OPT to an EDNS query: ask this question again without EDNS; the server
    // is treated as EDNS-less only when several names do the same (ServerHealth).
    turn.no_edns = true;
    turn.edns_retry = true;
    turn.retry_now = true;
    debug_limited(g_fallback_log, "upstream {}: FORMERR to EDNS for {}: asking without EDNS",
                  group_.settings().upstreams[turn.server].to_string(), query_.qname.to_text());
    return false;
  }
  const bool refused = ex.bad_cookie || is_rcode(reply, wire::Rcode::kServFail) ||
                       is_rcode(reply, wire::Rcode::kRefused);
  if (refused) {
    h.errors.fetch_add(1, std::memory_order_relaxed);
    turn.said_no = true;
    group_.report(turn.server, h.on_failure(now_ms),
                  ex.bad_cookie ? "BADCOOKIE" : "SERVFAIL/REFUSED");
    fallback_ = std::move(ex.reply);  // kept in case every server says the same
    fallback_server_ = turn.server;
    next_send_ = now;
    return std::all_of(turns_.begin(), turns_.end(), [](const Turn& t) { return t.said_no; });
  }
  const auto rtt = std::chrono::duration_cast<std::chrono::microseconds>(now - sent_at);
  group_.report(turn.server, h.on_answer(rtt), "it answered");
  if (timed_out) {
    ++result_.late_replies;
    h.late_replies.fetch_add(1, std::memory_order_relaxed);
    debug_limited(g_late_log, "upstream {}: late reply for {} after {} ms, accepted",
                  group_.settings().upstreams[turn.server].to_string(), query_.qname.to_text(),
                  std::chrono::duration_cast<milliseconds>(rtt).count());
  }
  if (turn.edns_retry && !edns) {
    const auto hash = wire::hash_name(query_.qname.data(), query_.qname.size());
    group_.report(turn.server, h.note_edns_failure(now_ms, hash), "EDNS");
  }
  if (turn.case_retry && !exact_case && !tcp) {
    group_.report(turn.server, h.note_case_failure(now_ms), "0x20");
  }
  if (exact_case) h.note_case_ok();
  result_.status = ForwardStatus::kOk;
  result_.reply = std::move(ex.reply);
  result_.upstream_index = turn.server;
  result_.via_tcp = tcp;
  return true;
}

void Question::close_all() {
  for (std::size_t i = 0; i < try_count_; ++i) {
    Try& t = *tries_[i];
    if (t.closed) continue;
    const ExchangeResult ex = t.pool->finish(t.ticket);  // a late reply is now dropped quietly
    result_.mismatches += ex.mismatches;
    t.closed = true;
    group_.health(turns_[t.turn].server).outstanding.fetch_sub(1, std::memory_order_relaxed);
  }
}

void Question::settle_strikes() {
  const std::int64_t now_ms = util::process_ms();
  for (const Turn& t : turns_) {
    if (t.tries == 0 || t.answered || t.said_no) continue;
    // Evidence: a try at the ceiling went unanswered, or the deadline came with tries open.
    if (t.ceiling_timeout || deadline_passed_) {
      group_.report(t.server, group_.health(t.server).on_failure(now_ms),
                    "no answer to a question");
    }
  }
}

asio::awaitable<ForwardResult> Question::run(const std::vector<std::size_t>& order) {
  wake_.emplace(co_await asio::this_coro::executor);
  turns_.resize(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) turns_[i].server = order[i];
  next_send_ = util::TimerClock::now();
  for (;;) {
    util::TimePoint now = util::TimerClock::now();
    if (collect(now)) break;
    if (now >= deadline_) {
      deadline_passed_ = true;
      break;
    }
    mark_timeouts(now);
    // An immediate retry first (TC, FORMERR, BADCOOKIE, 0x20, a mismatch burst).
    std::size_t k = kNone;
    for (std::size_t i = 0; i < turns_.size() && k == kNone; ++i) {
      if (turns_[i].retry_now && !turns_[i].said_no) k = i;
    }
    const bool room = result_.tries < max_tries_ && try_count_ < kMaxTries && !local_error_;
    bool over = false;
    if (k != kNone && room) {
      turns_[k].retry_now = false;
      if (co_await send(k, now) == Sent::kOver) break;
      continue;
    }
    if (now >= next_send_ && room && any_open() &&
        deadline_ - now < std::min(ServerHealth::kMinTryTimeout, group_.settings().timeout)) {
      // Too little time left for a try to be worth sending: wait for the open ones.
      next_send_ = deadline_;
    }
    if (now >= next_send_ && room) {
      // The next try, on the next server of the rotation; a capped server passes its turn.
      bool sent = false;
      for (std::size_t n = 0; n < turns_.size() && !sent; ++n) {
        k = next_turn();
        if (k == kNone) break;
        const Sent s = co_await send(k, now);
        if (s == Sent::kOver) {
          over = true;
          break;
        }
        sent = s == Sent::kSent;
      }
      if (over) break;
      if (!sent) {
        // Nobody to send to now (every server said no, or all are at their caps): wait for
        // what is open; a question that never left is over at once.
        if (!any_open()) break;
        next_send_ = k == kNone
                         ? deadline_
                         : now + std::min(ServerHealth::kMinTryTimeout, group_.settings().timeout);
      }
      continue;  // a TCP try may have finished the question: look again
    }
    if (!room) next_send_ = deadline_;  // no more tries: wait for the open ones
    if (!any_open() && (!room || next_send_ >= deadline_)) break;
    wake_->expires_at(std::min(next_send_, deadline_));
    co_await wake_->async_wait(asio::as_tuple(asio::use_awaitable));
  }
  mark_timeouts(util::TimerClock::now());
  close_all();
  settle_strikes();
  if (result_.status != ForwardStatus::kOk && !fallback_.empty()) {
    result_.reply = std::move(fallback_);
    result_.upstream_index = fallback_server_;
  }
  co_return std::move(result_);
}

}  // namespace vnetdns::upstream
