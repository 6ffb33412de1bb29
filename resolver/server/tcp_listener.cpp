#include "resolver/server/tcp_listener.hpp"

#include <algorithm>
#include <cstring>
#include <memory>
#include <tuple>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "resolver/wire/types.hpp"
#include "resolver/xfr/transfer_responder.hpp"

namespace vnetdns::server {

namespace asio = boost::asio;
using asio::as_tuple;
using asio::use_awaitable;

// One client connection. Reads go into one buffer and every whole frame in it is answered
// before the next read; synchronous answers (cache hits, local names) collect in one output
// buffer that goes out in a single write per batch, tried at once without blocking, with a
// writer coroutine only for what the socket did not take. Answers that complete later
// (upstream) are appended the same way, so answers never interleave on the stream.
// Timeouts without a timer per operation: a watchdog per connection stops reading when no
// whole query arrived within the idle timeout (the slowloris rule: a frame must arrive whole
// in that time), and closes the connection when a write made no progress for that long.
class TcpListener::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(TcpListener& owner, asio::ip::tcp::socket socket, std::string client_key)
      : owner_(owner),
        socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        watchdog_timer_(socket_.get_executor()),
        client_key_(std::move(client_key)) {}

  asio::awaitable<void> serve() {
    auto self = shared_from_this();
    const util::Endpoint client = peer();
    boost::system::error_code nb;
    socket_.non_blocking(true, nb);
    in_.resize(kSmallBuffer);  // grown for a bigger frame: an idle connection costs little
    std::size_t have = 0;      // bytes read and not yet answered, from in_[0]
    frame_deadline_ = std::chrono::steady_clock::now() + owner_.options_.idle_timeout;
    asio::co_spawn(socket_.get_executor(), watchdog(), asio::detached);
    bool open = true;
    while (open && !owner_.stopped_) {
      std::size_t pos = 0;
      while (have - pos >= 2) {
        const std::size_t len = wire::load16(in_.data() + pos);
        if (len == 0) {  // nothing a client sends on purpose
          open = false;
          break;
        }
        if (have - pos < 2 + len) break;
        frame_deadline_ = std::chrono::steady_clock::now() + owner_.options_.idle_timeout;
        answer(in_.data() + pos + 2, len, client);
        pos += 2 + len;
        if (outstanding_ >= owner_.options_.max_outstanding) {
          flush();
          while (outstanding_ >= owner_.options_.max_outstanding && socket_.is_open()) {
            // Back-pressure: stop reading until some answers are out.
            timer_.expires_after(std::chrono::milliseconds(5));
            co_await timer_.async_wait(as_tuple(use_awaitable));
          }
        }
      }
      flush();
      if (!open) break;
      if (pos > 0) {
        std::memmove(in_.data(), in_.data() + pos, have - pos);
        have -= pos;
      }
      // Room for the whole frame being read (at most 2 + 65535 bytes).
      const std::size_t need = have >= 2 ? 2 + wire::load16(in_.data()) : 2;
      if (in_.size() < need) {
        in_.resize(need);
      } else if (in_.size() > kLargeBuffer && need <= kSmallBuffer) {
        in_.resize(kSmallBuffer);  // a big frame went by: give the memory back
        in_.shrink_to_fit();
      }
      auto [ec, n] = co_await socket_.async_read_some(
          asio::buffer(in_.data() + have, in_.size() - have), as_tuple(use_awaitable));
      if (ec || n == 0) break;
      have += n;
    }
    // Let outstanding answers go out before closing, within the idle timeout.
    const auto until = std::chrono::steady_clock::now() + owner_.options_.idle_timeout;
    while ((outstanding_ > 0 || writing_) && std::chrono::steady_clock::now() < until &&
           !owner_.stopped_ && socket_.is_open()) {
      timer_.expires_after(std::chrono::milliseconds(10));
      co_await timer_.async_wait(as_tuple(use_awaitable));
    }
    boost::system::error_code ec;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    socket_.close(ec);
    done_ = true;
    watchdog_timer_.cancel();
    owner_.release(client_key_);
    owner_.pipeline_.counters().tcp_closed.add();
  }

 private:
  static constexpr std::size_t kSmallBuffer = 1024;
  static constexpr std::size_t kLargeBuffer = 4096;

  util::Endpoint peer() {
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (ec) return {};
    return util::Endpoint::from_sockaddr(ep.data(), static_cast<socklen_t>(ep.size()));
  }

