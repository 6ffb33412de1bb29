#include "resolver/server/worker.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <stdexcept>

#include <boost/asio/post.hpp>

#include "resolver/server/socket_util.hpp"
#include "resolver/util/log.hpp"

namespace vnetdns::server {

Worker::Worker(std::size_t index, const pipeline::SnapshotHolder& snapshots,
               cache::PacketCache& cache, const settings::ServerSettings& server)
    : index_(index), io_(1), pipeline_(snapshots, cache, util::RealClock::instance()) {
  TcpOptions tcp;
  const std::size_t threads = server.threads == 0 ? 1 : server.threads;
  tcp.max_connections = std::max<std::size_t>(1, server.max_tcp_clients / threads);
  // Keep file descriptors for upstream sockets: TCP clients may take at most what is left
  // of RLIMIT_NOFILE after a reserve (64 plus a quarter), shared by the workers.
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    const std::size_t limit = nofile.rlim_cur;
    const std::size_t reserve = 64 + limit / 4;
    const std::size_t usable = limit > reserve ? (limit - reserve) / threads : 1;
    if (usable < tcp.max_connections) {
      if (index == 0) {
        VLOG_WARN(
            "max_tcp_clients {} is more than the file descriptor limit allows ({}): "
            "at most {} TCP clients per worker (raise LimitNOFILE / ulimit -n)",
            server.max_tcp_clients, limit, std::max<std::size_t>(1, usable));
      }
      tcp.max_connections = std::max<std::size_t>(1, usable);
    }
  }
  tcp.idle_timeout = server.tcp_idle_timeout;
  tcp.max_per_client = server.max_tcp_per_client;
  for (const auto& address : server.listen) {
    auto udp = open_listener(address, SocketKind::kUdp);
    if (!udp) throw std::runtime_error(udp.error());
    udp_.push_back(std::make_unique<UdpListener>(io_, udp.value(), pipeline_));
    auto t = open_listener(address, SocketKind::kTcp);
    if (!t) throw std::runtime_error(t.error());
    tcp_.push_back(std::make_unique<TcpListener>(io_, t.value(), pipeline_, tcp, tcp_budget_));
    addresses_.push_back(address);
  }
  tcp_options_ = tcp;
}

Worker::~Worker() {
  // The order is the header's: the thread first, then the members, the io_context last.
  stop();
  join();
  retired_udp_.clear();
  retired_tcp_.clear();
  udp_.clear();
  tcp_.clear();
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

void Worker::change_listen(std::vector<ListenSockets> add, std::vector<util::Endpoint> remove) {
  boost::asio::post(io_, [this, add = std::move(add), remove = std::move(remove)] {
    for (const auto& address : remove) {
      for (std::size_t i = 0; i < addresses_.size(); ++i) {
        if (!(addresses_[i] == address)) continue;
        udp_[i]->stop();
        tcp_[i]->stop();
        retired_udp_.push_back(std::move(udp_[i]));
        retired_tcp_.push_back(std::move(tcp_[i]));
        udp_.erase(udp_.begin() + static_cast<long>(i));
        tcp_.erase(tcp_.begin() + static_cast<long>(i));
        addresses_.erase(addresses_.begin() + static_cast<long>(i));
        break;
      }
    }
    for (const auto& a : add) {
      udp_.push_back(std::make_unique<UdpListener>(io_, a.udp_fd, pipeline_));
      tcp_.push_back(
          std::make_unique<TcpListener>(io_, a.tcp_fd, pipeline_, tcp_options_, tcp_budget_));
      addresses_.push_back(a.address);
      udp_.back()->start();
      tcp_.back()->start();
    }
  });
}

void Worker::heartbeat() {
  boost::asio::post(io_, [this] { beats_.fetch_add(1, std::memory_order_relaxed); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace vnetdns::server
