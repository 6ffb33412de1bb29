#include "resolver/upstream/udp_pool.hpp"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

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
    : executor_(std::move(executor)), server_(server), ready_(executor_) {}

UdpPool::~UdpPool() { ports_->set = -1; }  // Ports left in tickets must not touch it

bool UdpPool::ensure_set() {
  if (ready_.is_open()) return true;
  // Made here, not in the constructor: a pool that once met a full descriptor table tries
  // again with its next socket instead of failing every query for good.
  const int set = ::epoll_create1(EPOLL_CLOEXEC);
  if (set < 0) return false;
  boost::system::error_code ec;
  ready_.assign(set, ec);
  if (ec) {
    ::close(set);
    return false;
  }
  ports_->set = set;
  return true;
}

std::uint64_t UdpPool::PortTable::add(Port* port) {
  std::uint32_t slot = 0;
  if (free_slots.empty()) {
    slot = static_cast<std::uint32_t>(entries.size());
    entries.emplace_back();
    free_slots.reserve(entries.size());  // so remove() never allocates
  } else {
    slot = free_slots.back();
    free_slots.pop_back();
  }
  Entry& e = entries[slot];
  e.port = port;
  ++e.generation;  // events keyed with an earlier one are for a socket closed since
  return (static_cast<std::uint64_t>(e.generation) << 32) | slot;
}

void UdpPool::PortTable::remove(std::uint64_t key) noexcept {
  const auto slot = static_cast<std::uint32_t>(key);
  entries[slot].port = nullptr;
  free_slots.push_back(slot);  // within the capacity add() reserved
}

UdpPool::Port* UdpPool::PortTable::find(std::uint64_t key) const noexcept {
  const auto slot = static_cast<std::uint32_t>(key);
  if (slot >= entries.size()) return nullptr;
  const Entry& e = entries[slot];
  return e.generation == static_cast<std::uint32_t>(key >> 32) ? e.port : nullptr;
}

void UdpPool::Port::attach(int socket_fd, bool fresh_port) {
  key = table->add(this);
  fd = socket_fd;
  one_shot = fresh_port;
}

void UdpPool::Port::close() noexcept {
  if (fd < 0) return;
  // A level-triggered registration must not outlive the Port (see the header); a one-shot
  // one leaves the set when the file is released.
  if (!one_shot && table->set >= 0) ::epoll_ctl(table->set, EPOLL_CTL_DEL, fd, nullptr);
  ::close(fd);
  fd = -1;
  table->remove(key);
}

namespace {

// The kernel's ephemeral port range (net.ipv4.ip_local_port_range, which IPv6 shares), read
// once; Linux's default if it cannot be read.
std::pair<std::uint16_t, std::uint16_t> ephemeral_range() {
  static const std::pair<std::uint16_t, std::uint16_t> range = [] {
    std::pair<std::uint16_t, std::uint16_t> r{32768, 60999};
    if (std::FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
      unsigned lo = 0;
      unsigned hi = 0;
      if (std::fscanf(f, "%u %u", &lo, &hi) == 2 && lo >= 1 && lo < hi && hi <= 65535) {
        r = {static_cast<std::uint16_t>(lo), static_cast<std::uint16_t>(hi)};
      }
      std::fclose(f);
    }
    return r;
  }();
  return range;
}

bool avoided(const std::vector<std::uint16_t>* avoid, std::uint16_t port) {
  return avoid != nullptr && std::binary_search(avoid->begin(), avoid->end(), port);
}

}  // namespace

