#include "resolver/server/udp_listener.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "resolver/util/log.hpp"

namespace vnetdns::server {

namespace asio = boost::asio;

namespace {

// Builds, in `out`, the control message that makes a reply leave from the address the
// query was sent to. Returns its length (0 when the query carried no such information).
std::size_t reply_control(msghdr& rx, std::uint8_t* out, std::size_t cap) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&rx); c != nullptr; c = CMSG_NXTHDR(&rx, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      in_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(c), sizeof(info));
      info.ipi_spec_dst = info.ipi_addr;
      info.ipi_ifindex = 0;
      if (CMSG_SPACE(sizeof(info)) > cap) return 0;
      std::memset(out, 0, CMSG_SPACE(sizeof(info)));
      auto* h = reinterpret_cast<cmsghdr*>(out);
      h->cmsg_level = IPPROTO_IP;
      h->cmsg_type = IP_PKTINFO;
      h->cmsg_len = CMSG_LEN(sizeof(info));
      std::memcpy(CMSG_DATA(h), &info, sizeof(info));
      return CMSG_SPACE(sizeof(info));
    }
    if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      in6_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(c), sizeof(info));
      info.ipi6_ifindex = 0;
      if (CMSG_SPACE(sizeof(info)) > cap) return 0;
      std::memset(out, 0, CMSG_SPACE(sizeof(info)));
      auto* h = reinterpret_cast<cmsghdr*>(out);
      h->cmsg_level = IPPROTO_IPV6;
      h->cmsg_type = IPV6_PKTINFO;
      h->cmsg_len = CMSG_LEN(sizeof(info));
      std::memcpy(CMSG_DATA(h), &info, sizeof(info));
      return CMSG_SPACE(sizeof(info));
    }
  }
  return 0;
}

}  // namespace

UdpListener::UdpListener(asio::io_context& io, int fd, pipeline::Pipeline& pipeline)
    : io_(io),
      socket_(io),
      fd_(fd),
      ipv6_(false),
      pipeline_(pipeline),
      rx_(kBatch * kRxStride),
      tx_(kBatch * kTxStride) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  ipv6_ = ss.ss_family == AF_INET6;
  socket_.assign(ipv6_ ? asio::ip::udp::v6() : asio::ip::udp::v4(), fd);
  for (std::size_t i = 0; i < kBatch; ++i) {
    rx_iov_[i] = {rx_.data() + i * kRxStride, kRxSize};
    msghdr& h = rx_msgs_[i].msg_hdr;
    h.msg_name = &rx_addr_[i];
    h.msg_iov = &rx_iov_[i];
    h.msg_iovlen = 1;
    h.msg_control = rx_control_[i].bytes;
  }
  reset_rx(kBatch);
}

void UdpListener::reset_rx(std::size_t count) {
  // What recvmmsg wrote into the headers it filled (the pointers stay as set above).
  for (std::size_t i = 0; i < count; ++i) {
    msghdr& h = rx_msgs_[i].msg_hdr;
    h.msg_namelen = sizeof(sockaddr_storage);
    h.msg_controllen = kControlSize;
    h.msg_flags = 0;
  }
}

UdpListener::~UdpListener() {
  if (detached_) ::close(fd_);  // else socket_ closes it
}

void UdpListener::start() { asio::co_spawn(io_, run(), asio::detached); }

void UdpListener::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (detached_) {
    ::close(fd_);  // run() sees stopped_ when it resumes and leaves the socket alone
    detached_ = false;
    return;
  }
  boost::system::error_code ec;
  socket_.close(ec);
}

void UdpListener::detach() {
  boost::system::error_code ec;
  socket_.release(ec);  // epoll_ctl(DEL); the descriptor stays open
  detached_ = !ec;
}

bool UdpListener::attach() {
  detached_ = false;
  boost::system::error_code ec;
  socket_.assign(ipv6_ ? asio::ip::udp::v6() : asio::ip::udp::v4(), fd_, ec);  // epoll_ctl(ADD)
  if (!ec) return true;
  VLOG_ERROR("UDP listener: cannot watch its socket again ({}); it stops", ec.message());
  ::close(fd_);
  stopped_ = true;
  return false;
}

asio::awaitable<void> UdpListener::run() {
  while (!stopped_) {
    auto [ec] = co_await socket_.async_wait(asio::ip::udp::socket::wait_read,
                                            asio::as_tuple(asio::use_awaitable));
    if (ec || stopped_) break;
    // Drain what is queued, a batch at a time, before waiting again.
    int burst = 0;  // queries read since the wake-up
    for (unsigned batches = 1;; ++batches) {
      const int n = ::recvmmsg(fd_, rx_msgs_.data(), kBatch, MSG_DONTWAIT, nullptr);
      if (n <= 0) break;
      burst += n;
      if (burst >= kDetachAt && !detached_) detach();
      process_batch(n);
      reset_rx(static_cast<std::size_t>(n));
      // One query: the client is not pushing; back to epoll. Two or more: a client with
      // many in flight, which has most likely sent more while this batch was answered, so
      // read again at once: that saves the readiness wait (epoll_wait) when it has, and
      // wastes one system call when it has not. Every kBatchesPerTurn batches, the loop lets
      // the worker's other handlers (upstream replies, timers) run.
      if (n < 2) break;
      if (batches % kBatchesPerTurn == 0) {
        co_await asio::post(io_, asio::use_awaitable);
        if (stopped_) co_return;
      }
    }
    if (detached_ && !attach()) co_return;
  }
}

