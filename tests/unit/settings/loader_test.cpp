// load_settings()/parse_settings(): defaults, every section, durations, path resolution,
// and the FILE:LINE errors for each kind of mistake (all collected, not just the first).
#include "resolver/settings/loader.hpp"

#include <netinet/in.h>

#include <string>
#include <thread>

#include <catch2/catch.hpp>

using namespace vnetdns::settings;
using vnetdns::util::Endpoint;
using vnetdns::wire::Name;

namespace {

constexpr const char* kPath = "/etc/vnetdns/vnetdns.toml";

Settings ok(const std::string& text) {
  auto r = parse_settings(text, kPath);
  if (!r.ok()) {
    for (const auto& e : r.error()) UNSCOPED_INFO(e);
  }
  REQUIRE(r.ok());
  return std::move(r).value();
}

Errors bad(const std::string& text) {
  auto r = parse_settings(text, kPath);
  REQUIRE_FALSE(r.ok());
  return r.error();
}

// True when some error starts with "FILE:line: " and contains `what`.
bool has_error(const Errors& errors, int line, const std::string& what) {
  const std::string prefix = std::string(kPath) + ":" + std::to_string(line) + ": ";
  for (const auto& e : errors) {
    if (e.rfind(prefix, 0) == 0 && e.find(what) != std::string::npos) return true;
  }
  return false;
}

std::string dump(const Errors& errors) {
  std::string s;
  for (const auto& e : errors) s += e + "\n";
  return s;
}

Endpoint ep(const char* text, std::uint16_t port = 53) { return *Endpoint::parse(text, port); }

}  // namespace

TEST_CASE("settings: an empty file gives the safe defaults", "[unit][settings]") {
  const Settings s = ok("");
  CHECK(s.path == kPath);
  REQUIRE(s.server.listen.size() == 2);
  CHECK(s.server.listen[0] == ep("127.0.0.1"));
  CHECK(s.server.listen[1] == ep("::1"));
  const unsigned hw = std::thread::hardware_concurrency();
  CHECK(s.server.threads == (hw == 0 ? 1u : hw));
  CHECK(s.server.max_tcp_clients == 10000);
  CHECK(s.server.tcp_idle_timeout == Millis(10000));
  CHECK(s.log.level == "info");
  CHECK_FALSE(s.log.queries);
  CHECK(s.log.sample == 1);
  // ACL default: loopback only, never an open resolver.
  CHECK(s.acl.action == AclAction::kRefuse);
  CHECK(s.acl.allow.contains(ep("127.0.0.1")));
  CHECK(s.acl.allow.contains(ep("127.9.9.9")));
  CHECK(s.acl.allow.contains(ep("::1")));
  CHECK(s.acl.allow.contains(ep("::ffff:127.0.0.1")));
  CHECK_FALSE(s.acl.allow.contains(ep("10.0.0.1")));
  CHECK_FALSE(s.acl.allow.contains(ep("::2")));
  CHECK_FALSE(s.rate_limit.enabled);
  CHECK(s.cache.max_entries == 100000);
  CHECK(s.cache.max_ttl == Millis(86400 * 1000));
  CHECK(s.zones.empty());
  CHECK(s.forwards.empty());
  CHECK_FALSE(s.admin.enabled);
  CHECK(s.admin.listen == ep("127.0.0.1", 9153));
  CHECK(s.admin.allow.contains(ep("::1")));
}

