#include "resolver/app/application.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <algorithm>
#include <csignal>
#include <functional>
#include <thread>

#include "resolver/settings/loader.hpp"
#include "resolver/util/log.hpp"

namespace vnetdns::app {

namespace {

cache::CacheOptions cache_options(const settings::Settings& s) {
  cache::CacheOptions o;
  o.max_entries = s.cache.max_entries;
  o.stale_window = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(s.cache.serve_stale).count());
  return o;
}

// Keys the loader accepts (the configuration contract) whose behaviour is not in this build
// yet: say so at startup rather than let an operator believe they are enforced.
void warn_unimplemented(const settings::Settings& s) {
  auto warn = [](const char* key) {
    VLOG_WARN("config: '{}' is accepted but not implemented in this version; it has no effect", key);
  };
  if (s.rate_limit.enabled) warn("[rate_limit]");
  if (s.admin.enabled) warn("[admin]");
  if (s.log.queries) warn("log.queries");
  if (!s.server.user.empty()) warn("server.user");
  if (s.cache.serve_stale.count() > 0) warn("cache.serve_stale");
  if (s.cache.prefetch) warn("cache.prefetch");
}

}  // namespace

bool Application::reload() {
  auto loaded = settings::load_settings(config_path_);
  if (!loaded) {
    for (const auto& e : loaded.error()) VLOG_ERROR("reload failed: {}", e);
    reload_failures_.fetch_add(1);
    return false;
  }
  auto previous = snapshots_->get();
  pipeline::BuildOptions options;
  options.previous = previous.get();
  auto snap = pipeline::build_snapshot(std::move(loaded.value()), options);
  if (!snap) {
    for (const auto& e : snap.error()) VLOG_ERROR("reload failed: {}", e);
    reload_failures_.fetch_add(1);
    return false;
  }
  const auto& next = snap.value()->settings;
  if (next.server.listen.size() != previous->settings.server.listen.size() ||
      !std::equal(next.server.listen.begin(), next.server.listen.end(),
                  previous->settings.server.listen.begin()) ||
      next.server.threads != previous->settings.server.threads) {
    VLOG_WARN("reload: [server] listen/threads changes take effect at the next restart");
  }
  // Names under local zones whose data changed must not be answered from older splices.
  for (const auto& z : snap.value()->zones->zones()) {
    const zone::Zone* old = previous->zones->zone(z->origin());
    if (old == nullptr || old->content_hash() != z->content_hash()) {
      cache_->erase_below(z->origin());
    }
  }
  snapshots_->publish(std::move(snap.value()));
  reloads_.fetch_add(1);
  VLOG_INFO("reloaded {}", config_path_);
  return true;
}

int Application::run() {
  auto loaded = settings::load_settings(config_path_);
  if (!loaded) {
    for (const auto& e : loaded.error()) VLOG_ERROR("{}", e);
    return 1;
  }
  util::setup_logging({loaded.value().log.level, true});
  auto snap = pipeline::build_snapshot(std::move(loaded.value()));
  if (!snap) {
    for (const auto& e : snap.error()) VLOG_ERROR("{}", e);
    return 1;
  }
  const settings::Settings& s = snap.value()->settings;
  warn_unimplemented(s);
  cache_ = std::make_unique<cache::PacketCache>(cache_options(s));
  snapshots_ = std::make_unique<pipeline::SnapshotHolder>(snap.value());
  const auto server_settings = s.server;
  const unsigned threads =
      server_settings.threads == 0 ? std::max(1U, std::thread::hardware_concurrency())
                                   : server_settings.threads;
  try {
    for (unsigned i = 0; i < threads; ++i) {
      workers_.push_back(
          std::make_unique<server::Worker>(i, *snapshots_, *cache_, server_settings));
    }
  } catch (const std::exception& e) {
    VLOG_ERROR("cannot listen: {}", e.what());
    workers_.clear();
    return 1;
  }
  // The signal set exists before the workers run, so no signal is missed.
  boost::asio::io_context control;
  boost::asio::signal_set signals(control, SIGHUP, SIGTERM, SIGINT);
  for (auto& w : workers_) w->start();
  std::string addresses;
  for (const auto& a : server_settings.listen) {
    addresses += (addresses.empty() ? "" : ", ") + a.to_string();
  }
  VLOG_INFO("vnetdns {} listening on {} (udp+tcp, {} worker{})", VNETDNS_VERSION, addresses,
            threads, threads == 1 ? "" : "s");

  std::function<void(const boost::system::error_code&, int)> on_signal;
  on_signal = [&](const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      VLOG_INFO("SIGHUP: reloading");
      reload();
      signals.async_wait(on_signal);
      return;
    }
    VLOG_INFO("signal {}: stopping", signo);
    control.stop();
  };
  signals.async_wait(on_signal);
  control.run();
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();
  workers_.clear();
  VLOG_INFO("stopped");
  return 0;
}

}  // namespace vnetdns::app
