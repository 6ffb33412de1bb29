// DnssecCheck (the [dnssec] mode = "validate" check that an upstream returns DNSSEC data):
// what each kind of answer means (classify_dnssec_probe), and the loop against a UDP server
// on loopback that changes its behaviour: silent (no verdict: the state stays unchecked and
// the check is asked again), then signing (ok), stripping (flagged and counted), signing again
// (cleared without a reload); stop() leaves no work behind.
#include "resolver/upstream/dnssec_check.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <catch2/catch.hpp>

#include "resolver/upstream/forward_group.hpp"
#include "resolver/wire/builder.hpp"
#include "resolver/wire/types.hpp"

namespace asio = boost::asio;
namespace upstream = vnetdns::upstream;
namespace wire = vnetdns::wire;
namespace util = vnetdns::util;
using upstream::DnssecVerdict;
using upstream::ExchangeResult;
using upstream::ExchangeStatus;
using upstream::ServerHealth;

namespace {

using Bytes = std::vector<std::uint8_t>;

enum class Reply { kSilent, kSigned, kStripped, kRefused, kServFail, kFormErr, kOtherSig };

// An answer to the root DNSKEY question with id `id`: per `how`, the DNSKEY with or without
// its RRSIG (kOtherSig: an RRSIG that covers another type), or just an RCODE.
Bytes answer(std::uint16_t id, Reply how) {
  Bytes buf(512);
  wire::MessageBuilder b(buf.data(), buf.size());
  b.start(id, wire::kFlagQR | wire::kFlagRD | wire::kFlagRA);
  b.add_question(wire::Name(), wire::type::kDNSKEY, wire::klass::kIN);
  const std::uint8_t rcode = how == Reply::kRefused    ? 5
                             : how == Reply::kServFail ? 2
                             : how == Reply::kFormErr  ? 1
                                                       : 0;
  b.set_rcode(rcode);
  if (rcode == 0) {
    // flags 257 (SEP, zone key), protocol 3, algorithm 13, a made-up key
    const std::array<std::uint8_t, 8> dnskey{0x01, 0x01, 3, 13, 1, 2, 3, 4};
    b.add_rr(wire::Section::kAnswer, wire::Name(), wire::type::kDNSKEY, wire::klass::kIN, 3600,
             dnskey.data(), dnskey.size());
    if (how == Reply::kSigned || how == Reply::kOtherSig) {
      // type covered, algorithm 13, labels 0, TTL, expiration, inception, key tag, signer
      // "." and a made-up signature: only the type covered is read.
      const std::uint16_t covered = how == Reply::kSigned ? wire::type::kDNSKEY : wire::type::kA;
      const std::array<std::uint8_t, 24> rrsig{static_cast<std::uint8_t>(covered >> 8),
                                               static_cast<std::uint8_t>(covered & 0xff),
                                               13,
                                               0,
                                               0,
                                               0,
                                               0x0e,
                                               0x10,
                                               0x70,
                                               0,
                                               0,
                                               0,
                                               0x60,
                                               0,
                                               0,
                                               0,
                                               0x12,
                                               0x34,
                                               0,
                                               9,
                                               9,
                                               9,
                                               9,
                                               9};
      b.add_rr(wire::Section::kAnswer, wire::Name(), wire::type::kRRSIG, wire::klass::kIN, 3600,
               rrsig.data(), rrsig.size());
    }
  }
  wire::OptOptions opt;
  opt.dnssec_ok = true;
  b.add_opt(opt);
  buf.resize(b.size());
  return buf;
}

ExchangeResult ok(const Bytes& reply) {
  ExchangeResult r;
  r.status = ExchangeStatus::kOk;
  r.reply = reply;
  return r;
}

// The upstream: a UDP socket on 127.0.0.1 served by its own thread, answering each root
// DNSKEY question as `mode` says at the time (kSilent: not at all); counts the questions.
struct Upstream {
  Upstream() : socket(io) {
    socket.open(asio::ip::udp::v4());
    socket.bind({asio::ip::make_address("127.0.0.1"), 0});
    thread = std::thread([this] { serve(); });
  }
  ~Upstream() {
    io.stop();
    thread.join();
  }
  void serve() {
    receive();
    io.run();
  }
  void receive() {
    socket.async_receive_from(asio::buffer(buf), from, [this](auto ec, std::size_t n) {
      if (ec) return;
      questions.fetch_add(1);
      if (mode.load() != Reply::kSilent && n >= wire::kHeaderSize) {
        const Bytes a = answer(wire::header_id(buf.data()), mode.load());
        boost::system::error_code ignored;
        socket.send_to(asio::buffer(a), from, 0, ignored);
      }
      receive();
    });
  }
  util::Endpoint endpoint() const {
    const auto ep = socket.local_endpoint();
    return util::Endpoint::from_sockaddr(ep.data(), static_cast<socklen_t>(ep.size()));
  }

  asio::io_context io;
  asio::ip::udp::socket socket;
  std::array<std::uint8_t, 4096> buf{};
  asio::ip::udp::endpoint from;
  std::atomic<Reply> mode{Reply::kSilent};
  std::atomic<int> questions{0};
  std::thread thread;
};

// Runs `io` until `done()` (checked after each handler), for at most 10 s.
bool run_until(asio::io_context& io, const std::function<bool()>& done) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done() && std::chrono::steady_clock::now() < end) {
    io.run_one_for(std::chrono::milliseconds(20));
  }
  return done();
}

