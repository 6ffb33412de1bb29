// answer_local: answers, NODATA and NXDOMAIN with the SOA, CNAME chains inside a zone,
// across zones and out of local data, loops, wildcards (RFC 4592) and on_miss = "forward".
// Every answer is parsed back with wire::parse_message and compared as text.
#include "resolver/zone/local_answer.hpp"

#include <arpa/inet.h>

#include <array>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "resolver/wire/builder.hpp"
#include "resolver/wire/message_view.hpp"
#include "resolver/wire/types.hpp"
#include "resolver/zone/zone_loader.hpp"

namespace vnetdns::zone {
namespace {

namespace t = wire::type;

wire::Name N(const char* text) { return wire::Name::from_text(text); }

std::shared_ptr<const Zone> must_load(const char* origin, const std::string& text,
                                      OnMiss on_miss = OnMiss::kNxDomain) {
  ZoneOptions options;
  options.on_miss = on_miss;
  auto r = load_zone_from_text(N(origin), text, options, origin);
  if (!r.ok()) FAIL(r.error());
  return r.value();
}

std::string render_rdata(const wire::MessageView& v, const wire::RrView& rr) {
  const std::uint8_t* p = v.msg + rr.rdata_offset;
  char buf[64];
  switch (rr.type) {
    case t::kA: return inet_ntop(AF_INET, p, buf, sizeof(buf));
    case t::kAAAA: return inet_ntop(AF_INET6, p, buf, sizeof(buf));
    case t::kCNAME:
    case t::kNS: {
      wire::Name n;
      return wire::rdata_name(v, rr, n) ? n.to_text() : "<bad name>";
    }
    case t::kSOA: {  // the serial is enough to tell zones apart
      std::array<std::uint8_t, 600> out{};
      std::size_t len = 0;
      if (!wire::copy_rdata(v, rr, out.data(), out.size(), &len)) return "<bad soa>";
      return std::to_string(wire::load32(out.data() + len - 20));
    }
    case t::kTXT: return std::string(reinterpret_cast<const char*>(p) + 1, p[0]);
    default: return std::to_string(rr.rdlength) + " bytes";
  }
}

struct Reply {
  LocalResult result;
  std::uint16_t flags = 0;
  std::vector<std::string> answer;
  std::vector<std::string> authority;
  std::size_t written = 0;  // answer + authority + additional records
};

Reply ask(const ZoneSet& zones, const char* qname_text, std::uint16_t qtype,
          std::size_t chain_start = 0, std::size_t capacity = 4096) {
  std::array<std::uint8_t, 4096> buf{};
  wire::MessageBuilder b(buf.data(), capacity);
  const wire::Name qname = N(qname_text);
  b.start(0x1234, wire::kFlagQR);
  REQUIRE(b.add_question(qname, qtype, wire::klass::kIN));
  const Zone* zone = zones.find(qname);
  REQUIRE(zone != nullptr);
  Reply reply;
  reply.result = answer_local(zones, *zone, qname, qtype, b, chain_start);
  reply.flags = b.flags();
  wire::MessageView v;
  REQUIRE(wire::parse_message(buf.data(), b.size(), v) == wire::MessageError::kNone);
  reply.written = v.rrs.size();
  for (const wire::RrView& rr : v.rrs) {
    wire::Name owner;
    REQUIRE(v.owner(rr, owner));
    char scratch[16];
    std::string line = owner.to_text() + " " + std::to_string(rr.ttl) + " " +
                       wire::type_name(rr.type, scratch) + " " + render_rdata(v, rr);
    CHECK(rr.klass == wire::klass::kIN);
    (rr.section == wire::Section::kAnswer ? reply.answer : reply.authority).push_back(line);
  }
  return reply;
}

const char* const kExample =
    "$TTL 3600\n"
    "@ SOA ns1 hostmaster 2024 3600 600 86400 300\n"
    "@ NS ns1\n"
    "ns1 A 192.0.2.1\n"
    "www A 192.0.2.10\n"
    "www A 192.0.2.11\n"
    "www AAAA 2001:db8::1\n"
    "alias 120 CNAME www\n"
    "alias2 CNAME ALIAS\n"
    "out CNAME www.elsewhere.test.\n"
    "cross CNAME host.other.\n"
    "to-other-miss CNAME missing.other.\n"
    "loop1 CNAME loop2\n"
    "loop2 CNAME loop1\n"
    "self CNAME self\n"
    "dangling CNAME nothere\n"
    "*.wild 60 A 192.0.2.50\n"
    "x.sub.wild A 192.0.2.51\n"
    "*.wc CNAME www\n"
    "to-fwd CNAME unknown.fwd.\n"
    "to-fwd-known CNAME known.fwd.\n"
    "c1 CNAME c2\nc2 CNAME c3\nc3 CNAME c4\nc4 CNAME c5\nc5 CNAME c6\nc6 CNAME c7\n"
    "c7 CNAME c8\nc8 CNAME c9\nc9 CNAME c10\nc10 CNAME c11\nc11 CNAME c12\n"
    "c12 CNAME c13\nc13 CNAME www\n";

const char* const kOther =
    "@ 600 SOA ns hm 5 1 1 1 60\n"
    "host 600 A 198.51.100.1\n"
    "back 600 CNAME www.example.\n";

const char* const kForward =
    "@ 600 SOA ns hm 9 1 1 1 30\n"
    "known 600 A 203.0.113.1\n";

std::shared_ptr<const ZoneSet> test_zones(OnMiss guide_on_miss = OnMiss::kNxDomain) {
  const std::string guide_path =
      std::string(VNETDNS_SOURCE_DIR) + "/zones/privatelink.azurecr.io.zone";
  ZoneOptions guide_options;
  guide_options.on_miss = guide_on_miss;
  auto guide = load_zone(N("privatelink.azurecr.io."), guide_path, guide_options);
  if (!guide.ok()) FAIL(guide.error());
  auto set = ZoneSet::build({must_load("example.", kExample), must_load("other.", kOther),
                             must_load("fwd.", kForward, OnMiss::kForward), guide.value()});
  if (!set.ok()) FAIL(set.error());
  return set.value();
}

using S = LocalStatus;
using Lines = std::vector<std::string>;

}  // namespace

TEST_CASE("local answer: table of questions", "[unit][zone]") {
  const auto zones = test_zones();
  const Lines www_a = {"www.example. 3600 A 192.0.2.10", "www.example. 3600 A 192.0.2.11"};
  const Lines example_soa = {"example. 300 SOA 2024"};  // min(3600, MINIMUM 300)
  auto with = [](Lines head, const Lines& tail) {
    head.insert(head.end(), tail.begin(), tail.end());
    return head;
  };
  Lines chain12;
  for (int i = 2; i <= 13; ++i) {
    chain12.push_back("c" + std::to_string(i) + ".example. 3600 CNAME " +
                      (i == 13 ? std::string("www") : "c" + std::to_string(i + 1)) + ".example.");
  }

  struct Case {
    const char* qname;
    std::uint16_t qtype;
    LocalStatus status;
    std::uint8_t rcode;
    Lines answer;
    Lines authority;
    const char* next = "";
  };
  const Case cases[] = {
      // The guide's records.
      {"myregistry.privatelink.azurecr.io.",
       t::kA,
       S::kAnswered,
       0,
       {"myregistry.privatelink.azurecr.io. 10 A 10.0.0.7"},
       {}},
      {"myregistry.westeurope.data.privatelink.azurecr.io.",
       t::kA,
       S::kAnswered,
       0,
       {"myregistry.westeurope.data.privatelink.azurecr.io. 10 A 10.0.0.6"},
       {}},
      {"westeurope.data.privatelink.azurecr.io.",
       t::kA,
       S::kAnswered,
       0,
       {},
       {"privatelink.azurecr.io. 10 SOA 1"}},  // empty non-terminal: NODATA
      {"otherregistry.privatelink.azurecr.io.",
       t::kA,
       S::kAnswered,
       3,
       {},
       {"privatelink.azurecr.io. 10 SOA 1"}},
      // Plain data, letter case, NODATA, NXDOMAIN.
      {"www.example.", t::kA, S::kAnswered, 0, www_a, {}},
      {"WWW.Example.", t::kA, S::kAnswered, 0, www_a, {}},
      {"www.example.", t::kAAAA, S::kAnswered, 0, {"www.example. 3600 AAAA 2001:db8::1"}, {}},
      {"www.example.", t::kMX, S::kAnswered, 0, {}, example_soa},
      {"nothere.example.", t::kA, S::kAnswered, 3, {}, example_soa},
      {"example.", t::kSOA, S::kAnswered, 0, {"example. 3600 SOA 2024"}, {}},
      // ANY: one RRset (RFC 8482), the first in type order.
      {"www.example.", t::kANY, S::kAnswered, 0, www_a, {}},
      {"example.", t::kANY, S::kAnswered, 0, {"example. 3600 NS ns1.example."}, {}},
      // CNAMEs inside the zone.
      {"alias.example.",
       t::kA,
       S::kAnswered,
       0,
       with({"alias.example. 120 CNAME www.example."}, www_a),
       {}},
      {"alias.example.", t::kCNAME, S::kAnswered, 0, {"alias.example. 120 CNAME www.example."}, {}},
      {"alias.example.", t::kANY, S::kAnswered, 0, {"alias.example. 120 CNAME www.example."}, {}},
      {"alias2.example.",
       t::kA,
       S::kAnswered,
       0,
       with({"alias2.example. 3600 CNAME alias.example.", "alias.example. 120 CNAME www.example."},
            www_a),
       {}},
      {"alias.example.",
       t::kMX,
       S::kAnswered,
       0,
       {"alias.example. 120 CNAME www.example."},
       example_soa},
      {"dangling.example.",
       t::kA,
       S::kAnswered,
       3,
       {"dangling.example. 3600 CNAME nothere.example."},
       example_soa},
      {"c2.example.", t::kA, S::kAnswered, 0, with(chain12, www_a), {}},  // 12 links: allowed
      // CNAMEs across local zones.
      {"cross.example.",
       t::kA,
       S::kAnswered,
       0,
       {"cross.example. 3600 CNAME host.other.", "host.other. 600 A 198.51.100.1"},
       {}},
      {"back.other.",
       t::kAAAA,
       S::kAnswered,
       0,
       {"back.other. 600 CNAME www.example.", "www.example. 3600 AAAA 2001:db8::1"},
       {}},
      {"to-other-miss.example.",
       t::kA,
       S::kAnswered,
       3,
       {"to-other-miss.example. 3600 CNAME missing.other."},
       {"other. 60 SOA 5"}},
      {"to-fwd-known.example.",
       t::kA,
       S::kAnswered,
       0,
       {"to-fwd-known.example. 3600 CNAME known.fwd.", "known.fwd. 600 A 203.0.113.1"},
       {}},
      // CNAMEs leaving local data.
      {"out.example.",
       t::kA,
       S::kLeavesLocal,
       0,
       {"out.example. 3600 CNAME www.elsewhere.test."},
       {},
       "www.elsewhere.test."},
      {"to-fwd.example.",
       t::kA,
       S::kLeavesLocal,
       0,
       {"to-fwd.example. 3600 CNAME unknown.fwd."},
       {},
       "unknown.fwd."},
      // Loops and long chains.
      {"loop1.example.",
       t::kA,
       S::kChainTooLong,
       0,
       {"loop1.example. 3600 CNAME loop2.example.", "loop2.example. 3600 CNAME loop1.example."},
       {}},
      {"self.example.", t::kA, S::kChainTooLong, 0, {"self.example. 3600 CNAME self.example."}, {}},
      {"c1.example.",
       t::kA,
       S::kChainTooLong,
       0,
       with({"c1.example. 3600 CNAME c2.example."}, Lines(chain12.begin(), chain12.end() - 1)),
       {}},
      // Wildcards (RFC 4592).
      {"a.wild.example.", t::kA, S::kAnswered, 0, {"a.wild.example. 60 A 192.0.2.50"}, {}},
      {"A.B.Wild.example.", t::kA, S::kAnswered, 0, {"a.b.wild.example. 60 A 192.0.2.50"}, {}},
      {"a.wild.example.", t::kTXT, S::kAnswered, 0, {}, example_soa},
      {"*.wild.example.", t::kA, S::kAnswered, 0, {"*.wild.example. 60 A 192.0.2.50"}, {}},
      {"x.sub.wild.example.",
       t::kA,
       S::kAnswered,
       0,
       {"x.sub.wild.example. 3600 A 192.0.2.51"},
       {}},
      {"sub.wild.example.", t::kA, S::kAnswered, 0, {}, example_soa},    // ENT: NODATA
      {"y.sub.wild.example.", t::kA, S::kAnswered, 3, {}, example_soa},  // ENT blocks *.wild
      {"wild.example.", t::kA, S::kAnswered, 0, {}, example_soa},
      {"foo.wc.example.",
       t::kA,
       S::kAnswered,
       0,
       with({"foo.wc.example. 3600 CNAME www.example."}, www_a),
       {}},
      // on_miss = "forward".
      {"unknown.fwd.", t::kA, S::kMiss, 0, {}, {}},
      {"known.fwd.", t::kAAAA, S::kAnswered, 0, {}, {"fwd. 30 SOA 9"}},
  };
  for (const Case& c : cases) {
    char scratch[16];
    INFO(c.qname << " " << wire::type_name(c.qtype, scratch));
    const Reply r = ask(*zones, c.qname, c.qtype);
    CHECK(static_cast<int>(r.result.status) == static_cast<int>(c.status));
    CHECK(static_cast<int>(r.result.rcode) == c.rcode);
    CHECK(r.answer == c.answer);
    CHECK(r.authority == c.authority);
    CHECK(r.result.next.to_text() == (c.next[0] == 0 ? std::string(".") : std::string(c.next)));
    const bool local_data = c.status == S::kAnswered || c.status == S::kChainTooLong;
    CHECK(r.result.authoritative == local_data);
    CHECK(r.flags == wire::kFlagQR);  // the header is the caller's
  }
}

TEST_CASE("local answer: chain lengths are counted from chain_start", "[unit][zone]") {
  const auto zones = test_zones();
  // The pipeline splices myregistry.azurecr.io CNAME myregistry.privatelink.azurecr.io.
  Reply r = ask(*zones, "myregistry.privatelink.azurecr.io.", t::kA, 1);
  CHECK(r.result.status == S::kAnswered);
  CHECK(r.result.chain_length == 1);
  CHECK(r.answer == Lines{"myregistry.privatelink.azurecr.io. 10 A 10.0.0.7"});

  r = ask(*zones, "alias2.example.", t::kA, 3);
  CHECK(r.result.status == S::kAnswered);
  CHECK(r.result.chain_length == 5);
  r = ask(*zones, "alias2.example.", t::kA, kMaxChain - 1);
  CHECK(r.result.status == S::kChainTooLong);
  CHECK(r.answer.size() == 1);

  // A miss in a forward zone after upstream links is resolved upstream, not kMiss.
  r = ask(*zones, "unknown.fwd.", t::kA, 1);
  CHECK(r.result.status == S::kLeavesLocal);
  CHECK(r.result.next == N("unknown.fwd."));
  CHECK(r.written == 0);
}

TEST_CASE("local answer: the guide zone with on_miss = forward", "[unit][zone]") {
  const auto zones = test_zones(OnMiss::kForward);
  Reply r = ask(*zones, "otherregistry.privatelink.azurecr.io.", t::kA);
  CHECK(r.result.status == S::kMiss);
  CHECK(r.written == 0);
  r = ask(*zones, "myregistry.privatelink.azurecr.io.", t::kA);
  CHECK(r.result.status == S::kAnswered);
  CHECK(r.answer == Lines{"myregistry.privatelink.azurecr.io. 10 A 10.0.0.7"});
  // An existing name without the type is NODATA, not a miss.
  r = ask(*zones, "myregistry.privatelink.azurecr.io.", t::kAAAA);
  CHECK(r.result.status == S::kAnswered);
  CHECK(r.authority == Lines{"privatelink.azurecr.io. 10 SOA 1"});
}

TEST_CASE("local answer: a full buffer reports kOverflow", "[unit][zone]") {
  const auto zones = test_zones();
  // Header + question (17 + 4) + one A record (2 + 10 + 4) fits; the second does not.
  const std::size_t question = wire::kHeaderSize + N("www.example.").size() + 4;
  Reply r = ask(*zones, "www.example.", t::kA, 0, question + 16);
  CHECK(r.result.status == S::kOverflow);
  CHECK(r.answer.size() == 1);
  r = ask(*zones, "nothere.example.", t::kA, 0, question + 10);
  CHECK(r.result.status == S::kOverflow);
  CHECK(r.written == 0);
}

}  // namespace vnetdns::zone
