// [[forward]] zone = "@azure-privatelink": one rule per zone of Azure's private-link table.
#include <algorithm>

#include <catch2/catch.hpp>

#include "resolver/policy/privatelink_table.hpp"
#include "resolver/settings/loader.hpp"

using vnetdns::settings::parse_settings;
using vnetdns::wire::Name;

namespace {
const vnetdns::settings::ForwardSettings* rule_for(const vnetdns::settings::Settings& s,
                                                   const char* zone) {
  const Name n = Name::from_text(zone);
  for (const auto& f : s.forwards) {
    if (f.zone == n) return &f;
  }
  return nullptr;
}
}  // namespace

TEST_CASE("@azure-privatelink expands to every public and private zone", "[unit][settings]") {
  auto r = parse_settings(R"([[forward]]
zone = "@azure-privatelink"
upstreams = ["127.0.0.2:5300"]
timeout = "2s"

[[forward]]
zone = "azurecr.io"
upstreams = ["127.0.0.3"]
)",
                          "/t/c.toml");
  REQUIRE(r.ok());
  const auto zones = vnetdns::policy::PrivateLinkTable::builtin().forward_zones();
  REQUIRE(zones.size() > 40);
  CHECK(r->forwards.size() == zones.size());  // azurecr.io is the explicit one, not twice
  const auto* acr = rule_for(*r, "azurecr.io");
  REQUIRE(acr != nullptr);
  CHECK(acr->upstreams.front().to_string() == "127.0.0.3:53");  // the explicit rule wins
  const auto* blob = rule_for(*r, "privatelink.blob.core.windows.net");
  REQUIRE(blob != nullptr);
  CHECK(blob->upstreams.front().to_string() == "127.0.0.2:5300");
  CHECK(blob->timeout == std::chrono::seconds(2));
  CHECK(rule_for(*r, "vault.azure.net") != nullptr);
}

TEST_CASE("unknown and repeated zone lists are errors with their line", "[unit][settings]") {
  auto unknown =
      parse_settings("[[forward]]\nzone = \"@azure\"\nupstreams = [\"127.0.0.2\"]\n", "/t/c.toml");
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().front().rfind("/t/c.toml:2: unknown zone list '@azure'", 0) == 0);
  auto twice = parse_settings(
      "[[forward]]\nzone = \"@azure-privatelink\"\nupstreams = [\"127.0.0.2\"]\n"
      "[[forward]]\nzone = \"@azure-privatelink\"\nupstreams = [\"127.0.0.3\"]\n",
      "/t/c.toml");
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().front().find("/t/c.toml:5:") == 0);
}