TEST_CASE("settings: every key is read", "[unit][settings]") {
  const Settings s = ok(R"(
[server]
listen = ["127.0.0.1:5353", "[::1]:5354", "10.0.0.4"]
threads = 3
max_tcp_clients = 50
tcp_idle_timeout = "2s"
user = "vnetdns"

[log]
level = "debug"
queries = true
query_file = "log/queries.json"
sample = 10

[acl]
allow = ["10.0.0.0/8", "192.168.1.7", "fd00::/8"]
action = "drop"

[rate_limit]
qps = 10
burst = 20
slip = 0
ipv4_prefix = 32
ipv6_prefix = 64

[cache]
max_entries = 0
serve_stale = "1d"
stale_answer_timeout = 2
prefetch = true
max_negative_ttl = "5m"
min_ttl = "30s"
max_ttl = "1h30m"

[[zone]]
name = "PrivateLink.AzureCR.io."
file = "zones/privatelink.azurecr.io.zone"
on_miss = "forward"

[[zone]]
name = "corp.example"
file = "/var/lib/vnetdns/corp.zone"

[[forward]]
zone = "."
upstreams = ["127.0.0.2:5300", "[::1]:5300", "127.0.0.3"]
policy = "round_robin"
timeout = "800ms"
deadline = "3s"
max_outstanding = 100
max_qps = 500
protocol = "tcp"
health_probe = "example.org"
randomize_case = true
source_ports = "pool"
avoid_ports = [8080, 5353, 8080]

[[forward]]
zone = "corp.example"
upstreams = ["127.0.10.1"]
policy = "fastest"

[admin]
listen = "127.0.0.1"
allow = ["127.0.0.1"]
)");
  REQUIRE(s.server.listen.size() == 3);
  CHECK(s.server.listen[0] == ep("127.0.0.1:5353"));
  CHECK(s.server.listen[1] == ep("[::1]:5354"));
  CHECK(s.server.listen[1].family() == AF_INET6);
  CHECK(s.server.listen[2] == ep("10.0.0.4:53"));
  CHECK(s.server.threads == 3);
  CHECK(s.server.max_tcp_clients == 50);
  CHECK(s.server.tcp_idle_timeout == Millis(2000));
  CHECK(s.server.user == "vnetdns");

  CHECK(s.log.level == "debug");
  CHECK(s.log.queries);
  CHECK(s.log.query_file == "/etc/vnetdns/log/queries.json");
  CHECK(s.log.sample == 10);

  CHECK(s.acl.action == AclAction::kDrop);
  REQUIRE(s.acl.allow.prefixes().size() == 3);
  CHECK(s.acl.allow.prefixes()[1].to_string() == "192.168.1.7/32");
  CHECK(s.acl.allow.contains(ep("fd00::5")));
  CHECK_FALSE(s.acl.allow.contains(ep("127.0.0.1")));  // an explicit list replaces the default

  CHECK(s.rate_limit.enabled);
  CHECK(s.rate_limit.qps == 10);
  CHECK(s.rate_limit.burst == 20);
  CHECK(s.rate_limit.slip == 0);
  CHECK(s.rate_limit.ipv4_prefix == 32);
  CHECK(s.rate_limit.ipv6_prefix == 64);

  CHECK(s.cache.max_entries == 0);
  CHECK(s.cache.serve_stale == Millis(86400 * 1000));
  CHECK(s.cache.stale_answer_timeout == Millis(2000));
  CHECK(s.cache.prefetch);
  CHECK(s.cache.max_negative_ttl == Millis(300 * 1000));
  CHECK(s.cache.min_ttl == Millis(30 * 1000));
  CHECK(s.cache.max_ttl == Millis(5400 * 1000));

  REQUIRE(s.zones.size() == 2);
  CHECK(s.zones[0].name == Name::from_text("privatelink.azurecr.io"));
  CHECK(s.zones[0].file == "/etc/vnetdns/zones/privatelink.azurecr.io.zone");
  CHECK(s.zones[0].on_miss == OnMiss::kForward);
  CHECK(s.zones[0].source == std::string(kPath) + ":35");
  CHECK(s.zones[1].file == "/var/lib/vnetdns/corp.zone");
  CHECK(s.zones[1].on_miss == OnMiss::kNxDomain);
  CHECK(s.zones[1].source == std::string(kPath) + ":40");

  REQUIRE(s.forwards.size() == 2);
  const auto& f = s.forwards[0];
  CHECK(f.zone.is_root());
  REQUIRE(f.upstreams.size() == 3);
  CHECK(f.upstreams[0] == ep("127.0.0.2:5300"));
  CHECK(f.upstreams[1] == ep("[::1]:5300"));
  CHECK(f.upstreams[2] == ep("127.0.0.3:53"));
  CHECK(f.policy == UpstreamPolicy::kRoundRobin);
  CHECK(f.timeout == Millis(800));
  CHECK(f.deadline == Millis(3000));
  CHECK(f.max_outstanding == 100);
  CHECK(f.max_qps == 500);
  CHECK(f.protocol == UpstreamProtocol::kTcp);
  CHECK(f.health_probe == Name::from_text("example.org"));
  CHECK(f.randomize_case);
  CHECK(f.source_ports == vnetdns::settings::SourcePorts::kPool);
  CHECK(f.avoid_ports == std::vector<std::uint16_t>{5353, 8080});  // sorted, once each
  CHECK(f.source == std::string(kPath) + ":44");
  const auto& g = s.forwards[1];
  CHECK(g.zone == Name::from_text("corp.example"));
  CHECK(g.policy == UpstreamPolicy::kFastest);
  CHECK(g.timeout == Millis(1000));  // defaults
  CHECK(g.deadline == Millis(4000));
  CHECK(g.max_outstanding == 200);
  CHECK(g.max_qps == 1000);
  CHECK(g.protocol == UpstreamProtocol::kUdp);
  CHECK(g.health_probe.is_root());
  CHECK_FALSE(g.randomize_case);
  CHECK(g.source_ports == vnetdns::settings::SourcePorts::kPerQuestion);
  CHECK(g.avoid_ports.empty());

  CHECK(s.admin.enabled);
  CHECK(s.admin.listen == ep("127.0.0.1", 9153));
  CHECK(s.admin.allow.contains(ep("127.0.0.1")));
  CHECK_FALSE(s.admin.allow.contains(ep("127.0.0.2")));
}

