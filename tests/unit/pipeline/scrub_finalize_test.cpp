// scrub_reply(): only the question's CNAME chain survives, cut and marked for splicing where
// it reaches local data; negative TTLs per RFC 2308; clamps; errors. finalize_answer(): the
// client's ID/RD/CD/case, OPT only when the client sent one (with EDE bytes), TC=1 with
// emptied sections when the answer exceeds the client's UDP size (512 without EDNS).
#include <arpa/inet.h>

#include <array>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "resolver/pipeline/finalize.hpp"
#include "resolver/pipeline/response_scrubber.hpp"
#include "resolver/wire/builder.hpp"
#include "resolver/wire/message_view.hpp"
#include "resolver/zone/zone_loader.hpp"

namespace vnetdns::pipeline {
namespace {

using Bytes = std::vector<std::uint8_t>;
namespace t = wire::type;
wire::Name N(const char* text) { return wire::Name::from_text(text); }

struct Rr {
  wire::Section section;
  const char* owner;
  std::uint16_t type;
  std::uint32_t ttl;
  Bytes rdata;
};
Bytes a_rdata(const char* addr) {
  Bytes b(4);
  REQUIRE(inet_pton(AF_INET, addr, b.data()) == 1);
  return b;
}
Bytes name_rdata(const char* n) {
  const wire::Name name = N(n);
  return Bytes(name.data(), name.data() + name.size());
}
Bytes soa_rdata(const char* zone, std::uint32_t minimum) {
  Bytes b = name_rdata(("ns1." + std::string(zone)).c_str());
  const Bytes r = name_rdata(("hostmaster." + std::string(zone)).c_str());
  b.insert(b.end(), r.begin(), r.end());
  for (std::uint32_t v : {2024u, 3600u, 300u, 2419200u, minimum}) {
    std::uint8_t x[4];
    wire::store32(x, v);
    b.insert(b.end(), x, x + 4);
  }
  return b;
}
Rr A(const char* owner, std::uint32_t ttl, const char* addr,
     wire::Section s = wire::Section::kAnswer) {
  return {s, owner, t::kA, ttl, a_rdata(addr)};
}
Rr CNAME(const char* owner, std::uint32_t ttl, const char* target) {
  return {wire::Section::kAnswer, owner, t::kCNAME, ttl, name_rdata(target)};
}
Rr SOA(const char* zone, std::uint32_t ttl, std::uint32_t minimum) {
  return {wire::Section::kAuthority, zone, t::kSOA, ttl, soa_rdata(zone, minimum)};
}

// An upstream reply (records must be given section by section).
Bytes reply(const char* qname, std::uint16_t qtype, std::uint8_t rcode,
            const std::vector<Rr>& rrs) {
  Bytes buf(8192);
  wire::MessageBuilder b(buf.data(), buf.size());
  b.start(0x5555,
          static_cast<std::uint16_t>(wire::kFlagQR | wire::kFlagRD | wire::kFlagRA | rcode));
  b.add_question(N(qname), qtype, wire::klass::kIN);
  for (const Rr& rr : rrs) {
    REQUIRE(b.add_rr(rr.section, N(rr.owner), rr.type, wire::klass::kIN, rr.ttl, rr.rdata.data(),
                     rr.rdata.size()));
  }
  b.add_opt(wire::OptOptions{});
  buf.resize(b.size());
  return buf;
}

std::string rr_text(const wire::MessageView& v, const wire::RrView& rr) {
  wire::Name owner;
  v.owner(rr, owner);
  std::string data;
  char buf[64];
  if (rr.type == t::kA) {
    data = inet_ntop(AF_INET, v.msg + rr.rdata_offset, buf, sizeof(buf));
  } else if (rr.type == t::kCNAME) {
    wire::Name n;
    wire::rdata_name(v, rr, n);
    data = n.to_text();
  } else if (rr.type == t::kSOA) {
    data = "SOA";
  } else {
    data = "?";
  }
  const char* sec = rr.section == wire::Section::kAnswer      ? "an"
                    : rr.section == wire::Section::kAuthority ? "ns"
                                                              : "ar";
  return std::string(sec) + " " + owner.to_text() + " " + std::to_string(rr.ttl) + " " + data;
}

std::vector<std::string> records(const Bytes& m) {
  wire::MessageView v;
  REQUIRE(wire::parse_message(m.data(), m.size(), v) == wire::MessageError::kNone);
  std::vector<std::string> out;
  for (const auto& rr : v.rrs) out.push_back(rr_text(v, rr));
  return out;
}

std::shared_ptr<const zone::ZoneSet> private_zones() {
  auto z = zone::load_zone_from_text(N("privatelink.azurecr.io"),
                                     "$ORIGIN privatelink.azurecr.io.\n"
                                     "@ 3600 IN SOA @ hostmaster.invalid. 1 3600 300 2419200 10\n"
                                     "@ 3600 IN NS @\n"
                                     "myregistry 10 IN A 10.0.0.7\n",
                                     {}, "privatelink");
  if (!z.ok()) FAIL(z.error());
  auto set = zone::ZoneSet::build({z.value()});
  if (!set.ok()) FAIL(set.error());
  return set.value();
}

cache::CacheKey key(const char* name, std::uint16_t qtype = t::kA, bool dnssec_ok = false) {
  return cache::CacheKey{N(name), qtype, wire::klass::kIN, dnssec_ok};
}

TEST_CASE("cap_ttls: a validated answer's records and lifetime at most the cap (RFC 4035 5.3.3)",
          "[unit][pipeline]") {
  const auto zones = private_zones();
  const Bytes r = reply(
      "www.example.com", t::kA, 0,
      {CNAME("www.example.com", 3600, "web.example.net"), A("web.example.net", 120, "192.0.2.10")});
  TtlPolicy floor;
  floor.min_ttl = 900;  // the operator's floor raises the A record to 900
  auto p = scrub_reply(r.data(), r.size(), key("www.example.com"), *zones, floor);
  REQUIRE(p.ok());
  REQUIRE(p->ttl == 900);
  cap_ttls(*p, 300);
  CHECK(p->ttl == 300);
  CHECK(records(p->wire) == std::vector<std::string>{"an www.example.com. 300 web.example.net.",
                                                     "an web.example.net. 300 192.0.2.10"});
  cap_ttls(*p, 1000);  // a cap above every TTL changes nothing
  CHECK(p->ttl == 300);
  CHECK(records(p->wire)[0] == "an www.example.com. 300 web.example.net.");

  // More records than the builder keeps TTL offsets for (not cached, ttl 0): found by parsing.
  std::vector<Rr> many;
  for (int i = 0; i < 140; ++i) {
    const std::string addr = "192.0." + std::to_string(i / 200) + "." + std::to_string(i % 200);
    many.push_back(A("big.example.com", 3600, addr.c_str()));
  }
  const Bytes big = reply("big.example.com", t::kA, 0, many);
  auto q = scrub_reply(big.data(), big.size(), key("big.example.com"), *zones, TtlPolicy{});
  REQUIRE(q.ok());
  REQUIRE(q->ttl_offsets.size() < many.size());
  cap_ttls(*q, 60);
  const auto out = records(q->wire);
  REQUIRE(out.size() == many.size());
  for (const auto& line : out) CHECK(line.find(" 60 ") != std::string::npos);
}

TEST_CASE("scrub_reply: only the question's chain is kept; additional and extras dropped",
          "[unit][pipeline]") {
  const auto zones = private_zones();
  const Bytes r = reply(
      "www.example.com", t::kA, 0,
      {CNAME("www.example.com", 600, "web.example.net"), A("evil.bank.example", 86400, "6.6.6.6"),
       A("web.example.net", 120, "192.0.2.10"), A("web.example.net", 300, "192.0.2.11"),
       CNAME("unrelated.example.com", 60, "www.example.com"), SOA("example.com", 3600, 60),
       A("ns1.example.com", 86400, "6.6.6.7", wire::Section::kAdditional)});
  auto p = scrub_reply(r.data(), r.size(), key("www.example.com"), *zones, TtlPolicy{});
  REQUIRE(p.ok());
  CHECK(records(p->wire) == std::vector<std::string>{"an www.example.com. 600 web.example.net.",
                                                     "an web.example.net. 120 192.0.2.10",
                                                     "an web.example.net. 300 192.0.2.11"});
  CHECK(p->ttl == 120);  // the smallest TTL of the chain
  CHECK(p->kind == cache::EntryKind::kPositive);
  CHECK_FALSE(p->splice);
  CHECK(p->rcode == 0);
  // Internal format: ID 0, QR|RA, no OPT, the question lowered.
  CHECK(wire::header_id(p->wire.data()) == 0);
  CHECK(wire::header_flags(p->wire.data()) == (wire::kFlagQR | wire::kFlagRA));
  CHECK(wire::header_arcount(p->wire.data()) == 0);
  // Every TTL sits where the offsets say.
  REQUIRE(p->ttl_offsets.size() == 3);
  CHECK(wire::load32(p->wire.data() + p->ttl_offsets[0]) == 600);
  CHECK(wire::load32(p->wire.data() + p->ttl_offsets[1]) == 120);
  CHECK(wire::load32(p->wire.data() + p->ttl_offsets[2]) == 300);
}

TEST_CASE("scrub_reply: a chain reaching a local zone is cut there and marked for splicing",
          "[unit][pipeline]") {
  const auto zones = private_zones();
  const Bytes r =
      reply("myregistry.azurecr.io", t::kA, 0,
            {CNAME("myregistry.azurecr.io", 1783, "myregistry.privatelink.azurecr.io"),
             CNAME("myregistry.privatelink.azurecr.io", 300, "weu.trafficmanager.example"),
             A("weu.trafficmanager.example", 300, "20.45.122.144")});
  auto p = scrub_reply(r.data(), r.size(), key("myregistry.azurecr.io"), *zones, TtlPolicy{});
  REQUIRE(p.ok());
  CHECK(records(p->wire) ==
        std::vector<std::string>{
            "an myregistry.azurecr.io. 1783 myregistry.privatelink.azurecr.io."});
  CHECK(p->splice);
  CHECK(p->splice_target == N("myregistry.privatelink.azurecr.io"));
  CHECK(p->ttl == 1783);
  CHECK(p->kind == cache::EntryKind::kPositive);
}

TEST_CASE("scrub_reply: negative TTL is min(SOA TTL, MINIMUM, max_negative_ttl)",
          "[unit][pipeline]") {
  const auto zones = private_zones();
  struct Row {
    std::uint32_t soa_ttl, minimum, max_negative, expected;
  };
  for (const Row row : {Row{3600, 60, 3600, 60}, Row{20, 300, 3600, 20}, Row{3600, 900, 30, 30}}) {
    INFO(row.soa_ttl << " " << row.minimum << " " << row.max_negative);
    const Bytes r =
        reply("nx.example.com", t::kA, 3, {SOA("example.com", row.soa_ttl, row.minimum)});
    TtlPolicy policy;
    policy.max_negative_ttl = row.max_negative;
    auto p = scrub_reply(r.data(), r.size(), key("nx.example.com"), *zones, policy);
    REQUIRE(p.ok());
    CHECK(p->rcode == 3);
    CHECK(wire::header_rcode(p->wire.data()) == 3);
    CHECK(p->kind == cache::EntryKind::kNegative);
    CHECK(p->ttl == row.expected);
    CHECK(records(p->wire) ==
          std::vector<std::string>{"ns example.com. " + std::to_string(row.expected) + " SOA"});
  }
}

TEST_CASE("scrub_reply: negative without an SOA (or with an unrelated one) is not cached",
          "[unit][pipeline]") {
  const auto zones = private_zones();
  const Bytes none = reply("nx.example.com", t::kA, 3, {});
  auto p = scrub_reply(none.data(), none.size(), key("nx.example.com"), *zones, TtlPolicy{});
  REQUIRE(p.ok());
  CHECK(p->kind == cache::EntryKind::kNegative);
  CHECK(p->ttl == 0);
  const Bytes other = reply("nx.example.com", t::kA, 3, {SOA("example.org", 3600, 60)});
  p = scrub_reply(other.data(), other.size(), key("nx.example.com"), *zones, TtlPolicy{});
  REQUIRE(p.ok());
  CHECK(p->ttl == 0);
  CHECK(records(p->wire).empty());
}

TEST_CASE("scrub_reply: TTL clamps, failures and malformed replies", "[unit][pipeline]") {
  const auto zones = private_zones();
  TtlPolicy policy;
  policy.min_ttl = 60;
  policy.max_ttl = 600;
  const Bytes low = reply("a.example.com", t::kA, 0, {A("a.example.com", 5, "192.0.2.1")});
  auto p = scrub_reply(low.data(), low.size(), key("a.example.com"), *zones, policy);
  REQUIRE(p.ok());
  CHECK(p->ttl == 60);
  CHECK(records(p->wire) == std::vector<std::string>{"an a.example.com. 60 192.0.2.1"});
  const Bytes high = reply("a.example.com", t::kA, 0, {A("a.example.com", 86400, "192.0.2.1")});
  p = scrub_reply(high.data(), high.size(), key("a.example.com"), *zones, policy);
  REQUIRE(p.ok());
  CHECK(p->ttl == 600);

  const Bytes servfail = reply("a.example.com", t::kA, 2, {});
  auto e = scrub_reply(servfail.data(), servfail.size(), key("a.example.com"), *zones, policy);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error() == ScrubError::kRcode);

