// UdpPool against a UDP socket on loopback standing in for the upstream: no source port
// carries more than kQueriesPerSocket queries, and a late reply to a query that timed out on
// a pooled socket is dropped quietly, not counted as a forgery against the next query there,
// queries asked in one turn all leave in that turn (sharing a port up to its budget, then
// spilling onto fresh ones), replies queued together are all taken (also on more sockets at
// once than one epoll_wait of the pool's set returns), and a closed port fails every query at
// once.
#include "resolver/upstream/udp_pool.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include "resolver/upstream/transport.hpp"
#include "resolver/upstream/upstream_query.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/wire/types.hpp"

#include "tests/unit/upstream/run_coroutine.hpp"

namespace asio = boost::asio;
using vnetdns::upstream::ExchangeResult;
using vnetdns::upstream::ExchangeStatus;
using vnetdns::upstream::UdpPool;
using vnetdns::upstream::UpstreamQuery;
namespace wire = vnetdns::wire;
namespace util = vnetdns::util;

namespace {

using Bytes = std::vector<std::uint8_t>;

// The upstream: answers every query by echoing it with QR=1, except "slow.test." (held, never
// answered). Once a query arrives from the held query's source port, the late reply to the
// held query goes out first, then the real one.
struct Upstream {
  explicit Upstream(asio::io_context& io) : socket(io) {
    socket.open(asio::ip::udp::v4());
    socket.bind({asio::ip::make_address("127.0.0.1"), 0});
  }
  asio::awaitable<void> serve() {
    Bytes buf(4096);
    for (;;) {
      asio::ip::udp::endpoint from;
      auto [ec, n] = co_await socket.async_receive_from(asio::buffer(buf), from,
                                                        asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      Bytes q(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n));
      wire::Name name;
      std::size_t end = 0;
      if (wire::read_name(q.data(), q.size(), wire::kHeaderSize, name, &end) !=
          wire::NameError::kNone) {
        continue;
      }
      ++per_port[from.port()];
      if (name.to_text() == "slow.test.") {
        held = q;
        held_from = from;
        continue;
      }
      if (held && from == held_from) {
        socket.send_to(asio::buffer(answer(*held)), from);
        late_sent = true;
        held.reset();
      }
      socket.send_to(asio::buffer(answer(q)), from);
    }
  }
  static Bytes answer(Bytes q) {
    q[2] |= 0x80;  // QR
    return q;
  }
  util::Endpoint endpoint() const {
    const auto ep = socket.local_endpoint();
    return util::Endpoint::from_sockaddr(ep.data(), static_cast<socklen_t>(ep.size()));
  }

