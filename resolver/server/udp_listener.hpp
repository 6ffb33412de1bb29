// UdpListener: one worker's UDP socket on one listen address. After each readiness wait it
// drains the socket with recvmmsg in batches of kBatch, runs every query through
// Pipeline::handle() inline (cache hits and local answers need no coroutine and no heap),
// and sends all the answers of the batch with one sendmmsg. Queries that must go upstream
// are handed to a coroutine each, which sends its answer alone when done.
// Replies leave from the address the query arrived on (IP_PKTINFO / IPV6_PKTINFO), so a
// wildcard bind on a multi-homed host answers from the right address.
// Thread safety: belongs to one worker's io_context thread.
#pragma once

#include <sys/socket.h>

#include <array>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "resolver/pipeline/pipeline.hpp"
#include "resolver/util/endpoint.hpp"

namespace vnetdns::server {

class UdpListener {
 public:
  // Takes ownership of `fd` (a bound non-blocking UDP socket).
  UdpListener(boost::asio::io_context& io, int fd, pipeline::Pipeline& pipeline);
  void start();
  void stop();

 private:
  static constexpr std::size_t kBatch = 32;
  static constexpr std::size_t kRxSize = 4096;    // larger UDP queries are malformed anyway
  static constexpr std::size_t kTxSize = 65535;   // room to build before truncating
  static constexpr std::size_t kAsyncTxSize = 4096;  // per query waiting on an upstream
  static constexpr std::size_t kControlSize = 64;

  boost::asio::awaitable<void> run();
  void process_batch(int received);
  void spawn_async(std::size_t slot);
  void spawn_prefetch();

  boost::asio::io_context& io_;
  boost::asio::ip::udp::socket socket_;
  pipeline::Pipeline& pipeline_;
  bool stopped_ = false;

  std::vector<std::uint8_t> rx_;  // kBatch * kRxSize
  std::vector<std::uint8_t> tx_;  // kBatch * kTxSize
  std::array<mmsghdr, kBatch> rx_msgs_{};
  std::array<iovec, kBatch> rx_iov_{};
  std::array<sockaddr_storage, kBatch> rx_addr_{};
  // Ancillary data buffers must be aligned for cmsghdr.
  struct alignas(cmsghdr) Control {
    std::uint8_t bytes[kControlSize];
  };
  std::array<Control, kBatch> rx_control_{};
  std::array<mmsghdr, kBatch> tx_msgs_{};
  std::array<iovec, kBatch> tx_iov_{};
  std::array<Control, kBatch> tx_control_{};
  pipeline::PendingQuery pending_;
};

}  // namespace vnetdns::server
