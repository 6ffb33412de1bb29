// Azure CLI JSON import: every fixture in tests/integration/data/azure/ gives the guide's three
// records (registry + two replicas' data endpoints) in privatelink.azurecr.io; Key Vault maps
// to privatelink.vaultcore.azure.net; bad input is refused with a reason.
#include "resolver/zonetool/azure_import.hpp"

#include <fstream>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

namespace vnetdns::zonetool {
namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(VNETDNS_SOURCE_DIR) + "/tests/integration/data/azure/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  REQUIRE(!ss.str().empty());
  return ss.str();
}

// "name A addr,addr" per record, for compact comparisons.
std::vector<std::string> summary(const ImportResult& r) {
  std::vector<std::string> out;
  for (const auto& rec : r.records) {
    std::string s = rec.name.to_text() + " @" + rec.zone.to_text();
    for (const auto& a : rec.addresses) s += " " + a.to_string();
    out.push_back(s);
  }
  return out;
}

const std::vector<std::string> kRegistry = {
    "myregistry.privatelink.azurecr.io. @privatelink.azurecr.io. 10.0.0.7",
    "myregistry.westeurope.data.privatelink.azurecr.io. @privatelink.azurecr.io. 10.0.0.6",
    "myregistry.northeurope.data.privatelink.azurecr.io. @privatelink.azurecr.io. 10.0.0.5",
};

}  // namespace

TEST_CASE("import: every fixture of the registry with two replicas", "[unit][zonetool]") {
  for (const auto& [file, shape] :
       {std::pair{"private-endpoint-show.json", "private-endpoint"},
        std::pair{"private-endpoint-show-static-ip.json", "private-endpoint"},
        std::pair{"nic-show.json", "nic"},
        std::pair{"private-dns-record-set-a-list.json", "record-sets"}}) {
    INFO(file);
    auto r = import_azure_json(fixture(file), policy::PrivateLinkTable::builtin());
    if (!r.ok()) FAIL(r.error());
    CHECK(r.value().shape == shape);
    CHECK(summary(r.value()) == kRegistry);
    CHECK(r.value().warnings.empty());
  }
  auto rs = import_azure_json(fixture("private-dns-record-set-a-list.json"),
                              policy::PrivateLinkTable::builtin());
  REQUIRE(rs.ok());
  CHECK(rs.value().records[0].ttl == "10");
}

TEST_CASE("import: Key Vault, arrays, zone groups, and what is refused", "[unit][zonetool]") {
  auto kv = import_azure_json(fixture("private-endpoint-keyvault.json"),
                              policy::PrivateLinkTable::builtin());
  REQUIRE(kv.ok());
  CHECK(summary(kv.value()) ==
        std::vector<std::string>{"myvault.privatelink.vaultcore.azure.net. "
                                 "@privatelink.vaultcore.azure.net. 10.0.1.4"});
  // `az network private-endpoint list`: an array; the same name twice is merged.
  const std::string list =
      "[" + fixture("private-endpoint-show.json") + "," + fixture("nic-show.json") + "]";
  auto l = import_azure_json(list, policy::PrivateLinkTable::builtin());
  REQUIRE(l.ok());
  CHECK(summary(l.value()) == kRegistry);
  CHECK(l.value().shape == "mixed");
  auto g = import_azure_json(
      R"({"name":"default","privateDnsZoneConfigs":[{"name":"privatelink-azurecr-io",
          "recordSets":[{"fqdn":"myregistry.privatelink.azurecr.io","ipAddresses":["10.0.0.7"],
          "recordSetName":"myregistry","recordType":"A","ttl":10}]}]})",
      policy::PrivateLinkTable::builtin());
  REQUIRE(g.ok());
  CHECK(g.value().shape == "dns-zone-group");
  CHECK(summary(g.value()) == std::vector<std::string>{kRegistry[0]});
  auto w = import_azure_json(
      R"({"customDnsConfigs":[{"fqdn":"myregistry.azurecr.io","ipAddresses":["not-an-ip"]},
          {"fqdn":"host.example.com","ipAddresses":["10.9.9.9"]}]})",
      policy::PrivateLinkTable::builtin());
  REQUIRE(w.ok());
  CHECK(w.value().records.empty());
  REQUIRE(w.value().warnings.size() == 2);
  CHECK_THAT(w.value().warnings[0], Catch::Contains("not an IP address"));
  CHECK_THAT(w.value().warnings[1], Catch::Contains("no private-link zone"));
  // With -z, a name below that zone is taken as it is.
  const auto extra = wire::Name::from_text("example.com");
  auto x = import_azure_json(R"({"customDnsConfigs":[{"fqdn":"host.example.com",
                                 "ipAddresses":["10.9.9.9"]}]})",
                             policy::PrivateLinkTable::builtin(), &extra);
  REQUIRE(x.ok());
  CHECK(summary(x.value()) == std::vector<std::string>{"host.example.com. @example.com. 10.9.9.9"});
  CHECK_THAT(import_azure_json("{not json", policy::PrivateLinkTable::builtin()).error(),
             Catch::Contains("not valid JSON"));
  CHECK_THAT(import_azure_json(R"({"name":"x"})", policy::PrivateLinkTable::builtin()).error(),
             Catch::Contains("unrecognised"));
}

TEST_CASE("inventory: the audit's registry list", "[unit][zonetool]") {
  auto inv = parse_inventory(fixture("inventory.json"), "inventory.json");
  REQUIRE(inv.ok());
  REQUIRE(inv.value().registries.size() == 1);
  CHECK(inv.value().registries[0].name == "myregistry");
  CHECK(inv.value().registries[0].regions == std::vector<std::string>{"westeurope", "northeurope"});
  CHECK_FALSE(parse_inventory(R"({"registries":[{"regions":["x"]}]})", "i").ok());
  CHECK_FALSE(parse_inventory(R"([1,2])", "i").ok());
}

}  // namespace vnetdns::zonetool
