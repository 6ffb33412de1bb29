#include "resolver/xfr/transfer_service.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>

#include "resolver/util/log.hpp"
#include "resolver/util/random.hpp"
#include "resolver/xfr/packet.hpp"
#include "resolver/xfr/transfer_client.hpp"
#include "resolver/xfr/zone_writer.hpp"

namespace vnetdns::xfr {
namespace {

using Clock = TransferService::Clock;

Clock::duration clamp_interval(std::uint32_t seconds) {
  return std::clamp<Clock::duration>(std::chrono::seconds(seconds), TransferService::kMinInterval,
                                     TransferService::kMaxInterval);
}

std::optional<TsigKey> key_for(const settings::Settings& s, const settings::ZoneSettings& z) {
  if (!z.has_key) return std::nullopt;
  const settings::TsigKeySettings* k = settings::find_key(s, z.key);
  if (k == nullptr) return std::nullopt;  // the loader refuses such a config
  return TsigKey(*k);
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// One NOTIFY exchange over UDP: true when the target answered it.
bool notify_once(const util::Endpoint& target, const std::vector<std::uint8_t>& msg,
                 std::uint16_t id, std::chrono::milliseconds timeout, std::uint16_t& rcode) {
  const int fd = ::socket(target.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool answered = false;
  if (::connect(fd, target.sockaddr_ptr(), target.size()) == 0 &&
      ::send(fd, msg.data(), msg.size(), 0) == static_cast<ssize_t>(msg.size())) {
    const auto until = Clock::now() + timeout;
    std::uint8_t buf[4096];
    while (!answered) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
      if (left <= 0) break;
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left)) <= 0) break;
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n < static_cast<ssize_t>(wire::kHeaderSize)) continue;
      const std::uint16_t flags = wire::load16(buf + 2);
      if (wire::load16(buf) != id || (flags & wire::kFlagQR) == 0 ||
          ((flags >> 11) & 0xf) != static_cast<unsigned>(wire::Opcode::kNotify)) {
        continue;
      }
      rcode = flags & 0xf;
      answered = true;
    }
  }
  ::close(fd);
  return answered;
}

}  // namespace

TransferService::TransferService(ReloadRequest reload) : reload_(std::move(reload)) {}

TransferService::~TransferService() { stop(); }

bool TransferService::needed(const settings::Settings& settings) {
  return std::any_of(settings.zones.begin(), settings.zones.end(),
                     [](const auto& z) { return z.secondary() || !z.notify.empty(); });
}

void TransferService::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void TransferService::stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  // A transfer in progress ends now instead of at its timeout.
  if (const int fd = active_fd_.load(); fd >= 0) ::shutdown(fd, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
}

void TransferService::update(const settings::Settings& settings, const zone::ZoneSet& zones) {
  std::lock_guard lock(mu_);
  const auto now = Clock::now();
  std::map<std::string, Secondary> next;
  for (const auto& z : settings.zones) {
    const std::string name = z.name.to_text();
    std::shared_ptr<const zone::Zone> served = zones.shared(z.name);
    if (z.secondary()) {
      auto it = secondaries_.find(name);
      Secondary s;
      if (it != secondaries_.end() && it->second.cfg.primaries == z.primaries) {
        s = std::move(it->second);  // keep its schedule
      } else {
        s.next = now;  // new, or new primaries: refresh at once
      }
      s.cfg = z;
      s.key = key_for(settings, z);
      if (served && (!s.current || serial_newer(served->serial(), s.current->serial()) ||
                     served->content_hash() == s.current->content_hash())) {
        s.current = served;
      }
      next.emplace(name, std::move(s));
    }
    if (!z.notify.empty() && served) {
      const auto seen = notified_.find(name);
      const auto targets = notify_targets_.find(name);
      const bool new_targets = targets == notify_targets_.end() || targets->second != z.notify;
      notify_targets_[name] = z.notify;
      if (seen == notified_.end() || seen->second != served->serial() || new_targets) {
        notified_[name] = served->serial();
        std::erase_if(notifies_, [&](const NotifyJob& j) { return j.zone == z.name; });
        const zone::ZoneRecord soa = served->to_records().front();
        for (const auto& target : z.notify) {
          notifies_.push_back(NotifyJob{z.name, target, key_for(settings, z), soa, 0, now});
        }
      }
    }
  }
  secondaries_ = std::move(next);
  // Jobs of zones that no longer notify (removed, or their notify list emptied) go.
  std::erase_if(notifies_, [&](const NotifyJob& j) {
    for (const auto& z : settings.zones) {
      if (z.name == j.zone) {
        return std::find(z.notify.begin(), z.notify.end(), j.target) == z.notify.end();
      }
    }
    return true;
  });
  for (auto it = notify_targets_.begin(); it != notify_targets_.end();) {
    const bool kept = std::any_of(settings.zones.begin(), settings.zones.end(), [&](const auto& z) {
      return z.name.to_text() == it->first && !z.notify.empty();
    });
    if (kept) {
      ++it;
    } else {
      notified_.erase(it->first);
      it = notify_targets_.erase(it);
    }
  }
  cv_.notify_all();
}

