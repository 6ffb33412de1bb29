// UdpListener on a real loopback socket with the scenario pipeline: a burst of queries queued
// before the listener runs is answered in full (each ID once), the listener goes back to
// waiting afterwards (a lone query later is still answered: the socket came back into the
// event loop after the burst took it out), and stop() in the middle of a burst closes the
// socket once.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include <catch2/catch.hpp>

#include "resolver/server/socket_util.hpp"
#include "resolver/server/udp_listener.hpp"

#include "scenario_harness.hpp"

namespace vnetdns::scenario {
namespace {

namespace t = wire::type;

// A non-blocking client socket on 127.0.0.1 that sends queries to `port` and collects the
// answers' IDs.
class Client {
 public:
  explicit Client(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0)) {
    REQUIRE(fd_ >= 0);
    int big = 8 << 20;
    if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) != 0) {
      ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    }
    to_.sin_family = AF_INET;
    to_.sin_port = htons(port);
    to_.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  }
  ~Client() { ::close(fd_); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void send(std::uint16_t id) {
    const Bytes q = make_query("myregistry.privatelink.azurecr.io", t::kA, id);
    REQUIRE(::sendto(fd_, q.data(), q.size(), 0, reinterpret_cast<const sockaddr*>(&to_),
                     sizeof(to_)) == static_cast<ssize_t>(q.size()));
  }
  // Reads what has arrived; false on an answer that is not the expected one.
  bool collect() {
    std::array<std::uint8_t, 4096> buf{};
    for (;;) {
      const ssize_t n = ::recv(fd_, buf.data(), buf.size(), 0);
      if (n <= 0) return true;
      const Answer a = parse_answer(buf.data(), static_cast<std::size_t>(n));
      if (!a.parsed || a.rcode != 0 ||
          a.answer !=
              std::vector<std::string>{"myregistry.privatelink.azurecr.io. 10 A 10.0.0.7"} ||
          !ids.insert(a.id).second) {
        ++bad;
      }
    }
  }

  std::set<std::uint16_t> ids;
  std::size_t bad = 0;

 private:
  int fd_;
  sockaddr_in to_{};
};

struct Listening {
  Harness h;
  int fd = -1;
  std::uint16_t port = 0;
  std::unique_ptr<server::UdpListener> listener;

  Listening() {
    sockaddr_in any_port{};  // 127.0.0.1, port picked by the kernel
    any_port.sin_family = AF_INET;
    any_port.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    const util::Endpoint address = util::Endpoint::from_sockaddr(
        reinterpret_cast<const sockaddr*>(&any_port), sizeof(any_port));
    auto opened = server::open_listener(address, server::SocketKind::kUdp);
    INFO((opened.ok() ? std::string() : opened.error()));
    REQUIRE(opened.ok());
    fd = opened.value();
    int big = 8 << 20;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
    sockaddr_in sin{};
    socklen_t len = sizeof(sin);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&sin), &len) == 0);
    port = ntohs(sin.sin_port);
    listener = std::make_unique<server::UdpListener>(h.io, fd, *h.pipe);
    listener->start();
  }
  // The listener's coroutine refers to it: stop it and let the coroutine end before the
  // listener goes (as Worker keeps a removed listener until its loop has stopped).
  ~Listening() {
    if (!listener) return;
    listener->stop();
    h.io.restart();
    h.io.poll();
    listener.reset();
  }
  Listening(const Listening&) = delete;
  Listening& operator=(const Listening&) = delete;
};

// How many queries the listener socket can hold queued (its receive buffer, as the kernel
// granted it: 8 MiB as root, else up to net.core.rmem_max). A small query costs about 1 KiB.
std::size_t queue_room(int fd) {
  int granted = 0;
  socklen_t len = sizeof(granted);
  ::getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &len);
  return static_cast<std::size_t>(granted) / 2048;
}

TEST_CASE("UDP listener: a burst is answered in full, then a lone query still is", "[scenario]") {
  Listening l;
  Client c(l.port);
  const std::size_t burst = std::min<std::size_t>(600, queue_room(l.fd));
  REQUIRE(burst >= 64);
  for (std::uint16_t id = 1; id <= burst; ++id) c.send(id);
  CHECK(l.h.run_until([&] { return c.collect() && c.ids.size() + c.bad >= burst; }));
  CHECK(c.bad == 0);
  CHECK(c.ids.size() == burst);

  // Nothing queued now: the listener waits in the event loop again and wakes for one query.
  for (int i = 0; i < 3; ++i) {
    const auto id = static_cast<std::uint16_t>(10000 + i);
    c.send(id);
    CHECK(l.h.run_until([&] { return c.collect() && c.ids.count(id) == 1; }));
  }
  CHECK(c.bad == 0);
  l.listener->stop();
  CHECK(::fcntl(l.fd, F_GETFD) == -1);  // closed
}

TEST_CASE("UDP listener: stop() in the middle of a burst closes the socket once", "[scenario]") {
  Listening l;
  Client c(l.port);
  // More than one turn of batches (8 x 64): the listener yields to the event loop in the
  // middle of the burst, with its socket out of the epoll set.
  const std::size_t burst = 1500;
  if (queue_room(l.fd) < burst) {
    WARN("the socket's receive buffer holds fewer than " << burst
                                                         << " queries (not root?): skipped");
    return;
  }
  for (std::uint16_t id = 1; id <= burst; ++id) c.send(id);
  REQUIRE(l.h.run_until([&] { return c.collect() && !c.ids.empty(); }));
  CHECK(c.ids.size() < burst);  // the rest waits for the listener's next turn
  l.listener->stop();
  CHECK(::fcntl(l.fd, F_GETFD) == -1);
  // The descriptor number may now be reused; the listener must not close it again.
  const int reused = ::socket(AF_INET, SOCK_DGRAM, 0);
  REQUIRE(reused >= 0);
  l.h.io.restart();
  l.h.io.poll();  // run() resumes from its yield, sees the stop and ends
  l.listener.reset();
  CHECK(::fcntl(reused, F_GETFD) != -1);
  ::close(reused);
  CHECK(c.bad == 0);
}

}  // namespace
}  // namespace vnetdns::scenario
