// Every config shipped under config/ and config/examples/ must load cleanly, and only the
// production default may name an upstream outside the machine. These files are parsed only:
// no test ever serves vnetdns.toml or an example.
#include <filesystem>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "resolver/settings/loader.hpp"

namespace fs = std::filesystem;
using namespace vnetdns::settings;

namespace {

std::vector<fs::path> shipped_configs() {
  std::vector<fs::path> out;
  for (const char* dir : {"config", "config/examples"}) {
    const fs::path d = fs::path(VNETDNS_SOURCE_DIR) / dir;
    for (const auto& entry : fs::directory_iterator(d)) {
      if (entry.is_regular_file() && entry.path().extension() == ".toml")
        out.push_back(entry.path());
    }
  }
  return out;
}

std::string joined(const Errors& errors) {
  std::string s;
  for (const auto& e : errors) s += e + "\n";
  return s;
}

}  // namespace

TEST_CASE("shipped configs: every file under config/ loads", "[unit][settings]") {
  const auto files = shipped_configs();
  CHECK(files.size() >= 4);
  bool saw_production = false, saw_quickstart = false;
  for (const auto& f : files) {
    CAPTURE(f.string());
    auto r = load_settings(f.string());
    INFO((r.ok() ? std::string() : joined(r.error())));
    REQUIRE(r.ok());
    const Settings& s = r.value();
    CHECK_FALSE(s.forwards.empty());
    for (const auto& z : s.zones) CHECK(fs::path(z.file).is_absolute());

    if (f.filename() == "vnetdns.toml" && f.parent_path().filename() == "config") {
      saw_production = true;
      continue;  // the only file allowed a non-loopback upstream (the Azure platform resolver)
    }
    if (f.filename() == "quickstart.toml") saw_quickstart = true;
    for (const auto& fw : s.forwards) {
      for (const auto& up : fw.upstreams) {
        INFO("upstream " << up.to_string() << " of " << fw.source);
        CHECK(up.is_loopback());
      }
    }
  }
  CHECK(saw_production);
  CHECK(saw_quickstart);
}

TEST_CASE("shipped configs: production default", "[unit][settings]") {
  auto r = load_settings(std::string(VNETDNS_SOURCE_DIR) + "/config/vnetdns.toml");
  REQUIRE(r.ok());
  const Settings& s = r.value();
  REQUIRE(s.server.listen.size() == 2);
  CHECK(s.server.listen[0].to_string() == "0.0.0.0:53");
  CHECK(s.server.listen[1].to_string() == "[::]:53");
  REQUIRE(s.forwards.size() == 1);
  CHECK(s.forwards[0].zone.is_root());
  REQUIRE(s.forwards[0].upstreams.size() == 1);
  // The Azure platform resolver, written in config/vnetdns.toml only (no test names it):
  // off the machine, on port 53.
  CHECK_FALSE(s.forwards[0].upstreams[0].is_loopback());
  CHECK(s.forwards[0].upstreams[0].port() == 53);
  CHECK(s.forwards[0].max_outstanding <= 200);  // the platform resolver's per-VM limits
  CHECK(s.forwards[0].max_qps <= 1000);
  REQUIRE(s.zones.size() == 1);
  CHECK(s.zones[0].name.to_text() == "privatelink.azurecr.io.");
  CHECK(fs::path(s.zones[0].file).filename() == "privatelink.azurecr.io.zone");
  CHECK(fs::path(s.zones[0].file).parent_path().filename() == "zones");
  // RFC 1918 and loopback, nothing else.
  auto ep = [](const char* t) { return *vnetdns::util::Endpoint::parse(t, 53); };
  CHECK(s.acl.allow.contains(ep("10.1.2.3")));
  CHECK(s.acl.allow.contains(ep("172.20.0.1")));
  CHECK(s.acl.allow.contains(ep("192.168.5.5")));
  CHECK(s.acl.allow.contains(ep("127.0.0.1")));
  CHECK(s.acl.allow.contains(ep("::1")));
  CHECK_FALSE(s.acl.allow.contains(ep("198.51.100.1")));  // TEST-NET-2, outside the ACL
  CHECK_FALSE(s.acl.allow.contains(ep("2001:db8::1")));
}

TEST_CASE("shipped configs: quickstart stays on loopback", "[unit][settings]") {
  const std::string path = std::string(VNETDNS_SOURCE_DIR) + "/config/quickstart.toml";
  auto r = load_settings(path);
  REQUIRE(r.ok());
  const Settings& s = r.value();
  REQUIRE(s.server.listen.size() == 2);
  CHECK(s.server.listen[0].to_string() == "127.0.0.1:5353");
  CHECK(s.server.listen[1].to_string() == "[::1]:5353");
  CHECK(s.server.threads == 1);
  REQUIRE(s.forwards.size() == 1);
  REQUIRE(s.forwards[0].upstreams.size() == 1);
  CHECK(s.forwards[0].upstreams[0].to_string() == "127.0.0.2:5300");
  REQUIRE(s.zones.size() == 1);
  CHECK(s.zones[0].on_miss == OnMiss::kNxDomain);
  const fs::path expected =
      (fs::absolute(fs::path(VNETDNS_SOURCE_DIR)) / "zones/privatelink.azurecr.io.zone")
          .lexically_normal();
  CHECK(s.zones[0].file == expected.string());
}
