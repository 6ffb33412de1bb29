#include "resolver/util/http_client.hpp"

#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace vnetdns::util {

namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::as_tuple;
using asio::use_awaitable;
}  // namespace

HttpReply http_request(const Endpoint& server, std::string_view method, const std::string& target,
                       std::chrono::milliseconds timeout, std::string_view user_agent) {
  HttpReply reply;
  const http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) {
    reply.error = "unknown HTTP method " + std::string(method);
    return reply;
  }
  asio::io_context io;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        beast::tcp_stream stream(io);
        asio::ip::tcp::endpoint ep;
        std::memcpy(ep.data(), server.sockaddr_ptr(), server.size());
        ep.resize(server.size());
        stream.expires_after(timeout);  // one deadline for connect, send and receive
        auto [cec] = co_await stream.async_connect(ep, as_tuple(use_awaitable));
        if (cec) {
          reply.error = "cannot connect to " + server.to_string() + ": " + cec.message();
          co_return;
        }
        http::request<http::string_body> req{verb, target, 11};
        req.set(http::field::host, server.to_string());
        req.set(http::field::user_agent, std::string(user_agent));
        req.keep_alive(false);
        req.prepare_payload();
        auto [wec, w] = co_await http::async_write(stream, req, as_tuple(use_awaitable));
        (void)w;
        if (wec) {
          reply.error = "sending to " + server.to_string() + ": " + wec.message();
          co_return;
        }
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(64 * 1024 * 1024);
        auto [rec, r] = co_await http::async_read(stream, buffer, parser, as_tuple(use_awaitable));
        (void)r;
        if (rec) {
          reply.error = "reading from " + server.to_string() + ": " + rec.message();
          co_return;
        }
        const auto& res = parser.get();
        reply.ok = true;
        reply.status = res.result_int();
        reply.status_line =
            "HTTP/1.1 " + std::to_string(reply.status) + " " + std::string(res.reason());
        reply.body = res.body();
      },
      asio::detached);
  io.run();
  return reply;
}

}  // namespace vnetdns::util
