#include "resolver/app/application.hpp"

#include <grp.h>
#include <malloc.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "resolver/pipeline/loop_guard.hpp"
#include "resolver/server/socket_util.hpp"
#include "resolver/settings/loader.hpp"
#include "resolver/upstream/transport.hpp"
#include "resolver/util/log.hpp"

namespace vnetdns::app {

namespace asio = boost::asio;

namespace {

cache::CacheOptions cache_options(const settings::Settings& s) {
  cache::CacheOptions o;
  o.max_entries = s.cache.max_entries;
  o.stale_window = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(s.cache.serve_stale).count());
  return o;
}

// Switches to `user` (and its primary group, no supplementary groups) when running as root.
// Not root: nothing to drop, logged. Unknown user or a failed switch: fatal (false).
bool drop_privileges(const std::string& user) {
  if (user.empty()) return true;
  if (::geteuid() != 0) {
    VLOG_INFO("server.user = \"{}\": not running as root, nothing to drop", user);
    return true;
  }
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) {
    VLOG_ERROR("server.user: no such user \"{}\"", user);
    return false;
  }
  if (::setgroups(0, nullptr) != 0 || ::setgid(pw->pw_gid) != 0 || ::setuid(pw->pw_uid) != 0) {
    VLOG_ERROR("server.user: cannot switch to \"{}\": {}", user, std::strerror(errno));
    return false;
  }
  if (::setuid(0) == 0) {  // must be impossible now
    VLOG_ERROR("server.user: still able to regain root after switching to \"{}\"", user);
    return false;
  }
  VLOG_INFO("running as user {} (uid {}, gid {})", user, pw->pw_uid, pw->pw_gid);
  return true;
}

// The addresses of `a` that `b` lacks.
std::vector<util::Endpoint> missing_from(const std::vector<util::Endpoint>& a,
                                         const std::vector<util::Endpoint>& b) {
  std::vector<util::Endpoint> out;
  for (const auto& e : a) {
    if (std::find(b.begin(), b.end(), e) == b.end()) out.push_back(e);
  }
  return out;
}

// What a reload cannot change in a running process; each difference becomes a note.
std::vector<std::string> restart_notes(const settings::Settings& now,
                                       const settings::Settings& next) {
  std::vector<std::string> notes;
  if (now.server.threads != next.server.threads) {
    notes.emplace_back("[server] threads changes take effect at the next restart");
  }
  if (now.server.max_tcp_clients != next.server.max_tcp_clients ||
      now.server.max_tcp_per_client != next.server.max_tcp_per_client ||
      now.server.tcp_idle_timeout != next.server.tcp_idle_timeout) {
    notes.emplace_back(
        "[server] max_tcp_clients/max_tcp_per_client/tcp_idle_timeout changes "
        "take effect at the next restart");
  }
  if (now.admin.enabled != next.admin.enabled || !(now.admin.listen == next.admin.listen)) {
    notes.emplace_back(
        "[admin] enabled/listen changes take effect at the next restart "
        "(admin.allow applies now)");
  }
  if (now.cache.max_entries != next.cache.max_entries ||
      now.cache.serve_stale != next.cache.serve_stale) {
    notes.emplace_back("cache.max_entries/serve_stale changes take effect at the next restart");
  }
  if (now.log.queries != next.log.queries || now.log.query_file != next.log.query_file ||
      now.log.sample != next.log.sample) {
    notes.emplace_back("log.queries/query_file/sample changes take effect at the next restart");
  }
  return notes;
}

// One loop-check probe (pipeline/loop_guard.hpp) to one upstream; the answer does not
// matter, only whether the query comes back to us.
asio::awaitable<void> send_loop_probe(util::Endpoint server, upstream::UpstreamQuery query) {
  upstream::ExchangeOptions options;
  options.timeout = std::chrono::milliseconds(2000);
  co_await upstream::exchange(server, query, options);
}

}  // namespace

void Application::check_dnssec_upstreams() {
  const auto snap = snapshots_->get();
  std::vector<std::shared_ptr<upstream::ForwardGroup>> groups;
  if (snap->validate) {
    for (const auto& g : snap->groups) {
      if (g->settings().dnssec) groups.push_back(g);  // not for a rule that is not validated
    }
  }
  dnssec_check_->start(groups);
}

Application::Application(std::string config_path)
    : config_path_(std::move(config_path)), control_(std::make_unique<asio::io_context>(1)) {}

Application::~Application() {
  // Normally emptied by run(); here for an early return or an exception.
  if (admin_) admin_->stop();
  for (auto& w : workers_) w->stop();
  workers_.clear();
  release_control();
}

