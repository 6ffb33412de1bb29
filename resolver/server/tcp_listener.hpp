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

#include "resolver/pipeline/pipeline.hpp"

namespace vnetdns::server {

struct TcpOptions {
  std::size_t max_connections = 10000;
  std::chrono::milliseconds idle_timeout{10000};
  std::size_t max_outstanding = 100;  // per connection
};

class TcpListener {
 public:
  // Takes ownership of `fd` (a bound, listening, non-blocking TCP socket).
  TcpListener(boost::asio::io_context& io, int fd, pipeline::Pipeline& pipeline,
              TcpOptions options);
  void start();
  void stop();
  [[nodiscard]] std::size_t open_connections() const noexcept { return open_; }

 private:
  class Connection;
  boost::asio::awaitable<void> accept_loop();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  pipeline::Pipeline& pipeline_;
  TcpOptions options_;
  std::size_t open_ = 0;
  bool stopped_ = false;
};

}  // namespace vnetdns::server
