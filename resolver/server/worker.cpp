#include "resolver/server/worker.hpp"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <stdexcept>

#include "resolver/server/socket_util.hpp"
#include "resolver/util/log.hpp"

namespace vnetdns::server {

Worker::Worker(std::size_t index, const pipeline::SnapshotHolder& snapshots,
               cache::PacketCache& cache, const settings::ServerSettings& server)
    : index_(index), io_(1), pipeline_(snapshots, cache, util::RealClock::instance()) {
  TcpOptions tcp;
  const std::size_t threads = server.threads == 0 ? 1 : server.threads;
  tcp.max_connections = std::max<std::size_t>(1, server.max_tcp_clients / threads);
  tcp.idle_timeout = server.tcp_idle_timeout;
  for (const auto& address : server.listen) {
    auto udp = open_listener(address, SocketKind::kUdp);
    if (!udp) throw std::runtime_error(udp.error());
    udp_.push_back(std::make_unique<UdpListener>(io_, udp.value(), pipeline_));
    auto t = open_listener(address, SocketKind::kTcp);
    if (!t) throw std::runtime_error(t.error());
    tcp_.push_back(std::make_unique<TcpListener>(io_, t.value(), pipeline_, tcp));
  }
}

Worker::~Worker() {
  stop();
  join();
}

void Worker::start() {
  for (auto& u : udp_) u->start();
  for (auto& t : tcp_) t->start();
  thread_ = std::thread([this] {
    try {
      io_.run();
    } catch (const std::exception& e) {
      VLOG_ERROR("worker {}: {}", index_, e.what());
    }
  });
}

void Worker::stop() {
  boost::asio::post(io_, [this] {
    for (auto& u : udp_) u->stop();
    for (auto& t : tcp_) t->stop();
    io_.stop();
  });
}

void Worker::heartbeat() {
  boost::asio::post(io_, [this] { beats_.fetch_add(1, std::memory_order_relaxed); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace vnetdns::server