void Application::release_control() {
  // The control loop's handlers may hold continuations of admin coroutines: destroy them
  // while the admin io_context still exists, then the admin endpoint itself.
  watcher_.reset();
  dnssec_check_.reset();
  signals_.reset();
  drain_timer_.reset();
  watchdog_timer_.reset();
  control_.reset();
  admin_.reset();
}

admin::ReloadOutcome Application::load_and_publish() {
  admin::ReloadOutcome out;
  attempted_.reset();
  auto loaded = settings::load_settings(config_path_);
  if (!loaded) {
    out.errors = loaded.error();
    return out;
  }
  for (const auto& w : loaded.value().warnings) VLOG_WARN("{}", w);
  attempted_ = std::make_unique<settings::Settings>(loaded.value());
  auto previous = snapshots_->get();
  pipeline::BuildOptions options;
  options.previous = previous.get();
  auto snap = pipeline::build_snapshot(std::move(loaded.value()), options);
  if (!snap) {
    out.errors = snap.error();
    return out;
  }
  const settings::Settings& next = snap.value()->settings;
  out.notes = restart_notes(previous->settings, next);
  // Listen addresses added: bind every worker's sockets now, so a taken port fails the
  // reload before anything changes; removed ones are closed after the swap.
  const auto added = missing_from(next.server.listen, previous->settings.server.listen);
  const auto removed = missing_from(previous->settings.server.listen, next.server.listen);
  std::vector<std::vector<server::Worker::ListenSockets>> sockets(workers_.size());
  auto close_all = [&] {
    for (auto& per_worker : sockets) {
      for (auto& ls : per_worker) {
        if (ls.udp_fd >= 0) ::close(ls.udp_fd);
        if (ls.tcp_fd >= 0) ::close(ls.tcp_fd);
      }
    }
  };
  for (const auto& address : added) {
    for (auto& per_worker : sockets) {
      auto udp = server::open_listener(address, server::SocketKind::kUdp);
      auto tcp = udp ? server::open_listener(address, server::SocketKind::kTcp) : udp;
      if (!udp || !tcp) {
        if (udp) ::close(udp.value());
        close_all();
        out.errors.push_back(config_path_ + ": cannot listen on " + address.to_string() + ": " +
                             (!udp ? udp.error() : tcp.error()));
        return out;
      }
      per_worker.push_back({address, udp.value(), tcp.value()});
    }
  }
  if (next.log.level != previous->settings.log.level) {
    util::setup_logging({next.log.level, true});
  }
  // Names under local zones whose data changed must not be answered from older splices.
  for (const auto& z : snap.value()->zones->zones()) {
    const zone::Zone* old = previous->zones->zone(z->origin());
    if (old == nullptr || old->content_hash() != z->content_hash()) {
      const std::size_t n = cache_->erase_below(z->origin());
      VLOG_INFO("zone {} changed (serial {}): {} cached entr{} flushed", z->origin().to_text(),
                z->serial(), n, n == 1 ? "y" : "ies");
    }
  }
  // Validation switched on or off, or its anchors or exceptions changed: every cached
  // answer was judged (or not) under the old rules.
  const auto& nd = next.dnssec;
  const auto& pd = previous->settings.dnssec;
  if (nd.mode != pd.mode || nd.trust_anchor_file != pd.trust_anchor_file ||
      nd.insecure != pd.insecure) {
    cache_->clear();
    VLOG_INFO("[dnssec] changed: cache cleared");
  }
  // A removed zone: what was spliced into it or cached below it goes too.
  for (const auto& z : previous->zones->zones()) {
    if (snap.value()->zones->zone(z->origin()) == nullptr) cache_->erase_below(z->origin());
  }
  std::erase_if(retired_, [](const auto& w) { return w.expired(); });
  retired_.push_back(previous);
  for (const auto& n : snap.value()->notes) VLOG_WARN("{}", n);
  if (transfers_) transfers_->update(snap.value()->settings, *snap.value()->zones);
  snapshots_->publish(std::move(snap.value()));
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    workers_[i]->change_listen(std::move(sockets[i]), removed);
  }
  for (const auto& a : added) VLOG_INFO("now listening on {} (udp+tcp)", a.to_string());
  for (const auto& a : removed) VLOG_INFO("stopped listening on {}", a.to_string());
  attempted_.reset();
  out.ok = true;
  return out;
}

admin::ReloadOutcome Application::reload(const std::string& why) {
  VLOG_INFO("reloading {} ({})", config_path_, why);
  notify_.reloading();
  admin::ReloadOutcome out = load_and_publish();
  if (out.ok) {
    reloads_.fetch_add(1);
    for (const auto& n : out.notes) VLOG_WARN("reload: {}", n);
    VLOG_INFO("reloaded {}", config_path_);
    check_dnssec_upstreams();
    notify_.ready("serving");
  } else {
    reload_failures_.fetch_add(1);
    for (const auto& e : out.errors) VLOG_ERROR("reload failed: {}", e);
    VLOG_ERROR("reload failed ({} error{}); still serving the previous configuration",
               out.errors.size(), out.errors.size() == 1 ? "" : "s");
    notify_.ready("reload failed; serving the previous configuration");
  }
  if (query_log_ && !query_log_->reopen()) {
    VLOG_ERROR("cannot reopen the query log; still writing to the old file");
  }
  update_watch();
  return out;
}