  asio::ip::udp::socket socket;
  std::map<std::uint16_t, int> per_port;
  std::optional<Bytes> held;
  asio::ip::udp::endpoint held_from;
  bool late_sent = false;
};

// One query through the worker's pool, the way the forwarder asks (upstream::exchange():
// a Ticket awaited in its own frame), without EDNS: the echo above answers it whole.
asio::awaitable<ExchangeResult> ask(util::Endpoint server, std::string name,
                                    std::chrono::milliseconds timeout, bool fresh = false,
                                    const std::vector<std::uint16_t>* avoid = nullptr) {
  UpstreamQuery uq;
  uq.qname = wire::Name::from_text(name);
  uq.qtype = wire::type::kA;
  uq.qclass = wire::klass::kIN;
  vnetdns::upstream::ExchangeOptions opt;
  opt.timeout = timeout;
  opt.edns = false;
  opt.fresh_port = fresh;
  opt.avoid_ports = avoid;
  co_return co_await vnetdns::upstream::exchange(server, uq, opt);
}

ExchangeResult run(asio::io_context& io, asio::awaitable<ExchangeResult> a) {
  return vnetdns::test::run_coroutine(io, std::move(a));
}

// `total` queries "<prefix><i>.test" spawned at once; each result lands in its slot.
using Results = std::vector<std::optional<ExchangeResult>>;
void spawn_asks(asio::io_context& io, util::Endpoint server, const std::string& prefix,
                Results& results, std::chrono::milliseconds timeout, bool fresh = false) {
  for (std::size_t i = 0; i < results.size(); ++i) {
    asio::co_spawn(
        io,
        [&results, server, prefix, i, timeout, fresh]() -> asio::awaitable<void> {
          results[i] = co_await ask(server, prefix + std::to_string(i) + ".test", timeout, fresh);
        },
        asio::detached);
  }
}

// Every datagram waiting on `server`, with its source.
std::vector<std::pair<Bytes, asio::ip::udp::endpoint>> drain(asio::ip::udp::socket& server) {
  std::vector<std::pair<Bytes, asio::ip::udp::endpoint>> got;
  Bytes buf(4096);
  server.non_blocking(true);
  for (;;) {
    asio::ip::udp::endpoint from;
    boost::system::error_code ec;
    const std::size_t n = server.receive_from(asio::buffer(buf), from, 0, ec);
    if (ec) break;
    got.emplace_back(Bytes(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(n)), from);
  }
  return got;
}

// A UDP socket on loopback that only collects what arrives (answered by hand, later).
struct Collector {
  explicit Collector(asio::io_context& io) : socket(io) {
    socket.open(asio::ip::udp::v4());
    socket.bind({asio::ip::make_address("127.0.0.1"), 0});
    const auto ep = socket.local_endpoint();
    endpoint = util::Endpoint::from_sockaddr(ep.data(), static_cast<socklen_t>(ep.size()));
  }
  asio::ip::udp::socket socket;
  util::Endpoint endpoint;
};

// Queries per source port among `got`.
std::map<std::uint16_t, int> per_port(
    const std::vector<std::pair<Bytes, asio::ip::udp::endpoint>>& got) {
  std::map<std::uint16_t, int> ports;
  for (const auto& [q, from] : got) ++ports[from.port()];
  return ports;
}

// Runs `io` until every slot has a result or `bound` has passed.
void run_until_done(asio::io_context& io, const Results& results, std::chrono::seconds bound) {
  const auto until = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < until &&
         std::any_of(results.begin(), results.end(), [](const auto& r) { return !r; })) {
    io.run_one_for(std::chrono::milliseconds(100));
  }
}

// Answers everything `server` collected, then runs `io` until every query has its result:
// each must be the reply, with no mismatch counted on the way.
void answer_all(asio::io_context& io, Collector& server,
                const std::vector<std::pair<Bytes, asio::ip::udp::endpoint>>& got,
                const Results& results) {
  for (const auto& [q, from] : got) {
    server.socket.send_to(asio::buffer(Upstream::answer(q)), from);
  }
  run_until_done(io, results, std::chrono::seconds(10));
  for (std::size_t i = 0; i < results.size(); ++i) {
    INFO("query " << i);
    REQUIRE(results[i]);
    CHECK(results[i]->status == ExchangeStatus::kOk);
    CHECK(results[i]->mismatches == 0);
  }
}

}  // namespace

TEST_CASE("UdpPool: at most kQueriesPerSocket queries per source port", "[unit][upstream]") {
  asio::io_context io;
  Upstream up(io);
  asio::co_spawn(io, up.serve(), asio::detached);
  const int total = 400;
  for (int i = 0; i < total; ++i) {
    const ExchangeResult r =
        run(io, ask(up.endpoint(), "n" + std::to_string(i) + ".test", std::chrono::seconds(2)));
    REQUIRE(r.status == ExchangeStatus::kOk);
    CHECK(r.mismatches == 0);
  }
  int busiest = 0;
  for (const auto& [port, n] : up.per_port) busiest = std::max(busiest, n);
  CHECK(busiest <= static_cast<int>(UdpPool::kQueriesPerSocket));
  CHECK(up.per_port.size() >= total / UdpPool::kQueriesPerSocket);
}

TEST_CASE("UdpPool: a late reply to a query that timed out is not a forgery", "[unit][upstream]") {
  asio::io_context io;
  Upstream up(io);
  asio::co_spawn(io, up.serve(), asio::detached);
  const ExchangeResult slow =
      run(io, ask(up.endpoint(), "slow.test", std::chrono::milliseconds(200)));
  REQUIRE(slow.status == ExchangeStatus::kTimeout);
  // Later queries land on random sockets of the pool; ask until one goes out from the slow
  // query's port (1 in 32 each), where the late reply arrives just before the real one.
  for (int i = 0; i < 400 && !up.late_sent; ++i) {
    const ExchangeResult r =
        run(io, ask(up.endpoint(), "f" + std::to_string(i) + ".test", std::chrono::seconds(2)));
    REQUIRE(r.status == ExchangeStatus::kOk);
    CHECK(r.mismatches == 0);
  }
  CHECK(up.late_sent);
}

