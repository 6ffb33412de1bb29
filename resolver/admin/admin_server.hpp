// AdminServer: the admin HTTP/1.1 endpoint ([admin] listen), on Boost.Beast coroutines in
// its own thread with its own io_context: nothing it does runs on a worker.
//   GET  /metrics                Prometheus text format 0.0.4 (metrics.hpp)
//   GET  /healthz                200 "ok" while the process runs
//   GET  /readyz                 200 when ready, else 503 with the reason (check_readiness)
//   POST /reload                 the SIGHUP reload, run on the control thread: 200
//                                "reloaded", or 500 with one FILE:LINE line per error
//   POST /cache/flush            drop the whole cache
//   POST /cache/flush?name=X     drop what is cached for exactly X (every type)
//   POST /cache/flush?zone=X     drop X and every name below it
//   GET  /cache/dump?name=X      what is cached for X, as JSON, with remaining TTLs
// Clients outside [admin] allow (read from the running snapshot, so a reload applies a new
// list at once) get 403. Bounds: 8 KiB of headers, 4 KiB of body, 10 s to send a request
// or take a response, 100 requests per connection, 64 connections at once.
// Lifecycle: construct (binds; throws std::runtime_error naming the address on failure),
// start() (spawns the thread), stop() (closes everything, joins). The AdminContext's
// sources must outlive it.
// Thread safety: start/stop from the controlling thread; the rest runs on its own thread.
#pragma once

#include <cstddef>
#include <string>
#include <thread>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "resolver/admin/admin_context.hpp"
#include "resolver/util/endpoint.hpp"

namespace vnetdns::admin {

struct HttpReply {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::string allow;  // the Allow header of a 405
};

class AdminServer {
 public:
  AdminServer(AdminContext context, const util::Endpoint& listen);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  void start();
  void stop();
  [[nodiscard]] const util::Endpoint& endpoint() const noexcept { return endpoint_; }

  static constexpr std::size_t kMaxConnections = 64;
  static constexpr std::size_t kMaxRequestsPerConnection = 100;

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket);
  boost::asio::awaitable<HttpReply> route(const std::string& method, const std::string& target);
  boost::asio::awaitable<HttpReply> reload();

  AdminContext cx_;
  util::Endpoint endpoint_;
  boost::asio::io_context io_{1};
  boost::asio::ip::tcp::acceptor acceptor_;
  std::size_t open_ = 0;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace vnetdns::admin
