// Application: the `serve` command and the process lifecycle. Loads the config and zones
// (fatal with FILE:LINE messages when they are wrong), binds every listen address on every
// worker and the admin endpoint (fatal when a port is taken), logs "listening on ..." once
// every socket is bound (from then on it answers) and tells systemd READY=1.
// Reloads (config + zones into a new snapshot, published only when whole; a failure logs
// each FILE:LINE error, counts it and keeps serving the old one; the cache is kept and only
// names under zones whose content changed are flushed) come from three places, all run on
// the control thread one after another: SIGHUP, POST /reload, and a change on disk of the
// config file or a zone file (admin::FileWatcher: inotify, plus a 2 s stat poll).
// A reload that adds listen addresses binds their sockets before the swap (a failure fails
// the reload) and hands them to the workers; removed addresses are closed after the swap.
// Zone transfers (xfr::TransferService, its own thread) ask for a reload through the control
// loop after writing a new copy; every published snapshot is handed to it.
// SIGTERM/SIGINT: STOPPING=1, close the admin endpoint, let queries waiting on an upstream
// finish (at most kDrainTimeout), then stop and join the workers; exit 0.
// Thread safety: run() is called once, from the main thread, which becomes the control
// thread; reload() runs only there.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "resolver/admin/admin_context.hpp"
#include "resolver/admin/admin_server.hpp"
#include "resolver/admin/file_watcher.hpp"
#include "resolver/admin/query_log.hpp"
#include "resolver/admin/sd_notify.hpp"
#include "resolver/cache/packet_cache.hpp"
#include "resolver/pipeline/snapshot.hpp"
#include "resolver/server/worker.hpp"
#include "resolver/upstream/dnssec_check.hpp"
#include "resolver/xfr/transfer_service.hpp"

namespace vnetdns::app {

class Application {
 public:
  explicit Application(std::string config_path);
  ~Application();
  Application(const Application&) = delete;
  Application& operator=(const Application&) = delete;

  // Returns the process exit code.
  int run();

  // Loads config + zones into a new snapshot and publishes it; `why` is logged. On failure
  // returns every error (and logs it); the running snapshot stays. Control thread only.
  admin::ReloadOutcome reload(const std::string& why);

  static constexpr std::chrono::milliseconds kDrainTimeout{2000};

 private:
  // Destroys the control loop, its timers and watchers, then the admin endpoint.
  void release_control();
  admin::ReloadOutcome load_and_publish();
  void update_watch();
  // [dnssec] mode = "validate": (re)starts the checks that each validated rule's upstreams
  // return DNSSEC data (upstream/dnssec_check.hpp; results in ServerHealth::dnssec).
  void check_dnssec_upstreams();
  void on_signal(const boost::system::error_code& ec, int signo);
  void begin_stop();
  void drain_step(std::chrono::steady_clock::time_point deadline, int quiet_ticks);
  std::int64_t outstanding_upstream();
  void watchdog_tick();

  std::string config_path_;
  std::unique_ptr<boost::asio::io_context> control_;
  std::unique_ptr<pipeline::SnapshotHolder> snapshots_;
  std::vector<std::weak_ptr<const pipeline::Snapshot>> retired_;  // may still have queries
  std::unique_ptr<cache::PacketCache> cache_;
  std::vector<std::unique_ptr<server::Worker>> workers_;
  std::unique_ptr<admin::QueryLog> query_log_;
  std::unique_ptr<xfr::TransferService> transfers_;  // secondary zones and NOTIFY
  std::unique_ptr<admin::AdminServer> admin_;
  std::unique_ptr<admin::FileWatcher> watcher_;
  std::unique_ptr<boost::asio::signal_set> signals_;
  std::unique_ptr<boost::asio::steady_timer> drain_timer_;
  std::unique_ptr<boost::asio::steady_timer> watchdog_timer_;
  std::unique_ptr<upstream::DnssecCheck> dnssec_check_;  // on the control loop
  std::unique_ptr<settings::Settings> attempted_;        // last reload's settings when they parsed
  admin::SystemdNotifier notify_;
  std::vector<std::uint64_t> beats_;
  bool stopping_ = false;
  std::atomic<std::uint64_t> reloads_{0};
  std::atomic<std::uint64_t> reload_failures_{0};
};

}  // namespace vnetdns::app
