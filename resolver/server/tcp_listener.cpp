#include "resolver/server/tcp_listener.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <array>
#include <cstring>
#include <deque>
#include <memory>
#include <vector>

#include "resolver/wire/types.hpp"
#include "resolver/xfr/transfer_responder.hpp"

namespace vnetdns::server {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;
using namespace asio::experimental::awaitable_operators;

// One client connection. Answers are queued and written by a single writer coroutine, so
// answers that complete out of order never interleave on the stream.
class TcpListener::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(TcpListener& owner, asio::ip::tcp::socket socket, std::string client_key)
      : owner_(owner),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        client_key_(std::move(client_key)) {}

  asio::awaitable<void> serve() {
    auto self = shared_from_this();
    std::vector<std::uint8_t> query;  // sized to each frame: an idle connection costs little
    const util::Endpoint client = peer();
    while (!owner_.stopped_) {
      std::array<std::uint8_t, 2> len_buf{};
      if (!co_await read_exact(len_buf.data(), 2)) break;
      const std::size_t len = wire::load16(len_buf.data());
      if (len == 0) break;  // nothing a client sends on purpose
      query.resize(len);
      if (!co_await read_exact(query.data(), len)) break;
      owner_.pipeline_.refresh_snapshot();
      pipeline::PendingQuery pending;
      std::vector<std::uint8_t>& answer = owner_.scratch();
      const pipeline::Step step =
          owner_.pipeline_.handle(query.data(), len, client, pipeline::Transport::kTcp,
                                  answer.data(), answer.size(), pending);
      if (step.kind == pipeline::StepKind::kSend && step.len > 0) {
        enqueue(answer.data(), step.len);
        if (step.prefetch) {
          asio::co_spawn(socket_.get_executor(), prefetch(std::move(pending)), asio::detached);
        }
      } else if (step.kind == pipeline::StepKind::kTransfer) {
        // Built whole from the snapshot the query saw; the writer sends it in order.
        const auto& snap = owner_.pipeline_.snapshot();
        for (const auto& msg :
             xfr::answer_transfer(snap->settings, *snap->zones, {query.data(), len, client, true})) {
          enqueue(msg.data(), msg.size());
        }
      } else if (step.kind == pipeline::StepKind::kAsync) {
        ++outstanding_;
        asio::co_spawn(socket_.get_executor(), resolve(std::move(pending)), asio::detached);
        while (outstanding_ >= owner_.options_.max_outstanding && socket_.is_open()) {
          // Back-pressure: stop reading until some answers are out.
          timer_.expires_after(std::chrono::milliseconds(5));
          co_await timer_.async_wait(as_tuple(use_awaitable));
        }
      }
    }
    // Let outstanding answers go out before closing, within the idle timeout.
    const auto until = std::chrono::steady_clock::now() + owner_.options_.idle_timeout;
    while ((outstanding_ > 0 || writing_) && std::chrono::steady_clock::now() < until &&
           !owner_.stopped_) {
      timer_.expires_after(std::chrono::milliseconds(10));
      co_await timer_.async_wait(as_tuple(use_awaitable));
    }
    boost::system::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    owner_.release(client_key_);
    owner_.pipeline_.counters().tcp_closed.add();
  }

 private:
  util::Endpoint peer() {
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (ec) return {};
    return util::Endpoint::from_sockaddr(ep.data(), static_cast<socklen_t>(ep.size()));
  }

  // Reads exactly n bytes, or fails on EOF, error, idle timeout or stop.
  asio::awaitable<bool> read_exact(std::uint8_t* p, std::size_t n) {
    asio::steady_timer idle(socket_.get_executor());
    idle.expires_after(owner_.options_.idle_timeout);
    auto r = co_await (asio::async_read(socket_, asio::buffer(p, n), as_tuple(use_awaitable)) ||
                       idle.async_wait(as_tuple(use_awaitable)));
    if (r.index() != 0) co_return false;
    auto [ec, got] = std::get<0>(r);
    co_return !ec && got == n;
  }

  asio::awaitable<void> resolve(pipeline::PendingQuery pending) {
    auto self = shared_from_this();
    std::vector<std::uint8_t> out(wire::kMaxMessageSize);
    const std::size_t len = co_await owner_.pipeline_.resolve(pending, out.data(), out.size());
    if (len > 0) enqueue(out.data(), len);
    --outstanding_;
  }

