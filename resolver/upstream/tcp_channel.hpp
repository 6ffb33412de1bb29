// TcpChannel: one reused TCP connection to one upstream server, owned by one worker thread,
// carrying many queries at once (RFC 7766 section 6.2.1: pipelining, answers in any order,
// matched by ID and question). Used for TC retries and `protocol = "tcp"` rules, so a burst
// of TCP queries costs one handshake instead of one each.
// - for_server() gives the executor's channel to a server, from a table kept as a service of
//   the executor's io_context (one per worker), so a channel never crosses threads, needs no
//   lock, and dies with its io_context.
// - A query whose ID is already in flight on the channel gets a fresh ID (the caller's bytes
//   are copied and patched); replies that match no waiter or fail accept_reply() are counted
//   as mismatches of the waiter with that ID, if any, and otherwise dropped.
// - Closed after kIdle without queries, after a read or write error (every waiter then fails
//   with kNetworkError at once), by the server at any time, and when a query times out with
//   nothing read on the connection since it was sent (a half-open or stuck connection must
//   not hold every later TCP query of the worker). A query that finds the channel
//   full (kMaxInFlight) is not queued: exchange() returns kLocalError and the caller falls
//   back to a connection of its own.
// Thread safety: one thread only (the worker's io_context).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "resolver/upstream/sent_query.hpp"
#include "resolver/upstream/transport.hpp"
#include "resolver/util/clock.hpp"
#include "resolver/util/endpoint.hpp"
#include "resolver/util/timer.hpp"

namespace vnetdns::upstream {

class TcpChannel : public std::enable_shared_from_this<TcpChannel> {
 public:
  static constexpr std::size_t kMaxInFlight = 256;
  static constexpr std::chrono::seconds kIdle{10};

  // The channel to `server` of the io_context behind `executor` (made on first use).
  static std::shared_ptr<TcpChannel> for_server(const boost::asio::any_io_executor& executor,
                                                const util::Endpoint& server);

  TcpChannel(boost::asio::any_io_executor executor, const util::Endpoint& server);

  // Sends `sent` and waits for its reply until `until`. `reused` tells the caller whether
  // the connection was already open (a failure then may be a connection the server dropped
  // while idle: worth one retry on a fresh connection).
  boost::asio::awaitable<ExchangeResult> exchange(const SentQuery& sent, util::TimePoint until,
                                                  bool& reused);

  [[nodiscard]] std::uint64_t connections_made() const noexcept { return connects_; }

 private:
  struct Waiter {
    explicit Waiter(const boost::asio::any_io_executor& ex) : wake(ex) {}
    util::Timer wake;
    SentQuery sent;
    ExchangeResult result;
    bool done = false;
  };
  enum class State : std::uint8_t { kClosed, kConnecting, kOpen };

  using Socket = std::shared_ptr<boost::asio::ip::tcp::socket>;
  boost::asio::awaitable<bool> ensure_open(util::TimePoint until);
  // Each loop holds the socket of its own connection: a later connection gets a new one,
  // so an operation of an old loop can never touch the new stream.
  boost::asio::awaitable<void> read_loop(std::uint64_t generation, Socket socket);
  boost::asio::awaitable<void> write_loop(std::uint64_t generation, Socket socket);
  boost::asio::awaitable<void> idle_loop(std::uint64_t generation);
  void close();  // fails every waiter

  boost::asio::any_io_executor executor_;
  util::Endpoint server_;
  Socket socket_;                              // the current connection's (null before the first)
  std::vector<util::Timer*> connect_waiters_;  // woken when a connect ends
  State state_ = State::kClosed;
  std::uint64_t generation_ = 0;  // bumps on every close: old loops exit
  std::unordered_map<std::uint16_t, Waiter*> waiters_;
  std::deque<std::vector<std::uint8_t>> writes_;
  bool writing_ = false;
  util::TimePoint last_used_{};
  util::TimePoint last_read_{};  // a whole reply frame arrived
  std::uint64_t connects_ = 0;
};

}  // namespace vnetdns::upstream
