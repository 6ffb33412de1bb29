#include "resolver/zonetool/admin_reload.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace vnetdns::zonetool {
namespace {

class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) ::close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  [[nodiscard]] int fd() const { return fd_; }

 private:
  int fd_;
};

}  // namespace

util::Result<std::string, std::string> post_reload(const util::Endpoint& admin, int timeout_ms) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  const auto left_ms = [&] {
    const auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    return static_cast<int>(std::max<long long>(0, d.count()));
  };
  const std::string where = admin.to_string();
  Socket s(::socket(admin.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (s.fd() < 0) return util::Err(std::string("socket: ") + std::strerror(errno));
  const auto wait = [&](short events) -> int {
    pollfd p{s.fd(), events, 0};
    for (;;) {
      const int n = ::poll(&p, 1, left_ms());
      if (n < 0 && errno == EINTR) continue;
      return n;
    }
  };
  if (::connect(s.fd(), admin.sockaddr_ptr(), admin.size()) != 0) {
    if (errno != EINPROGRESS) return util::Err(where + ": " + std::strerror(errno));
    if (wait(POLLOUT) <= 0) return util::Err(where + ": connect timed out");
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return util::Err(where + ": " + std::strerror(err));
  }
  const std::string request = "POST /reload HTTP/1.1\r\nHost: " + where +
                              "\r\nUser-Agent: vnetdns-zone\r\nContent-Length: 0\r\n"
                              "Connection: close\r\n\r\n";
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(s.fd(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (wait(POLLOUT) <= 0) return util::Err(where + ": send timed out");
    } else {
      return util::Err(where + ": " + std::strerror(errno));
    }
  }
  std::string reply;
  char buf[1024];
  while (reply.find("\r\n") == std::string::npos && reply.size() < 8192) {
    if (wait(POLLIN) <= 0) return util::Err(where + ": no reply in time");
    const ssize_t n = ::recv(s.fd(), buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
  }
  const std::string status = reply.substr(0, reply.find("\r\n"));
  // "HTTP/1.1 200 OK": the code sits after the first space.
  const auto sp = status.find(' ');
  if (status.rfind("HTTP/", 0) != 0 || sp == std::string::npos || sp + 1 >= status.size()) {
    return util::Err(where + ": not an HTTP reply");
  }
  if (status[sp + 1] != '2') return util::Err(where + ": " + status);
  return status;
}

}  // namespace vnetdns::zonetool