  asio::awaitable<void> prefetch(pipeline::PendingQuery pending) {
    auto self = shared_from_this();
    co_await owner_.pipeline_.prefetch(pending);
  }

  void enqueue(const std::uint8_t* msg, std::size_t len) {
    std::vector<std::uint8_t> frame(len + 2);
    wire::store16(frame.data(), static_cast<std::uint16_t>(len));
    std::memcpy(frame.data() + 2, msg, len);
    queue_.push_back(std::move(frame));
    if (!writing_) {
      writing_ = true;  // before the spawn: a second enqueue must not start a second writer
      asio::co_spawn(socket_.get_executor(), write_all(), asio::detached);
    }
  }

  asio::awaitable<void> write_all() {
    auto self = shared_from_this();
    while (!queue_.empty() && socket_.is_open()) {
      asio::steady_timer limit(socket_.get_executor());
      limit.expires_after(owner_.options_.idle_timeout);
      auto r = co_await (asio::async_write(socket_, asio::buffer(queue_.front()),
                                           as_tuple(use_awaitable)) ||
                         limit.async_wait(as_tuple(use_awaitable)));
      queue_.pop_front();
      if (r.index() != 0 || std::get<0>(std::get<0>(r))) {
        // A client that does not read its answers loses its connection.
        boost::system::error_code ec;
        socket_.close(ec);
        queue_.clear();
      }
    }
    writing_ = false;
  }

  TcpListener& owner_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  std::string client_key_;
  std::deque<std::vector<std::uint8_t>> queue_;
  bool writing_ = false;
  std::size_t outstanding_ = 0;
};

TcpListener::TcpListener(asio::io_context& io, int fd, pipeline::Pipeline& pipeline,
                         TcpOptions options, TcpBudget& budget)
    : io_(io),
      acceptor_(io),
      pipeline_(pipeline),
      options_(options),
      budget_(budget),
      scratch_(wire::kMaxMessageSize) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  acceptor_.assign(ss.ss_family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), fd);
}

void TcpListener::start() { asio::co_spawn(io_, accept_loop(), asio::detached); }

void TcpListener::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
}

asio::awaitable<void> TcpListener::accept_loop() {
  while (!stopped_) {
    auto [ec, socket] = co_await acceptor_.async_accept(as_tuple(use_awaitable));
    if (ec) {
      if (ec == asio::error::operation_aborted || stopped_) break;
      // Out of file descriptors (EMFILE/ENFILE) or the like: the pending connection keeps
      // the acceptor readable, so back off instead of spinning; serve what we have.
      asio::steady_timer pause(io_);
      pause.expires_after(std::chrono::milliseconds(100));
      co_await pause.async_wait(as_tuple(use_awaitable));
      continue;
    }
    std::string key = client_key(socket);
    if (budget_.open >= options_.max_connections ||
        (options_.max_per_client > 0 && budget_.per_client[key] >= options_.max_per_client)) {
      if (options_.max_per_client > 0 && budget_.per_client[key] == 0) budget_.per_client.erase(key);
      pipeline_.counters().tcp_refused.add();
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    ++budget_.open;
    if (options_.max_per_client > 0) ++budget_.per_client[key];
    pipeline_.counters().tcp_connections.add();
    auto conn = std::make_shared<Connection>(*this, std::move(socket), std::move(key));
    asio::co_spawn(io_, conn->serve(), asio::detached);
  }
}

std::string TcpListener::client_key(asio::ip::tcp::socket& socket) {
  if (options_.max_per_client == 0) return {};
  boost::system::error_code ec;
  const auto ep = socket.remote_endpoint(ec);
  if (ec) return {};
  const auto address = ep.address();
  if (address.is_v4()) {
    const auto b = address.to_v4().to_bytes();
    return {b.begin(), b.end()};
  }
  const auto b = address.to_v6().to_bytes();
  return {b.begin(), b.end()};
}

void TcpListener::release(const std::string& client_key) {
  --budget_.open;
  if (options_.max_per_client == 0) return;
  auto it = budget_.per_client.find(client_key);
  if (it != budget_.per_client.end() && --it->second == 0) budget_.per_client.erase(it);
}

}  // namespace vnetdns::server
