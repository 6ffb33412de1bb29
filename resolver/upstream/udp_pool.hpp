// UdpPool: the UDP sockets one worker thread uses towards one upstream server.
// RFC 5452 asks for an unpredictable source port per query; a socket per query costs about
// seven system calls (socket, connect, two epoll_ctl, close, ...) on top of the send and the
// receive, which dominated the cost of a cache miss. The pool keeps the unpredictability at a
// fraction of the cost:
// - kSockets slots, each holding a socket connected to the server from an ephemeral port the
//   kernel picks at random (so the kernel drops datagrams from any other address or port);
// - each query goes out on a slot chosen at random, and a socket carries at most
//   kQueriesPerSocket queries in its life: then (or after kIdle without use) its slot gets a
//   fresh socket on a fresh random port, and the old one closes when its last query is done.
//   So ports keep changing (at least one new port per kQueriesPerSocket queries), and the
//   (port, ID) pairs an off-path attacker must hit are as many as with a socket per query:
//   one per query in flight.
// - A query's ID is unique among the queries in flight on its socket (re-drawn on a
//   collision); replies are matched on the socket by ID and then checked whole by
//   accept_reply(). A datagram that matches no query (other than a late reply to one of the
//   socket's queries that timed out), or fails the check, counts as a mismatch for every
//   query waiting on that socket (a burst moves them to TCP).
// - A socket error (ICMP port unreachable: ECONNREFUSED, reported to whichever receive or
//   send comes next) fails every query of that socket with kNetworkError at once and retires
//   the socket. A send refused for a full buffer fails only its own query, with kLocalError.
// - Sends are deferred a little: start() queues its query, and one flush posted behind the
//   handlers already queued sends all that were queued meanwhile, back to back. The queries a
//   batch of client packets produces thus reach the server in one burst, which it can take
//   with one wake-up (a server woken once per query spends several times the CPU, and on a
//   shared core takes it from us). A send that fails wakes its query with the error.
// Thread safety: one thread only (the worker's io_context), like TcpChannel.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "resolver/upstream/sent_query.hpp"
#include "resolver/upstream/transport.hpp"
#include "resolver/util/endpoint.hpp"

namespace vnetdns::upstream {

class UdpPool : public std::enable_shared_from_this<UdpPool> {
 public:
  static constexpr std::size_t kSockets = 32;
  static constexpr std::uint32_t kQueriesPerSocket = 16;
  static constexpr std::chrono::seconds kIdle{10};
  // Replies are read into this much; a datagram that fills it was cut (treated as TC=1).
  static constexpr std::size_t kReplyBuffer = 4096;

  // The pool to `server` of the io_context behind `executor` (made on first use).
  static std::shared_ptr<UdpPool> for_server(const boost::asio::any_io_executor& executor,
                                             const util::Endpoint& server);

  UdpPool(boost::asio::any_io_executor executor, const util::Endpoint& server);

 private:
  struct Port;

 public:
  // One query's passage through the pool, awaited in the caller's own coroutine (no frame of
  // the pool's per query; upstream::exchange() is the one caller):
  //   UdpPool::Ticket t(executor);
  //   if (pool->start(t, sent, until)) co_await t.wake.async_wait(...);
  //   result = pool->finish(t);
  // The ticket must stay put (not move) from start() to finish().
  class Ticket {
   public:
    explicit Ticket(const boost::asio::any_io_executor& ex) : wake(ex) {}
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    boost::asio::steady_timer wake;  // expires at the deadline; cancelled on a reply or error

   private:
    friend class UdpPool;
    std::array<std::uint8_t, kMaxQuerySize> q;  // our copy of the query, its ID re-drawn
    SentQuery sent;                             // as sent: replies are checked against it
    ExchangeResult result;
    bool done = false;
    std::shared_ptr<Port> port;
  };
  // Queues the query on a socket of the pool. False when it failed at once (finish() says
  // why); else await `ticket.wake`, then call finish().
  bool start(Ticket& ticket, const SentQuery& sent, std::chrono::steady_clock::time_point until);
  // The outcome: the reply, an error, or kTimeout.
  ExchangeResult finish(Ticket& ticket);

 private:
  using Waiter = Ticket;
  struct Port {
    explicit Port(const boost::asio::any_io_executor& ex) : socket(ex) {}
    boost::asio::ip::udp::socket socket;
    std::vector<std::pair<std::uint16_t, Waiter*>> waiting;  // at most kQueriesPerSocket
    // IDs of queries on this socket that timed out: a late reply to one is dropped quietly,
    // not counted as a forgery against the queries still waiting (at most kQueriesPerSocket).
    std::vector<std::uint16_t> expired;
    std::uint32_t uses = 0;
    bool retired = false;  // takes no new query; closed once `waiting` is empty
    std::chrono::steady_clock::time_point last_used{};
  };
  using PortPtr = std::shared_ptr<Port>;

  PortPtr pick(std::chrono::steady_clock::time_point now);  // null: no socket could be made
  PortPtr open();
  static void release(Port& port, Waiter* w);  // w leaves; closes a retired, empty port
  static void fail_all(Port& port);
  static boost::asio::awaitable<void> read_loop(PortPtr port);
  void flush();  // sends what start() queued

  struct Outgoing {
    PortPtr port;
    std::uint16_t id;  // of a waiter on `port`; skipped if that waiter is gone
  };

  boost::asio::any_io_executor executor_;
  util::Endpoint server_;
  std::array<PortPtr, kSockets> slots_{};
  std::vector<Outgoing> outbox_;
  bool flush_posted_ = false;
};

}  // namespace vnetdns::upstream
