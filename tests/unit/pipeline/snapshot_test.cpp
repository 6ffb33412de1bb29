// build_snapshot(): an unchanged [[forward]] rule keeps its ForwardGroup across a reload (its
// health and counters carry on); a changed one gets a new group.
#include "resolver/pipeline/snapshot.hpp"

#include <catch2/catch.hpp>

#include "resolver/settings/loader.hpp"

using vnetdns::pipeline::build_snapshot;
using vnetdns::pipeline::BuildOptions;
using vnetdns::settings::parse_settings;

namespace {
vnetdns::settings::Settings settings_from(const char* text) {
  auto r = parse_settings(text, "/t/c.toml");
  REQUIRE(r.ok());
  return r.value();
}
}  // namespace

TEST_CASE("snapshot: unchanged forward rules keep their group on reload", "[unit][pipeline]") {
  const char* kConfig = R"([[forward]]
zone = "."
upstreams = ["127.0.0.2:5300"]

[[forward]]
zone = "corp.example"
upstreams = ["127.0.0.3:5300"]
)";
  auto first = build_snapshot(settings_from(kConfig));
  REQUIRE(first.ok());
  BuildOptions opt;
  opt.previous = first.value().get();
  auto same = build_snapshot(settings_from(kConfig), opt);
  REQUIRE(same.ok());
  CHECK(same.value()->groups[0] == first.value()->groups[0]);
  CHECK(same.value()->groups[1] == first.value()->groups[1]);

  auto changed = build_snapshot(settings_from(R"([[forward]]
zone = "."
upstreams = ["127.0.0.2:5300"]
timeout = "500ms"

[[forward]]
zone = "corp.example"
upstreams = ["127.0.0.3:5300"]
)"),
                                opt);
  REQUIRE(changed.ok());
  CHECK(changed.value()->groups[0] != first.value()->groups[0]);  // timeout changed
  CHECK(changed.value()->groups[1] == first.value()->groups[1]);
  CHECK(changed.value()->groups[0]->settings().timeout == std::chrono::milliseconds(500));
}
