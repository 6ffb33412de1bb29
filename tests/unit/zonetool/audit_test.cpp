// vnetdns zone audit: data endpoints missing from the private zone (against an inventory of
// registries and their replicas) and records outside the VNet's prefixes.
#include "resolver/zonetool/audit.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

namespace vnetdns::zonetool {
namespace {

wire::Name N(const char* t) { return wire::Name::from_text(t); }

}  // namespace

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
