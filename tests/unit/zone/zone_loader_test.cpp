// Zone loading: the shipped guide zone, master-file features, the Zone index (ENTs, RRset
// merging, content hash) and FILE:LINE error messages for bad zone files.
#include "resolver/zone/zone_loader.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "resolver/wire/types.hpp"
#include "resolver/zone/zone.hpp"

namespace vnetdns::zone {
namespace {

wire::Name N(const char* text) { return wire::Name::from_text(text); }

std::shared_ptr<const Zone> must_load(const char* origin, const std::string& text,
                                      const ZoneOptions& options = {}) {
  auto r = load_zone_from_text(N(origin), text, options, "t.zone");
  INFO(text);
  if (!r.ok()) FAIL(r.error());
  return r.value();
}

std::string load_error(const char* origin, const std::string& text) {
  auto r = load_zone_from_text(N(origin), text, {}, "t.zone");
  return r.ok() ? std::string("<loaded>") : r.error();
}

const char* const kSoa = "@ 3600 IN SOA ns1 hostmaster 7 3600 600 86400 300\n";

}  // namespace

TEST_CASE("zone loader: the shipped privatelink.azurecr.io zone", "[unit][zone]") {
  const std::string path = std::string(VNETDNS_SOURCE_DIR) + "/zones/privatelink.azurecr.io.zone";
  auto r = load_zone(N("privatelink.azurecr.io"), path);
  if (!r.ok()) FAIL(r.error());
  const Zone& z = *r.value();
  CHECK(z.origin() == N("privatelink.azurecr.io."));
  CHECK(z.serial() == 1);
  CHECK(z.negative_ttl() == 10);
  CHECK_FALSE(z.forward_on_miss());

  const Node* reg = z.find(N("MyRegistry.privatelink.azurecr.io"));
  REQUIRE(reg != nullptr);
  const RRset* a = z.find_rrset(*reg, wire::type::kA);
  REQUIRE(a != nullptr);
  CHECK(a->ttl == 10);
  REQUIRE(a->rdata_count == 1);
  const RdataView rd = z.rdata(*a, 0);
  REQUIRE(rd.size == 4);
  CHECK((rd.data[0] == 10 && rd.data[1] == 0 && rd.data[2] == 0 && rd.data[3] == 7));

  const Node* data = z.find(N("myregistry.westeurope.data.privatelink.azurecr.io"));
  REQUIRE(data != nullptr);
  REQUIRE(z.find_rrset(*data, wire::type::kA) != nullptr);
  CHECK(z.rdata(*z.find_rrset(*data, wire::type::kA), 0).data[3] == 6);
  // Empty non-terminals exist, with no data.
  const Node* ent = z.find(N("westeurope.data.privatelink.azurecr.io"));
  REQUIRE(ent != nullptr);
  CHECK(ent->empty_non_terminal());
  REQUIRE(z.find(N("data.privatelink.azurecr.io")) != nullptr);
  CHECK(z.find(N("other.privatelink.azurecr.io")) == nullptr);
}

TEST_CASE("zone loader: master file features", "[unit][zone]") {
  const std::string text = std::string("$TTL 600\n") + kSoa +
                           "@ NS ns1\n"
                           "ns1 A 192.0.2.1\n"
                           "WWW.Example. 60 IN A 192.0.2.10 ; absolute, upper case\n"
                           "www 30 A 192.0.2.11\n"
                           "www A 192.0.2.10 ; duplicate, dropped\n"
                           "alias CNAME WWW ; target lowered\n"
                           "\n"
                           "$ORIGIN sub.example.\n"
                           "host A 192.0.2.20\n"
                           "   AAAA 2001:db8::20 ; blank owner: previous owner\n"
                           "opaque TYPE65280 \\# 3 010203\n"
                           "txt TXT \"hello world\" ( \"second\"\n"
                           "  \"third\" )\n";
  auto z = must_load("example.", text);
  CHECK(z->serial() == 7);
  CHECK(z->negative_ttl() == 300);

  const Node* www = z->find(N("www.example."));
  REQUIRE(www != nullptr);
  const RRset* a = z->find_rrset(*www, wire::type::kA);
  REQUIRE(a != nullptr);
  CHECK(a->rdata_count == 2);  // the duplicate is gone
  CHECK(a->ttl == 30);         // RFC 2181 section 5.2: lowest TTL of the set

  const Node* alias = z->find(N("alias.example."));
  REQUIRE(alias != nullptr);
  REQUIRE(alias->has_cname());
  const RdataView target = z->rdata(*z->cname(*alias), 0);
  const wire::Name www_name = N("www.example.");
  REQUIRE(target.size == www_name.size());
  CHECK(std::equal(target.data, target.data + target.size, www_name.data()));
  CHECK(z->cname(*alias)->ttl == 600);  // from $TTL

  const Node* host = z->find(N("host.sub.example."));
  REQUIRE(host != nullptr);
  CHECK(z->find_rrset(*host, wire::type::kA) != nullptr);
  CHECK(z->find_rrset(*host, wire::type::kAAAA) != nullptr);
  const Node* opaque = z->find(N("opaque.sub.example."));
  REQUIRE(opaque != nullptr);
  const RRset* unknown = z->find_rrset(*opaque, 65280);
  REQUIRE(unknown != nullptr);
  CHECK(z->rdata(*unknown, 0).size == 3);
  const Node* txt = z->find(N("txt.sub.example."));
  REQUIRE(txt != nullptr);
  CHECK(z->rdata(*z->find_rrset(*txt, wire::type::kTXT), 0).size == 1 + 11 + 1 + 6 + 1 + 5);
  const Node* sub = z->find(N("sub.example."));
  REQUIRE(sub != nullptr);
  CHECK(sub->empty_non_terminal());
}

TEST_CASE("zone loader: a file without a trailing newline", "[unit][zone]") {
  auto z = must_load("example.", std::string(kSoa) + "last A 192.0.2.9");
  CHECK(z->find(N("last.example.")) != nullptr);
}

TEST_CASE("zone: content hash tells changed zones apart", "[unit][zone]") {
  const std::string a = std::string(kSoa) + "www A 192.0.2.1\nmail A 192.0.2.2\n";
  const std::string b = std::string(kSoa) + "MAIL A 192.0.2.2\n\nwww.example. A 192.0.2.1\n";
  const std::string c = std::string(kSoa) + "www A 192.0.2.1\nmail 5 A 192.0.2.2\n";
  const auto ha = must_load("example.", a)->content_hash();
  CHECK(must_load("example.", b)->content_hash() == ha);
  CHECK(must_load("example.", c)->content_hash() != ha);
  ZoneOptions forward;
  forward.on_miss = OnMiss::kForward;
  CHECK(must_load("example.", a, forward)->content_hash() != ha);
}

TEST_CASE("zone loader: bad zone files give FILE:LINE messages", "[unit][zone]") {
  struct Case {
    const char* what;
    std::string text;
    std::string expected;  // the whole message
  };
  const std::string soa(kSoa);
  const Case cases[] = {
      {"syntax error in rdata", soa + "\n; comment\nbad A 192.0.2\nok A 192.0.2.1\n",
       "t.zone:4: Syntax error, could not parse the RR's rdata"},
      {"syntax error, blank lines after", soa + "bad A 192.0.2\n\n\nok A 192.0.2.1\n",
       "t.zone:2: Syntax error, could not parse the RR's rdata"},
      {"unknown type", soa + "a A 192.0.2.1\nb BOGUS 1\n",
       "t.zone:3: Syntax error, could not parse the RR's rdata"},
      {"no SOA", "www A 192.0.2.1\n", "t.zone:1: no SOA record at the zone apex example."},
      {"second SOA", soa + "www A 192.0.2.1\n@ SOA ns2 hm 8 1 1 1 1\n",
       "t.zone:3: second SOA record in the zone"},
      {"SOA below the apex", "www SOA ns1 hm 1 1 1 1 1\n",
       "t.zone:1: SOA record not at the zone apex example."},
      {"CNAME and other data", soa + "www A 192.0.2.1\nx TXT \"x\"\nwww CNAME x\n",
       "t.zone:4: CNAME and other data at www.example. (RFC 1034 section 3.6.2)"},
      {"other data after a CNAME", soa + "www CNAME x\nwww A 192.0.2.1\n",
       "t.zone:3: CNAME and other data at www.example. (RFC 1034 section 3.6.2)"},
      {"two CNAMEs", soa + "www CNAME x\nwww CNAME y\n",
       "t.zone:3: more than one CNAME at www.example."},
      {"CNAME at the apex", soa + "@ CNAME x.other.\n",
       "t.zone:2: CNAME and other data at example. (RFC 1034 section 3.6.2)"},
      {"out of zone", soa + "ok A 192.0.2.1\nwww.example.com. A 192.0.2.1\n",
       "t.zone:3: www.example.com. is outside the zone example."},
      {"out of zone by $ORIGIN", soa + "$ORIGIN other.\nwww A 192.0.2.1\n",
       "t.zone:3: www.other. is outside the zone example."},
      {"class CH", soa + "www CH TXT \"x\"\n", "t.zone:2: class 3 is not served (only IN)"},
      {"$INCLUDE", soa + "$INCLUDE other.zone\n", "t.zone:2: $INCLUDE is not supported"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    CHECK(load_error("example.", c.text) == c.expected);
  }
}

TEST_CASE("zone loader: a missing file is reported with its path", "[unit][zone]") {
  auto r = load_zone(N("example."), "/nonexistent/vnetdns/example.zone");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error() ==
        "/nonexistent/vnetdns/example.zone:1: cannot open zone file: No such file or directory");
}

TEST_CASE("zone: build from records rejects what the loader would", "[unit][zone]") {
  std::vector<ZoneRecord> records(1);
  records[0].owner = N("example.");
  records[0].type = wire::type::kA;
  records[0].klass = wire::klass::kIN;
  records[0].rdata = {192, 0, 2, 1};
  auto r = Zone::build(N("example."), records, {});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().record == ZoneError::kNoRecord);

  records[0].type = wire::type::kSOA;
  records[0].rdata = {0, 0, 1, 2, 3};  // not two names and 20 bytes
  r = Zone::build(N("example."), records, {});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().record == 0);
  CHECK(r.error().message == "malformed SOA rdata");
}

}  // namespace vnetdns::zone