  Bytes cut = high;
  cut.resize(cut.size() - 15);  // into the OPT / last record
  e = scrub_reply(cut.data(), cut.size(), key("a.example.com"), *zones, policy);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error() == ScrubError::kMalformed);

  const Bytes loop = reply(
      "a.example.com", t::kA, 0,
      {CNAME("a.example.com", 60, "b.example.com"), CNAME("b.example.com", 60, "a.example.com")});
  e = scrub_reply(loop.data(), loop.size(), key("a.example.com"), *zones, policy);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error() == ScrubError::kChainTooLong);
}

TEST_CASE("failure_answer: SERVFAIL with the question, kind failure", "[unit][pipeline]") {
  const Processed f = failure_answer(key("x.example.com"), 5);
  CHECK(f.kind == cache::EntryKind::kFailure);
  CHECK(f.ttl == 5);
  CHECK(f.rcode == 2);
  CHECK(wire::header_rcode(f.wire.data()) == 2);
  CHECK(wire::header_qdcount(f.wire.data()) == 1);
  CHECK(f.wire.size() == 12 + N("x.example.com").size() + 4);
}

// ---------------------------------------------------------------------------------------
// finalize_answer

struct Client {
  Bytes query;
  wire::QueryView view;
};
Client client(const std::vector<std::uint8_t>& qname_wire, std::uint16_t id, bool edns,
              std::uint16_t udp_size = 1232, bool dnssec_ok = false, bool rd = true,
              bool cd = false) {
  Client c;
  c.query.resize(512);
  wire::MessageBuilder b(c.query.data(), c.query.size());
  b.start(id, static_cast<std::uint16_t>((rd ? wire::kFlagRD : 0) | (cd ? wire::kFlagCD : 0)));
  b.add_question(qname_wire.data(), qname_wire.size(), t::kA, wire::klass::kIN);
  if (edns) {
    wire::OptOptions o;
    o.udp_size = udp_size;
    o.dnssec_ok = dnssec_ok;
    b.add_opt(o);
  }
  c.query.resize(b.size());
  REQUIRE(wire::parse_query(c.query.data(), c.query.size(), c.view) == wire::QueryError::kNone);
  return c;
}
// "WwW.ExAmPlE.cOm" in wire form.
const std::vector<std::uint8_t> kMixed = {3,   'W', 'w', 'W', 7,   'E', 'x', 'A', 'm',
                                          'P', 'l', 'E', 3,   'c', 'O', 'm', 0};

