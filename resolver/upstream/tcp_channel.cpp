#include "resolver/upstream/tcp_channel.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "resolver/upstream/asio_endpoint.hpp"
#include "resolver/upstream/per_server_table.hpp"
#include "resolver/util/random.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::upstream {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using asio::as_tuple;
using asio::use_awaitable;

std::shared_ptr<TcpChannel> TcpChannel::for_server(const asio::any_io_executor& executor,
                                                   const util::Endpoint& server) {
  return PerServerTable<TcpChannel>::get(executor, server);
}

TcpChannel::TcpChannel(asio::any_io_executor executor, const util::Endpoint& server)
    : executor_(std::move(executor)), server_(server) {}

asio::awaitable<bool> TcpChannel::ensure_open(util::TimePoint until) {
  while (state_ == State::kConnecting) {
    // Someone else is connecting: wait for the outcome (our timer is cancelled then).
    util::Timer wait(executor_);
    wait.expires_at(until);
    connect_waiters_.push_back(&wait);
    auto [ec] = co_await wait.async_wait(as_tuple(use_awaitable));
    std::erase(connect_waiters_, &wait);
    if (!ec) co_return false;  // our deadline passed first
  }
  if (state_ == State::kOpen) co_return true;
  state_ = State::kConnecting;
  const auto ep = to_asio<asio::ip::tcp::endpoint>(server_);
  boost::system::error_code ec;
  auto socket = std::make_shared<asio::ip::tcp::socket>(executor_);
  socket->open(ep.protocol(), ec);
  bool ok = !ec;
  if (ok) {
    util::Timer limit(executor_);
    limit.expires_at(until);
    auto c = co_await (socket->async_connect(ep, as_tuple(use_awaitable)) ||
                       limit.async_wait(as_tuple(use_awaitable)));
    ok = c.index() == 0 && !std::get<0>(std::get<0>(c));
  }
  if (ok) {
    socket_ = socket;
    state_ = State::kOpen;
    ++connects_;
    ++generation_;
    last_used_ = last_read_ = util::TimerClock::now();
    asio::co_spawn(executor_, read_loop(generation_, socket_), asio::detached);
    asio::co_spawn(executor_, idle_loop(generation_), asio::detached);
  } else {
    socket->close(ec);
    state_ = State::kClosed;
  }
  for (auto* t : connect_waiters_) t->cancel();
  co_return ok;
}

asio::awaitable<ExchangeResult> TcpChannel::exchange(const SentQuery& sent, util::TimePoint until,
                                                     bool& reused) {
  auto self = shared_from_this();
  ExchangeResult failed;
  if (waiters_.size() >= kMaxInFlight) {
    failed.status = ExchangeStatus::kLocalError;
    co_return failed;
  }
  reused = state_ == State::kOpen;
  const bool open = co_await ensure_open(until);
  if (!open) {
    failed.status =
        util::TimerClock::now() >= until ? ExchangeStatus::kTimeout : ExchangeStatus::kNetworkError;
    co_return failed;
  }
  if (waiters_.size() >= kMaxInFlight) {  // filled up while we were connecting
    failed.status = ExchangeStatus::kLocalError;
    co_return failed;
  }
  // Our own copy of the query, with an ID no other query on this channel holds.
  std::vector<std::uint8_t> frame(sent.qlen + 2);
  wire::store16(frame.data(), static_cast<std::uint16_t>(sent.qlen));
  std::memcpy(frame.data() + 2, sent.q, sent.qlen);
  std::uint16_t id = wire::load16(frame.data() + 2);
  while (waiters_.count(id) != 0) id = util::Random::thread_instance().u16();
  wire::store16(frame.data() + 2, id);
  Waiter w(executor_);
  w.sent = sent;
  w.sent.q = frame.data() + 2;  // the patched bytes are what replies are checked against
  waiters_.emplace(id, &w);
  writes_.push_back(frame);  // a copy: `frame` stays the reference for matching
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(executor_, write_loop(generation_, socket_), asio::detached);
  }
  const auto sent_at = util::TimerClock::now();
  last_used_ = sent_at;
  const std::uint64_t generation = generation_;
  w.wake.expires_at(until);
  co_await w.wake.async_wait(as_tuple(use_awaitable));
  if (!w.done) {
    waiters_.erase(id);  // a late reply finds no waiter and is dropped
    // Nothing at all came back on this connection since we sent: it is stuck or half-open.
    if (generation == generation_ && last_read_ < sent_at) close();
    co_return std::move(w.result);  // kTimeout, with any mismatches seen
  }
  co_return std::move(w.result);
}

asio::awaitable<void> TcpChannel::write_loop(std::uint64_t generation, Socket socket) {
  auto self = shared_from_this();
  while (!writes_.empty() && generation == generation_ && state_ == State::kOpen) {
    std::vector<std::uint8_t> frame = std::move(writes_.front());
    writes_.pop_front();
    auto [ec, n] =
        co_await asio::async_write(*socket, asio::buffer(frame), as_tuple(use_awaitable));
    if (ec) {
      if (generation == generation_) close();
      break;
    }
  }
  if (generation == generation_) writing_ = false;  // close() already cleared it otherwise
}

asio::awaitable<void> TcpChannel::read_loop(std::uint64_t generation, Socket socket) {
  auto self = shared_from_this();
  std::vector<std::uint8_t> buf;
  while (generation == generation_) {
    std::array<std::uint8_t, 2> len{};
    auto [lec, ln] = co_await asio::async_read(*socket, asio::buffer(len), as_tuple(use_awaitable));
    if (lec || generation != generation_) break;
    buf.resize(wire::load16(len.data()));
    auto [bec, bn] = co_await asio::async_read(*socket, asio::buffer(buf), as_tuple(use_awaitable));
    if (bec || generation != generation_ || buf.size() < wire::kHeaderSize) break;
    last_read_ = util::TimerClock::now();
    auto it = waiters_.find(wire::load16(buf.data()));
    if (it == waiters_.end()) continue;  // late (timed out) or made up: nobody waits for it
    Waiter& w = *it->second;
    if (accept_reply(w.sent, buf.data(), buf.size(), w.result) != ReplyCheck::kAccepted) {
      ++w.result.mismatches;
      continue;
    }
    w.result.reply = buf;
    w.result.status = ExchangeStatus::kOk;
    w.done = true;
    waiters_.erase(it);
    last_used_ = util::TimerClock::now();
    w.wake.cancel();
  }
  if (generation == generation_) close();
}

asio::awaitable<void> TcpChannel::idle_loop(std::uint64_t generation) {
  auto self = shared_from_this();
  util::Timer tick(executor_);
  while (generation == generation_ && state_ == State::kOpen) {
    tick.expires_after(std::chrono::seconds(1));
    co_await tick.async_wait(as_tuple(use_awaitable));
    if (generation == generation_ && waiters_.empty() &&
        util::TimerClock::now() - last_used_ >= kIdle) {
      close();
    }
  }
}

void TcpChannel::close() {
  ++generation_;
  state_ = State::kClosed;
  boost::system::error_code ec;
  if (socket_) socket_->close(ec);
  socket_.reset();
  writes_.clear();
  writing_ = false;
  for (auto& [id, w] : waiters_) {
    w->result.status = ExchangeStatus::kNetworkError;
    w->done = true;
    w->wake.cancel();
  }
  waiters_.clear();
}

}  // namespace vnetdns::upstream
