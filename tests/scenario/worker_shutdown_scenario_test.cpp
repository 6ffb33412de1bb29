// A Worker destroyed while questions wait upstream (docs/design.md "Threads", the shutdown
// order): a real Worker on loopback forwards to a UDP socket of this test that reads every
// query and never answers; once the upstream has seen the questions (so each is a coroutine
// suspended inside the pipeline's resolve, its tries open on the upstream sockets), the
// Worker is destroyed. Under ASan (tests/run.sh) any frame that touched the destroyed
// Pipeline, a listener or the io_context on its way out would be a reported use after free;
// the test also checks that the upstream really had questions in flight.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "resolver/cache/packet_cache.hpp"
#include "resolver/pipeline/snapshot.hpp"
#include "resolver/server/worker.hpp"
#include "resolver/settings/loader.hpp"
#include "resolver/upstream/upstream_query.hpp"

namespace vnetdns::server {
namespace {

// A bound UDP socket on 127.0.0.1 (port 0: the kernel's pick).
struct Socket {
  Socket() : fd(::socket(AF_INET, SOCK_DGRAM, 0)) {
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
    socklen_t len = sizeof(a);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port = ntohs(a.sin_port);
  }
  ~Socket() { ::close(fd); }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  // Datagrams that arrive within `wait` of each other, up to `want`.
  int count_arrivals(int want, std::chrono::milliseconds wait) const {
    int n = 0;
    std::array<std::uint8_t, 4096> buf{};
    while (n < want) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) break;
      if (::recv(fd, buf.data(), buf.size(), 0) > 0) ++n;
    }
    return n;
  }
  int fd;
  std::uint16_t port = 0;
};

// A free port for the worker's listeners: bound, read, closed.
std::uint16_t free_port() {
  const Socket s;
  return s.port;
}

}  // namespace

TEST_CASE("Worker destroyed while its questions wait upstream: nothing left dangling",
          "[scenario][server]") {
  const Socket silent;  // the upstream: reads, never answers
  const std::uint16_t port = free_port();
  const std::string toml = "[server]\nlisten = [\"127.0.0.1:" + std::to_string(port) +
                           "\"]\nthreads = 1\n[acl]\nallow = [\"127.0.0.0/8\"]\n"
                           "[[forward]]\nzone = \".\"\nupstreams = [\"127.0.0.1:" +
                           std::to_string(silent.port) +
                           "\"]\ntimeout = \"10s\"\ndeadline = \"30s\"\n";
  auto parsed = settings::parse_settings(toml, "worker_shutdown.toml");
  REQUIRE(parsed.ok());
  auto built = pipeline::build_snapshot(parsed.value());
  REQUIRE(built.ok());
  pipeline::SnapshotHolder holder(built.value());
  cache::PacketCache cache(cache::CacheOptions{1000, 0});

  const Socket client;
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  constexpr int kQuestions = 20;
  {
    auto worker = std::make_unique<Worker>(0, holder, cache, parsed.value().server);
    worker->start();
    for (int i = 0; i < kQuestions; ++i) {
      upstream::UpstreamQuery q;
      q.qname = wire::Name::from_text("q" + std::to_string(i) + ".waiting.example");
      q.qtype = wire::type::kA;
      std::array<std::uint8_t, 512> buf{};
      const std::size_t n = upstream::encode_query(q, static_cast<std::uint16_t>(0x4000 + i),
                                                   buf.data(), buf.size(), false, nullptr, 0);
      REQUIRE(n > 0);
      buf[2] |= 0x01;  // RD
      REQUIRE(::sendto(client.fd, buf.data(), n, 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) ==
              static_cast<ssize_t>(n));
    }
    // Every question reached the upstream: each is suspended, waiting for its reply (the
    // per-try timeout is 10 s, so none has moved on).
    CHECK(silent.count_arrivals(kQuestions, std::chrono::milliseconds(5000)) == kQuestions);
    worker.reset();  // stop, join, then members in the order ~Worker documents
  }
  // Nothing was answered: the questions ended with the worker, not with a reply.
  pollfd p{client.fd, POLLIN, 0};
  CHECK(::poll(&p, 1, 0) == 0);
}

}  // namespace vnetdns::server
