// build_snapshot(): an unchanged [[forward]] rule keeps its ForwardGroup across a reload (its
// health and counters carry on); a changed one gets a new group. [dnssec]: anchors and
// negative trust anchors, and a bad anchor file reported with both files' lines.
#include "resolver/pipeline/snapshot.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "resolver/settings/loader.hpp"

using vnetdns::pipeline::build_snapshot;
using vnetdns::pipeline::BuildOptions;
using vnetdns::settings::parse_settings;

namespace {
vnetdns::settings::Settings settings_from(const std::string& text) {
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

TEST_CASE("snapshot: [dnssec] validate loads the trust anchors and the exceptions",
          "[unit][pipeline]") {
  const std::string dir = "/tmp/vnetdns-snapshot-test-" + std::to_string(::getpid());
  std::filesystem::create_directories(dir);
  const std::string good = dir + "/root.ds";
  std::ofstream(good) << "; the root's DS\n"
                         ". IN DS 20326 8 2 "
                         "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n";
  const std::string bad = dir + "/bad.key";
  std::ofstream(bad) << ". IN DS 20326 8 2 E06D44B8\n. IN A 192.0.2.1\n";
  auto config = [&](const std::string& anchor) {
    return "[dnssec]\nmode = \"validate\"\ntrust_anchor_file = \"" + anchor +
           "\"\ninsecure = [\"corp.example\"]\n\n[[forward]]\nzone = \".\"\nupstreams = "
           "[\"127.0.0.2:5300\"]\n\n[[forward]]\nzone = \"lab.example\"\nupstreams = "
           "[\"127.0.0.3:5300\"]\ndnssec = false\n";
  };
  auto snap = build_snapshot(settings_from(config(good)));
  REQUIRE(snap.ok());
  const auto& s = *snap.value();
  CHECK(s.validate);
  REQUIRE(s.anchors);
  REQUIRE(s.anchors->size() == 1);
  CHECK(s.anchors->front().zone.is_root());
  using vnetdns::wire::Name;
  CHECK(s.not_validated.find(Name::from_text("a.corp.example")) != nullptr);
  CHECK(s.not_validated.find(Name::from_text("x.lab.example")) != nullptr);
  CHECK(s.not_validated.find(Name::from_text("example")) == nullptr);

  auto broken = build_snapshot(settings_from(config(bad)));
  REQUIRE_FALSE(broken.ok());
  REQUIRE(broken.error().size() == 1);
  // Where the anchor file is named, then the line of the anchor file at fault.
  CHECK_THAT(broken.error()[0], Catch::Contains("/t/c.toml:3: " + bad + ":2"));
  auto missing = build_snapshot(settings_from(config(dir + "/none")));
  REQUIRE_FALSE(missing.ok());
  CHECK_THAT(missing.error()[0], Catch::Contains("cannot open the trust anchor file"));

  auto off =
      build_snapshot(settings_from("[dnssec]\nmode = \"off\"\ntrust_anchor_file = "
                                   "\"/nonexistent\"\n"));
  REQUIRE(off.ok());  // not read when off
  CHECK_FALSE(off.value()->validate);
  std::filesystem::remove_all(dir);
}
