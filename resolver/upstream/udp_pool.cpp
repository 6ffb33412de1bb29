#include "resolver/upstream/udp_pool.hpp"

#include <algorithm>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "resolver/upstream/asio_endpoint.hpp"
#include "resolver/upstream/per_server_table.hpp"
#include "resolver/util/random.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::upstream {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;

std::shared_ptr<UdpPool> UdpPool::for_server(const asio::any_io_executor& executor,
                                             const util::Endpoint& server) {
  return PerServerTable<UdpPool>::get(executor, server);
}

UdpPool::UdpPool(asio::any_io_executor executor, const util::Endpoint& server)
    : executor_(std::move(executor)), server_(server) {}

UdpPool::PortPtr UdpPool::open() {
  auto port = std::make_shared<Port>(executor_);
  const auto ep = to_asio<asio::ip::udp::endpoint>(server_);
  boost::system::error_code ec;
  port->socket.open(ep.protocol(), ec);
  if (!ec) port->socket.non_blocking(true, ec);
  if (!ec) port->socket.connect(ep, ec);  // binds a fresh random ephemeral port
  if (ec) return nullptr;
  port->waiting.reserve(kQueriesPerSocket);
  port->expired.reserve(kQueriesPerSocket);
  asio::co_spawn(executor_, read_loop(port), asio::detached);
  return port;
}

UdpPool::PortPtr UdpPool::pick(std::chrono::steady_clock::time_point now) {
  PortPtr& slot = slots_[util::Random::thread_instance().below(kSockets)];
  if (slot && (slot->retired || now - slot->last_used >= kIdle)) {
    // Worn out, failed, or idle for long: this slot gets a fresh port.
    slot->retired = true;
    if (slot->waiting.empty()) {
      boost::system::error_code ec;
      slot->socket.close(ec);
    }
    slot.reset();
  }
  if (!slot) slot = open();
  if (!slot) return nullptr;
  PortPtr port = slot;
  port->last_used = now;
  if (++port->uses >= kQueriesPerSocket) {
    port->retired = true;  // this is its last query
    slot.reset();
  }
  return port;
}

void UdpPool::release(Port& port, Waiter* w) {
  auto it = std::find_if(port.waiting.begin(), port.waiting.end(),
                         [w](const auto& e) { return e.second == w; });
  if (it != port.waiting.end()) {
    port.expired.push_back(it->first);  // it timed out: its reply may still come
    port.waiting.erase(it);
  }
  if (port.retired && port.waiting.empty()) {
    boost::system::error_code ec;
    port.socket.close(ec);  // ends its read loop
  }
}

void UdpPool::fail_all(Port& port) {
  for (auto& [id, w] : port.waiting) {
    w->result.status = ExchangeStatus::kNetworkError;
    w->done = true;
    w->wake.cancel();
  }
  port.waiting.clear();
  port.retired = true;
  boost::system::error_code ec;
  port.socket.close(ec);
}

bool UdpPool::start(Ticket& t, const SentQuery& sent, std::chrono::steady_clock::time_point until) {
  PortPtr port = pick(std::chrono::steady_clock::now());
  if (!port) {
    t.result.status = ExchangeStatus::kLocalError;
    return false;
  }
  // Our own copy of the query, with an ID no other query on this socket holds or held and
  // gave up on (its late reply must not look like ours).
  if (sent.qlen > t.q.size() || sent.qlen < wire::kHeaderSize) {
    t.result.status = ExchangeStatus::kEncodeError;
    release(*port, nullptr);
    return false;
  }
  std::memcpy(t.q.data(), sent.q, sent.qlen);
  std::uint16_t id = wire::load16(t.q.data());
  const auto taken = [&](std::uint16_t v) {
    return std::any_of(port->waiting.begin(), port->waiting.end(),
                       [v](const auto& e) { return e.first == v; }) ||
           std::find(port->expired.begin(), port->expired.end(), v) != port->expired.end();
  };
  while (taken(id)) id = util::Random::thread_instance().u16();
  wire::store16(t.q.data(), id);
  t.sent = sent;
  t.sent.q = t.q.data();  // the patched bytes are what replies are checked against
  port->waiting.emplace_back(id, &t);
  outbox_.push_back(Outgoing{port, id});
  if (!flush_posted_) {
    flush_posted_ = true;
    asio::post(executor_, [self = shared_from_this()] { self->flush(); });
  }
  t.port = std::move(port);
  t.wake.expires_at(until);
  return true;
}