void Application::update_watch() {
  if (!watcher_) return;
  std::vector<std::string> files{config_path_};
  auto add = [&](const settings::Settings& s) {
    for (const auto& z : s.zones) files.push_back(z.file);
  };
  add(snapshots_->get()->settings);
  // A failed reload's zone files too: creating a missing one then triggers the next try.
  if (attempted_) add(*attempted_);
  watcher_->watch(files);
}

std::int64_t Application::outstanding_upstream() {
  std::int64_t n = 0;
  auto count = [&](const pipeline::Snapshot& s) {
    for (const auto& g : s.groups) {
      for (std::size_t i = 0; i < g->settings().upstreams.size(); ++i) {
        n += std::max<std::int64_t>(0, g->health(i).outstanding.load(std::memory_order_relaxed));
      }
    }
  };
  count(*snapshots_->get());
  for (const auto& w : retired_) {
    if (auto s = w.lock()) count(*s);
  }
  return n;
}

void Application::on_signal(const boost::system::error_code& ec, int signo) {
  if (ec || stopping_) return;
  if (signo == SIGHUP) {
    reload("SIGHUP");
    signals_->async_wait([this](const auto& e, int s) { on_signal(e, s); });
    return;
  }
  VLOG_INFO("signal {}: stopping", signo);
  begin_stop();
}

void Application::begin_stop() {
  stopping_ = true;
  notify_.stopping();
  if (dnssec_check_) dnssec_check_->stop();
  if (watcher_) watcher_->stop();
  if (admin_) admin_->stop();
  // Let queries waiting on an upstream finish, within kDrainTimeout; the workers keep
  // answering meanwhile. Two quiet ticks in a row: a coalesced query resumes one tick later.
  drain_step(std::chrono::steady_clock::now() + kDrainTimeout, 0);
}

void Application::drain_step(std::chrono::steady_clock::time_point deadline, int quiet_ticks) {
  const std::int64_t n = outstanding_upstream();
  quiet_ticks = n == 0 ? quiet_ticks + 1 : 0;
  if (quiet_ticks >= 2 || std::chrono::steady_clock::now() >= deadline) {
    if (n > 0) VLOG_WARN("stopping with {} upstream quer{} unanswered", n, n == 1 ? "y" : "ies");
    control_->stop();
    return;
  }
  drain_timer_->expires_after(std::chrono::milliseconds(20));
  drain_timer_->async_wait([this, deadline, quiet_ticks](const boost::system::error_code& ec) {
    if (!ec) drain_step(deadline, quiet_ticks);
  });
}

void Application::watchdog_tick() {
  // WATCHDOG=1 only while every worker ran the heartbeat posted at the previous tick.
  bool alive = true;
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    const std::uint64_t b = workers_[i]->beats();
    if (i < beats_.size() && b == beats_[i]) {
      VLOG_ERROR("worker {} did not respond within the watchdog interval", i);
      alive = false;
    }
  }
  if (alive) notify_.watchdog();
  beats_.clear();
  for (auto& w : workers_) {
    beats_.push_back(w->beats());
    w->heartbeat();
  }
  watchdog_timer_->expires_after(*notify_.watchdog_interval());
  watchdog_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !stopping_) watchdog_tick();
  });
}