  // One query frame's answer: appended to out_ now, or later by resolve().
  void answer(const std::uint8_t* query, std::size_t len, const util::Endpoint& client) {
    owner_.pipeline_.refresh_snapshot();
    pipeline::PendingQuery pending;
    std::vector<std::uint8_t>& buf = owner_.scratch();
    const pipeline::Step step = owner_.pipeline_.handle(
        query, len, client, pipeline::Transport::kTcp, buf.data(), buf.size(), pending);
    if (step.kind == pipeline::StepKind::kSend && step.len > 0) {
      append(buf.data(), step.len);
      if (step.prefetch) {
        asio::co_spawn(socket_.get_executor(), prefetch(std::move(pending)), asio::detached);
      }
    } else if (step.kind == pipeline::StepKind::kTransfer) {
      // Built whole from the snapshot the query saw; the writer sends it in order.
      const auto& snap = owner_.pipeline_.snapshot();
      for (const auto& msg :
           xfr::answer_transfer(snap->settings, *snap->zones, {query, len, client, true})) {
        append(msg.data(), msg.size());
      }
    } else if (step.kind == pipeline::StepKind::kAsync) {
      ++outstanding_;
      asio::co_spawn(socket_.get_executor(), resolve(std::move(pending)), asio::detached);
    }
  }

  asio::awaitable<void> resolve(pipeline::PendingQuery pending) {
    auto self = shared_from_this();
    std::vector<std::uint8_t> out(wire::kMaxMessageSize);
    const std::size_t len = co_await owner_.pipeline_.resolve(pending, out.data(), out.size());
    if (len > 0 && socket_.is_open()) {
      append(out.data(), len);
      flush();
    }
    --outstanding_;
  }

  asio::awaitable<void> prefetch(pipeline::PendingQuery pending) {
    auto self = shared_from_this();
    co_await owner_.pipeline_.prefetch(pending);
  }

  void append(const std::uint8_t* msg, std::size_t len) {
    const std::size_t at = out_.size();
    out_.resize(at + 2 + len);
    wire::store16(out_.data() + at, static_cast<std::uint16_t>(len));
    std::memcpy(out_.data() + at + 2, msg, len);
  }

  // Sends what out_ holds: at once as far as the socket takes it, the rest by the writer.
  void flush() {
    if (writing_ || out_.empty() || !socket_.is_open()) return;
    boost::system::error_code ec;
    const std::size_t n = socket_.write_some(asio::buffer(out_), ec);
    if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
      close();
      return;
    }
    if (n == out_.size()) {
      out_.clear();
      return;
    }
    out_.erase(out_.begin(), out_.begin() + static_cast<std::ptrdiff_t>(n));
    writing_ = true;  // before the spawn: a second flush must not start a second writer
    write_progress_ = std::chrono::steady_clock::now();
    asio::co_spawn(socket_.get_executor(), write_all(), asio::detached);
    watchdog_timer_.cancel();  // re-arm it for the write deadline
  }

  asio::awaitable<void> write_all() {
    auto self = shared_from_this();
    while (!out_.empty() && socket_.is_open()) {
      sending_.swap(out_);
      out_.clear();
      // In pieces of at most 64 KiB, so that the watchdog sees progress on a long transfer.
      boost::system::error_code ec;
      for (std::size_t off = 0; off < sending_.size() && !ec;) {
        const std::size_t piece = std::min<std::size_t>(sending_.size() - off, 65536);
        std::size_t n = 0;
        std::tie(ec, n) = co_await asio::async_write(
            socket_, asio::buffer(sending_.data() + off, piece), as_tuple(use_awaitable));
        off += n;
        write_progress_ = std::chrono::steady_clock::now();
      }
      sending_.clear();
      if (ec) {
        close();
        break;
      }
    }
    writing_ = false;
  }

  // Stops reading when no whole query came within the idle timeout; closes the connection
  // when a write is stuck that long (a client that does not read its answers).
  asio::awaitable<void> watchdog() {
    auto self = shared_from_this();
    const auto idle = owner_.options_.idle_timeout;
    bool reading = true;
    while (!done_ && socket_.is_open()) {
      auto next = reading ? frame_deadline_ : std::chrono::steady_clock::time_point::max();
      if (writing_) next = std::min(next, write_progress_ + idle);
      watchdog_timer_.expires_at(next);
      co_await watchdog_timer_.async_wait(as_tuple(use_awaitable));
      if (done_ || !socket_.is_open()) break;
      const auto now = std::chrono::steady_clock::now();
      if (writing_ && now >= write_progress_ + idle) {
        close();
        break;
      }
      if (reading && now >= frame_deadline_) {
        reading = false;
        boost::system::error_code ec;
        socket_.shutdown(asio::ip::tcp::socket::shutdown_receive, ec);
        if (!writing_) socket_.cancel(ec);  // ends the pending read
      }
    }
  }

  void close() {
    boost::system::error_code ec;
    socket_.close(ec);
    out_.clear();
  }

  TcpListener& owner_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;           // back-pressure and drain waits of serve()
  asio::steady_timer watchdog_timer_;  // the watchdog's
  std::string client_key_;
  std::vector<std::uint8_t> in_;
  std::vector<std::uint8_t> out_;      // framed answers not yet handed to the socket
  std::vector<std::uint8_t> sending_;  // what the writer is sending
  std::chrono::steady_clock::time_point frame_deadline_{};
  std::chrono::steady_clock::time_point write_progress_{};
  bool writing_ = false;
  bool done_ = false;
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
      if (options_.max_per_client > 0 && budget_.per_client[key] == 0)
        budget_.per_client.erase(key);
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