// An internal-format answer for www.example.com with `n` A records.
std::size_t internal_answer(std::uint8_t* out, std::size_t cap, int n, std::uint8_t rcode = 0) {
  wire::MessageBuilder b(out, cap);
  b.start(0, wire::kFlagQR | wire::kFlagAA);
  b.add_question(N("www.example.com"), t::kA, wire::klass::kIN);
  for (int i = 0; i < n; ++i) {
    std::uint8_t addr[4] = {192, 0, 2, static_cast<std::uint8_t>(i + 1)};
    b.add_rr(wire::Section::kAnswer, N("www.example.com"), t::kA, wire::klass::kIN, 300, addr, 4);
  }
  b.set_rcode(rcode);
  return b.size();
}

TEST_CASE("finalize_answer: client's ID, RD, CD and letter case; AA and RCODE kept",
          "[unit][pipeline]") {
  for (bool edns : {false, true}) {
    INFO("edns " << edns);
    const Client c = client(kMixed, 0xabcd, edns, 1232, true, true, true);
    std::array<std::uint8_t, 4096> out{};
    const std::size_t len = internal_answer(out.data(), out.size(), 2, 3);
    bool tc = true;
    const std::size_t n =
        finalize_answer(out.data(), len, out.size(),
                        ClientInfo{&c.view, c.query.data() + 12, Transport::kUdp}, -1, &tc);
    CHECK_FALSE(tc);
    CHECK(wire::header_id(out.data()) == 0xabcd);
    const std::uint16_t f = wire::header_flags(out.data());
    CHECK((f & wire::kFlagQR) != 0);
    CHECK((f & wire::kFlagAA) != 0);
    CHECK((f & wire::kFlagRA) != 0);
    CHECK((f & wire::kFlagRD) != 0);
    CHECK((f & wire::kFlagCD) != 0);
    CHECK((f & wire::kFlagTC) == 0);
    CHECK((f & wire::kRcodeMask) == 3);
    CHECK(Bytes(out.begin() + 12, out.begin() + 12 + 17) == kMixed);
    CHECK(wire::header_ancount(out.data()) == 2);
    // RFC 6891 section 7: OPT only when the client sent one; DO mirrored.
    CHECK(wire::header_arcount(out.data()) == (edns ? 1 : 0));
    CHECK(n == len + (edns ? 11 : 0));
    if (edns) {
      const Bytes opt = {0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00};
      CHECK(Bytes(out.begin() + static_cast<std::ptrdiff_t>(n - 11),
                  out.begin() + static_cast<std::ptrdiff_t>(n)) == opt);
    }
  }
  // RD and CD clear in the query: clear in the answer.
  const Client c = client(kMixed, 1, false, 0, false, false, false);
  std::array<std::uint8_t, 4096> out{};
  const std::size_t len = internal_answer(out.data(), out.size(), 1);
  finalize_answer(out.data(), len, out.size(), ClientInfo{&c.view, c.query.data() + 12});
  CHECK((wire::header_flags(out.data()) & (wire::kFlagRD | wire::kFlagCD)) == 0);
}

