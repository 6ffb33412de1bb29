#include "resolver/upstream/udp_pool.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include "resolver/upstream/asio_endpoint.hpp"
#include "resolver/upstream/per_server_table.hpp"
#include "resolver/util/random.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::upstream {

namespace asio = boost::asio;

std::shared_ptr<UdpPool> UdpPool::for_server(const asio::any_io_executor& executor,
                                             const util::Endpoint& server) {
  return PerServerTable<UdpPool>::get(executor, server);
}

UdpPool::UdpPool(asio::any_io_executor executor, const util::Endpoint& server)
    : executor_(std::move(executor)), server_(server) {}

UdpPool::PortPtr UdpPool::open(std::chrono::steady_clock::time_point now) {
  auto port = std::make_shared<Port>(executor_);
  const auto ep = to_asio<asio::ip::udp::endpoint>(server_);
  boost::system::error_code ec;
  port->socket.open(ep.protocol(), ec);
  if (!ec) port->socket.non_blocking(true, ec);
  if (!ec) port->socket.connect(ep, ec);  // binds a fresh random ephemeral port
  if (ec) return nullptr;
  port->waiting.reserve(kQueriesPerSocket);
  port->expired.reserve(kQueriesPerSocket);
  port->opened = now;
  await_replies(port);
  return port;
}

UdpPool::PortPtr UdpPool::pick(std::chrono::steady_clock::time_point now) {
  PortPtr& slot = slots_[util::Random::thread_instance().below(kSockets)];
  if (slot && (slot->retired || now - slot->opened >= kMaxAge)) {
    // Worn out (send_batch() retires a socket at its budget), failed, or old: this slot
    // gets a fresh port.
    slot->retired = true;
    close_if_done(*slot);
    slot.reset();
  }
  if (!slot) slot = open(now);
  return slot;
}

void UdpPool::close_if_done(Port& port) {
  if (port.retired && port.waiting.empty()) {
    boost::system::error_code ec;
    port.socket.close(ec);  // cancels its readiness wait
  }
}

void UdpPool::release(Port& port, Waiter* w) {
  auto it = std::find_if(port.waiting.begin(), port.waiting.end(),
                         [w](const auto& e) { return e.second == w; });
  if (it != port.waiting.end()) {
    port.expired.push_back(it->first);  // it timed out: its reply may still come
    port.waiting.erase(it);
  }
  close_if_done(port);
}

void UdpPool::fail(Port& port, Waiter& w, ExchangeStatus status) {
  auto it = std::find_if(port.waiting.begin(), port.waiting.end(),
                         [&w](const auto& e) { return e.second == &w; });
  if (it != port.waiting.end()) port.waiting.erase(it);  // never sent: no reply to expect
  w.result.status = status;
  w.done = true;
  w.wake.cancel();
  close_if_done(port);
}

void UdpPool::fail_all(Port& port) {
  for (auto& [id, w] : port.waiting) {
    w->result.status = ExchangeStatus::kNetworkError;
    w->done = true;
    w->wake.cancel();
  }
  port.waiting.clear();
  port.retired = true;
  boost::system::error_code ec;
  port.socket.close(ec);
}

bool UdpPool::start(Ticket& t, const SentQuery& sent, std::chrono::steady_clock::time_point until) {
  if (sent.qlen > t.q.size() || sent.qlen < wire::kHeaderSize) {
    t.result.status = ExchangeStatus::kEncodeError;
    return false;
  }
  std::memcpy(t.q.data(), sent.q, sent.qlen);
  t.sent = sent;
  t.sent.q = t.q.data();  // the patched bytes are what replies are checked against
  t.queued = true;
  outbox_.push_back(&t);
  if (!flush_posted_) {
    flush_posted_ = true;
    asio::post(executor_, [self = shared_from_this()] { self->flush(); });
  }
  t.wake.expires_at(until);
  return true;
}

ExchangeResult UdpPool::finish(Ticket& t) {
  if (t.queued) {
    // Gave up before the flush (only when the wait ended early): it never left.
    t.queued = false;
    outbox_.erase(std::find(outbox_.begin(), outbox_.end(), &t));
  }
  // Timed out: leave the socket's list; a late reply is recognised and dropped.
  if (!t.done && t.port) release(*t.port, &t);
  t.port.reset();
  return std::move(t.result);  // kTimeout unless a reply or an error came
}

void UdpPool::flush() {
  flush_posted_ = false;
  // Nothing below runs a handler (cancel and close only post), so outbox_ holds still.
  const auto now = std::chrono::steady_clock::now();
  std::size_t i = 0;
  while (i < outbox_.size()) {
    PortPtr port = pick(now);
    if (!port) {
      // No socket could be made (out of descriptors): what is left fails, locally.
      for (; i < outbox_.size(); ++i) {
        Ticket& t = *outbox_[i];
        t.queued = false;
        t.result.status = ExchangeStatus::kLocalError;
        t.done = true;
        t.wake.cancel();
      }
      break;
    }
    const std::size_t room = kQueriesPerSocket - port->uses;
    const std::size_t count = std::min(room, outbox_.size() - i);
    send_batch(port, outbox_.data() + i, count);
    i += count;
  }
  outbox_.clear();  // keeps its capacity: no allocation per flush once warm
}

