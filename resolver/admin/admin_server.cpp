#include "resolver/admin/admin_server.hpp"

#include <chrono>
#include <map>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "resolver/admin/cache_admin.hpp"
#include "resolver/admin/metrics.hpp"
#include "resolver/util/clock.hpp"
#include "resolver/util/log.hpp"

namespace vnetdns::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::as_tuple;
using asio::use_awaitable;
using asio::ip::tcp;

namespace {

constexpr std::chrono::seconds kIoTimeout{10};
constexpr std::uint32_t kHeaderLimit = 8192;
constexpr std::uint64_t kBodyLimit = 4096;

HttpReply text(unsigned status, std::string body) {
  HttpReply r;
  r.status = status;
  r.body = std::move(body);
  if (r.body.empty() || r.body.back() != '\n') r.body += '\n';
  return r;
}

HttpReply not_allowed(const char* allow) {
  HttpReply r = text(405, std::string("method not allowed; use ") + allow);
  r.allow = allow;
  return r;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decoding of one query component; false on a malformed escape.
bool url_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex(in[i + 1]);
      const int lo = hex(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (in[i] == '+') {
      out += ' ';
    } else {
      out += in[i];
    }
  }
  return true;
}

// Splits "a=1&b=2"; false on a malformed pair or escape.
bool parse_query(std::string_view q, std::map<std::string, std::string>& params) {
  while (!q.empty()) {
    const auto amp = q.find('&');
    const std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    std::string key, value;
    if (!url_decode(pair.substr(0, eq), key)) return false;
    if (eq != std::string_view::npos && !url_decode(pair.substr(eq + 1), value)) return false;
    params[key] = value;
  }
  return true;
}

bool parse_name(const std::string& text, wire::Name& out, std::string& error) {
  if (text.empty()) {
    error = "empty name";
    return false;
  }
  wire::NameError e = wire::NameError::kNone;
  out = wire::Name::from_text(text, &e);
  if (e != wire::NameError::kNone) {
    error = "bad name '" + text + "': " + wire::to_string(e);
    return false;
  }
  return true;
}

tcp::endpoint to_asio(const util::Endpoint& e) {
  tcp::endpoint ep;
  std::memcpy(ep.data(), e.sockaddr_ptr(), e.size());
  ep.resize(e.size());
  return ep;
}

}  // namespace

AdminServer::AdminServer(AdminContext context, const util::Endpoint& listen)
    : cx_(std::move(context)), endpoint_(listen), acceptor_(io_) {
  boost::system::error_code ec;
  const tcp::endpoint ep = to_asio(listen);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && ep.protocol() == tcp::v6()) acceptor_.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw std::runtime_error("cannot listen on admin address " + listen.to_string() + ": " +
                             ec.message());
  }
}

AdminServer::~AdminServer() { stop(); }

void AdminServer::start() {
  asio::co_spawn(io_, accept_loop(), asio::detached);
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      VLOG_ERROR("admin: {}", e.what());
    }
  });
}

void AdminServer::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    stopped_ = true;
    boost::system::error_code ec;
    acceptor_.close(ec);
    io_.stop();
  });
  thread_.join();
}

asio::awaitable<void> AdminServer::accept_loop() {
  while (!stopped_) {
    auto [ec, socket] = co_await acceptor_.async_accept(as_tuple(use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || stopped_) break;
      continue;
    }
    if (open_ >= kMaxConnections) {
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    ++open_;
    asio::co_spawn(io_, session(std::move(socket)), asio::detached);
  }
}

asio::awaitable<void> AdminServer::session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  util::Endpoint peer;
  {
    boost::system::error_code ec;
    const tcp::endpoint ep = stream.socket().remote_endpoint(ec);
    if (!ec) peer = util::Endpoint::from_sockaddr(ep.data(), static_cast<socklen_t>(ep.size()));
  }
  try {
    beast::flat_buffer buffer(kHeaderLimit + kBodyLimit);
    for (std::size_t n = 0; n < kMaxRequestsPerConnection && !stopped_; ++n) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(kHeaderLimit);
      parser.body_limit(kBodyLimit);
      stream.expires_after(kIoTimeout);
      auto [ec, got] = co_await http::async_read(stream, buffer, parser, as_tuple(use_awaitable));
      (void)got;
      HttpReply reply;
      bool keep_alive = false;
      unsigned version = 11;
      if (ec == http::error::header_limit || ec == http::error::body_limit ||
          ec == http::error::buffer_overflow) {
        reply = text(413, "request too large");
      } else if (ec) {
        break;  // closed, timed out or not HTTP: nothing to answer
      } else {
        const auto& req = parser.get();
        version = req.version();
        const auto snap = cx_.snapshots->get();
        if (!snap->settings.admin.allow.contains(peer)) {
          VLOG_WARN("admin: {} is not in [admin] allow; refused", peer.address_string());
          reply = text(403, "forbidden: " + peer.address_string() + " is not in [admin] allow");
        } else {
          reply = co_await route(std::string(req.method_string()), std::string(req.target()));
          keep_alive = req.keep_alive();
        }
      }
      http::response<http::string_body> res{static_cast<http::status>(reply.status), version};
      res.set(http::field::server, "vnetdns/" VNETDNS_VERSION);
      res.set(http::field::content_type, reply.content_type);
      res.set(http::field::cache_control, "no-store");
      if (!reply.allow.empty()) res.set(http::field::allow, reply.allow);
      res.body() = std::move(reply.body);
      res.keep_alive(keep_alive);
      res.prepare_payload();
      stream.expires_after(kIoTimeout);
      auto [wec, wrote] = co_await http::async_write(stream, res, as_tuple(use_awaitable));
      (void)wrote;
      if (wec || !keep_alive) break;
    }
  } catch (const std::exception& e) {
    VLOG_WARN("admin: connection from {}: {}", peer.to_string(), e.what());
  }
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream.socket().close(ec);
  --open_;
}