int Application::run() {
  // glibc returns the free top of a worker thread's heap to the kernel once it passes the
  // trim threshold (128 KiB, adjusting upwards): a miss that allocates and frees one 64 KiB
  // block each time (a validated DO=1 miss does) then costs a madvise() and page faults
  // every time: 178 vs 124 us of CPU per validated miss (tests/bench/dnssec_bench.py's
  // probe). Keep up to kTrimThreshold free per heap instead.
  constexpr int kTrimThreshold = 8 << 20;
  mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
  auto loaded = settings::load_settings(config_path_);
  if (!loaded) {
    for (const auto& e : loaded.error()) VLOG_ERROR("{}", e);
    return 1;
  }
  util::setup_logging({loaded.value().log.level, true});
  for (const auto& w : loaded.value().warnings) VLOG_WARN("{}", w);
  auto snap = pipeline::build_snapshot(std::move(loaded.value()));
  if (!snap) {
    for (const auto& e : snap.error()) VLOG_ERROR("{}", e);
    return 1;
  }
  const settings::Settings& s = snap.value()->settings;
  for (const auto& n : snap.value()->notes) VLOG_WARN("{}", n);
  cache_ = std::make_unique<cache::PacketCache>(cache_options(s));
  // Runs on the transfer thread: the reload itself happens on the control thread.
  transfers_ = std::make_unique<xfr::TransferService>([this](std::string why) {
    asio::post(*control_, [this, why = std::move(why)] {
      if (!stopping_) reload(why);
    });
  });
  snapshots_ = std::make_unique<pipeline::SnapshotHolder>(snap.value());
  const auto server_settings = s.server;
  const auto admin_settings = s.admin;
  const unsigned threads = server_settings.threads;  // the loader resolved 0 to the cores
  if (s.log.queries) {
    try {
      admin::QueryLogOptions qo;
      qo.path = s.log.query_file;
      qo.sample = s.log.sample;
      query_log_ = std::make_unique<admin::QueryLog>(qo);
    } catch (const std::exception& e) {
      VLOG_ERROR("{}", e.what());
      return 1;
    }
  }
  try {
    for (unsigned i = 0; i < threads; ++i) {
      workers_.push_back(
          std::make_unique<server::Worker>(i, *snapshots_, *cache_, server_settings));
    }
    if (admin_settings.enabled) {
      admin::AdminContext cx;
      cx.snapshots = snapshots_.get();
      cx.cache = cache_.get();
      for (const auto& w : workers_) cx.workers.push_back(&w->counters());
      cx.reloads = &reloads_;
      cx.reload_failures = &reload_failures_;
      cx.query_log = query_log_.get();
      cx.transfers = &transfers_->stats();
      cx.reload = [this] {
        if (stopping_) return admin::ReloadOutcome{false, {"vnetdns is stopping"}, {}};
        return reload("POST /reload");
      };
      cx.control = control_->get_executor();
      admin_ = std::make_unique<admin::AdminServer>(std::move(cx), admin_settings.listen);
    }
  } catch (const std::exception& e) {
    VLOG_ERROR("cannot listen: {}", e.what());
    workers_.clear();
    return 1;
  }
  // Every socket is bound: give up root now if asked to (outside systemd, which does it).
  if (!drop_privileges(server_settings.user)) {
    workers_.clear();
    admin_.reset();
    return 1;
  }
  // The signal set exists before the workers run, so no signal is missed.
  signals_ = std::make_unique<asio::signal_set>(*control_, SIGHUP, SIGTERM, SIGINT);
  drain_timer_ = std::make_unique<asio::steady_timer>(*control_);
  watchdog_timer_ = std::make_unique<asio::steady_timer>(*control_);
  dnssec_check_ = std::make_unique<upstream::DnssecCheck>(control_->get_executor());
  std::vector<wire::Name> rule_zones;
  for (const auto& f : snapshots_->get()->settings.forwards) rule_zones.push_back(f.zone);
  const auto probes = pipeline::LoopGuard::instance().arm(rule_zones);
  for (auto& w : workers_) {
    w->set_query_log(query_log_.get());
    w->set_notify_sink(transfers_.get());
    w->start();
  }
  // Listening now: a probe that an upstream forwards back reaches a worker.
  for (const auto& [rule, name] : probes) {
    upstream::UpstreamQuery q;
    q.qname = name;
    q.qtype = wire::type::kHINFO;
    for (const auto& up : snapshots_->get()->settings.forwards[rule].upstreams) {
      asio::co_spawn(*control_, send_loop_probe(up, q), asio::detached);
    }
  }
  check_dnssec_upstreams();
  transfers_->update(snapshots_->get()->settings, *snapshots_->get()->zones);
  transfers_->start();
  if (admin_) admin_->start();
  std::string addresses;
  for (const auto& a : server_settings.listen) {
    addresses += (addresses.empty() ? "" : ", ") + a.to_string();
  }
  VLOG_INFO("vnetdns {} listening on {} (udp+tcp, {} worker{})", VNETDNS_VERSION, addresses,
            threads, threads == 1 ? "" : "s");
  if (admin_) VLOG_INFO("admin endpoint on http://{}/", admin_->endpoint().to_string());
  notify_.ready("serving");

  watcher_ = std::make_unique<admin::FileWatcher>(*control_, [this] {
    if (!stopping_) reload("file changed on disk");
  });
  update_watch();
  if (notify_.watchdog_interval()) watchdog_tick();
  signals_->async_wait([this](const auto& e, int signo) { on_signal(e, signo); });

  control_->run();

  transfers_->stop();
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();
  workers_.clear();
  if (admin_) admin_->stop();
  release_control();
  if (query_log_) query_log_->flush();
  query_log_.reset();
  VLOG_INFO("stopped");
  return 0;
}

}  // namespace vnetdns::app