void UdpPool::send_batch(const PortPtr& port, Ticket** first, std::size_t count) {
  Port& p = *port;
  p.uses += static_cast<std::uint32_t>(count);
  if (p.uses >= kQueriesPerSocket) p.retired = true;  // these are its last queries
  const auto taken = [&p](std::uint16_t v) {
    return std::any_of(p.waiting.begin(), p.waiting.end(),
                       [v](const auto& e) { return e.first == v; }) ||
           std::find(p.expired.begin(), p.expired.end(), v) != p.expired.end();
  };
  for (std::size_t k = 0; k < count; ++k) {
    Ticket& t = *first[k];
    t.queued = false;
    t.port = port;
    // An ID no other query on this socket holds or held and gave up on (its late reply
    // must not look like ours).
    std::uint16_t id = wire::load16(t.q.data());
    while (taken(id)) id = util::Random::thread_instance().u16();
    wire::store16(t.q.data(), id);
    p.waiting.emplace_back(id, &t);
    send_iov_[k] = {t.q.data(), t.sent.qlen};
    msghdr& h = send_msgs_[k].msg_hdr;
    h = msghdr{};  // connected: no address
    h.msg_iov = &send_iov_[k];
    h.msg_iovlen = 1;
  }
  const int fd = p.socket.native_handle();
  std::size_t sent = 0;
  while (sent < count && p.socket.is_open()) {
    const int n = ::sendmmsg(fd, send_msgs_.data() + sent, static_cast<unsigned>(count - sent), 0);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    const int err = errno;
    if (err == EINTR) continue;
    Ticket& t = *first[sent];
    if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) {
      // A full send buffer is our congestion, not the server's failure: this query only.
      fail(p, t, ExchangeStatus::kLocalError);
      ++sent;
      continue;
    }
    // Anything else (ECONNREFUSED: an earlier query on this socket met ICMP port unreachable)
    // is the socket's error, reported once: to this send, not to the receive the others
    // wait for. So all the socket's queries fail now, as a receive error would.
    fail_all(p);
  }
}

void UdpPool::await_replies(PortPtr port) {
  Port& p = *port;
  p.socket.async_wait(asio::ip::udp::socket::wait_read,
                      [port = std::move(port)](const boost::system::error_code& ec) {
                        // Closed: retired and done. Any other outcome (EPOLLERR too: an ICMP
                        // error waits on the socket) is for the receive to find out.
                        if (ec == asio::error::operation_aborted || !port->socket.is_open()) {
                          return;
                        }
                        read_replies(port);
                      });
}

namespace {

// Where every pool of this thread reads its replies; filled and consumed within one handler.
struct ReceiveArea {
  static constexpr std::size_t kCount = UdpPool::kReceiveBatch;
  static constexpr std::size_t kSize = UdpPool::kReplyBuffer;
  std::vector<std::uint8_t> bytes = std::vector<std::uint8_t>(kCount * kSize);
  std::array<mmsghdr, kCount> msgs{};
  std::array<iovec, kCount> iov{};
  static ReceiveArea& thread_instance() {
    thread_local ReceiveArea area;
    return area;
  }
};

}  // namespace

void UdpPool::read_replies(const PortPtr& port) {
  Port& p = *port;
  ReceiveArea& area = ReceiveArea::thread_instance();
  const int fd = p.socket.native_handle();
  for (;;) {
    for (std::size_t i = 0; i < ReceiveArea::kCount; ++i) {
      area.iov[i] = {area.bytes.data() + i * ReceiveArea::kSize, ReceiveArea::kSize};
      area.msgs[i].msg_hdr = msghdr{};
      area.msgs[i].msg_hdr.msg_iov = &area.iov[i];
      area.msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = ::recvmmsg(fd, area.msgs.data(), ReceiveArea::kCount, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      // ICMP port unreachable (ECONNREFUSED on a connected socket), or worse: nobody waiting
      // on this socket will get an answer through it.
      fail_all(p);
      return;
    }
    for (int i = 0; i < n && p.socket.is_open(); ++i) {
      const mmsghdr& m = area.msgs[static_cast<std::size_t>(i)];
      const bool cut = (m.msg_hdr.msg_flags & MSG_TRUNC) != 0 || m.msg_len >= ReceiveArea::kSize;
      take_reply(p, area.bytes.data() + static_cast<std::size_t>(i) * ReceiveArea::kSize, m.msg_len,
                 cut);
    }
    if (!p.socket.is_open()) return;                               // retired and done
    if (static_cast<std::size_t>(n) < ReceiveArea::kCount) break;  // drained
  }
  await_replies(port);
}

void UdpPool::take_reply(Port& port, std::uint8_t* reply, std::size_t n, bool cut) {
  const std::uint16_t id = n >= wire::kHeaderSize ? wire::load16(reply) : 0;
  auto it = std::find_if(port.waiting.begin(), port.waiting.end(),
                         [&](const auto& e) { return e.first == id; });
  if (n >= wire::kHeaderSize && it == port.waiting.end() &&
      std::find(port.expired.begin(), port.expired.end(), id) != port.expired.end()) {
    return;  // a late reply to a query that gave up on it
  }
  if (n < wire::kHeaderSize || it == port.waiting.end() ||
      !accept_reply(it->second->sent, reply, n, it->second->result)) {
    // A forged-looking datagram: counted against every query waiting on this socket.
    for (auto& e : port.waiting) ++e.second->result.mismatches;
    return;
  }
  Waiter& w = *it->second;
  port.waiting.erase(it);
  // A datagram too big for the buffer was cut: treat it as truncated (retried over TCP).
  if (cut) reply[2] |= static_cast<std::uint8_t>(wire::kFlagTC >> 8);
  w.result.reply.assign(reply, reply + n);
  w.result.status = ExchangeStatus::kOk;
  w.done = true;
  w.wake.cancel();
  close_if_done(port);
}

}  // namespace vnetdns::upstream
