// Scenarios of the forwarding path, whole pipeline in process: query, the upstream query it
// causes, the upstream's reply, the client's answer, then time passes on the ManualClock.
// The guide's answer and its caching, negative and failure caching, coalescing, scrubbing,
// reply validation (wrong ID), TC -> TCP, DO-bit cache separation, case echo, splice refresh.
#include <map>

#include <catch2/catch.hpp>

#include "scenario_harness.hpp"

namespace vnetdns::scenario {
namespace {

using namespace std::chrono_literals;
namespace t = wire::type;

// Scripts keyed by "name/TYPE" (lowered presentation name); anything else gets REFUSED.
struct ScriptBook {
  std::map<std::string, Script> scripts;
  Script& operator[](const std::string& k) { return scripts[k]; }
  FakeUpstream::Responder responder() {
    return [this](const Received& r) {
      const std::string k = r.view.qname.to_text() + "/" + type_text(r.view.qtype);
      if (auto it = scripts.find(k); it != scripts.end()) return it->second;
      Script s;
      s.rcode = static_cast<std::uint8_t>(wire::Rcode::kRefused);
      return s;
    };
  }
};

// The public view of the guide's registry (what Azure's platform resolver answers from the
// internet).
Script guide_public_view() {
  Script s;
  s.rrs = {
      CNAME("myregistry.azurecr.io", 1783, "myregistry.privatelink.azurecr.io"),
      CNAME("myregistry.privatelink.azurecr.io", 300,
            "westeurope.azurecr-prod.trafficmanager.example"),
      CNAME("westeurope.azurecr-prod.trafficmanager.example", 300, "weu-acr-reg.cloudapp.example"),
      A("weu-acr-reg.cloudapp.example", 300, "20.45.122.144")};
  return s;
}

// What the forwarder must send upstream for a client question (RFC 5452, Flag Day 2020).
void check_upstream_query(const Received& r, const char* qname, std::uint16_t qtype,
                          bool dnssec_ok) {
  REQUIRE(r.error == wire::QueryError::kNone);
  CHECK(r.view.qname == N(qname));
  CHECK(r.view.qtype == qtype);
  CHECK(r.view.qclass == wire::klass::kIN);
  CHECK(r.view.rd());
  CHECK(r.view.opcode() == 0);
  CHECK(r.view.has_opt);
  CHECK(r.view.udp_size == wire::kEdnsUdpSize);
  CHECK(r.view.edns_version == 0);
  CHECK(r.view.dnssec_ok == dnssec_ok);
  // Lowered on the wire (randomize_case is off): the client's case never leaks upstream.
  const wire::Name name = N(qname);
  const Bytes lowered(name.data(), name.data() + name.size());
  CHECK(Bytes(r.wire.begin() + 12, r.wire.begin() + 12 + r.view.qname_wire_len) == lowered);
}

// One row: optional clock advance, the client's question, and what must follow.
struct Row {
  std::string note;
  std::chrono::seconds advance{0};
  std::string qname;
  std::uint16_t qtype = t::kA;
  std::size_t upstream_after = 0;  // queries the fake upstream has seen after this row
  std::uint16_t rcode = 0;
  std::vector<std::string> answer;
  std::vector<std::string> authority;
  QueryOptions options{};
};

void run_rows(Harness& h, const std::vector<Row>& rows) {
  std::uint16_t id = 0x4000;
  for (const Row& row : rows) {
    INFO("row: " << row.note);
    h.clock.advance(row.advance);
    const std::size_t before = h.upstream.count();
    const Answer a = h.ask(row.qname, row.qtype, ++id, row.options);
    REQUIRE(a.parsed);
    CHECK(a.id == id);
    CHECK(a.rcode == row.rcode);
    CHECK_FALSE(a.aa());
    CHECK_FALSE(a.tc());
    CHECK(a.ra());
    CHECK(a.rd());
    CHECK(a.answer == row.answer);
    CHECK(a.authority == row.authority);
    CHECK(a.additional.empty());
    CHECK(h.upstream.count() == row.upstream_after);
    if (h.upstream.count() > before) {
      check_upstream_query(h.upstream.received().back(), row.qname.c_str(), row.qtype,
                           row.options.dnssec_ok);
    }
  }
}

TEST_CASE("guide answer: public CNAME spliced with the private A, cached, aged, expired",
          "[scenario]") {
  Harness h;
  ScriptBook book;
  book["myregistry.azurecr.io./A"] = guide_public_view();
  h.upstream.respond(book.responder());
  const std::vector<std::string> fresh = {
      "myregistry.azurecr.io. 1783 CNAME myregistry.privatelink.azurecr.io.",
      "myregistry.privatelink.azurecr.io. 10 A 10.0.0.7"};
  run_rows(
      h, {
             {"first query goes upstream; chain cut at the local zone",
              0s,
              "myregistry.azurecr.io",
              t::kA,
              1,
              0,
              fresh,
              {}},
             {"second query from the cache, upstream count unchanged",
              0s,
              "myregistry.azurecr.io",
              t::kA,
              1,
              0,
              fresh,
              {}},
             {"100 s later: CNAME TTL aged, local A keeps its own TTL",
              100s,
              "myregistry.azurecr.io",
              t::kA,
              1,
              0,
              {"myregistry.azurecr.io. 1683 CNAME myregistry.privatelink.azurecr.io.",
               "myregistry.privatelink.azurecr.io. 10 A 10.0.0.7"},
              {}},
             {"1 s before expiry: still cached",
              1682s,
              "myregistry.azurecr.io",
              t::kA,
              1,
              0,
              {"myregistry.azurecr.io. 1 CNAME myregistry.privatelink.azurecr.io.",
               "myregistry.privatelink.azurecr.io. 10 A 10.0.0.7"},
              {}},
             {"expired: asked upstream again", 1s, "myregistry.azurecr.io", t::kA, 2, 0, fresh, {}},
         });
  CHECK(h.pipe->counters().upstream_queries.get() == 2);
}

TEST_CASE("positive answer: cached for its TTL, then asked again", "[scenario]") {
  Harness h;
  ScriptBook book;
  Script www;
  www.rrs = {A("www.example.com", 300, "192.0.2.10"), A("www.example.com", 300, "192.0.2.11")};
  book["www.example.com./A"] = www;
  h.upstream.respond(book.responder());
  const std::vector<std::string> both = {"www.example.com. 300 A 192.0.2.10",
                                         "www.example.com. 300 A 192.0.2.11"};
  run_rows(h, {
                  {"miss", 0s, "www.example.com", t::kA, 1, 0, both, {}},
                  {"hit after 299 s",
                   299s,
                   "www.example.com",
                   t::kA,
                   1,
                   0,
                   {"www.example.com. 1 A 192.0.2.10", "www.example.com. 1 A 192.0.2.11"},
                   {}},
                  {"expired at 300 s", 1s, "www.example.com", t::kA, 2, 0, both, {}},
              });
}

TEST_CASE("negative answers: cached for min(SOA TTL, MINIMUM); without SOA not cached",
          "[scenario]") {
  Harness h;
  ScriptBook book;
  Script nx_min;  // SOA TTL 3600, MINIMUM 60 -> 60
  nx_min.rcode = 3;
  nx_min.rrs = {SOA("example.com", 3600, 60)};
  book["nx.example.com./A"] = nx_min;
  Script nx_ttl;  // SOA TTL 20, MINIMUM 300 -> 20
  nx_ttl.rcode = 3;
  nx_ttl.rrs = {SOA("example.net", 20, 300)};
  book["nx.example.net./A"] = nx_ttl;
  Script nodata;  // NOERROR, no data, SOA: NODATA is negative too
  nodata.rrs = {SOA("example.com", 3600, 45)};
  book["www.example.com./AAAA"] = nodata;
  Script nosoa;
  nosoa.rcode = 3;
  book["nosoa.example.com./A"] = nosoa;
  h.upstream.respond(book.responder());

  run_rows(h, {
                  {"NXDOMAIN, TTL = MINIMUM",
                   0s,
                   "nx.example.com",
                   t::kA,
                   1,
                   3,
                   {},
                   {"example.com. 60 SOA serial=1 minimum=60"}},
                  {"cached NXDOMAIN aged",
                   30s,
                   "nx.example.com",
                   t::kA,
                   1,
                   3,
                   {},
                   {"example.com. 30 SOA serial=1 minimum=60"}},
                  {"NXDOMAIN, TTL = SOA TTL",
                   0s,
                   "nx.example.net",
                   t::kA,
                   2,
                   3,
                   {},
                   {"example.net. 20 SOA serial=1 minimum=300"}},
                  {"NODATA",
                   0s,
                   "www.example.com",
                   t::kAAAA,
                   3,
                   0,
                   {},
                   {"example.com. 45 SOA serial=1 minimum=45"}},
                  {"no SOA: NXDOMAIN passed on", 0s, "nosoa.example.com", t::kA, 4, 3, {}, {}},
                  {"no SOA: not cached", 0s, "nosoa.example.com", t::kA, 5, 3, {}, {}},
                  {"nx.example.net expired after 20 s",
                   20s,
                   "nx.example.net",
                   t::kA,
                   6,
                   3,
                   {},
                   {"example.net. 20 SOA serial=1 minimum=300"}},
                  {"nx.example.com still cached at 50 s",
                   0s,
                   "nx.example.com",
                   t::kA,
                   6,
                   3,
                   {},
                   {"example.com. 10 SOA serial=1 minimum=60"}},
                  {"nx.example.com expired at 60 s",
                   10s,
                   "nx.example.com",
                   t::kA,
                   7,
                   3,
                   {},
                   {"example.com. 60 SOA serial=1 minimum=60"}},
              });
}

// The bytes of an OPT RR carrying one EDE option, as the last 17 bytes of an answer.
Bytes opt_with_ede(std::uint16_t code, bool dnssec_ok = false) {
  return {0x00,
          0x00,
          0x29,
          0x04,
          0xd0,
          0x00,
          0x00,
          static_cast<std::uint8_t>(dnssec_ok ? 0x80 : 0),
          0x00,
          0x00,
          0x06,
          0x00,
          0x0f,
          0x00,
          0x02,
          static_cast<std::uint8_t>(code >> 8),
          static_cast<std::uint8_t>(code & 0xff)};
}
Bytes tail(const Answer& a, std::size_t n) {
  return a.wire.size() < n ? Bytes{}
                           : Bytes(a.wire.end() - static_cast<std::ptrdiff_t>(n), a.wire.end());
}

TEST_CASE("SERVFAIL upstream: SERVFAIL to the client, failure cached about 5 s", "[scenario]") {
  Harness h;
  ScriptBook book;
  Script fail;
  fail.rcode = 2;
  book["broken.example.com./A"] = fail;
  h.upstream.respond(book.responder());

  Answer a = h.ask("broken.example.com", t::kA, 0x0101);
  REQUIRE(a.parsed);
  CHECK(a.rcode == 2);
  CHECK(a.id == 0x0101);
  CHECK(a.answer.empty());
  CHECK(a.authority.empty());
  CHECK(a.qdcount == 1);
  CHECK(tail(a, 17) == opt_with_ede(wire::ede::kNoReachableAuthority));
  CHECK(h.upstream.count() == 1);
  check_upstream_query(h.upstream.received()[0], "broken.example.com", t::kA, false);

  h.clock.advance(4s);
  a = h.ask("broken.example.com", t::kA, 0x0102);
  CHECK(a.rcode == 2);
  CHECK(a.id == 0x0102);
  CHECK(h.upstream.count() == 1);  // the failure was remembered (RFC 9520)

  h.clock.advance(2s);  // 6 s after the failure
  a = h.ask("broken.example.com", t::kA, 0x0103);
  CHECK(a.rcode == 2);
  CHECK(h.upstream.count() == 2);
}

TEST_CASE("upstream silent: SERVFAIL within the deadline, failure cached", "[scenario]") {
  HarnessOptions o;
  o.customize = [](settings::Settings& s, const util::Endpoint&) {
    s.forwards[0].timeout = 200ms;
    s.forwards[0].deadline = 500ms;
  };
  Harness h(o);
  h.upstream.respond([](const Received&) {
    Script s;
    s.mode = Script::Mode::kDrop;
    return s;
  });
  const auto t0 = h.clock.now();
  Answer a = h.ask("silent.example.com", t::kA, 0x0201);
  REQUIRE(a.parsed);
  CHECK(a.rcode == 2);
  CHECK(a.answer.empty());
  // Tries at 0, 200 ms (the ceiling) and 400 ms; the last one ends with the deadline.
  CHECK(h.upstream.count() == 3);
  const auto took = h.clock.now() - t0;
  CHECK(took >= 500ms);
  CHECK(took <= 520ms);
  const std::size_t sent = h.upstream.count();
  a = h.ask("silent.example.com", t::kA, 0x0202);
  CHECK(a.rcode == 2);
  CHECK(h.upstream.count() == sent);
}

TEST_CASE("coalescing: identical questions in flight share one upstream query", "[scenario]") {
  Harness h;
  ScriptBook book;
  Script held;
  held.mode = Script::Mode::kHold;
  held.rrs = {A("www.example.com", 300, "192.0.2.10")};
  book["www.example.com./A"] = held;
  h.upstream.respond(book.responder());

  auto x1 = h.start(make_query("www.example.com", t::kA, 0x1111), Harness::loopback_client());
  auto x2 = h.start(make_query("WWW.example.COM", t::kA, 0x2222),
                    *util::Endpoint::parse("127.0.0.2:40001", 53));
  REQUIRE(x1->step.kind == pipeline::StepKind::kAsync);
  REQUIRE(x2->step.kind == pipeline::StepKind::kAsync);
  // Both handled before the upstream answers: the second must join the first.
  REQUIRE(h.run_until(
      [&] { return h.upstream.held() == 1 && h.pipe->counters().coalesced.get() == 1; }));
  CHECK_FALSE(x1->done);
  CHECK_FALSE(x2->done);
  h.upstream.release_held();
  REQUIRE(h.run_until([&] { return x1->done && x2->done; }));
  CHECK(h.upstream.count() == 1);
  CHECK(h.pipe->counters().upstream_queries.get() == 1);
  const Answer a1 = x1->answer();
  const Answer a2 = x2->answer();
  CHECK(a1.id == 0x1111);
  CHECK(a2.id == 0x2222);
  CHECK(a1.answer == std::vector<std::string>{"www.example.com. 300 A 192.0.2.10"});
  CHECK(a2.answer == std::vector<std::string>{"www.example.com. 300 A 192.0.2.10"});
  const Bytes q2 = make_query("WWW.example.COM", t::kA, 0);
  CHECK(a2.question == Bytes(q2.begin() + 12, q2.begin() + 12 + 17 + 4));
}

TEST_CASE("scrubbing: off-chain records and the additional section are dropped, not cached",
          "[scenario]") {
  Harness h;
  ScriptBook book;
  Script www;
  www.rrs = {A("www.example.com", 300, "192.0.2.10"),
             A("evil.bank.example", 86400, "6.6.6.6"),            // unrelated name in the answer
             CNAME("other.example.com", 300, "www.example.com"),  // off the question's chain
             A("ns1.example.com", 86400, "6.6.6.7", wire::Section::kAdditional)};
  book["www.example.com./A"] = www;
  Script evil;
  evil.rrs = {A("evil.bank.example", 60, "198.51.100.1")};
  book["evil.bank.example./A"] = evil;
  Script ns1;
  ns1.rrs = {A("ns1.example.com", 60, "192.0.2.53")};
  book["ns1.example.com./A"] = ns1;
  Script other;
  other.rrs = {A("other.example.com", 60, "192.0.2.20")};
  book["other.example.com./A"] = other;
  h.upstream.respond(book.responder());

  run_rows(h, {
                  {"only the question's RRset survives",
                   0s,
                   "www.example.com",
                   t::kA,
                   1,
                   0,
                   {"www.example.com. 300 A 192.0.2.10"},
                   {}},
                  {"the unrelated name was not cached",
                   0s,
                   "evil.bank.example",
                   t::kA,
                   2,
                   0,
                   {"evil.bank.example. 60 A 198.51.100.1"},
                   {}},
                  {"the additional record was not cached",
                   0s,
                   "ns1.example.com",
                   t::kA,
                   3,
                   0,
                   {"ns1.example.com. 60 A 192.0.2.53"},
                   {}},
                  {"the off-chain CNAME owner was not cached",
                   0s,
                   "other.example.com",
                   t::kA,
                   4,
                   0,
                   {"other.example.com. 60 A 192.0.2.20"},
                   {}},
              });
}

TEST_CASE("reply validation: a wrong-ID reply is ignored, the right one accepted", "[scenario]") {
  Harness h;
  ScriptBook book;
  Script s;
  s.wrong_id_first = true;
  s.rrs = {A("www.example.com", 300, "192.0.2.10")};
  book["www.example.com./A"] = s;
  h.upstream.respond(book.responder());
  const Answer a = h.ask("www.example.com", t::kA, 0x0301);
  REQUIRE(a.parsed);
  CHECK(a.rcode == 0);
  CHECK(a.answer == std::vector<std::string>{"www.example.com. 300 A 192.0.2.10"});
  CHECK(h.upstream.count() == 1);
  CHECK(h.pipe->counters().reply_mismatches.get() == 1);
}

TEST_CASE("TC from upstream: retried over TCP, the full answer returned", "[scenario]") {
  Harness h;
  ScriptBook book;
  Script s;
  s.tc_over_udp = true;
  s.rrs = {A("big.example.com", 300, "192.0.2.1"), A("big.example.com", 300, "192.0.2.2"),
           A("big.example.com", 300, "192.0.2.3")};
  book["big.example.com./A"] = s;
  h.upstream.respond(book.responder());
  const Answer a = h.ask("big.example.com", t::kA, 0x0401);
  REQUIRE(a.parsed);
  CHECK(a.rcode == 0);
  CHECK_FALSE(a.tc());
  CHECK(a.answer == std::vector<std::string>{"big.example.com. 300 A 192.0.2.1",
                                             "big.example.com. 300 A 192.0.2.2",
                                             "big.example.com. 300 A 192.0.2.3"});
  REQUIRE(h.upstream.count() == 2);
  CHECK_FALSE(h.upstream.received()[0].tcp);
  CHECK(h.upstream.received()[1].tcp);
  check_upstream_query(h.upstream.received()[1], "big.example.com", t::kA, false);
  // The full (TCP) answer is what got cached.
  const Answer again = h.ask("big.example.com", t::kA, 0x0402);
  CHECK(again.answer.size() == 3);
  CHECK(h.upstream.count() == 2);
}

TEST_CASE("cache: client qname case echoed on a hit; DO=1 and DO=0 are distinct entries",
          "[scenario]") {
  Harness h;
  ScriptBook book;
  Script s;
  s.rrs = {A("www.example.com", 300, "192.0.2.10")};
  book["www.example.com./A"] = s;
  h.upstream.respond(book.responder());

  QueryOptions do1;
  do1.dnssec_ok = true;
  const std::vector<std::string> ans = {"www.example.com. 300 A 192.0.2.10"};
  run_rows(h, {
                  {"DO=0 miss", 0s, "www.example.com", t::kA, 1, 0, ans, {}},
                  {"DO=1 is another entry: miss", 0s, "www.example.com", t::kA, 2, 0, ans, {}, do1},
                  {"DO=0 hit", 0s, "www.example.com", t::kA, 2, 0, ans, {}},
                  {"DO=1 hit", 0s, "www.example.com", t::kA, 2, 0, ans, {}, do1},
              });
  CHECK(h.upstream.received()[0].view.dnssec_ok == false);
  CHECK(h.upstream.received()[1].view.dnssec_ok == true);

  const Bytes q = make_query("wWw.ExAmPlE.cOm", t::kA, 0x0501);
  const Answer a = h.ask(q);
  CHECK(h.upstream.count() == 2);  // a hit
  REQUIRE(a.question.size() == 17 + 4);
  CHECK(a.question == Bytes(q.begin() + 12, q.begin() + 12 + 21));
  CHECK(a.answer == ans);
}

TEST_CASE("a spliced cached answer shows a zone change at once", "[scenario]") {
  Harness h;
  ScriptBook book;
  book["myregistry.azurecr.io./A"] = guide_public_view();
  h.upstream.respond(book.responder());
  Answer a = h.ask("myregistry.azurecr.io", t::kA, 0x0601);
  CHECK(a.answer == std::vector<std::string>{
                        "myregistry.azurecr.io. 1783 CNAME myregistry.privatelink.azurecr.io.",
                        "myregistry.privatelink.azurecr.io. 10 A 10.0.0.7"});
  REQUIRE(h.upstream.count() == 1);

  settings::Settings next = h.settings();
  next.zones[0].file = h.dir.write("privatelink-v2.zone", privatelink_zone("10.0.0.8"));
  h.publish(next);
  h.clock.advance(5s);
  a = h.ask("myregistry.azurecr.io", t::kA, 0x0602);
  CHECK(h.upstream.count() == 1);  // still the cached upstream part
  CHECK(a.answer == std::vector<std::string>{
                        "myregistry.azurecr.io. 1778 CNAME myregistry.privatelink.azurecr.io.",
                        "myregistry.privatelink.azurecr.io. 10 A 10.0.0.8"});
  CHECK_FALSE(a.aa());
}

}  // namespace
}  // namespace vnetdns::scenario
