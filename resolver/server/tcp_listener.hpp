// TcpListener: one worker's TCP acceptor on one listen address, and its connections.
// DNS over TCP (RFC 7766): 2-byte length framing, several queries per connection answered
// as they complete (out of order), an idle timeout between queries, a cap on connections
// open at once (max_tcp_clients, per worker share), per client address (max_tcp_per_client,
// per worker; 0 = no limit) and on queries outstanding per connection. A zero-length frame
// or a read error ends the connection. AXFR/IXFR are answered here (several messages).
// Thread safety: belongs to one worker's io_context thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "resolver/pipeline/pipeline.hpp"

namespace vnetdns::server {

struct TcpOptions {
  std::size_t max_connections = 10000;  // this worker's share, over all its listeners
  std::chrono::milliseconds idle_timeout{10000};
  std::size_t max_outstanding = 100;  // per connection
  std::size_t max_per_client = 0;     // connections per client address; 0 = no limit
};

// What a worker's TCP listeners share: connections open, in all and per client address.
struct TcpBudget {
  std::size_t open = 0;
  std::unordered_map<std::string, std::size_t> per_client;  // by address bytes
};

class TcpListener {
 public:
  // Takes ownership of `fd` (a bound, listening, non-blocking TCP socket).
  // `budget` counts this worker's open connections, shared by all its TCP listeners.
  TcpListener(boost::asio::io_context& io, int fd, pipeline::Pipeline& pipeline, TcpOptions options,
              TcpBudget& budget);
  void start();
  void stop();
  [[nodiscard]] std::size_t open_connections() const noexcept { return budget_.open; }
  // The buffer synchronous answers are built in before they are copied to a connection's
  // queue (one per listener: handle() never yields, so connections can share it).
  std::vector<std::uint8_t>& scratch() { return scratch_; }

 private:
  class Connection;
  boost::asio::awaitable<void> accept_loop();
  std::string client_key(boost::asio::ip::tcp::socket& socket);  // "" without a per-client cap
  void release(const std::string& client_key);

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  pipeline::Pipeline& pipeline_;
  TcpOptions options_;
  TcpBudget& budget_;
  bool stopped_ = false;
  std::vector<std::uint8_t> scratch_;
};

}  // namespace vnetdns::server
