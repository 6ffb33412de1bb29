#include "resolver/util/http_client.hpp"

#include <cstring>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace vnetdns::util {

namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
}  // namespace

HttpReply http_request(const Endpoint& server, std::string_view method, const std::string& target,
                       std::chrono::milliseconds timeout, std::string_view user_agent) {
  HttpReply reply;
  const http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) {
    reply.error = "unknown HTTP method " + std::string(method);
    return reply;
  }
  // Plain completion handlers, no coroutine: util is also built into the fuzz targets, which
  // clang 14 cannot compile coroutines for under ASan.
  asio::io_context io;
  beast::tcp_stream stream(io);
  asio::ip::tcp::endpoint ep;
  std::memcpy(ep.data(), server.sockaddr_ptr(), server.size());
  ep.resize(server.size());
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, server.to_string());
  req.set(http::field::user_agent, std::string(user_agent));
  req.keep_alive(false);
  req.prepare_payload();
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  const std::string where = server.to_string();
  stream.expires_after(timeout);  // one deadline for connect, send and receive
  stream.async_connect(ep, [&](const boost::system::error_code& cec) {
    if (cec) {
      reply.error = "cannot connect to " + where + ": " + cec.message();
      return;
    }
    http::async_write(stream, req, [&](const boost::system::error_code& wec, std::size_t) {
      if (wec) {
        reply.error = "sending to " + where + ": " + wec.message();
        return;
      }
      http::async_read(
          stream, buffer, parser, [&](const boost::system::error_code& rec, std::size_t) {
            if (rec) {
              reply.error = "reading from " + where + ": " + rec.message();
              return;
            }
            const auto& res = parser.get();
            reply.ok = true;
            reply.status = res.result_int();
            reply.status_line =
                "HTTP/1.1 " + std::to_string(reply.status) + " " + std::string(res.reason());
            reply.body = res.body();
          });
    });
  });
  io.run();
  return reply;
}

}  // namespace vnetdns::util
