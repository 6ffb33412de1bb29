// LoopGuard: one probe name per forward rule zone, the root included, each under the rule's
// zone and recognised exactly (another nonce, or the same name one label up, is not ours).
#include "resolver/pipeline/loop_guard.hpp"

#include <catch2/catch.hpp>

namespace vnetdns::pipeline {
namespace {

TEST_CASE("LoopGuard: a probe per rule zone, recognised exactly", "[unit][pipeline]") {
  LoopGuard& g = LoopGuard::instance();
  const std::vector<wire::Name> zones{wire::Name::from_text("."),
                                      wire::Name::from_text("azurecr.io.")};
  std::vector<wire::Name> probes;
  for (const auto& [rule, name] : g.arm(zones)) {
    CHECK(rule == probes.size());
    probes.push_back(name);
  }
  REQUIRE(probes.size() == 2);
  CHECK(probes[0].label_count() == 2);  // <nonce>.vnetdns-loop-check.
  CHECK(probes[1].to_text().find(".vnetdns-loop-check.azurecr.io.") != std::string::npos);
  CHECK(g.matches(probes[0]));
  CHECK(g.matches(probes[1]));
  CHECK_FALSE(g.matches(probes[1].parent(1)));
  CHECK_FALSE(g.matches(wire::Name::from_text("0000000000000000.vnetdns-loop-check.")));
  const auto again = g.arm(zones);
  CHECK_FALSE(again[0].second == probes[0]);  // a fresh nonce each time
  g.arm({});
}

}  // namespace
}  // namespace vnetdns::pipeline
