// SystemdNotifier: the sd_notify(3) protocol written by hand (no libsystemd): one datagram
// per state change to the AF_UNIX socket named by $NOTIFY_SOCKET ("/path" or "@abstract").
// Used for Type=notify: READY=1 once listening; RELOADING=1 + MONOTONIC_USEC=, then READY=1,
// around a reload (systemd >= 253 needs MONOTONIC_USEC for Type=notify-reload); STOPPING=1;
// WATCHDOG=1 every watchdog_interval() when $WATCHDOG_USEC is set for this process.
// Without $NOTIFY_SOCKET every call is a no-op, so `serve` runs the same outside systemd.
// Thread safety: send() may be called from any thread (one sendto per message).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace vnetdns::admin {

class SystemdNotifier {
 public:
  // Reads $NOTIFY_SOCKET, $WATCHDOG_USEC and $WATCHDOG_PID.
  SystemdNotifier();
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  [[nodiscard]] bool enabled() const noexcept { return fd_ >= 0; }
  // Half of $WATCHDOG_USEC (how often to send WATCHDOG=1), when the watchdog is on.
  [[nodiscard]] std::optional<std::chrono::microseconds> watchdog_interval() const noexcept {
    return watchdog_;
  }

  bool send(std::string_view message) const noexcept;
  bool ready(std::string_view status = {}) const;
  bool reloading() const;  // RELOADING=1 with MONOTONIC_USEC (CLOCK_MONOTONIC now)
  bool stopping() const { return send("STOPPING=1"); }
  bool watchdog() const { return send("WATCHDOG=1"); }
  bool status(std::string_view text) const;

 private:
  int fd_ = -1;
  std::string address_;  // sun_path bytes; a leading '\0' for the abstract namespace
  std::optional<std::chrono::microseconds> watchdog_;
};

}  // namespace vnetdns::admin