TEST_CASE("UdpPool: queries asked in one turn all leave in that turn, answers all come back",
          "[unit][upstream]") {
  asio::io_context io;
  Collector server(io);  // not served yet: it only collects what arrives
  const int total = 20;
  Results results(total);
  spawn_asks(io, server.endpoint, "b", results, std::chrono::seconds(5));
  io.poll();  // runs what is ready and returns: no wait for any I/O
  const auto got = drain(server.socket);
  CHECK(static_cast<int>(got.size()) == total);  // every query left within that one poll
  CHECK(per_port(got).size() == 1);  // fewer than a socket's budget: one port, one burst
  // Every reply is queued on the pool's socket before it reads any: one read takes them all.
  answer_all(io, server, got, results);
}

TEST_CASE("UdpPool: a turn with more queries than a socket's budget spreads them over ports",
          "[unit][upstream]") {
  asio::io_context io;
  Collector server(io);
  const int total = 2 * static_cast<int>(UdpPool::kQueriesPerSocket) + 5;
  Results results(total);
  spawn_asks(io, server.endpoint, "s", results, std::chrono::seconds(5));
  io.poll();
  const auto got = drain(server.socket);
  REQUIRE(static_cast<int>(got.size()) == total);
  const auto ports = per_port(got);
  CHECK(ports.size() == 3);
  for (const auto& [port, n] : ports) CHECK(n <= static_cast<int>(UdpPool::kQueriesPerSocket));
  answer_all(io, server, got, results);
}

TEST_CASE("UdpPool: queries to a closed port fail at once with a network error",
          "[unit][upstream]") {
  asio::io_context io;
  util::Endpoint closed;
  {
    // A port that was just free: nothing listens there once this socket closes.
    asio::ip::udp::socket probe(io, {asio::ip::make_address("127.0.0.1"), 0});
    const auto pep = probe.local_endpoint();
    closed = util::Endpoint::from_sockaddr(pep.data(), static_cast<socklen_t>(pep.size()));
  }
  // More queries than the pool has sockets, all in one turn: some share a socket, so a send
  // meets the ICMP error the previous one on that socket caused (the flush's error path),
  // and the others learn it from their socket's receive (fail_all).
  const int total = 3 * static_cast<int>(UdpPool::kSockets);
  Results results(total);
  spawn_asks(io, closed, "c", results, std::chrono::seconds(30));
  run_until_done(io, results, std::chrono::seconds(20));
  for (int i = 0; i < total; ++i) {
    INFO("query " << i);
    REQUIRE(results[i]);  // none waited for its 30 s timeout
    CHECK(results[i]->status == ExchangeStatus::kNetworkError);
  }
}

TEST_CASE("UdpPool, fresh ports: 1,000 queries one after another leave from >= 990 ports",
          "[unit][upstream]") {
  asio::io_context io;
  Upstream up(io);
  asio::co_spawn(io, up.serve(), asio::detached);
  const int total = 1000;
  for (int i = 0; i < total; ++i) {
    const ExchangeResult r = run(
        io, ask(up.endpoint(), "p" + std::to_string(i) + ".test", std::chrono::seconds(2), true));
    REQUIRE(r.status == ExchangeStatus::kOk);
    CHECK(r.mismatches == 0);
  }
  CHECK(up.per_port.size() >= 990);
}

TEST_CASE("UdpPool, fresh ports: queries in flight together each have a port of their own",
          "[unit][upstream]") {
  asio::io_context io;
  Collector server(io);
  const int total = 100;
  Results results(total);
  spawn_asks(io, server.endpoint, "c", results, std::chrono::seconds(5), true);
  io.poll();
  const auto got = drain(server.socket);
  REQUIRE(static_cast<int>(got.size()) == total);
  // No port carries two open queries, and no port opened for one is used again while any
  // is open (all are open here: none was answered yet).
  const auto ports = per_port(got);
  CHECK(ports.size() == static_cast<std::size_t>(total));
  // Every reply is queued before the pool looks: more sockets are ready at once than one
  // handler takes from its epoll set; the rest must be read when the re-armed wait fires.
  static_assert(total > UdpPool::kReadyBatch);
  answer_all(io, server, got, results);
}