void TransferService::notified(const wire::Name& zone) {
  stats_.notifies_received.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(mu_);
    auto it = secondaries_.find(zone.to_text());
    if (it == secondaries_.end()) return;
    // A burst of NOTIFYs (or spoofed ones from an allowed address) asks for one refresh,
    // not one each: at most one per second per zone.
    Secondary& s = it->second;
    const auto now = Clock::now();
    if (s.running) {
      // The refresh in flight may have asked before the change this NOTIFY announces; its
      // end schedules the next one (moving `next` here would be overwritten there).
      s.notified_while_running = true;
    } else if (s.last_try && now - *s.last_try < std::chrono::seconds(1)) {
      s.next = std::min(s.next, *s.last_try + std::chrono::seconds(1));
    } else {
      s.next = now;
    }
  }
  cv_.notify_all();
}

void TransferService::run() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    auto due = Clock::time_point::max();
    for (const auto& [name, s] : secondaries_) {
      if (!s.running) due = std::min(due, s.next);
    }
    for (const auto& j : notifies_) due = std::min(due, j.next);
    const auto now = Clock::now();
    if (due > now) {
      if (due == Clock::time_point::max()) {
        cv_.wait(lock);
      } else {
        cv_.wait_until(lock, due);
      }
      continue;
    }
    // The most overdue piece of work (secondaries and NOTIFYs alike), done without the lock.
    bool did = false;
    bool notify_first = false;
    {
      auto oldest_secondary = Clock::time_point::max();
      for (const auto& [name, sec] : secondaries_) {
        if (!sec.running) oldest_secondary = std::min(oldest_secondary, sec.next);
      }
      for (const auto& j : notifies_) notify_first = notify_first || j.next < oldest_secondary;
    }
    for (auto& [name, s] : secondaries_) {
      if (notify_first) break;
      if (s.running || s.next > due) continue;
      s.running = true;
      s.last_try = now;
      Secondary work = s;
      const std::string zone_name = name;
      lock.unlock();
      refresh(zone_name, std::move(work));
      lock.lock();
      did = true;
      break;
    }
    if (did) continue;
    for (std::size_t i = 0; i < notifies_.size(); ++i) {
      if (notifies_[i].next > due) continue;
      NotifyJob job = notifies_[i];
      lock.unlock();
      send_notify(job);
      lock.lock();
      // The list may have changed meanwhile (a reload); find the same job again.
      auto it = std::find_if(notifies_.begin(), notifies_.end(), [&](const NotifyJob& j) {
        return j.zone == job.zone && j.target == job.target && j.soa.rdata == job.soa.rdata;
      });
      if (it == notifies_.end()) break;
      if (job.tries == 0 || job.tries >= kNotifyTries) {
        notifies_.erase(it);  // answered (tries reset to 0) or given up
      } else {
        it->tries = job.tries;
        it->next = Clock::now() + std::chrono::seconds(1U << std::min(job.tries, 4U));
      }
      break;
    }
  }
}

