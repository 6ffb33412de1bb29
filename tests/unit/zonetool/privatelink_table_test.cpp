// The table of Azure's private-link zones: the compiled-in copy equals the shipped file, names
// map by the longest public zone, forward_zones() lists each zone once, bad tables are refused.
#include "resolver/zonetool/privatelink_table.hpp"

#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "resolver/zonetool/audit.hpp"

namespace vnetdns::zonetool {
namespace {

wire::Name N(const char* t) { return wire::Name::from_text(t); }

std::string mapped(const char* name) {
  auto p = PrivateLinkTable::builtin().to_private(N(name));
  return p ? p->name.to_text() + " @" + p->private_zone.to_text() : "<none>";
}

}  // namespace

TEST_CASE("privatelink table: builtin equals zones/azure-privatelink-zones.txt",
          "[unit][zonetool]") {
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

TEST_CASE("privatelink table: public names map to their private-link names", "[unit][zonetool]") {
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

TEST_CASE("privatelink table: forward zones and parse errors", "[unit][zonetool]") {
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

TEST_CASE("audit: missing data endpoints and addresses outside the VNet", "[unit][zonetool]") {
  const auto zone = N("privatelink.azurecr.io");
  const std::string text =
      "$ORIGIN privatelink.azurecr.io.\n$TTL 10\n"
      "@ IN SOA ns1 hostmaster 1 3600 600 86400 10\n@ IN NS ns1\nns1 IN A 10.0.0.53\n"
      "myregistry IN A 10.0.0.7\nmyregistry.westeurope.data IN A 10.0.0.6\n"
      "lonely IN A 10.0.0.8\n"
      "ghost.westus.data IN A 10.0.0.9\n"
      "outside IN A 192.168.5.5\noutside.eastus.data IN A 10.0.0.10\n";
  policy::PrefixList vnet({*policy::Prefix::parse("10.0.0.0/16")});
  Inventory inv;
  inv.registries.push_back({"myregistry", {"westeurope", "northeurope"}});
  const auto f = audit_zone(zone, text, "t.zone", &inv, vnet);
  std::vector<std::string> problems, notes;
  for (const auto& x : f) (x.problem ? problems : notes).push_back(x.text);
  const auto has = [&](const std::vector<std::string>& v, const std::string& s) {
    return std::any_of(v.begin(), v.end(),
                       [&](const auto& t) { return t.find(s) != std::string::npos; });
  };
  CHECK(has(problems, "MISSING myregistry.northeurope.data.privatelink.azurecr.io"));
  CHECK_FALSE(has(problems, "myregistry.westeurope.data.privatelink.azurecr.io"));
  CHECK(has(problems, "MISSING lonely.REGION.data.privatelink.azurecr.io"));
  CHECK(has(problems, "MISSING ghost.privatelink.azurecr.io"));
  CHECK(has(problems, "OUTSIDE outside.privatelink.azurecr.io. A 192.168.5.5"));
  CHECK_FALSE(has(problems, "ns1"));  // the name server is no registry
  CHECK(has(notes, "lonely is not in the inventory"));
  CHECK(problems.size() == 4);
  // Without an inventory the guide's zone is fine.
  const std::string guide = text.substr(0, text.find("lonely"));
  CHECK(audit_zone(zone, guide, "t.zone", nullptr, vnet).empty());
  CHECK(audit_zone(zone, "garbage\n", "t.zone", nullptr, vnet)[0].text.rfind("INVALID", 0) == 0);
}

}  // namespace vnetdns::zonetool
