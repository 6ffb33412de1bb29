// The table of Azure's private-link zones: the compiled-in table (generated from the shipped
// file at build time) reads the same, names
// map by the longest public zone, forward_zones() lists each zone once, bad tables are refused.
#include "resolver/policy/privatelink_table.hpp"

#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

namespace vnetdns::policy {
namespace {

wire::Name N(const char* t) { return wire::Name::from_text(t); }

std::string mapped(const char* name) {
  auto p = PrivateLinkTable::builtin().to_private(N(name));
  return p ? p->name.to_text() + " @" + p->private_zone.to_text() : "<none>";
}

}  // namespace

TEST_CASE("privatelink table: builtin equals zones/azure-privatelink-zones.txt", "[unit][policy]") {
  const std::string path = std::string(VNETDNS_SOURCE_DIR) + "/zones/azure-privatelink-zones.txt";
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  CHECK(ss.str() == std::string(PrivateLinkTable::builtin_text()));
  auto loaded = PrivateLinkTable::load(path);
  REQUIRE(loaded.ok());
  CHECK(loaded.value().zones().size() == PrivateLinkTable::builtin().zones().size());
  CHECK(PrivateLinkTable::builtin().zones().size() >= 40);
  CHECK(PrivateLinkTable::builtin().zones()[0].service.find("Container Registry") == 0);
}

TEST_CASE("privatelink table: public names map to their private-link names", "[unit][policy]") {
  CHECK(mapped("myregistry.azurecr.io") ==
        "myregistry.privatelink.azurecr.io. @privatelink.azurecr.io.");
  CHECK(mapped("MyRegistry.WestEurope.Data.azurecr.io.") ==
        "myregistry.westeurope.data.privatelink.azurecr.io. @privatelink.azurecr.io.");
  CHECK(mapped("myregistry.privatelink.azurecr.io") ==
        "myregistry.privatelink.azurecr.io. @privatelink.azurecr.io.");
  CHECK(mapped("myvault.vault.azure.net") ==
        "myvault.privatelink.vaultcore.azure.net. @privatelink.vaultcore.azure.net.");
  CHECK(mapped("mystorage.blob.core.windows.net") ==
        "mystorage.privatelink.blob.core.windows.net. @privatelink.blob.core.windows.net.");
  CHECK(mapped("mydb.database.windows.net") ==
        "mydb.privatelink.database.windows.net. @privatelink.database.windows.net.");
  CHECK(mapped("myapp.scm.azurewebsites.net") ==
        "myapp.scm.privatelink.azurewebsites.net. @scm.privatelink.azurewebsites.net.");
  CHECK(mapped("myapp.azurewebsites.net") ==
        "myapp.privatelink.azurewebsites.net. @privatelink.azurewebsites.net.");
  CHECK(mapped("azurecr.io") == "<none>");  // the zone itself is no endpoint
  CHECK(mapped("www.example.com") == "<none>");
}

TEST_CASE("privatelink table: forward zones and parse errors", "[unit][policy]") {
  const auto zones = PrivateLinkTable::builtin().forward_zones();
  CHECK(std::count(zones.begin(), zones.end(), N("privatelink.vaultcore.azure.net")) == 1);
  CHECK(std::count(zones.begin(), zones.end(), N("azurecr.io")) == 1);
  CHECK(std::count(zones.begin(), zones.end(), N("privatelink.azurecr.io")) == 1);
  CHECK(zones.size() == PrivateLinkTable::builtin().zones().size() * 2 - 1);  // vaultcore shared
  CHECK_THAT(PrivateLinkTable::parse("a.io privatelink.a.io\na.io privatelink.b.io\n", "t").error(),
             Catch::Contains("t:2: a.io is listed twice"));
  CHECK_THAT(PrivateLinkTable::parse("a.io\n", "t").error(), Catch::Contains("t:1: expected"));
  CHECK_THAT(PrivateLinkTable::parse("a.io private.a.io\n", "t").error(),
             Catch::Contains("no 'privatelink' label"));
  CHECK_FALSE(PrivateLinkTable::parse("# only comments\n", "t").ok());
}

}  // namespace vnetdns::policy