TEST_CASE("finalize_answer: EDE option bytes only with a client OPT", "[unit][pipeline]") {
  const Client with = client(kMixed, 7, true);
  std::array<std::uint8_t, 4096> out{};
  std::size_t len = internal_answer(out.data(), out.size(), 0, 5);
  std::size_t n = finalize_answer(out.data(), len, out.size(),
                                  ClientInfo{&with.view, with.query.data() + 12}, 18);
  REQUIRE(n == len + 17);
  const Bytes opt = {0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00,
                     0x00, 0x06, 0x00, 0x0f, 0x00, 0x02, 0x00, 0x12};
  CHECK(Bytes(out.begin() + static_cast<std::ptrdiff_t>(len),
              out.begin() + static_cast<std::ptrdiff_t>(n)) == opt);

  const Client without = client(kMixed, 7, false);
  len = internal_answer(out.data(), out.size(), 0, 5);
  n = finalize_answer(out.data(), len, out.size(),
                      ClientInfo{&without.view, without.query.data() + 12}, 18);
  CHECK(n == len);
  CHECK(wire::header_arcount(out.data()) == 0);
}

TEST_CASE("finalize_answer: TC=1 and the question only when over the client's UDP size",
          "[unit][pipeline]") {
  std::array<std::uint8_t, 8192> out{};
  const std::size_t big = internal_answer(out.data(), out.size(), 40);  // about 670 bytes
  REQUIRE(big > 512);
  REQUIRE(big + 11 < 1232);
  struct Row {
    const char* what;
    bool edns;
    std::uint16_t udp_size;
    Transport transport;
    bool truncated;
  };
  const std::vector<Row> rows = {
      {"no EDNS: 512", false, 0, Transport::kUdp, true},
      {"no EDNS over TCP", false, 0, Transport::kTcp, false},
      {"EDNS 1232", true, 1232, Transport::kUdp, false},
      {"EDNS 4096 (capped at 1232, still fits)", true, 4096, Transport::kUdp, false},
      {"EDNS 600", true, 600, Transport::kUdp, true},
      {"EDNS below 512 counts as 512", true, 100, Transport::kUdp, true},
      {"exactly fits with OPT", true, static_cast<std::uint16_t>(big + 11), Transport::kUdp, false},
      {"one byte short", true, static_cast<std::uint16_t>(big + 10), Transport::kUdp, true},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    const Client c = client(kMixed, 0x0102, row.edns, row.udp_size);
    const std::size_t len = internal_answer(out.data(), out.size(), 40);
    bool tc = !row.truncated;
    const std::size_t n =
        finalize_answer(out.data(), len, out.size(),
                        ClientInfo{&c.view, c.query.data() + 12, row.transport}, -1, &tc);
    CHECK(tc == row.truncated);
    CHECK(((wire::header_flags(out.data()) & wire::kFlagTC) != 0) == row.truncated);
    CHECK(wire::header_id(out.data()) == 0x0102);
    CHECK(wire::header_qdcount(out.data()) == 1);
    CHECK(wire::header_arcount(out.data()) == (row.edns ? 1 : 0));
    if (row.truncated) {
      CHECK(wire::header_ancount(out.data()) == 0);
      CHECK(wire::header_nscount(out.data()) == 0);
      CHECK(n == 12 + 17 + 4 + (row.edns ? 11 : 0));
      CHECK(Bytes(out.begin() + 12, out.begin() + 12 + 17) == kMixed);
    } else {
      CHECK(wire::header_ancount(out.data()) == 40);
      CHECK(n == len + (row.edns ? 11 : 0));
    }
    if (row.transport == Transport::kUdp) {
      CHECK(n <= c.view.max_udp_response());
    }
    // What we send must still parse.
    wire::MessageView v;
    CHECK(wire::parse_message(out.data(), n, v) == wire::MessageError::kNone);
  }
}

}  // namespace
}  // namespace vnetdns::pipeline
