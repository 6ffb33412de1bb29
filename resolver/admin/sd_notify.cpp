#include "resolver/admin/sd_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace vnetdns::admin {

SystemdNotifier::SystemdNotifier() {
  if (const char* w = std::getenv("WATCHDOG_USEC"); w != nullptr && *w != '\0') {
    const char* pid = std::getenv("WATCHDOG_PID");
    // WATCHDOG_PID, when set, names the process the watchdog is for (not a child of it).
    if (pid == nullptr || std::strtol(pid, nullptr, 10) == static_cast<long>(::getpid())) {
      const long long usec = std::strtoll(w, nullptr, 10);
      if (usec > 0) watchdog_ = std::chrono::microseconds(usec / 2);
    }
  }
  const char* path = std::getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return;
  address_ = path;
  if (address_[0] == '@') {
    address_[0] = '\0';  // abstract namespace
  } else if (address_[0] != '/') {
    return;  // not an AF_UNIX path (e.g. vsock): unsupported
  }
  if (address_.size() >= sizeof(sockaddr_un{}.sun_path)) return;
  fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
}

SystemdNotifier::~SystemdNotifier() {
  if (fd_ >= 0) ::close(fd_);
}

bool SystemdNotifier::send(std::string_view message) const noexcept {
  if (fd_ < 0) return false;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::memcpy(sa.sun_path, address_.data(), address_.size());
  // A path name includes its terminating NUL; an abstract name is exactly its bytes.
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address_.size() +
                                          (address_[0] == '\0' ? 0 : 1));
  const ssize_t n = ::sendto(fd_, message.data(), message.size(), MSG_NOSIGNAL,
                             reinterpret_cast<const sockaddr*>(&sa), len);
  return n == static_cast<ssize_t>(message.size());
}

bool SystemdNotifier::ready(std::string_view status) const {
  std::string m = "READY=1";
  if (!status.empty()) {
    m += "\nSTATUS=";
    m += status;
  }
  return send(m);
}

bool SystemdNotifier::reloading() const {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const long long usec = static_cast<long long>(ts.tv_sec) * 1000000LL + ts.tv_nsec / 1000;
  return send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec));
}

bool SystemdNotifier::status(std::string_view text) const {
  std::string m = "STATUS=";
  m += text;
  return send(m);
}

}  // namespace vnetdns::admin