std::shared_ptr<upstream::ForwardGroup> group_for(const util::Endpoint& server) {
  vnetdns::settings::ForwardSettings s;
  s.zone = wire::Name();
  s.upstreams = {server};
  return std::make_shared<upstream::ForwardGroup>(s);
}

}  // namespace

TEST_CASE("classify_dnssec_probe: signatures, stripping, and answers that say nothing",
          "[upstream][dnssec]") {
  using upstream::classify_dnssec_probe;
  CHECK(classify_dnssec_probe(ok(answer(1, Reply::kSigned))).verdict == DnssecVerdict::kSigned);
  CHECK(classify_dnssec_probe(ok(answer(1, Reply::kStripped))).verdict == DnssecVerdict::kStrips);
  // An RRSIG of another type does not sign the DNSKEY RRset.
  CHECK(classify_dnssec_probe(ok(answer(1, Reply::kOtherSig))).verdict == DnssecVerdict::kStrips);
  // A server that cannot take EDNS cannot return DNSSEC records.
  CHECK(classify_dnssec_probe(ok(answer(1, Reply::kFormErr))).verdict == DnssecVerdict::kStrips);
  // Not resolved, or no answer at all: no verdict.
  const auto refused = classify_dnssec_probe(ok(answer(1, Reply::kRefused)));
  CHECK(refused.verdict == DnssecVerdict::kNone);
  CHECK(refused.why == "answered REFUSED");
  CHECK(classify_dnssec_probe(ok(answer(1, Reply::kServFail))).verdict == DnssecVerdict::kNone);
  ExchangeResult timeout;
  timeout.status = ExchangeStatus::kTimeout;
  CHECK(classify_dnssec_probe(timeout).verdict == DnssecVerdict::kNone);
  ExchangeResult refused_port;
  refused_port.status = ExchangeStatus::kNetworkError;
  CHECK(classify_dnssec_probe(refused_port).verdict == DnssecVerdict::kNone);
  CHECK(classify_dnssec_probe(ok(Bytes{1, 2, 3})).verdict == DnssecVerdict::kNone);
}

TEST_CASE("DnssecCheck: a silent upstream is asked again and filed once it answers",
          "[upstream][dnssec]") {
  Upstream up;
  auto group = group_for(up.endpoint());
  ServerHealth& h = group->health(0);
  asio::io_context io;
  upstream::DnssecCheckOptions options;
  options.timeout = std::chrono::milliseconds(50);
  options.first_retry = std::chrono::milliseconds(10);
  options.max_retry = std::chrono::milliseconds(40);
  options.recheck = std::chrono::milliseconds(20);
  upstream::DnssecCheck check(io.get_executor(), options);
  check.start({group});

  // Silent: asked again and again, never filed as stripping.
  REQUIRE(run_until(io, [&] { return up.questions.load() >= 3; }));
  CHECK(h.dnssec.load() == ServerHealth::kDnssecUnchecked);
  CHECK(h.dnssec_strips.load() == 0);
  // REFUSED says nothing either.
  up.mode = Reply::kRefused;
  const int before = up.questions.load();
  REQUIRE(run_until(io, [&] { return up.questions.load() >= before + 2; }));
  CHECK(h.dnssec.load() == ServerHealth::kDnssecUnchecked);

  // It answers with signatures: ok, without a restart.
  up.mode = Reply::kSigned;
  REQUIRE(run_until(io, [&] { return h.dnssec.load() == ServerHealth::kDnssecOk; }));
  // The path starts stripping: flagged and counted at a recheck.
  up.mode = Reply::kStripped;
  REQUIRE(run_until(io, [&] { return h.dnssec.load() == ServerHealth::kDnssecStrips; }));
  CHECK(h.dnssec_strips.load() >= 1);
  // Repaired: cleared at a recheck.
  up.mode = Reply::kSigned;
  REQUIRE(run_until(io, [&] { return h.dnssec.load() == ServerHealth::kDnssecOk; }));
  // An outage after a verdict leaves the verdict as it was.
  up.mode = Reply::kSilent;
  const int silent_from = up.questions.load();
  REQUIRE(run_until(io, [&] { return up.questions.load() >= silent_from + 2; }));
  CHECK(h.dnssec.load() == ServerHealth::kDnssecOk);

  // stop(): the loop ends (its timer cancelled, or its exchange timing out) and lets go of
  // the group.
  check.stop();
  CHECK(run_until(io, [&] { return group.use_count() == 1; }));
}

TEST_CASE("DnssecCheck: start() ends the loops of the previous start()", "[upstream][dnssec]") {
  Upstream up;
  up.mode = Reply::kSigned;
  auto first = group_for(up.endpoint());
  auto second = group_for(up.endpoint());
  asio::io_context io;
  upstream::DnssecCheckOptions options;
  options.recheck = std::chrono::hours(1);
  upstream::DnssecCheck check(io.get_executor(), options);
  check.start({first});
  REQUIRE(run_until(io, [&] { return first->health(0).dnssec.load() == ServerHealth::kDnssecOk; }));
  CHECK(first.use_count() == 2);  // held by its loop, waiting an hour
  check.start({second});          // a reload
  REQUIRE(
      run_until(io, [&] { return second->health(0).dnssec.load() == ServerHealth::kDnssecOk; }));
  // The first loop ended at once (its timer cancelled), without asking again.
  CHECK(run_until(io, [&] { return first.use_count() == 1; }));
  CHECK(up.questions.load() == 2);
  check.stop();
  CHECK(run_until(io, [&] { return second.use_count() == 1; }));
  CHECK(up.questions.load() == 2);
}