TEST_CASE("settings: [dnssec] and [[forward]] dnssec", "[unit][settings]") {
  const Settings off = ok("");
  CHECK(off.dnssec.mode == vnetdns::settings::DnssecMode::kOff);
  CHECK(off.dnssec.trust_anchor_file == "/usr/share/dns/root.key");
  CHECK(off.dnssec.insecure.empty());
  const Settings s = ok(R"(
[dnssec]
mode = "validate"
trust_anchor_file = "anchors/root.ds"
insecure = ["corp.example", "Internal."]

[[forward]]
zone = "."
upstreams = ["127.0.0.2"]

[[forward]]
zone = "corp.example"
upstreams = ["127.0.0.3"]
dnssec = false
)");
  CHECK(s.dnssec.mode == vnetdns::settings::DnssecMode::kValidate);
  CHECK(s.dnssec.trust_anchor_file == "/etc/vnetdns/anchors/root.ds");  // beside the config
  CHECK(s.dnssec.source == std::string(kPath) + ":4");
  REQUIRE(s.dnssec.insecure.size() == 2);
  CHECK(s.dnssec.insecure[1] == Name::from_text("internal"));
  REQUIRE(s.forwards.size() == 2);
  CHECK(s.forwards[0].dnssec);
  CHECK_FALSE(s.forwards[1].dnssec);
}

TEST_CASE("settings: durations", "[unit][settings]") {
  struct Row {
    const char* text;
    long long ms;
  };
  const Row good[] = {{"\"0\"", 0},
                      {"\"0s\"", 0},
                      {"\"1s\"", 1000},
                      {"\"1800ms\"", 1800},
                      {"\"10m\"", 600000},
                      {"\"1h\"", 3600000},
                      {"\"1d\"", 86400000},
                      {"\"1h30m\"", 5400000},
                      {"\"2s500ms\"", 2500},
                      {"0", 0},
                      {"7", 7000}};
  for (const auto& r : good) {
    CAPTURE(r.text);
    const Settings s = ok(std::string("[cache]\nserve_stale = ") + r.text + "\n");
    CHECK(s.cache.serve_stale == Millis(r.ms));
  }
  const char* wrong[] = {"\"\"",    "\"1\"",    "\"1x\"",  "\"s\"",
                         "\"-1s\"", "\"1.5s\"", "\"1 s\"", "-1",
                         "1.5",     "true",     "\"1sm\"", "\"99999999999999999999d\""};
  for (const char* w : wrong) {
    CAPTURE(w);
    const Errors e = bad(std::string("[cache]\nserve_stale = ") + w + "\n");
    CHECK(has_error(e, 2, "cache.serve_stale"));
  }
}

