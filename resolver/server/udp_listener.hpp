// UdpListener: one worker's UDP socket on one listen address. After each readiness wait it
// reads the socket with recvmmsg in batches of kBatch (again at once while batches keep
// coming with two or more queries, yielding to the worker's other handlers every
// kBatchesPerTurn batches), runs every query through
// Pipeline::handle() inline (cache hits and local answers need no coroutine and no heap),
// and sends all the answers of the batch with one sendmmsg. Queries that must go upstream
// are handed to a coroutine each; their answers are queued as they complete and sent
// together by one sendmmsg posted behind the handlers already queued (answers that complete
// in the same turn of the event loop leave in one burst, so the client wakes once for them,
// not once each). The per-query state of those coroutines (AsyncJob, with its answer
// buffer) is recycled: no allocation for it once warm.
// While a burst is served (from the kDetachAt-th query read since the wake-up until the queue
// is empty), the socket is out of the event loop's epoll set: on Linux, a socket in an epoll
// set has a waiter on its wait queue, and every datagram it sends wakes that waiter when the
// kernel frees the datagram (sock_wfree -> sock_def_write_space), a lock round with
// interrupts off per answer. perf put it at ~10% of the CPU per cache hit under the
// benchmark's batched load; the echo responder, blocking in recvmmsg, pays none of it.
// Taking the socket out and back costs two epoll_ctl calls per burst.
// Replies leave from the address the query arrived on: a socket bound to one address does
// that by itself; on a wildcard bind (0.0.0.0, ::) the query's destination comes with it
// (IP_PKTINFO / IPV6_PKTINFO, enabled by open_listener() only there) and is named as the
// answer's source, so a multi-homed host answers from the right address.
// Thread safety: belongs to one worker's io_context thread.
#pragma once

#include <sys/socket.h>

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "resolver/pipeline/pipeline.hpp"
#include "resolver/util/endpoint.hpp"

namespace vnetdns::server {

class UdpListener {
 public:
  // Takes ownership of `fd` (a bound non-blocking UDP socket).
  UdpListener(boost::asio::io_context& io, int fd, pipeline::Pipeline& pipeline);
  ~UdpListener();
  UdpListener(const UdpListener&) = delete;
  UdpListener& operator=(const UdpListener&) = delete;
  void start();
  void stop();

 private:
  // Queries per recvmmsg (and answers per sendmmsg): 64, like the echo responder of the
  // benchmark; under the batched generator 32 cost 0-5% of the rate in system calls.
  static constexpr std::size_t kBatch = 64;
  static constexpr unsigned kBatchesPerTurn = 8;
  // Queries read since a wake-up that make it a burst (see above): the epoll_ctl pair
  // (~2.5 us here) is paid back by ~0.2 us per answer sent outside the set.
  static constexpr int kDetachAt = 16;
  static constexpr std::size_t kRxSize = 4096;   // larger UDP queries are malformed anyway
  static constexpr std::size_t kTxSize = 65535;  // room to build before truncating
  // Buffer i starts at i * stride. A stride of a power of two (or 65535) put the first bytes
  // of all 64 buffers in the same set of the CPU caches (8 to 16 ways), so a batch evicted
  // its own packets between the kernel's copy and ours; one cache line more per stride
  // spreads them over 64 sets.
  static constexpr std::size_t kRxStride = kRxSize + 64;
  static constexpr std::size_t kTxStride = kTxSize + 1 + 64;
  static constexpr std::size_t kAsyncTxSize = 4096;  // per query waiting on an upstream
  static constexpr std::size_t kControlSize = 64;

  // Jobs kept for reuse at most (each ~6 KiB): enough for the queries one worker usually has
  // upstream at once; a burst beyond it allocates and frees.
  static constexpr std::size_t kSpareJobs = 256;

  // Ancillary data buffers must be aligned for cmsghdr.
  struct alignas(cmsghdr) Control {
    std::uint8_t bytes[kControlSize];
  };
  // A query waiting on an upstream: what its coroutine needs, and its answer.
  struct AsyncJob {
    pipeline::PendingQuery pending;
    sockaddr_storage addr;
    socklen_t addr_len = 0;
    Control control;
    std::size_t control_len = 0;
    std::size_t len = 0;                         // of the answer in `out`
    std::array<std::uint8_t, kAsyncTxSize> out;  // not zero-filled: written before read
  };
  using JobPtr = std::unique_ptr<AsyncJob>;

  boost::asio::awaitable<void> run();
  void detach();  // out of the epoll set (the socket stays open, in fd_)
  bool attach();  // back in; false (and the listener stopped) if the event loop refused it
  void process_batch(int received);
  void reset_rx(std::size_t count);  // readies the first `count` receive headers again
  void spawn_async(std::size_t slot);
  void spawn_prefetch();
  void answer_async(JobPtr job);  // queues its answer for flush_answers()
  void flush_answers();
  void recycle(JobPtr job);

  boost::asio::io_context& io_;
  boost::asio::ip::udp::socket socket_;  // the socket while it is in the epoll set
  int fd_;                               // the socket, in the set or not
  bool ipv6_;
  bool detached_ = false;
  pipeline::Pipeline& pipeline_;
  bool stopped_ = false;

  std::vector<std::uint8_t> rx_;  // kBatch * kRxStride
  std::vector<std::uint8_t> tx_;  // kBatch * kTxStride
  std::array<mmsghdr, kBatch> rx_msgs_{};
  std::array<iovec, kBatch> rx_iov_{};
  std::array<sockaddr_storage, kBatch> rx_addr_{};
  std::array<Control, kBatch> rx_control_{};
  std::array<mmsghdr, kBatch> tx_msgs_{};
  std::array<iovec, kBatch> tx_iov_{};
  std::array<Control, kBatch> tx_control_{};
  pipeline::PendingQuery pending_;

  std::vector<JobPtr> spare_jobs_;
  std::vector<JobPtr> answers_;  // completed, waiting for flush_answers()
  bool flush_posted_ = false;
  std::array<mmsghdr, kBatch> answer_msgs_{};
  std::array<iovec, kBatch> answer_iov_{};
};

}  // namespace vnetdns::server