TEST_CASE("UdpPool, fresh ports: avoid_ports are never used", "[unit][upstream]") {
  asio::io_context io;
  Upstream up(io);
  asio::co_spawn(io, up.serve(), asio::detached);
  // Avoid every even port of the kernel's ephemeral range: every query must leave from an
  // odd one (a draw lands on an allowed port half the time: 32 tries all but never miss).
  unsigned lo = 32768;
  unsigned hi = 60999;
  if (std::FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(f, "%u %u", &lo, &hi) != 2) {
      lo = 32768;
      hi = 60999;
    }
    std::fclose(f);
  }
  REQUIRE(hi - lo > 1000);
  std::vector<std::uint16_t> avoid;
  for (unsigned p = lo; p <= hi; ++p) {
    if (p % 2 == 0) avoid.push_back(static_cast<std::uint16_t>(p));
  }
  for (int i = 0; i < 40; ++i) {
    const ExchangeResult r = run(io, ask(up.endpoint(), "a" + std::to_string(i) + ".test",
                                         std::chrono::seconds(2), true, &avoid));
    CHECK(r.status == ExchangeStatus::kOk);
  }
  CHECK(up.per_port.size() == 40);
  for (const auto& [port, n] : up.per_port) CHECK(port % 2 == 1);
}

namespace {

// Descriptors this process has open (the listing's own included, the same each time).
std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

}  // namespace

TEST_CASE("UdpPool: an io_context destroyed with queries in flight closes every socket",
          "[unit][upstream]") {
  // A worker stopping with questions open: their frames, the pools and their epoll sets go
  // with the io_context, in whatever order its shutdown takes them. Nothing may be touched
  // after it is freed (ASan), and no socket or epoll set may stay open.
  const std::size_t before = open_descriptors();
  Results fresh(20);
  Results pooled(20);
  {
    asio::io_context io;
    Collector server(io);  // never answers
    spawn_asks(io, server.endpoint, "f", fresh, std::chrono::seconds(30), true);
    spawn_asks(io, server.endpoint, "p", pooled, std::chrono::seconds(30));
    io.poll();
    REQUIRE(drain(server.socket).size() == fresh.size() + pooled.size());
  }
  for (const auto& r : fresh) CHECK(!r);
  for (const auto& r : pooled) CHECK(!r);
  CHECK(open_descriptors() == before);
}

TEST_CASE("UdpPool: an event for a socket closed while its file stays open elsewhere is ignored",
          "[unit][upstream]") {
  // close() takes a socket out of an epoll set only once its file is released; another
  // reference (here a dup, in production a /proc/PID/fd reader) keeps it in the pool's set
  // after its Port is closed and freed. A datagram arriving then must not reach the freed
  // Port (ASan sees it if it does) and must not be read by anyone.
  asio::io_context io;
  Collector server(io);
  Results first(1);
  spawn_asks(io, server.endpoint, "d", first, std::chrono::milliseconds(200), true);
  io.poll();
  const auto got = drain(server.socket);
  REQUIRE(got.size() == 1);
  // The pool's socket for that query, found by its local port, and a second reference to it.
  int held = -1;
  for (int fd = 0; fd < 4096 && held < 0; ++fd) {
    sockaddr_in local{};
    socklen_t len = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0 &&
        local.sin_family == AF_INET && ntohs(local.sin_port) == got[0].second.port()) {
      held = ::dup(fd);
    }
  }
  REQUIRE(held >= 0);
  // Unanswered, the query times out: its Port closes while still waiting to be read, and is
  // freed.
  run_until_done(io, first, std::chrono::seconds(10));
  REQUIRE(first[0]);
  CHECK(first[0]->status == ExchangeStatus::kTimeout);
  server.socket.send_to(asio::buffer(Upstream::answer(got[0].first)), got[0].second);
  for (int i = 0; i < 20; ++i) io.poll();  // the set reports the stale socket; it is skipped
  std::array<std::uint8_t, 512> buf{};
  CHECK(::recv(held, buf.data(), buf.size(), MSG_DONTWAIT) > 0);  // nobody read it
  ::close(held);
  // The pool goes on as before.
  Results next(3);
  spawn_asks(io, server.endpoint, "e", next, std::chrono::seconds(5), true);
  io.poll();
  const auto more = drain(server.socket);
  REQUIRE(more.size() == next.size());
  answer_all(io, server, more, next);
}
