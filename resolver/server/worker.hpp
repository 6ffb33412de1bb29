// Worker: one thread with its own io_context, its own Pipeline (in-flight table, counters),
// and its own UDP socket and TCP acceptor on every listen address (SO_REUSEPORT), so workers
// share nothing on the query path but the cache and the published snapshot.
// Lifecycle: construct (binds; throws std::runtime_error naming the address on failure),
// start() (spawns the thread), stop() (closes the listeners, stops the loop), join().
// Liveness (the systemd watchdog): heartbeat() posts a no-op onto the worker's loop that
// bumps beats(); a worker whose beats() stops moving is stuck.
// Thread safety: start/stop/join from the controlling thread; everything else runs on the
// worker's own thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "resolver/cache/packet_cache.hpp"
#include "resolver/pipeline/pipeline.hpp"
#include "resolver/pipeline/snapshot.hpp"
#include "resolver/server/tcp_listener.hpp"
#include "resolver/server/udp_listener.hpp"

namespace vnetdns::server {

class Worker {
 public:
  Worker(std::size_t index, const pipeline::SnapshotHolder& snapshots, cache::PacketCache& cache,
         const settings::ServerSettings& server);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Sockets for one new listen address, bound by the caller (one pair for each worker).
  struct ListenSockets {
    util::Endpoint address;
    int udp_fd = -1;
    int tcp_fd = -1;
  };
  // Starts listening on `add` and stops listening on `remove` (a reload's listen changes),
  // on the worker's own loop; the other listeners and their connections are untouched, and
  // open TCP connections on a removed address end after their current query. Thread safe.
  void change_listen(std::vector<ListenSockets> add, std::vector<util::Endpoint> remove);

  void set_query_log(pipeline::QueryLogSink* sink) noexcept { pipeline_.set_query_log(sink); }
  void set_notify_sink(xfr::NotifySink* sink) noexcept { pipeline_.set_notify_sink(sink); }
  void start();
  void stop();  // thread safe: posts the stop onto the worker's loop
  void join();
  [[nodiscard]] const pipeline::Counters& counters() const noexcept { return pipeline_.counters(); }
  [[nodiscard]] std::size_t index() const noexcept { return index_; }
  void heartbeat();  // thread safe
  [[nodiscard]] std::uint64_t beats() const noexcept {
    return beats_.load(std::memory_order_relaxed);
  }

 private:
  // Destruction order (~Worker, then the members in reverse order of declaration): the thread
  // is stopped and joined; the listeners (retired ones too) close their sockets; the Pipeline
  // goes (its in-flight table drops its references to the flights); last the io_context,
  // declared first, whose destruction destroys every coroutine frame still suspended, a
  // question waiting upstream among them. Such a frame's destructor must not touch the
  // Pipeline: a BuilderPool lease shares its spare list and outlives the pool, a Flight is
  // reference counted, a Question only forgets its UDP tickets, timers die with their
  // io_context's services still there (tests/scenario/worker_shutdown_scenario_test.cpp).
  std::size_t index_;
  boost::asio::io_context io_;  // declared first: destroyed last (see above)
  pipeline::Pipeline pipeline_;
  std::vector<std::unique_ptr<UdpListener>> udp_;
  std::vector<std::unique_ptr<TcpListener>> tcp_;
  std::vector<util::Endpoint> addresses_;  // addresses_[i] is what udp_[i] and tcp_[i] serve
  // Stopped listeners of removed addresses: their coroutines and TCP connections may still
  // refer to them, so they live as long as the worker (a few per listen change).
  std::vector<std::unique_ptr<UdpListener>> retired_udp_;
  std::vector<std::unique_ptr<TcpListener>> retired_tcp_;
  TcpOptions tcp_options_;
  TcpBudget tcp_budget_;  // open TCP connections over all of this worker's listeners
  std::thread thread_;
  std::atomic<std::uint64_t> beats_{0};
};

}  // namespace vnetdns::server
