// TransferService: the zone-transfer thread. As a secondary it keeps each [[zone]] with
// `primaries` fresh: a refresh (IXFR from our serial, or AXFR without a copy) at start, when
// a NOTIFY arrives, and every SOA refresh interval (retry interval after a failure; both
// clamped to kMinInterval..kMaxInterval). Primaries are tried in their order. A new copy is
// checked like a zone file (Zone::build), written to the zone's `file` (atomically), and a
// reload is requested: the reload loads that file, swaps the snapshot and flushes the cache
// below the zone, like an edit on disk. A failed refresh changes nothing: the last good copy
// keeps being served, also past the SOA expire time (logged at error level; an outage of
// the primary should not take private names away). As a primary it sends NOTIFY (RFC 1996)
// to each `notify` address of a zone when its serial changes and once at start, over UDP,
// retried up to kNotifyTries times until answered.
// Blocking I/O happens on this thread only, with timeouts; workers are never blocked.
// Thread safety: update() from the control thread, notified() from any worker; both only
// take the mutex briefly. stop() joins the thread (also from the destructor).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "resolver/settings/settings.hpp"
#include "resolver/xfr/notify_sink.hpp"
#include "resolver/xfr/tsig_key.hpp"
#include "resolver/zone/zone.hpp"
#include "resolver/zone/zone_set.hpp"

namespace vnetdns::xfr {

struct TransferStats {
  std::atomic<std::uint64_t> transfers{0};          // new copies taken (AXFR or IXFR)
  std::atomic<std::uint64_t> transfer_failures{0};  // refreshes where no primary gave a copy
  std::atomic<std::uint64_t> up_to_date{0};         // refreshes that found our serial current
  std::atomic<std::uint64_t> notifies_received{0};
  std::atomic<std::uint64_t> notifies_sent{0};    // answered NOTIFYs we sent
  std::atomic<std::uint64_t> notify_failures{0};  // targets that never answered
};

class TransferService final : public NotifySink {
 public:
  using Clock = std::chrono::steady_clock;
  // Asks the control thread for a reload (called from the transfer thread).
  using ReloadRequest = std::function<void(std::string why)>;

  static constexpr std::chrono::seconds kMinInterval{5};
  static constexpr std::chrono::seconds kMaxInterval{86400};
  static constexpr unsigned kNotifyTries = 5;
  static constexpr std::chrono::milliseconds kNotifyTimeout{1000};

  explicit TransferService(ReloadRequest reload);
  ~TransferService() override;
  TransferService(const TransferService&) = delete;
  TransferService& operator=(const TransferService&) = delete;

  void start();
  void stop();
  // The settings and zones now served (after start-up and after every published reload).
  void update(const settings::Settings& settings, const zone::ZoneSet& zones);
  void notified(const wire::Name& zone) override;
  [[nodiscard]] const TransferStats& stats() const noexcept { return stats_; }
  // True when `settings` has a zone that needs this service (primaries or notify).
  static bool needed(const settings::Settings& settings);

 private:
  struct Secondary {
    settings::ZoneSettings cfg;
    std::optional<TsigKey> key;
    std::shared_ptr<const zone::Zone> current;  // the newest copy we know of
    Clock::time_point next{};
    std::optional<Clock::time_point> last_ok;
    std::optional<Clock::time_point> last_try;  // when the last refresh started
    bool running = false;
    // A NOTIFY arrived while a refresh was running: the primary may have changed after that
    // refresh asked, so look again when it ends (at most one refresh per second still holds).
    bool notified_while_running = false;
  };
  struct NotifyJob {
    wire::Name zone;
    util::Endpoint target;
    std::optional<TsigKey> key;
    zone::ZoneRecord soa;
    unsigned tries = 0;
    Clock::time_point next{};
  };

  void run();
  void refresh(const std::string& name, Secondary work);
  void send_notify(NotifyJob& job);

  ReloadRequest reload_;
  TransferStats stats_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::map<std::string, Secondary> secondaries_;   // by zone name (text)
  std::map<std::string, std::uint32_t> notified_;  // serial last announced, by zone
  std::map<std::string, std::vector<util::Endpoint>> notify_targets_;  // as last announced
  std::vector<NotifyJob> notifies_;
  std::atomic<int> active_fd_{-1};  // the transfer connection open now, for stop()
  std::thread thread_;
};

}  // namespace vnetdns::xfr