UdpPool::PortPtr UdpPool::open(util::TimePoint now, bool fresh,
                               const std::vector<std::uint16_t>* avoid) {
  if (!ensure_set()) return nullptr;
  auto port = std::make_shared<Port>(ports_);
  const int family = server_.family();
  const int fd = ::socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  try {
    port->attach(fd, fresh);  // from here on ~Port closes it
  } catch (...) {
    ::close(fd);  // no slot for it (out of memory)
    throw;
  }
  if (fresh) {
    // We draw the port: uniform over the ephemeral range, none of `avoid`, none of the last
    // kRecentPorts this pool drew (so 1,000 questions in a row leave from 1,000 ports, where
    // independent draws would repeat about 18 of them); a port in use is drawn again.
    const auto [lo, hi] = ephemeral_range();
    sockaddr_storage local{};
    local.ss_family = static_cast<sa_family_t>(family);
    bool bound = false;
    for (int attempt = 0; attempt < 32 && !bound; ++attempt) {
      const auto p = static_cast<std::uint16_t>(
          lo + util::Random::thread_instance().below(static_cast<std::uint32_t>(hi - lo + 1)));
      if (avoided(avoid, p) || recent_bits_.test(p)) continue;
      // The wildcard address (all zero, as `local` is) and port p.
      if (family == AF_INET6) {
        reinterpret_cast<sockaddr_in6*>(&local)->sin6_port = htons(p);
      } else {
        reinterpret_cast<sockaddr_in*>(&local)->sin_port = htons(p);
      }
      const socklen_t len = family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
      if (::bind(fd, reinterpret_cast<const sockaddr*>(&local), len) != 0) continue;
      bound = true;
      if (recent_[recent_next_] != 0) recent_bits_.reset(recent_[recent_next_]);
      recent_[recent_next_] = p;
      recent_bits_.set(p);
      recent_next_ = (recent_next_ + 1) % recent_.size();
    }
    if (!bound) return nullptr;  // closed by ~Port
  }
  // Unbound (a slot's socket): connect() binds a random ephemeral port of the kernel's.
  if (::connect(fd, server_.sockaddr_ptr(), server_.size()) != 0) return nullptr;
  epoll_event ev{};
  // A fresh port: one report per arming (on_ready() arms one still waiting again). A slot's
  // socket: level-triggered, nothing to re-arm per reply.
  ev.events = fresh ? EPOLLIN | EPOLLONESHOT : EPOLLIN;
  ev.data.u64 = port->key;
  if (::epoll_ctl(ready_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) return nullptr;
  // A fresh port carries one query; a slot's, up to kQueriesPerSocket.
  const std::size_t room = fresh ? 1 : kQueriesPerSocket;
  port->waiting.reserve(room);
  port->expired.reserve(room);
  port->opened = now;
  arm();
  return port;
}

UdpPool::PortPtr UdpPool::pick(util::TimePoint now) {
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

UdpPool::PortPtr UdpPool::take_fresh(util::TimePoint now, const std::vector<std::uint16_t>* avoid) {
  // The newest socket of the reserve, unless it waited too long (then all did: refill()
  // closes them, off this path) or this rule avoids ports (the reserve's draws did not).
  // One that met an error while it waited (closed by fail_all) is dropped.
  while (!reserve_.empty() && !reserve_.back()->is_open()) reserve_.pop_back();
  if ((avoid == nullptr || avoid->empty()) && !reserve_.empty() &&
      now - reserve_.back()->opened < kReserveMaxAge) {
    PortPtr p = std::move(reserve_.back());
    reserve_.pop_back();
    return p;
  }
  return open(now, true, avoid);
}

void UdpPool::refill() {
  refill_posted_ = false;
  const auto now = util::TimerClock::now();
  // The oldest (front) go first when they are stale.
  std::size_t stale = 0;
  while (stale < reserve_.size() && now - reserve_[stale]->opened >= kReserveMaxAge) {
    reserve_[stale]->retired = true;
    close_if_done(*reserve_[stale]);
    ++stale;
  }
  reserve_.erase(reserve_.begin(), reserve_.begin() + static_cast<std::ptrdiff_t>(stale));
  while (reserve_.size() < kReserve) {
    PortPtr p = open(now, true, nullptr);
    if (!p) break;  // out of descriptors: the queries open their own, or fail locally
    reserve_.insert(reserve_.begin(), std::move(p));  // newest at the back is taken first
  }
}

void UdpPool::close_if_done(Port& port) {
  if (port.retired && port.waiting.empty()) port.close();
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
  w.result_.status = status;
  w.done_ = true;
  w.waker_->cancel();
  close_if_done(port);
}

void UdpPool::fail_all(Port& port) {
  for (auto& [id, w] : port.waiting) {
    w->result_.status = ExchangeStatus::kNetworkError;
    w->done_ = true;
    w->waker_->cancel();
  }
  port.waiting.clear();
  port.retired = true;
  port.close();
}

bool UdpPool::start(Ticket& t, const SentQuery& sent, util::Timer& waker, PortRule rule) {
  t.waker_ = &waker;
  t.rule_ = rule;
  t.result_ = ExchangeResult{};
  t.done_ = false;
  if (sent.qlen > t.q_.size() || sent.qlen < wire::kHeaderSize) {
    t.result_.status = ExchangeStatus::kEncodeError;
    t.done_ = true;
    return false;
  }
  std::memcpy(t.q_.data(), sent.q, sent.qlen);
  t.sent_ = sent;
  t.sent_.q = t.q_.data();  // the patched bytes are what replies are checked against
  t.queued_ = true;
  outbox_.push_back(&t);
  if (!flush_posted_) {
    flush_posted_ = true;
    asio::post(executor_, [self = shared_from_this()] { self->flush(); });
  }
  return true;
}

ExchangeResult UdpPool::finish(Ticket& t) {
  if (t.queued_) {
    // Gave up before the flush: it never left.
    t.queued_ = false;
    outbox_.erase(std::find(outbox_.begin(), outbox_.end(), &t));
  }
  // Still open: leave the socket's list; a late reply is recognised and dropped.
  if (!t.done_ && t.port_) release(*t.port_, &t);
  t.port_.reset();
  t.done_ = true;
  t.waker_ = nullptr;
  return std::move(t.result_);  // kTimeout unless a reply or an error came
}

void UdpPool::abandon(Ticket& t) noexcept {
  if (t.queued_) {
    t.queued_ = false;
    std::erase(outbox_, &t);
  }
  if (t.port_) {
    std::erase_if(t.port_->waiting, [&t](const auto& e) { return e.second == &t; });
    t.port_.reset();
  }
  t.waker_ = nullptr;
}

void UdpPool::flush() {
  flush_posted_ = false;
  // Nothing below runs a handler (cancel and close only post), so outbox_ holds still.
  const auto now = util::TimerClock::now();
  // Queries with a port of their own first; the rest stay in outbox_, in order.
  std::size_t kept = 0;
  bool drew = false;
  for (Ticket* t : outbox_) {
    if (!t->rule_.fresh) {
      outbox_[kept++] = t;
      continue;
    }
    PortPtr port = take_fresh(now, t->rule_.avoid);
    drew = true;
    if (!port) {
      t->queued_ = false;
      t->result_.status = ExchangeStatus::kLocalError;
      t->done_ = true;
      t->waker_->cancel();
      continue;
    }
    port->retired = true;  // this query only: closed when it is finished
    Ticket* one = t;
    send_batch(port, &one, 1);
  }
  outbox_.resize(kept);
  const bool stale = !reserve_.empty() && now - reserve_.back()->opened >= kReserveMaxAge;
  if (drew && (reserve_.size() < kReserve / 2 || stale) && !refill_posted_) {
    refill_posted_ = true;
    asio::post(executor_, [self = shared_from_this()] { self->refill(); });
  }
  std::size_t i = 0;
  while (i < outbox_.size()) {
    PortPtr port = pick(now);
    if (!port) {
      // No socket could be made (out of descriptors): what is left fails, locally.
      for (; i < outbox_.size(); ++i) {
        Ticket& t = *outbox_[i];
        t.queued_ = false;
        t.result_.status = ExchangeStatus::kLocalError;
        t.done_ = true;
        t.waker_->cancel();
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
    t.queued_ = false;
    t.port_ = port;
    // An ID no other query on this socket holds or held and gave up on (its late reply
    // must not look like ours).
    std::uint16_t id = wire::load16(t.q_.data());
    while (taken(id)) id = util::Random::thread_instance().u16();
    wire::store16(t.q_.data(), id);
    p.waiting.emplace_back(id, &t);
    send_iov_[k] = {t.q_.data(), t.sent_.qlen};
    msghdr& h = send_msgs_[k].msg_hdr;
    h = msghdr{};  // connected: no address
    h.msg_iov = &send_iov_[k];
    h.msg_iovlen = 1;
  }
  std::size_t sent = 0;
  while (sent < count && p.is_open()) {
    const int n =
        ::sendmmsg(p.fd, send_msgs_.data() + sent, static_cast<unsigned>(count - sent), 0);
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

void UdpPool::arm() {
  if (armed_) return;
  armed_ = true;
  ready_.async_wait(asio::posix::descriptor_base::wait_read,
                    [self = shared_from_this()](const boost::system::error_code& ec) {
                      self->armed_ = false;
                      // Aborted: the pool is going away. Any other outcome is for the
                      // sockets' receives to find out.
                      if (ec != asio::error::operation_aborted) self->on_ready();
                    });
}

void UdpPool::on_ready() {
  std::array<epoll_event, kReadyBatch> ready{};
  int n = 0;
  do {
    n = ::epoll_wait(ready_.native_handle(), ready.data(), kReadyBatch, 0);
  } while (n < 0 && errno == EINTR);
  for (int i = 0; i < n; ++i) {
    // Null: a socket closed since (its file outlived it a moment). read_replies may close
    // the Port it reads, never another, and frees none.
    Port* p = ports_->find(ready[i].data.u64);
    if (p == nullptr) continue;
    read_replies(*p);
    if (!p->one_shot || !p->is_open()) continue;  // a fresh port's usual end: closed
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = p->key;
    if (::epoll_ctl(ready_.native_handle(), EPOLL_CTL_MOD, p->fd, &ev) != 0) fail_all(*p);
  }
  // At most one batch per handler: sockets still ready make the new wait fire at once,
  // behind the handlers already queued.
  if (ports_->any_open()) arm();
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

void UdpPool::read_replies(Port& p) {
  ReceiveArea& area = ReceiveArea::thread_instance();
  for (;;) {
    for (std::size_t i = 0; i < ReceiveArea::kCount; ++i) {
      area.iov[i] = {area.bytes.data() + i * ReceiveArea::kSize, ReceiveArea::kSize};
      area.msgs[i].msg_hdr = msghdr{};
      area.msgs[i].msg_hdr.msg_iov = &area.iov[i];
      area.msgs[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = ::recvmmsg(p.fd, area.msgs.data(), ReceiveArea::kCount, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN || err == EWOULDBLOCK) break;
      // ICMP port unreachable (ECONNREFUSED on a connected socket), or worse: nobody waiting
      // on this socket will get an answer through it.
      fail_all(p);
      return;
    }
    for (int i = 0; i < n && p.is_open(); ++i) {
      const mmsghdr& m = area.msgs[static_cast<std::size_t>(i)];
      const bool cut = (m.msg_hdr.msg_flags & MSG_TRUNC) != 0 || m.msg_len >= ReceiveArea::kSize;
      take_reply(p, area.bytes.data() + static_cast<std::size_t>(i) * ReceiveArea::kSize, m.msg_len,
                 cut);
    }
    if (!p.is_open()) return;                                      // retired and done
    if (static_cast<std::size_t>(n) < ReceiveArea::kCount) break;  // drained
  }
}

void UdpPool::take_reply(Port& port, std::uint8_t* reply, std::size_t n, bool cut) {
  const std::uint16_t id = n >= wire::kHeaderSize ? wire::load16(reply) : 0;
  auto it = std::find_if(port.waiting.begin(), port.waiting.end(),
                         [&](const auto& e) { return e.first == id; });
  if (n >= wire::kHeaderSize && it == port.waiting.end() &&
      std::find(port.expired.begin(), port.expired.end(), id) != port.expired.end()) {
    return;  // a late reply to a query that gave up on it
  }
  const ReplyCheck check = n < wire::kHeaderSize || it == port.waiting.end()
                               ? ReplyCheck::kRejected
                               : accept_reply(it->second->sent_, reply, n, it->second->result_);
  if (check == ReplyCheck::kRejected) {
    // A forged-looking datagram: counted against every query waiting on this socket.
    for (auto& e : port.waiting) {
      if (++e.second->result_.mismatches == kMismatchBurst) e.second->waker_->cancel();
    }
    return;
  }
  Waiter& w = *it->second;
  if (check == ReplyCheck::kCaseOnly) {
    // Right ID and question but for the case (0x20): the question decides what it means;
    // the query stays open for a reply in the right case.
    ++w.result_.case_mismatches;
    w.waker_->cancel();
    return;
  }
  port.waiting.erase(it);
  // A datagram too big for the buffer was cut: treat it as truncated (retried over TCP).
  if (cut) reply[2] |= static_cast<std::uint8_t>(wire::kFlagTC >> 8);
  w.result_.reply.assign(reply, reply + n);
  w.result_.status = ExchangeStatus::kOk;
  w.done_ = true;
  w.waker_->cancel();
  close_if_done(port);
}

}  // namespace vnetdns::upstream
