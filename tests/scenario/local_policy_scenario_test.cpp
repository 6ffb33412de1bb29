// Scenarios answered without (or before) the upstream: local zones (AA=1, NXDOMAIN and NODATA
// with the SOA), on_miss = "forward", no matching rule (REFUSED), the ACL (REFUSED + EDE 18),
// and the transport edge (TC to a classic client).
#include <catch2/catch.hpp>

#include "scenario_harness.hpp"

namespace vnetdns::scenario {
namespace {

using namespace std::chrono_literals;
namespace t = wire::type;

struct LocalRow {
  std::string note;
  std::string qname;
  std::uint16_t qtype;
  std::uint16_t rcode;
  std::vector<std::string> answer;
  std::vector<std::string> authority;
};

TEST_CASE("local zone answers: AA=1, NXDOMAIN and NODATA with the SOA, no upstream", "[scenario]") {
  Harness h;
  const std::vector<LocalRow> rows = {
      {"registry",
       "myregistry.privatelink.azurecr.io",
       t::kA,
       0,
       {"myregistry.privatelink.azurecr.io. 10 A 10.0.0.7"},
       {}},
      {"data endpoint",
       "myregistry.westeurope.data.privatelink.azurecr.io",
       t::kA,
       0,
       {"myregistry.westeurope.data.privatelink.azurecr.io. 10 A 10.0.0.6"},
       {}},
      {"another tenant's registry: NXDOMAIN, SOA TTL min(3600, 10)",
       "otherregistry.privatelink.azurecr.io",
       t::kA,
       3,
       {},
       {"privatelink.azurecr.io. 10 SOA serial=1 minimum=10"}},
      {"NODATA",
       "myregistry.privatelink.azurecr.io",
       t::kAAAA,
       0,
       {},
       {"privatelink.azurecr.io. 10 SOA serial=1 minimum=10"}},
      {"on_miss=forward zone, name present: local",
       "host.corp.example",
       t::kA,
       0,
       {"host.corp.example. 120 A 10.1.0.1"},
       {}},
  };
  std::uint16_t id = 0x7000;
  for (const auto& row : rows) {
    INFO("row: " << row.note);
    const Answer a = h.ask(row.qname, row.qtype, ++id);
    REQUIRE(a.parsed);
    CHECK_FALSE(h.last_was_async);
    CHECK(a.id == id);
    CHECK(a.aa());
    CHECK(a.ra());
    CHECK(a.rcode == row.rcode);
    CHECK(a.answer == row.answer);
    CHECK(a.authority == row.authority);
  }
  CHECK(h.upstream.count() == 0);
  // Local answers are not cached: a zone change shows at once.
  CHECK(h.cache.stats().entries == 0);
}

TEST_CASE("on_miss = forward: a name the zone lacks is resolved upstream", "[scenario]") {
  Harness h;
  h.upstream.respond([](const Received& r) {
    Script s;
    if (r.view.qname == N("other.corp.example")) {
      s.rrs = {A("other.corp.example", 60, "192.0.2.77")};
    } else {
      s.rcode = 5;
    }
    return s;
  });
  const Answer a = h.ask("other.corp.example", t::kA, 0x7101);
  REQUIRE(a.parsed);
  CHECK(h.last_was_async);
  CHECK(a.rcode == 0);
  CHECK_FALSE(a.aa());
  CHECK(a.answer == std::vector<std::string>{"other.corp.example. 60 A 192.0.2.77"});
  REQUIRE(h.upstream.count() == 1);
  CHECK(h.upstream.received()[0].view.qname == N("other.corp.example"));
  // While the on_miss=nxdomain zone answers NXDOMAIN itself.
  const Answer nx = h.ask("missing.privatelink.azurecr.io", t::kA, 0x7102);
  CHECK(nx.rcode == 3);
  CHECK(h.upstream.count() == 1);
}

TEST_CASE("no forward rule matches: REFUSED, nothing sent upstream", "[scenario]") {
  HarnessOptions o;
  o.customize = [](settings::Settings& s, const util::Endpoint&) {
    s.forwards[0].zone = N("azurecr.io");
  };
  Harness h(o);
  const Answer a = h.ask("www.example.org", t::kA, 0x7201);
  REQUIRE(a.parsed);
  CHECK_FALSE(h.last_was_async);
  CHECK(a.id == 0x7201);
  CHECK(a.rcode == 5);
  CHECK(a.answer.empty());
  CHECK(h.upstream.count() == 0);
}

TEST_CASE("ACL: a client outside acl.allow gets REFUSED with EDE 18", "[scenario]") {
  Harness h;
  const auto outsider = *util::Endpoint::parse("192.0.2.1:5353", 53);
  const Answer a = h.ask(make_query("www.example.com", t::kA, 0x7301), outsider);
  REQUIRE(a.parsed);
  CHECK(a.id == 0x7301);
  CHECK(a.rcode == 5);
  CHECK(a.answer.empty());
  REQUIRE(a.has_opt);
  // OPT RR: root, type 41, UDP 1232, ext-rcode 0, version 0, flags 0, rdlen 6,
  // option 15 (EDE), length 2, info code 18 (Prohibited), RFC 8914.
  const Bytes opt = {0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00,
                     0x00, 0x06, 0x00, 0x0f, 0x00, 0x02, 0x00, 0x12};
  REQUIRE(a.wire.size() > opt.size());
  CHECK(Bytes(a.wire.end() - static_cast<std::ptrdiff_t>(opt.size()), a.wire.end()) == opt);
  CHECK(wire::header_arcount(a.wire.data()) == 1);
  CHECK(h.upstream.count() == 0);
  CHECK(h.pipe->counters().drops[static_cast<std::size_t>(pipeline::DropReason::kAcl)].get() == 1);

  // The same query from inside the allowed network is answered normally (locally here).
  const Answer ok = h.ask(make_query("myregistry.privatelink.azurecr.io", t::kA, 0x7302));
  CHECK(ok.rcode == 0);
}

TEST_CASE("ACL action drop: nothing is sent back", "[scenario]") {
  HarnessOptions o;
  o.customize = [](settings::Settings& s, const util::Endpoint&) {
    s.acl.action = settings::AclAction::kDrop;
  };
  Harness h(o);
  auto x = h.start(make_query("www.example.com", t::kA, 0x7401),
                   *util::Endpoint::parse("192.0.2.1:5353", 53));
  CHECK(x->step.kind == pipeline::StepKind::kDrop);
  CHECK(h.upstream.count() == 0);
}

TEST_CASE("transport edge: an answer over 512 bytes to a client without EDNS gets TC=1",
          "[scenario]") {
  Harness h;
  h.upstream.respond([](const Received& r) {
    Script s;
    for (int i = 1; i <= 40; ++i) {
      s.rrs.push_back(A(r.view.qname.to_text(), 300, ("192.0.2." + std::to_string(i)).c_str()));
    }
    return s;
  });
  QueryOptions classic;
  classic.edns = false;
  const Answer a = h.ask("many.example.com", t::kA, 0x7501, classic);
  REQUIRE(a.parsed);
  CHECK(a.tc());
  CHECK(a.answer.empty());
  CHECK(a.qdcount == 1);
  CHECK_FALSE(a.has_opt);
  CHECK(a.wire.size() <= 512);
  // The same answer over TCP, from the cache, is whole.
  const Answer whole = h.ask(make_query("many.example.com", t::kA, 0x7502, classic),
                             Harness::loopback_client(), pipeline::Transport::kTcp);
  CHECK_FALSE(whole.tc());
  CHECK(whole.answer.size() == 40);
  CHECK(h.upstream.count() == 1);
  // An EDNS client (1232) gets it whole over UDP, with our OPT.
  const Answer edns = h.ask("many.example.com", t::kA, 0x7503);
  CHECK_FALSE(edns.tc());
  CHECK(edns.answer.size() == 40);
  CHECK(edns.has_opt);
}

}  // namespace
}  // namespace vnetdns::scenario
