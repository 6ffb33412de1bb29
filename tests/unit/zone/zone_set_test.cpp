// ZoneSet: longest-origin match, nested zones, duplicates.
#include "resolver/zone/zone_set.hpp"

#include <string>

#include <catch2/catch.hpp>

#include "resolver/zone/zone_loader.hpp"

namespace vnetdns::zone {
namespace {

wire::Name N(const char* text) { return wire::Name::from_text(text); }

std::shared_ptr<const Zone> zone_at(const char* origin) {
  auto r = load_zone_from_text(N(origin), "@ 60 SOA ns hm 1 2 3 4 5\n", {}, origin);
  if (!r.ok()) FAIL(r.error());
  return r.value();
}

}  // namespace

TEST_CASE("zone set: the longest origin wins", "[unit][zone]") {
  auto built = ZoneSet::build({zone_at("azurecr.io."), zone_at("privatelink.azurecr.io."),
                               zone_at("example."), zone_at("a.b.c.d.e.example.")});
  if (!built.ok()) FAIL(built.error());
  const ZoneSet& set = *built.value();
  CHECK(set.size() == 4);

  struct Case {
    const char* qname;
    const char* origin;  // nullptr: no zone
  };
  const Case cases[] = {
      {"myregistry.privatelink.azurecr.io.", "privatelink.azurecr.io."},
      {"MyRegistry.PrivateLink.AzureCR.io.", "privatelink.azurecr.io."},
      {"privatelink.azurecr.io.", "privatelink.azurecr.io."},
      {"x.y.privatelink.azurecr.io.", "privatelink.azurecr.io."},
      {"myregistry.azurecr.io.", "azurecr.io."},
      {"azurecr.io.", "azurecr.io."},
      {"io.", nullptr},
      {".", nullptr},
      {"notprivatelink.azurecr.io.", "azurecr.io."},
      {"b.c.d.e.example.", "example."},
      {"z.a.b.c.d.e.example.", "a.b.c.d.e.example."},
      {"example.com.", nullptr},
  };
  for (const Case& c : cases) {
    INFO(c.qname);
    const Zone* z = set.find(N(c.qname));
    if (c.origin == nullptr) {
      CHECK(z == nullptr);
    } else {
      REQUIRE(z != nullptr);
      CHECK(z->origin() == N(c.origin));
    }
  }
  CHECK(set.zone(N("example.")) != nullptr);
  CHECK(set.zone(N("b.example.")) == nullptr);
  CHECK(set.shared(N("example.")).get() == set.zone(N("example.")));
}

TEST_CASE("zone set: a root zone matches everything; an empty set nothing", "[unit][zone]") {
  auto built = ZoneSet::build({zone_at("."), zone_at("example.")});
  if (!built.ok()) FAIL(built.error());
  CHECK(built.value()->find(N("foo.test."))->origin().is_root());
  CHECK(built.value()->find(N("."))->origin().is_root());
  CHECK(built.value()->find(N("www.example."))->origin() == N("example."));
  const ZoneSet empty;
  CHECK(empty.find(N("www.example.")) == nullptr);
}

TEST_CASE("zone set: two zones with one origin are refused", "[unit][zone]") {
  auto built = ZoneSet::build({zone_at("example."), zone_at("Example.")});
  REQUIRE_FALSE(built.ok());
  CHECK(built.error() == "zone example. is defined twice");
}

}  // namespace vnetdns::zone