ExchangeResult UdpPool::finish(Ticket& t) {
  // Timed out: leave the socket's list; a late reply is recognised and dropped.
  if (!t.done && t.port) release(*t.port, &t);
  t.port.reset();
  return std::move(t.result);  // kTimeout unless a reply or an error came
}

void UdpPool::flush() {
  flush_posted_ = false;
  // Nothing below runs a handler (cancel and close only post), so outbox_ holds still.
  for (const Outgoing& o : outbox_) {
    Port& port = *o.port;
    auto it = std::find_if(port.waiting.begin(), port.waiting.end(),
                           [&](const auto& e) { return e.first == o.id; });
    if (it == port.waiting.end()) continue;  // failed or gave up before it was sent
    Waiter& w = *it->second;
    boost::system::error_code ec;
    port.socket.send(asio::buffer(w.sent.q, w.sent.qlen), 0, ec);
    if (!ec) continue;
    // A full send buffer is our congestion, not the server's failure: this query only.
    if (ec == asio::error::would_block || ec == asio::error::try_again ||
        ec == asio::error::no_buffer_space) {
      port.waiting.erase(it);  // never sent: no reply to expect
      w.result.status = ExchangeStatus::kLocalError;
      w.done = true;
      w.wake.cancel();
      if (port.retired && port.waiting.empty()) {
        boost::system::error_code cec;
        port.socket.close(cec);
      }
      continue;
    }
    // Anything else (ECONNREFUSED: an earlier query on this socket met ICMP port unreachable)
    // is the socket's error, reported once: to this send, not to the receive the other
    // queries on the socket wait for. So they all fail now, as a receive error would.
    fail_all(port);
  }
  outbox_.clear();  // keeps its capacity: no allocation per flush once warm
}

asio::awaitable<void> UdpPool::read_loop(PortPtr port) {
  std::array<std::uint8_t, kReplyBuffer> buf;
  for (;;) {
    auto [ec, n] = co_await port->socket.async_receive(asio::buffer(buf), as_tuple(use_awaitable));
    if (!port->socket.is_open()) break;  // closed: retired and done
    if (ec) {
      // ICMP port unreachable (ECONNREFUSED on a connected socket), or worse: nobody waiting
      // on this socket will get an answer through it.
      fail_all(*port);
      break;
    }
    const std::uint16_t id = n >= wire::kHeaderSize ? wire::load16(buf.data()) : 0;
    auto it = std::find_if(port->waiting.begin(), port->waiting.end(),
                           [&](const auto& e) { return e.first == id; });
    if (n >= wire::kHeaderSize && it == port->waiting.end() &&
        std::find(port->expired.begin(), port->expired.end(), id) != port->expired.end()) {
      continue;  // a late reply to a query that gave up on it
    }
    if (n < wire::kHeaderSize || it == port->waiting.end() ||
        !accept_reply(it->second->sent, buf.data(), n, it->second->result)) {
      // A forged-looking datagram: counted against every query waiting on this socket.
      for (auto& e : port->waiting) ++e.second->result.mismatches;
      continue;
    }
    Waiter& w = *it->second;
    port->waiting.erase(it);
    // A datagram that filled the buffer was cut: treat it as truncated (retried over TCP).
    if (n == buf.size()) buf[2] |= static_cast<std::uint8_t>(wire::kFlagTC >> 8);
    w.result.reply.assign(buf.data(), buf.data() + n);
    w.result.status = ExchangeStatus::kOk;
    w.done = true;
    w.wake.cancel();
    if (port->retired && port->waiting.empty()) {
      boost::system::error_code cec;
      port->socket.close(cec);
      break;
    }
  }
}

}  // namespace vnetdns::upstream