void UdpListener::process_batch(int received) {
  pipeline_.refresh_snapshot();
  const int fd = fd_;
  std::size_t out = 0;
  for (int i = 0; i < received; ++i) {
    msghdr& rx = rx_msgs_[i].msg_hdr;
    if ((rx.msg_flags & MSG_TRUNC) != 0) continue;  // bigger than any sane query: drop
    const util::Endpoint client =
        util::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&rx_addr_[i]), rx.msg_namelen);
    std::uint8_t* tx = tx_.data() + out * kTxStride;
    const pipeline::Step step =
        pipeline_.handle(rx_.data() + i * kRxStride, rx_msgs_[i].msg_len, client,
                         pipeline::Transport::kUdp, tx, kTxSize, pending_);
    if (step.kind == pipeline::StepKind::kAsync) {
      spawn_async(static_cast<std::size_t>(i));
      continue;
    }
    if (step.prefetch) spawn_prefetch();
    if (step.kind != pipeline::StepKind::kSend || step.len == 0) continue;
    msghdr& h = tx_msgs_[out].msg_hdr;
    tx_iov_[out] = {tx, step.len};
    h.msg_name = &rx_addr_[i];
    h.msg_namelen = rx.msg_namelen;
    h.msg_iov = &tx_iov_[out];
    h.msg_iovlen = 1;
    const std::size_t cl = reply_control(rx, tx_control_[out].bytes, kControlSize);
    h.msg_control = cl > 0 ? tx_control_[out].bytes : nullptr;
    h.msg_controllen = cl;
    h.msg_flags = 0;
    ++out;
  }
  std::size_t sent = 0;
  while (sent < out) {
    const int n = ::sendmmsg(fd, tx_msgs_.data() + sent, static_cast<unsigned>(out - sent), 0);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      ++sent;  // skip the datagram the kernel refused (e.g. EAGAIN, unreachable); UDP may drop
      continue;
    }
    sent += static_cast<std::size_t>(n);
  }
}

void UdpListener::spawn_prefetch() {
  auto pending = std::make_shared<pipeline::PendingQuery>(std::move(pending_));
  asio::co_spawn(
      io_, [this, pending]() -> asio::awaitable<void> { co_await pipeline_.prefetch(*pending); },
      asio::detached);
}

void UdpListener::spawn_async(std::size_t slot) {
  JobPtr job;
  if (spare_jobs_.empty()) {
    job = std::make_unique<AsyncJob>();
  } else {
    job = std::move(spare_jobs_.back());
    spare_jobs_.pop_back();
  }
  job->pending = std::move(pending_);
  msghdr& rx = rx_msgs_[slot].msg_hdr;
  job->addr = rx_addr_[slot];
  job->addr_len = rx.msg_namelen;
  job->control_len = reply_control(rx, job->control.bytes, kControlSize);
  // resolve() itself is the coroutine (no wrapper frame); the handler owns the job, which
  // stays put on the heap while resolve() uses it. UDP answers never exceed 1232 bytes;
  // resolve() truncates (TC=1) what does not fit.
  AsyncJob& j = *job;
  asio::co_spawn(
      io_, pipeline_.resolve(j.pending, j.out.data(), j.out.size()),
      [this, job = std::move(job)](const std::exception_ptr& e, std::size_t len) mutable {
        job->len = e ? 0 : len;
        answer_async(std::move(job));
      });
}

void UdpListener::answer_async(JobPtr job) {
  if (job->len == 0 || stopped_) {
    recycle(std::move(job));
    return;
  }
  answers_.push_back(std::move(job));
  if (!flush_posted_) {
    flush_posted_ = true;
    asio::post(io_, [this] { flush_answers(); });
  }
}

void UdpListener::flush_answers() {
  flush_posted_ = false;
  const int fd = fd_;
  std::size_t done = 0;
  while (done < answers_.size()) {
    const std::size_t n = std::min(kBatch, answers_.size() - done);
    for (std::size_t i = 0; i < n; ++i) {
      AsyncJob& job = *answers_[done + i];
      answer_iov_[i] = {job.out.data(), job.len};
      msghdr& h = answer_msgs_[i].msg_hdr;
      h = msghdr{};
      h.msg_name = &job.addr;
      h.msg_namelen = job.addr_len;
      h.msg_iov = &answer_iov_[i];
      h.msg_iovlen = 1;
      h.msg_control = job.control_len > 0 ? job.control.bytes : nullptr;
      h.msg_controllen = job.control_len;
    }
    std::size_t sent = 0;
    while (sent < n && !stopped_) {
      const int r =
          ::sendmmsg(fd, answer_msgs_.data() + sent, static_cast<unsigned>(n - sent), MSG_DONTWAIT);
      if (r < 0 && errno == EINTR) continue;
      // A datagram the kernel refused (a full buffer, an unreachable client) is dropped,
      // like any UDP answer may be; the rest still go.
      sent += r > 0 ? static_cast<std::size_t>(r) : 1;
    }
    done += n;
  }
  for (auto& job : answers_) recycle(std::move(job));
  answers_.clear();
}

void UdpListener::recycle(JobPtr job) {
  if (spare_jobs_.size() >= kSpareJobs) return;  // freed here
  job->pending.snapshot.reset();                 // holds no old configuration alive
  job->pending.stale.clear();
  spare_jobs_.push_back(std::move(job));
}

}  // namespace vnetdns::server