asio::awaitable<HttpReply> AdminServer::reload() {
  if (!cx_.reload) co_return text(501, "reload is not available");
  ReloadOutcome outcome;
  try {
    // The reload runs on the control thread (serialised with SIGHUP and file changes);
    // this coroutine resumes here when it is done.
    outcome = co_await asio::co_spawn(
        cx_.control, [fn = cx_.reload]() -> asio::awaitable<ReloadOutcome> { co_return fn(); },
        use_awaitable);
  } catch (const std::exception& e) {
    co_return text(500, std::string("reload failed: ") + e.what());
  }
  std::string body;
  if (outcome.ok) {
    body = "reloaded\n";
  } else {
    body = "reload failed; the running configuration is kept\n";
    for (const auto& e : outcome.errors) body += e + "\n";
  }
  for (const auto& n : outcome.notes) body += "note: " + n + "\n";
  co_return text(outcome.ok ? 200 : 500, body);
}

asio::awaitable<HttpReply> AdminServer::route(const std::string& method,
                                              const std::string& target) {
  const auto q = target.find('?');
  const std::string path = target.substr(0, q);
  std::map<std::string, std::string> params;
  if (q != std::string::npos && !parse_query(std::string_view(target).substr(q + 1), params)) {
    co_return text(400, "malformed query string");
  }
  const bool get = method == "GET";
  const bool post = method == "POST";
  const std::uint32_t now = util::RealClock::instance().now_seconds();

  if (path == "/metrics") {
    if (!get) co_return not_allowed("GET");
    HttpReply r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = render_metrics(cx_);
    co_return r;
  }
  if (path == "/healthz") {
    if (!get) co_return not_allowed("GET");
    co_return text(200, "ok");
  }
  if (path == "/readyz") {
    if (!get) co_return not_allowed("GET");
    const Readiness r = check_readiness(*cx_.snapshots->get());
    co_return text(r.ready ? 200 : 503, (r.ready ? "ready: " : "not ready: ") + r.reason);
  }
  if (path == "/reload") {
    if (!post) co_return not_allowed("POST");
    co_return co_await reload();
  }
  if (path == "/cache/flush") {
    if (!post) co_return not_allowed("POST");
    for (const auto& [k, v] : params) {
      if (k != "name" && k != "zone") co_return text(400, "unknown parameter '" + k + "'");
    }
    if (params.size() > 1) co_return text(400, "give name= or zone=, not both");
    if (params.empty()) {
      const auto before = cx_.cache->stats().entries;
      cx_.cache->clear();
      VLOG_INFO("admin: cache flushed ({} entries)", before);
      co_return text(200, "flushed " + std::to_string(before) + " entries");
    }
    wire::Name name;
    std::string error;
    const auto& [key, value] = *params.begin();
    if (!parse_name(value, name, error)) co_return text(400, error);
    const std::size_t n =
        key == "name" ? flush_name(*cx_.cache, name, now) : flush_zone(*cx_.cache, name);
    VLOG_INFO("admin: cache flushed for {} {} ({} entries)", key, name.to_text(), n);
    co_return text(200, "flushed " + std::to_string(n) + " entries");
  }
  if (path == "/cache/dump") {
    if (!get) co_return not_allowed("GET");
    const auto it = params.find("name");
    if (it == params.end() || params.size() != 1) co_return text(400, "give name=NAME");
    wire::Name name;
    std::string error;
    if (!parse_name(it->second, name, error)) co_return text(400, error);
    HttpReply r;
    r.content_type = "application/json";
    r.body = dump_json(*cx_.cache, name, now);
    co_return r;
  }
  co_return text(404,
                 "not found; endpoints: GET /metrics /healthz /readyz /cache/dump?name=X, "
                 "POST /reload /cache/flush[?name=X|?zone=X]");
}

}  // namespace vnetdns::admin
