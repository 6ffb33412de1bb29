#include "resolver/upstream/transport.hpp"

#include <array>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "resolver/upstream/asio_endpoint.hpp"
#include "resolver/upstream/sent_query.hpp"
#include "resolver/upstream/tcp_channel.hpp"
#include "resolver/upstream/udp_pool.hpp"
#include "resolver/util/random.hpp"
#include "resolver/util/timer.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::upstream {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using asio::as_tuple;
using asio::use_awaitable;

ReplyCheck accept_reply(const SentQuery& sent, const std::uint8_t* reply, std::size_t n,
                        ExchangeResult& result) {
  const ReplyMatch m = match_reply(sent.q, sent.qlen, reply, n, sent.exact_case);
  if (m == ReplyMatch::kNoMatch) return ReplyCheck::kRejected;
  if (sent.cookie != nullptr) {
    const ReplyCookieView c = read_reply_cookie(reply, n, sent.cookie->client().data());
    if (c.status == ReplyCookie::kMismatch) return ReplyCheck::kRejected;
    if (m == ReplyMatch::kCaseOnly) return ReplyCheck::kCaseOnly;
    if (c.status == ReplyCookie::kValid) {
      sent.cookie->learn(c.server_cookie, c.server_len);
      result.bad_cookie = c.rcode == static_cast<std::uint16_t>(wire::Rcode::kBadCookie);
    }
  }
  return m == ReplyMatch::kCaseOnly ? ReplyCheck::kCaseOnly : ReplyCheck::kAccepted;
}

namespace {

asio::awaitable<ExchangeResult> exchange_own_tcp(const util::Endpoint& server,
                                                 const SentQuery& sent, util::TimePoint until) {
  const std::uint8_t* q = sent.q;
  const std::size_t qlen = sent.qlen;
  ExchangeResult result;
  auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::socket sock(executor);
  util::Timer timer(executor);
  timer.expires_at(until);
  const auto ep = to_asio<asio::ip::tcp::endpoint>(server);
  boost::system::error_code oec;
  sock.open(ep.protocol(), oec);
  if (oec) {
    result.status = ExchangeStatus::kLocalError;
    co_return result;
  }
  auto c = co_await (sock.async_connect(ep, as_tuple(use_awaitable)) ||
                     timer.async_wait(as_tuple(use_awaitable)));
  if (c.index() == 1) co_return result;  // timeout
  if (auto [cec] = std::get<0>(c); cec) {
    result.status = ExchangeStatus::kNetworkError;
    co_return result;
  }
  std::vector<std::uint8_t> out(qlen + 2);
  wire::store16(out.data(), static_cast<std::uint16_t>(qlen));
  std::memcpy(out.data() + 2, q, qlen);
  auto w = co_await (asio::async_write(sock, asio::buffer(out), as_tuple(use_awaitable)) ||
                     timer.async_wait(as_tuple(use_awaitable)));
  if (w.index() == 1) co_return result;
  if (auto [wec, wn] = std::get<0>(w); wec) {
    result.status = ExchangeStatus::kNetworkError;
    co_return result;
  }
  for (;;) {
    std::array<std::uint8_t, 2> len_buf{};
    auto l = co_await (asio::async_read(sock, asio::buffer(len_buf), as_tuple(use_awaitable)) ||
                       timer.async_wait(as_tuple(use_awaitable)));
    if (l.index() == 1) co_return result;
    if (auto [lec, ln] = std::get<0>(l); lec) {
      result.status = ExchangeStatus::kNetworkError;
      co_return result;
    }
    const std::size_t n = wire::load16(len_buf.data());
    std::vector<std::uint8_t> buf(n);
    auto b = co_await (asio::async_read(sock, asio::buffer(buf), as_tuple(use_awaitable)) ||
                       timer.async_wait(as_tuple(use_awaitable)));
    if (b.index() == 1) co_return result;
    if (auto [bec, bn] = std::get<0>(b); bec) {
      result.status = ExchangeStatus::kNetworkError;
      co_return result;
    }
    if (accept_reply(sent, buf.data(), buf.size(), result) != ReplyCheck::kAccepted) {
      ++result.mismatches;
      continue;
    }
    result.reply = std::move(buf);
    result.status = ExchangeStatus::kOk;
    co_return result;
  }
}

}  // namespace

bool prepare_query(const UpstreamQuery& query, const ExchangeOptions& options, std::uint8_t* buf,
                   SentQuery& sent) {
  static_assert(kMaxQuerySize >= wire::kHeaderSize + wire::kMaxNameLength + 4 + 11 + 4 +
                                     ClientCookie::kMaxOptionSize);
  const std::uint16_t id = util::Random::thread_instance().u16();
  // RFC 7873 section 5.1: the COOKIE option rides in the OPT record, so only with EDNS.
  std::array<std::uint8_t, ClientCookie::kMaxOptionSize> cookie{};
  std::size_t cookie_len = 0;
  if (options.edns && options.cookie != nullptr) {
    cookie_len = options.cookie->write_option(cookie.data());
  }
  sent.q = buf;
  sent.qlen = encode_query(query, id, buf, kMaxQuerySize, options.edns,
                           cookie_len > 0 ? cookie.data() : nullptr, cookie_len);
  sent.exact_case = query.randomize_case;
  sent.cookie = cookie_len > 0 ? options.cookie : nullptr;
  return sent.qlen != 0;
}

asio::awaitable<ExchangeResult> exchange_tcp(const util::Endpoint& server, const SentQuery& sent,
                                             util::TimePoint until) {
  // The worker's reused, pipelined connection to this server (RFC 7766 section 6.2.1).
  auto executor = co_await asio::this_coro::executor;
  std::shared_ptr<TcpChannel> channel = TcpChannel::for_server(executor, server);
  bool reused = false;
  ExchangeResult r = co_await channel->exchange(sent, until, reused);
  if ((r.status == ExchangeStatus::kLocalError || r.status == ExchangeStatus::kNetworkError) &&
      util::TimerClock::now() < until) {
    // The channel is full, or its connection closed before our reply came (a server that
    // had dropped it while idle, or one that answers one query per connection): one of our
    // own, within what is left of the deadline.
    r = co_await exchange_own_tcp(server, sent, until);
  }
  co_return r;
}

asio::awaitable<ExchangeResult> exchange(const util::Endpoint& server, const UpstreamQuery& query,
                                         const ExchangeOptions& options) {
  std::array<std::uint8_t, kMaxQuerySize> q;  // what is sent
  SentQuery sent;
  if (!prepare_query(query, options, q.data(), sent)) {
    co_return ExchangeResult{ExchangeStatus::kEncodeError, {}, 0};
  }
  const auto until = util::TimerClock::now() + options.timeout;
  if (options.tcp) co_return co_await exchange_tcp(server, sent, until);
  // A socket of the worker's pool to this server (a Ticket awaited in this frame: the pool
  // adds no coroutine of its own per query).
  auto executor = co_await asio::this_coro::executor;
  std::shared_ptr<UdpPool> pool = UdpPool::for_server(executor, server);
  util::Timer wake(executor);
  wake.expires_at(until);
  UdpPool::Ticket ticket;
  if (pool->start(ticket, sent, wake, {options.fresh_port, options.avoid_ports})) {
    while (!ticket.done() && util::TimerClock::now() < until) {
      co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
      wake.expires_at(until);  // a case mismatch wakes us too: keep waiting for the reply
    }
  }
  co_return pool->finish(ticket);
}

}  // namespace vnetdns::upstream