void TransferService::refresh(const std::string& name, Secondary work) {
  const settings::ZoneSettings& cfg = work.cfg;
  std::optional<ZoneCopy> copy;
  if (work.current) copy = ZoneCopy{work.current->serial(), work.current->to_records()};
  const TsigKey* key = work.key ? &*work.key : nullptr;
  std::shared_ptr<const zone::Zone> fresh;
  bool up_to_date = false;
  std::string errors;
  for (const auto& primary : cfg.primaries) {
    FetchOptions options;
    options.active_fd = &active_fd_;
    FetchResult r = fetch_zone(primary, cfg.name, key, copy ? &*copy : nullptr, options);
    if (r.status == FetchStatus::kFailed && copy && r.protocol_error) {
      // An IXFR we could not apply (or a primary that mishandles IXFR): the whole zone.
      VLOG_WARN("zone {}: IXFR from {} failed ({}); trying AXFR", name, primary.to_string(),
                r.error);
      options.force_axfr = true;
      r = fetch_zone(primary, cfg.name, key, nullptr, options);
    }
    if (r.status == FetchStatus::kUpToDate) {
      VLOG_DEBUG("zone {}: serial {} is current at {}", name, copy->serial, primary.to_string());
      up_to_date = true;
      break;
    }
    if (r.status == FetchStatus::kFailed) {
      errors += (errors.empty() ? "" : "; ") + primary.to_string() + ": " + r.error;
      continue;
    }
    zone::ZoneOptions zo;
    zo.on_miss = cfg.on_miss == settings::OnMiss::kForward ? zone::OnMiss::kForward
                                                           : zone::OnMiss::kNxDomain;
    const std::uint32_t serial = r.copy.serial;
    auto built = zone::Zone::build(cfg.name, r.copy.records, zo);
    if (!built) {
      errors += (errors.empty() ? "" : "; ") + primary.to_string() +
                ": sent a zone vnetdns cannot serve: " + built.error().message;
      continue;
    }
    const std::string why =
        write_zone_file(cfg.file, cfg.name, r.copy.records,
                        "zone " + name + " serial " + std::to_string(serial) + " from " +
                            primary.to_string() + " at " + utc_now());
    if (!why.empty()) {
      errors += (errors.empty() ? "" : "; ") + why;
      break;  // the next primary would not help
    }
    VLOG_INFO("zone {}: serial {} transferred from {} ({}, {} records, {} message{})", name, serial,
              primary.to_string(), r.incremental ? "IXFR" : "AXFR", r.copy.records.size(),
              r.messages, r.messages == 1 ? "" : "s");
    fresh = std::move(built.value());
    break;
  }

  const auto now = Clock::now();
  std::optional<SoaTimers> timers;
  if (fresh || work.current) {
    timers = soa_timers((fresh ? fresh : work.current)->to_records().front().rdata);
  }
  const bool ok = fresh != nullptr || up_to_date;
  if (fresh) {
    stats_.transfers.fetch_add(1, std::memory_order_relaxed);
  } else if (up_to_date) {
    stats_.up_to_date.fetch_add(1, std::memory_order_relaxed);
  } else {
    stats_.transfer_failures.fetch_add(1, std::memory_order_relaxed);
    VLOG_WARN("zone {}: refresh failed ({}); {}", name, errors,
              work.current
                  ? "serving the last good copy, serial " + std::to_string(work.current->serial())
                  : std::string("no copy yet: names in it answer SERVFAIL"));
    if (timers && work.last_ok && now - *work.last_ok > std::chrono::seconds(timers->expire)) {
      VLOG_ERROR(
          "zone {}: no primary has answered for longer than the SOA expire time ({} s); "
          "still serving serial {}",
          name, timers->expire, work.current->serial());
    }
  }
  {
    std::lock_guard lock(mu_);
    auto it = secondaries_.find(name);
    if (it != secondaries_.end()) {
      Secondary& s = it->second;
      s.running = false;
      if (fresh) s.current = fresh;
      if (ok) s.last_ok = now;
      if (s.notified_while_running) {
        // A NOTIFY came in meanwhile: another look, no sooner than a second after this one.
        s.notified_while_running = false;
        s.next = std::max(now, work.last_try.value_or(now) + std::chrono::seconds(1));
      } else if (ok) {
        s.next = now + clamp_interval(timers ? timers->refresh : 3600);
      } else {
        s.next = now + clamp_interval(timers ? timers->retry : 10);
      }
    }
  }
  if (fresh && reload_) {
    reload_("zone " + name + " transferred, serial " + std::to_string(fresh->serial()));
  }
}

void TransferService::send_notify(NotifyJob& job) {
  const std::uint16_t id = util::Random::thread_instance().u16();
  Packet p =
      Packet::make(id, static_cast<std::uint16_t>(
                           wire::kFlagAA | (static_cast<unsigned>(wire::Opcode::kNotify) << 11)));
  p.add_question(job.zone, wire::type::kSOA, wire::klass::kIN);
  p.add_answer(job.soa);
  if (job.key) job.key->sign(p.get(), {}, false);
  std::uint16_t rcode = 0;
  const auto timers = soa_timers(job.soa.rdata);
  if (notify_once(job.target, p.to_wire(), id, kNotifyTimeout, rcode)) {
    stats_.notifies_sent.fetch_add(1, std::memory_order_relaxed);
    if (rcode != 0) {
      VLOG_WARN("NOTIFY for {} to {}: answered {}", job.zone.to_text(), job.target.to_string(),
                wire::rcode_name(rcode));
    } else {
      VLOG_INFO("NOTIFY for {} serial {} acknowledged by {}", job.zone.to_text(),
                timers ? timers->serial : 0, job.target.to_string());
    }
    job.tries = 0;
    return;
  }
  ++job.tries;
  if (job.tries >= kNotifyTries) {
    stats_.notify_failures.fetch_add(1, std::memory_order_relaxed);
    VLOG_WARN("NOTIFY for {} to {}: no answer after {} tries; it will refresh on its own timer",
              job.zone.to_text(), job.target.to_string(), kNotifyTries);
  }
}

}  // namespace vnetdns::xfr
