// TcpListener: one worker's TCP acceptor on one listen address, and its connections.
// DNS over TCP (RFC 7766): 2-byte length framing, several queries per connection answered
// as they complete (out of order), an idle timeout between queries, a cap on connections
// open at once (max_tcp_clients, per worker share) and on queries outstanding per
// connection. A zero-length frame or a read error ends the connection.
// Thread safety: belongs to one worker's io_context thread.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstddef>
#include <vector>

#include "resolver/pipeline/pipeline.hpp"

namespace vnetdns::server {

struct TcpOptions {
  std::size_t max_connections = 10000;  // this worker's share, over all its listeners
  std::chrono::milliseconds idle_timeout{10000};
  std::size_t max_outstanding = 100;  // per connection
};

class TcpListener {
 public:
  // Takes ownership of `fd` (a bound, listening, non-blocking TCP socket).
  // `open` counts this worker's open connections, shared by all its TCP listeners.
  TcpListener(boost::asio::io_context& io, int fd, pipeline::Pipeline& pipeline,
              TcpOptions options, std::size_t& open);
  void start();
  void stop();
  [[nodiscard]] std::size_t open_connections() const noexcept { return open_; }
  // The buffer synchronous answers are built in before they are copied to a connection's
  // queue (one per listener: handle() never yields, so connections can share it).
  std::vector<std::uint8_t>& scratch() { return scratch_; }

 private:
  class Connection;
  boost::asio::awaitable<void> accept_loop();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  pipeline::Pipeline& pipeline_;
  TcpOptions options_;
  std::size_t& open_;
  bool stopped_ = false;
  std::vector<std::uint8_t> scratch_;
};

}  // namespace vnetdns::server