TEST_CASE("settings: relative paths follow the config file's folder", "[unit][settings]") {
  const std::string zone = "[[zone]]\nname = \"z.example\"\nfile = \"../zones/z.zone\"\n";
  auto r = parse_settings(zone, "/opt/vnetdns/config/quickstart.toml");
  REQUIRE(r.ok());
  CHECK(r.value().zones.at(0).file == "/opt/vnetdns/zones/z.zone");
  auto rel = parse_settings(zone, "config/quickstart.toml");
  REQUIRE(rel.ok());
  const std::string f = rel.value().zones.at(0).file;
  CHECK(f.front() == '/');  // made absolute, so a later chdir cannot break a reload
  CHECK(f.size() > std::string("/zones/z.zone").size());
  CHECK(f.substr(f.size() - std::string("/zones/z.zone").size()) == "/zones/z.zone");
}

TEST_CASE("settings: threads = 0 means one per core; an explicit value is kept",
          "[unit][settings]") {
  CHECK(ok("[server]\nthreads = 0\n").server.threads >= 1);
  CHECK(ok("[server]\nthreads = 1024\n").server.threads == 1024);
  CHECK(has_error(bad("[server]\nthreads = 1025\n"), 2, "server.threads"));
  CHECK(has_error(bad("[server]\nthreads = -1\n"), 2, "server.threads"));
}

