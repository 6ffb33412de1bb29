// Zone transfers without a network peer we do not control: the responder's answers parsed
// back (AXFR framing, IXFR at the current serial, ACL, TSIG), the transfer client against
// the responder over a real loopback TCP socket (a multi-message AXFR signed with TSIG, and
// the up-to-date IXFR), TransferService's refresh scheduling around a NOTIFY, the zone writer's
// file read back by the zone loader, and RFC 1982.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "resolver/settings/loader.hpp"
#include "resolver/wire/types.hpp"
#include "resolver/xfr/packet.hpp"
#include "resolver/xfr/request_signature.hpp"
#include "resolver/xfr/transfer_client.hpp"
#include "resolver/xfr/transfer_responder.hpp"
#include "resolver/xfr/transfer_service.hpp"
#include "resolver/xfr/tsig_key.hpp"
#include "resolver/xfr/zone_writer.hpp"
#include "resolver/zone/zone_loader.hpp"

namespace vnetdns::xfr {
namespace {

const wire::Name kOrigin = wire::Name::from_text("privatelink.azurecr.io.");
constexpr const char* kSecret = "bTBjazNkLXNlY3JldC1mb3ItdGVzdHMtb25seQ==";

std::string zone_text(std::uint32_t serial, int extra_records) {
  std::string z = "$ORIGIN privatelink.azurecr.io.\n$TTL 300\n@ SOA ns1 hostmaster " +
                  std::to_string(serial) + " 3600 600 86400 300\n@ NS ns1\nns1 A 10.0.0.53\n";
  for (int i = 0; i < extra_records; ++i) {
    z += "replica" + std::to_string(i) + " A 10.1." + std::to_string(i / 250) + "." +
         std::to_string(i % 250 + 1) + "\n";
  }
  return z;
}

settings::Settings config(bool with_key) {
  std::string toml = std::string("[[key]]\nname = \"xfr-key\"\nsecret = \"") + kSecret + "\"\n" +
                     "[[zone]]\nname = \"privatelink.azurecr.io\"\nfile = \"z.zone\"\n"
                     "allow_transfer = [\"127.0.0.1\"]\n" +
                     (with_key ? "key = \"xfr-key\"\n" : "");
  auto s = settings::parse_settings(toml, "test.toml");
  REQUIRE(s.ok());
  return s.value();
}

std::shared_ptr<const zone::ZoneSet> zones(std::uint32_t serial, int extra) {
  auto z = zone::load_zone_from_text(kOrigin, zone_text(serial, extra));
  REQUIRE(z.ok());
  auto set = zone::ZoneSet::build({z.value()});
  REQUIRE(set.ok());
  return set.value();
}

std::vector<std::uint8_t> request(std::uint16_t qtype, const TsigKey* key,
                                  std::optional<std::uint32_t> ixfr_serial = std::nullopt) {
  Packet p = Packet::make(4242, 0);
  p.add_question(kOrigin, qtype, wire::klass::kIN);
  if (ixfr_serial) {
    auto z = zones(*ixfr_serial, 0);
    p.add_authority(z->zones().front()->to_records().front());
  }
  if (key != nullptr) REQUIRE(key->sign(p.get(), {}, false));
  return p.to_wire();
}

util::Endpoint from(const char* ip) { return *util::Endpoint::parse(ip, 5353); }

std::uint16_t rcode_of(const std::vector<std::uint8_t>& m) {
  return wire::header_flags(m.data()) & 0xf;
}

TEST_CASE("xfr: RFC 1982 serial arithmetic", "[unit][xfr]") {
  CHECK(serial_newer(2, 1));
  CHECK_FALSE(serial_newer(1, 2));
  CHECK_FALSE(serial_newer(5, 5));
  CHECK(serial_newer(1, 0xffffffffU));        // wraps
  CHECK_FALSE(serial_newer(0x80000001U, 1));  // undefined distance: not newer
}

TEST_CASE("xfr: AXFR answer is SOA, records, SOA; IXFR at our serial is one SOA", "[unit][xfr]") {
  const settings::Settings s = config(false);
  auto set = zones(10, 3);
  auto req = request(wire::type::kAXFR, nullptr);
  auto msgs = answer_transfer(s, *set, {req.data(), req.size(), from("127.0.0.1"), true});
  REQUIRE(msgs.size() == 1);
  Packet p = Packet::parse(msgs[0].data(), msgs[0].size());
  REQUIRE(p.valid());
  CHECK(p.id() == 4242);
  CHECK(p.response());
  REQUIRE(p.answer_count() == 3 + 3 + 1);  // SOA NS A + 3 replicas + closing SOA
  zone::ZoneRecord first, last;
  REQUIRE(p.answer(0, first));
  REQUIRE(p.answer(p.answer_count() - 1, last));
  CHECK(first.type == wire::type::kSOA);
  CHECK(last.type == wire::type::kSOA);

  auto ixfr = request(wire::type::kIXFR, nullptr, 10);
  msgs = answer_transfer(s, *set, {ixfr.data(), ixfr.size(), from("127.0.0.1"), true});
  REQUIRE(msgs.size() == 1);
  CHECK(Packet::parse(msgs[0].data(), msgs[0].size()).answer_count() == 1);
  // An older serial over UDP: the SOA alone (use TCP); over TCP: the whole zone.
  auto old = request(wire::type::kIXFR, nullptr, 9);
  msgs = answer_transfer(s, *set, {old.data(), old.size(), from("127.0.0.1"), false});
  CHECK(Packet::parse(msgs[0].data(), msgs[0].size()).answer_count() == 1);
  msgs = answer_transfer(s, *set, {old.data(), old.size(), from("127.0.0.1"), true});
  CHECK(Packet::parse(msgs[0].data(), msgs[0].size()).answer_count() == 7);
}

TEST_CASE("xfr: the responder's refusals", "[unit][xfr]") {
  auto set = zones(10, 0);
  const settings::Settings open = config(false);
  auto req = request(wire::type::kAXFR, nullptr);
  CHECK(
      rcode_of(answer_transfer(open, *set, {req.data(), req.size(), from("127.0.0.2"), true})[0]) ==
      static_cast<std::uint16_t>(wire::Rcode::kRefused));
  CHECK(rcode_of(
            answer_transfer(open, *set, {req.data(), req.size(), from("127.0.0.1"), false})[0]) ==
        static_cast<std::uint16_t>(wire::Rcode::kNotImp));
  const settings::Settings keyed = config(true);
  CHECK(rcode_of(
            answer_transfer(keyed, *set, {req.data(), req.size(), from("127.0.0.1"), true})[0]) ==
        static_cast<std::uint16_t>(wire::Rcode::kNotAuth));
  settings::TsigKeySettings wrong = keyed.keys.front();
  wrong.secret = "d3Jvbmcta2V5LXdyb25nLWtleQ==";
  const TsigKey bad(wrong);
  auto forged = request(wire::type::kAXFR, &bad);
  CHECK(rcode_of(answer_transfer(keyed, *set,
                                 {forged.data(), forged.size(), from("127.0.0.1"), true})[0]) ==
        static_cast<std::uint16_t>(wire::Rcode::kNotAuth));
  const std::uint8_t garbage[5] = {1, 2, 3, 4, 5};
  auto r = answer_transfer(open, *set, {garbage, sizeof(garbage), from("127.0.0.1"), true});
  REQUIRE(r.size() == 1);
  CHECK(rcode_of(r[0]) == static_cast<std::uint16_t>(wire::Rcode::kFormErr));
}

// A TCP socket listening on 127.0.0.1 on a port the kernel picks (returned in `port`).
int listen_loopback(std::uint16_t& port, int backlog) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  REQUIRE(::listen(fd, backlog) == 0);
  return fd;
}

// One length-prefixed request read from `c` (empty if the peer sent none whole).
std::vector<std::uint8_t> read_request(int c) {
  std::uint8_t len2[2];
  if (::recv(c, len2, 2, MSG_WAITALL) != 2) return {};
  std::vector<std::uint8_t> q(wire::load16(len2));
  if (::recv(c, q.data(), q.size(), MSG_WAITALL) != static_cast<ssize_t>(q.size())) return {};
  return q;
}

// The responder's answer to `q`, each message length-prefixed; returns the messages sent.
int send_answer(int c, const settings::Settings& s, const zone::ZoneSet& set,
                const std::vector<std::uint8_t>& q) {
  int sent = 0;
  for (const auto& m : answer_transfer(s, set, {q.data(), q.size(), from("127.0.0.1"), true})) {
    std::vector<std::uint8_t> f(m.size() + 2);
    wire::store16(f.data(), static_cast<std::uint16_t>(m.size()));
    std::copy(m.begin(), m.end(), f.begin() + 2);
    ::send(c, f.data(), f.size(), MSG_NOSIGNAL);
    ++sent;
  }
  return sent;
}

// Serves `messages` for each request on one loopback TCP connection, then closes.
class OneShotServer {
 public:
  OneShotServer(const settings::Settings& s, std::shared_ptr<const zone::ZoneSet> set) {
    fd_ = listen_loopback(port_, 1);
    thread_ = std::thread([this, s, set] {
      const int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      const std::vector<std::uint8_t> q = read_request(c);
      if (!q.empty()) sent_ = send_answer(c, s, *set, q);
      ::close(c);
    });
  }
  ~OneShotServer() {
    ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::close(fd_);
  }
  [[nodiscard]] util::Endpoint endpoint() const {
    return *util::Endpoint::parse("127.0.0.1", port_);
  }
  void join() { thread_.join(); }
  [[nodiscard]] int sent() const { return sent_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  int sent_ = 0;
  std::thread thread_;
};

TEST_CASE("xfr: client takes a multi-message AXFR signed with TSIG", "[unit][xfr]") {
  const settings::Settings s = config(true);
  auto set = zones(77, 2000);  // ~60 KiB of records: several messages
  OneShotServer server(s, set);
  const TsigKey key(s.keys.front());
  FetchOptions opt;
  opt.timeout = std::chrono::milliseconds(5000);
  FetchResult r = fetch_zone(server.endpoint(), kOrigin, &key, nullptr, opt);
  server.join();
  INFO(r.error);
  REQUIRE(r.status == FetchStatus::kNewCopy);
  CHECK(r.copy.serial == 77);
  CHECK(r.messages > 1);
  CHECK(static_cast<int>(r.messages) == server.sent());
  CHECK(r.copy.records.size() == set->zones().front()->record_count());
  CHECK(zone::Zone::build(kOrigin, r.copy.records, {}).ok());
}

TEST_CASE("xfr: client sees an up-to-date IXFR and rejects a wrong key", "[unit][xfr]") {
  const settings::Settings s = config(true);
  auto set = zones(77, 3);
  ZoneCopy current{77, set->zones().front()->to_records()};
  {
    OneShotServer server(s, set);
    const TsigKey key(s.keys.front());
    FetchResult r = fetch_zone(server.endpoint(), kOrigin, &key, &current, {});
    server.join();
    INFO(r.error);
    CHECK(r.status == FetchStatus::kUpToDate);
  }
  {
    OneShotServer server(s, set);
    settings::TsigKeySettings wrong = s.keys.front();
    wrong.secret = "d3Jvbmcta2V5LXdyb25nLWtleQ==";
    const TsigKey bad(wrong);
    FetchResult r = fetch_zone(server.endpoint(), kOrigin, &bad, nullptr, {});
    server.join();
    CHECK(r.status == FetchStatus::kFailed);
    CHECK(r.error.find("NOTAUTH") != std::string::npos);
  }
}

TEST_CASE("xfr: a signed query's answer is signed and verifies", "[unit][xfr]") {
  const settings::Settings s = config(true);
  const TsigKey key(s.keys.front());
  auto q = request(wire::type::kSOA, &key);
  Packet parsed = Packet::parse(q.data(), q.size());
  RequestSignature sig = RequestSignature::check(s, nullptr, parsed, q.data(), q.size());
  REQUIRE(sig.ok);
  REQUIRE(sig.key);
  Packet answer = Packet::make(4242, wire::kFlagQR | wire::kFlagAA);
  answer.add_question(kOrigin, wire::type::kSOA, wire::klass::kIN);
  std::vector<std::uint8_t> out = answer.to_wire();
  const std::size_t unsigned_len = out.size();
  out.resize(4096);
  const std::size_t n = sig.sign_answer(out.data(), unsigned_len, out.size());
  REQUIRE(n > unsigned_len);
  Packet back = Packet::parse(out.data(), n);
  CHECK(key.verify(back.get(), out.data(), n, TsigKey::mac_of(parsed.get()), false));
}

// A primary on loopback TCP that answers every transfer request, but holds its answer to the
// first one until release(): a refresh that is "in flight" for as long as the test wants.
class GatedPrimary {
 public:
  GatedPrimary(const settings::Settings& s, std::shared_ptr<const zone::ZoneSet> set) {
    fd_ = listen_loopback(port_, 4);
    thread_ = std::thread([this, s, set] {
      for (;;) {
        const int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        const std::vector<std::uint8_t> q = read_request(c);
        {
          std::unique_lock lock(mu_);
          ++requests_;
          cv_.notify_all();
          cv_.wait(lock, [this] { return released_; });
        }
        if (!q.empty()) send_answer(c, s, *set, q);
        ::close(c);
      }
    });
  }
  ~GatedPrimary() {
    release();
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  GatedPrimary(const GatedPrimary&) = delete;
  GatedPrimary& operator=(const GatedPrimary&) = delete;
  [[nodiscard]] std::uint16_t port() const { return port_; }
  void release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }
  // Waits (bounded) until `n` requests have arrived; the count seen.
  int wait_requests(int n, std::chrono::seconds bound) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, bound, [&] { return requests_ >= n; });
    return requests_;
  }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  int requests_ = 0;
  bool released_ = false;
  std::thread thread_;
};

