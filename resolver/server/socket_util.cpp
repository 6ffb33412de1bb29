#include "resolver/server/socket_util.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vnetdns::server {

util::Result<int, std::string> open_listener(const util::Endpoint& address, SocketKind kind) {
  const int type =
      (kind == SocketKind::kUdp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC;
  const int fd = ::socket(address.family(), type, 0);
  auto fail = [&](const char* what) {
    std::string msg = std::string(what) + " " + (kind == SocketKind::kUdp ? "udp " : "tcp ") +
                      address.to_string() + ": " + std::strerror(errno);
    if (fd >= 0) ::close(fd);
    return util::Result<int, std::string>(util::Err(msg));
  };
  if (fd < 0) return fail("socket");
  int one = 1;
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
    return fail("SO_REUSEADDR");
  if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
    return fail("SO_REUSEPORT");
  if (address.family() == AF_INET6 &&
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) {
    return fail("IPV6_V6ONLY");
  }
  if (kind == SocketKind::kUdp) {
    // Replies must leave from the address the query came to. A socket bound to one address
    // does that by itself; on a wildcard bind each query's destination comes with it
    // (IP_PKTINFO) and its answer names it as source. Only there: the ancillary data costs
    // the kernel work on every datagram both ways.
    if (address.is_unspecified()) {
      if (address.family() == AF_INET) {
        ::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
      } else {
        ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
      }
    }
    int size = 4 * 1024 * 1024;  // absorb bursts; the kernel caps it at rmem_max
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  } else {
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  if (::bind(fd, address.sockaddr_ptr(), address.size()) != 0) return fail("bind");
  // A deep accept queue: connections past it would sit half-open (the client thinks they are
  // up) instead of reaching the accept loop that enforces max_tcp_clients.
  if (kind == SocketKind::kTcp && ::listen(fd, 4096) != 0) return fail("listen");
  return fd;
}

}  // namespace vnetdns::server