TEST_CASE("settings: each mistake is reported with its line", "[unit][settings]") {
  struct Row {
    const char* text;
    int line;
    const char* what;
  };
  const Row rows[] = {
      // unknown tables and keys, with a suggestion for typos
      {"[servr]\n", 1, "unknown key 'servr' in the top level (did you mean 'server'?)"},
      {"[[forward]]\nzone = \".\"\nupstream = [\"127.0.0.2\"]\n", 3,
       "unknown key 'upstream' in [[forward]] (did you mean 'upstreams'?)"},
      {"[server]\nlisten = [\"127.0.0.1\"]\n\nthread = 2\n", 4, "did you mean 'threads'?"},
      {"[cache]\nfoo = 1\n", 2, "unknown key 'foo' in [cache]"},
      {"[server.extra]\nx = 1\n", 1, "unknown key 'extra' in [server]"},
      // wrong types
      {"[server]\nthreads = \"2\"\n", 2, "server.threads must be an integer, not a string"},
      {"[server]\nlisten = \"127.0.0.1\"\n", 2, "server.listen must be an array"},
      {"[log]\nqueries = 1\n", 2, "log.queries must be a boolean"},
      {"server = 1\n", 1, "[server] must be a table"},
      {"[[server]]\n", 1, "write [server], not [[server]]"},
      {"[zone]\nname = \"a.example\"\n", 1, "write [[zone]]"},
      {"[acl]\nallow = [1]\n", 2, "acl.allow must be a string"},
      // bad values
      {"[[forward]]\nzone = \".\"\nupstreams = [\"127.0.0.2\"]\nsource_ports = \"random\"\n", 4,
       "forward.source_ports = \"random\" is not one of \"per-question\", \"pool\""},
      {"[[forward]]\nzone = \".\"\nupstreams = [\"127.0.0.2\"]\navoid_ports = [0]\n", 4,
       "forward.avoid_ports: each entry must be a port number from 1 to 65535"},
      {"[[forward]]\nzone = \".\"\nupstreams = [\"127.0.0.2\"]\navoid_ports = 53\n", 4,
       "forward.avoid_ports must be an array of port numbers"},
      {"[server]\nlisten = [\"127.0.0.1:99999\"]\n", 2, "is not an address"},
      {"[server]\nlisten = [\"localhost\"]\n", 2, "is not an address"},
      {"[server]\nlisten = []\n", 2, "server.listen is empty"},
      {"[server]\nlisten = [\"127.0.0.1\", \"127.0.0.1:53\"]\n", 2, "listed twice"},
      {"[server]\ntcp_idle_timeout = \"0s\"\n", 2, "greater than zero"},
      {"[log]\nlevel = \"verbose\"\n", 2, "log.level = \"verbose\" is not one of"},
      {"[log]\nsample = 0\n", 2, "log.sample = 0 is out of range"},
      {"[acl]\nallow = [\"10.0.0.0/33\"]\n", 2, "is not a prefix"},
      {"[acl]\nallow = []\n", 2, "acl.allow is empty"},
      {"[acl]\naction = \"deny\"\n", 2, "acl.action = \"deny\" is not one of \"refuse\", \"drop\""},
      {"[rate_limit]\nipv4_prefix = 33\n", 2, "rate_limit.ipv4_prefix = 33 is out of range"},
      {"[cache]\nmin_ttl = \"2h\"\nmax_ttl = \"1h\"\n", 3, "min_ttl is greater than cache.max_ttl"},
      {"[admin]\nlisten = \"nowhere\"\n", 2, "admin.listen"},
      // [dnssec]
      {"[dnssec]\nmode = \"strict\"\n", 2,
       "dnssec.mode = \"strict\" is not one of \"off\", \"validate\""},
      {"[dnssec]\ninsecure = [\"bad name.example\"]\n", 2, "is not a valid domain name"},
      {"[dnssec]\ninsecure = \"corp.example\"\n", 2, "dnssec.insecure must be an array"},
      {"[dnssec]\ntrust_anchor_file = \"\"\n", 2, "dnssec.trust_anchor_file is empty"},
      {"[dnssec]\nanchor = \"x\"\n", 2, "unknown key 'anchor' in [dnssec]"},
      {"[[forward]]\nzone = \".\"\nupstreams = [\"127.0.0.2\"]\ndnssec = \"no\"\n", 4,
       "forward.dnssec must be a boolean"},
      // zones
      {"[[zone]]\nname = \"bad name.example\"\nfile = \"x\"\n", 2, "is not a valid domain name"},
      {"[[zone]]\nname = \"a..example\"\nfile = \"x\"\n", 2, "is not a valid domain name"},
      {"[[zone]]\nname = \"\"\nfile = \"x\"\n", 2, "is not a valid domain name"},
      {"[[zone]]\nfile = \"x\"\n", 1, "[[zone]] needs a name"},
      {"[[zone]]\nname = \"a.example\"\n", 1, "[[zone]] needs a file"},
      {"[[zone]]\nname = \"a.example\"\nfile = \"x\"\non_miss = \"servfail\"\n", 4, "zone.on_miss"},
      {"[[zone]]\nname = \"a.example\"\nfile = \"x\"\n[[zone]]\nname = \"A.example.\"\nfile = "
       "\"y\"\n",
       5, "zone a.example. is already defined at /etc/vnetdns/vnetdns.toml:1"},
      // forwards
      {"[[forward]]\nzone = \".\"\n", 1, "[[forward]] needs upstreams"},
      {"[[forward]]\nzone = \".\"\nupstreams = []\n", 3, "forward.upstreams is empty"},
      {"[[forward]]\nupstreams = [\"127.0.0.2\"]\n", 1, "[[forward]] needs a zone"},
      {"[[forward]]\nzone = \".\"\nupstreams = [\"0.0.0.0\"]\n", 3, "unspecified address"},
      {"[[forward]]\nzone = \".\"\nupstreams = [\"127.0.0.2:0\"]\n", 3, "is not an address"},
      {"[[forward]]\nzone = \".\"\nupstreams = [\"127.0.0.2\"]\ntimeout = \"5s\"\n", 4,
       "forward.timeout (5000ms) is longer than forward.deadline (4000ms)"},
      {"[[forward]]\nzone = \".\"\nupstreams = [\"127.0.0.2\"]\ntimeout = \"2s\"\ndeadline = "
       "\"1s\"\n",
       5, "is longer than forward.deadline"},
      {"[[forward]]\nzone = \".\"\nupstreams = [\"127.0.0.2\"]\npolicy = \"fast\"\n", 4,
       "forward.policy"},
      {"[[forward]]\nzone = \".\"\nupstreams = [\"127.0.0.2\"]\nprotocol = \"dot\"\n", 4,
       "forward.protocol"},
      {"[[forward]]\nzone = \".\"\nupstreams = [\"127.0.0.2\"]\nmax_outstanding = 0\n", 4,
       "forward.max_outstanding = 0 is out of range"},
      {"[[forward]]\nzone = \".\"\nupstreams = [\"127.0.0.2\"]\nhealth_probe = \"x y\"\n", 4,
       "forward.health_probe"},
      {"[[forward]]\nzone = \".\"\nupstreams = [\"127.0.0.2\"]\n[[forward]]\nzone = "
       "\".\"\nupstreams = [\"127.0.0.3\"]\n",
       5, "forward zone . is already defined at /etc/vnetdns/vnetdns.toml:1"},
      // TOML syntax
      {"[server]\nthreads = = 2\n", 2, ""},
      {"[server]\nlisten = [\"127.0.0.1\"\n", 2, "end-of-file"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.text);
    const Errors e = bad(r.text);
    INFO(dump(e));
    CHECK(has_error(e, r.line, r.what));
  }
}