TEST_CASE("xfr: a NOTIFY during a running refresh asks for another refresh after it",
          "[unit][xfr]") {
  // The primary's zone and ours are both serial 77: every refresh finds it current. Without
  // the NOTIFY the next refresh would be the SOA refresh interval (3600 s) away.
  auto set = zones(77, 3);
  GatedPrimary primary(config(false), set);
  auto parsed = settings::parse_settings(
      "[[zone]]\nname = \"privatelink.azurecr.io\"\nfile = \"/nonexistent/copy.zone\"\n"
      "primaries = [\"127.0.0.1:" +
          std::to_string(primary.port()) + "\"]\n",
      "test.toml");
  REQUIRE(parsed.ok());
  TransferService service(nullptr);
  service.update(parsed.value(), *set);
  service.start();
  REQUIRE(primary.wait_requests(1, std::chrono::seconds(30)) == 1);  // the start-up refresh
  service.notified(kOrigin);  // arrives while that refresh waits for its answer
  primary.release();
  // The refresh that the NOTIFY asked for comes (a second after the first one started).
  CHECK(primary.wait_requests(2, std::chrono::seconds(10)) == 2);
  service.stop();
  CHECK(service.stats().notifies_received.load() == 1);
  CHECK(service.stats().up_to_date.load() >= 1);
  CHECK(service.stats().transfers.load() == 0);
}

TEST_CASE("xfr: the zone writer's file loads back to the same zone", "[unit][xfr]") {
  auto set = zones(5, 20);
  const zone::Zone& z = *set->zones().front();
  char dir[] = "/tmp/vnetdns-xfr-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/copy.zone";
  CHECK(write_zone_file(path, kOrigin, z.to_records(), "test") == "");
  auto back = zone::load_zone(kOrigin, path);
  INFO((back.ok() ? std::string() : back.error()));
  REQUIRE(back.ok());
  CHECK(back.value()->content_hash() == z.content_hash());
  CHECK(write_zone_file(std::string(dir) + "/missing/copy.zone", kOrigin, z.to_records(), "t") !=
        "");
  std::remove(path.c_str());
  ::rmdir(dir);
}

}  // namespace
}  // namespace vnetdns::xfr