TEST_CASE("settings: all errors are collected, not just the first", "[unit][settings]") {
  const Errors e = bad(R"([server]
threads = 5000
listen = ["nope"]

[[forward]]
zone = "."
upstream = ["127.0.0.2"]

[log]
level = "loud"
)");
  INFO(dump(e));
  CHECK(has_error(e, 2, "server.threads"));
  CHECK(has_error(e, 3, "is not an address"));
  CHECK(has_error(e, 5, "[[forward]] needs upstreams"));
  CHECK(has_error(e, 7, "unknown key 'upstream'"));
  CHECK(has_error(e, 10, "log.level"));
  CHECK(e.size() == 5);
  // reported in file order
  for (std::size_t i = 1; i < e.size(); ++i) {
    auto line = [](const std::string& m) {
      return std::stoi(m.substr(std::string(kPath).size() + 1));
    };
    CHECK(line(e[i - 1]) <= line(e[i]));
  }
}

TEST_CASE("settings: rate_limit and admin tables can be present but disabled", "[unit][settings]") {
  const Settings s = ok("[rate_limit]\nenabled = false\n[admin]\nenabled = false\n");
  CHECK_FALSE(s.rate_limit.enabled);
  CHECK_FALSE(s.admin.enabled);
  CHECK(ok("[rate_limit]\n").rate_limit.enabled);
  CHECK(ok("[admin]\n").admin.enabled);
}

TEST_CASE("settings: load_settings reports a missing file without throwing", "[unit][settings]") {
  auto r = load_settings("/nonexistent/vnetdns-test/none.toml");
  REQUIRE_FALSE(r.ok());
  REQUIRE(r.error().size() == 1);
  CHECK(r.error()[0].rfind("/nonexistent/vnetdns-test/none.toml:", 0) == 0);
  CHECK(r.error()[0].find("cannot open") != std::string::npos);
}

TEST_CASE(
    "settings: the query log is a [query_log] table; the old [log] keys still work, with a "
    "warning",
    "[unit][settings]") {
  const Settings s = ok("[query_log]\nfile = \"q.log\"\nsample = 5\n");
  CHECK(s.log.queries);
  CHECK(s.log.sample == 5);
  CHECK(s.log.query_file.size() > std::string("q.log").size());  // made absolute
  CHECK(s.warnings.empty());
  CHECK_FALSE(ok("[query_log]\nenabled = false\n").log.queries);
  CHECK_FALSE(ok("").log.queries);

  const Settings old = ok("[log]\nqueries = true\nsample = 3\n");
  CHECK(old.log.queries);
  CHECK(old.log.sample == 3);
  REQUIRE(old.warnings.size() == 2);
  CHECK(old.warnings[0].find(":2: log.queries is deprecated: write the query log as a "
                             "[query_log] table") != std::string::npos);
  CHECK(old.warnings[1].find(":3: log.sample is deprecated") != std::string::npos);
  CHECK(has_error(bad("[log]\nqueries = true\n[query_log]\nfile = \"x\"\n"), 3,
                  "both configure the query log"));
}

TEST_CASE("settings: [[zone]] primary = \"IP\" is read as primaries, with a warning",
          "[unit][settings]") {
  const Settings s =
      ok("[[zone]]\nname = \"blob.example\"\nfile = \"b.zone\"\nprimary = \"10.1.0.4\"\n");
  REQUIRE(s.zones.size() == 1);
  REQUIRE(s.zones[0].primaries.size() == 1);
  CHECK(s.zones[0].primaries[0].to_string() == "10.1.0.4:53");
  REQUIRE(s.warnings.size() == 1);
  CHECK(s.warnings[0].find(":4: zone.primary is deprecated: write primaries = [\"10.1.0.4:53\"]") !=
        std::string::npos);
  CHECK(has_error(bad("[[zone]]\nname = \"b.example\"\nfile = \"b\"\nprimary = \"10.1.0.4\"\n"
                      "primaries = [\"10.1.0.5\"]\n"),
                  4, "zone.primary and zone.primaries both given"));
}
