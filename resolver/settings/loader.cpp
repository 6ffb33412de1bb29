// TOML -> Settings with validation, section by section. With toml_reader.hpp (the typed
// getters and the FILE:LINE messages) the only code that includes toml++. toml++ is used with
// exceptions (how Debian's shared library is built); every exception is caught here, so
// load_settings()/parse_settings() never throw. Every problem becomes "FILE:LINE: message"
// and all of them are collected. Schema and defaults: resolver/settings/README.md.
#include "resolver/settings/loader.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>
#include <thread>

#include <toml++/toml.h>

#include "resolver/policy/privatelink_table.hpp"
#include "resolver/settings/toml_reader.hpp"

namespace vnetdns::settings {

namespace {

constexpr std::uint16_t kDnsPort = 53;
constexpr std::uint16_t kAdminPort = 9153;
constexpr unsigned kMaxThreads = 1024;

// The sections of the config file, read into Settings (the typed getters and the messages
// are TomlReader's).
class Loader : private TomlReader {
 public:
  explicit Loader(std::string path) : TomlReader(std::move(path)) {}

  util::Result<Settings, Errors> run(std::string_view text) {
    toml::table root;
    try {
      root = toml::parse(text, path_);
    } catch (const toml::parse_error& e) {
      return util::Err{Errors{path_ + ":" + std::to_string(e.source().begin.line) + ": " +
                              std::string(e.description())}};
    }
    s_.path = path_;
    load_root(root);
    if (has_errors()) return util::Err{take_errors()};
    s_.warnings = std::move(warnings_);
    return std::move(s_);
  }

 private:
  static policy::PrefixList loopback() {
    return policy::PrefixList(
        {*policy::Prefix::parse("127.0.0.0/8"), *policy::Prefix::parse("::1/128")});
  }

  void load_root(const toml::table& root) {
    check_keys(root, "the top level",
               {"server", "log", "query_log", "acl", "rate_limit", "cache", "key", "zone",
                "forward", "dnssec", "admin"});
    load_server(section(root, "server"));
    load_log(section(root, "log"));
    load_query_log(section(root, "query_log"));
    load_acl(section(root, "acl"));
    load_rate_limit(section(root, "rate_limit"));
    load_cache(section(root, "cache"));
    if (const auto* keys = table_array(root, "key")) {
      for (const auto& k : *keys) load_key(*k.as_table());
    }
    if (const auto* zones = table_array(root, "zone")) {
      for (const auto& z : *zones) load_zone(*z.as_table());
    }
    if (const auto* fwds = table_array(root, "forward")) {
      for (const auto& f : *fwds) load_forward(*f.as_table());
      expand_zone_lists();
    }
    load_dnssec(section(root, "dnssec"));
    load_admin(section(root, "admin"));
  }

  void load_server(const toml::table* t) {
    auto& srv = s_.server;
    srv.listen = {*util::Endpoint::parse("127.0.0.1", kDnsPort),
                  *util::Endpoint::parse("::1", kDnsPort)};
    unsigned threads = 0;
    if (t) {
      check_keys(*t, "[server]",
                 {"listen", "threads", "max_tcp_clients", "max_tcp_per_client", "tcp_idle_timeout",
                  "user"});
      if (get_endpoints(*t, "listen", "server.listen", srv.listen, kDnsPort)) {
        const auto& n = *t->get("listen");
        if (n.is_array() && n.as_array()->empty()) {
          error(n, "server.listen is empty: give at least one address to listen on");
        }
      }
      get_uint(*t, "threads", "server.threads", threads, 0, kMaxThreads);
      get_uint(*t, "max_tcp_clients", "server.max_tcp_clients", srv.max_tcp_clients, 1, 1000000);
      get_uint(*t, "max_tcp_per_client", "server.max_tcp_per_client", srv.max_tcp_per_client, 0,
               1000000);
      get_duration(*t, "tcp_idle_timeout", "server.tcp_idle_timeout", srv.tcp_idle_timeout, false);
      get_string(*t, "user", "server.user", srv.user);
    }
    if (threads == 0) threads = std::clamp(std::thread::hardware_concurrency(), 1u, kMaxThreads);
    srv.threads = threads;
  }

  void load_log(const toml::table* t) {
    if (!t) return;
    auto& log = s_.log;
    check_keys(*t, "[log]", {"level", "queries", "query_file", "sample"});
    for (const char* old : {"queries", "query_file", "sample"}) {
      if (const auto* n = t->get(old)) {
        deprecated(*n, std::string("log.") + old +
                           " is deprecated: write the query log as a [query_log] table "
                           "(enabled, file, sample)");
      }
    }
    std::string level;
    if (get_string(*t, "level", "log.level", level)) {
      static constexpr std::string_view kLevels[] = {"trace", "debug",    "info", "warn",
                                                     "error", "critical", "off"};
      if (std::find(std::begin(kLevels), std::end(kLevels), level) == std::end(kLevels)) {
        error(*t->get("level"),
              "log.level = \"" + level +
                  "\" is not one of trace, debug, info, warn, error, critical, off");
      } else {
        log.level = level;
      }
    }
    read_query_log(*t, {"queries", "query_file", "sample"}, "log.");
  }

  // The query log's three settings, under the names of `keys` (on, file, sample) in `t`.
  void read_query_log(const toml::table& t, const std::array<const char*, 3>& keys,
                      const std::string& prefix) {
    auto& log = s_.log;
    get_bool(t, keys[0], prefix + keys[0], log.queries);
    std::string file;
    if (get_string(t, keys[1], prefix + keys[1], file)) {
      log.query_file = file.empty() ? file : resolve_path(file);
    }
    get_uint(t, keys[2], prefix + keys[2], log.sample, 1, 1000000);
  }

  void load_acl(const toml::table* t) {
    auto& acl = s_.acl;
    if (t) {
      check_keys(*t, "[acl]", {"allow", "action"});
      get_enum(*t, "action", "acl.action", acl.action,
               {{"refuse", AclAction::kRefuse}, {"drop", AclAction::kDrop}});
    }
    if (!t || !get_prefixes(*t, "allow", "acl.allow", acl.allow)) acl.allow = loopback();
  }

  // [query_log]: on when the table is present (enabled = false turns it off); the same
  // settings as the deprecated [log] queries / query_file / sample, which it may not repeat.
  void load_query_log(const toml::table* t) {
    if (!t) return;
    auto& log = s_.log;
    check_keys(*t, "[query_log]", {"enabled", "file", "sample"});
    if (log.queries || !log.query_file.empty() || log.sample != 1) {
      error(t->source(),
            "[query_log] and the deprecated [log] queries / query_file / sample "
            "both configure the query log: keep [query_log] only");
      return;
    }
    log.queries = true;  // the table's presence turns it on
    read_query_log(*t, {"enabled", "file", "sample"}, "query_log.");
  }

  void load_rate_limit(const toml::table* t) {
    if (!t) return;
    auto& rl = s_.rate_limit;
    rl.enabled = true;
    check_keys(*t, "[rate_limit]",
               {"enabled", "qps", "burst", "slip", "ipv4_prefix", "ipv6_prefix"});
    get_bool(*t, "enabled", "rate_limit.enabled", rl.enabled);
    get_uint(*t, "qps", "rate_limit.qps", rl.qps, 1, 10000000);
    get_uint(*t, "burst", "rate_limit.burst", rl.burst, 1, 10000000);
    get_uint(*t, "slip", "rate_limit.slip", rl.slip, 0, 10);
    get_uint(*t, "ipv4_prefix", "rate_limit.ipv4_prefix", rl.ipv4_prefix, 0, 32);
    get_uint(*t, "ipv6_prefix", "rate_limit.ipv6_prefix", rl.ipv6_prefix, 0, 128);
  }

  void load_cache(const toml::table* t) {
    if (!t) return;
    auto& c = s_.cache;
    check_keys(*t, "[cache]",
               {"max_entries", "serve_stale", "stale_answer_timeout", "prefetch",
                "max_negative_ttl", "min_ttl", "max_ttl"});
    get_uint(*t, "max_entries", "cache.max_entries", c.max_entries, 0, 1000000000);
    get_duration(*t, "serve_stale", "cache.serve_stale", c.serve_stale);
    get_duration(*t, "stale_answer_timeout", "cache.stale_answer_timeout", c.stale_answer_timeout);
    get_bool(*t, "prefetch", "cache.prefetch", c.prefetch);
    get_duration(*t, "max_negative_ttl", "cache.max_negative_ttl", c.max_negative_ttl);
    get_duration(*t, "min_ttl", "cache.min_ttl", c.min_ttl);
    const bool have_max = get_duration(*t, "max_ttl", "cache.max_ttl", c.max_ttl);
    if (c.min_ttl > c.max_ttl) {
      error(have_max ? *t->get("max_ttl") : *t->get("min_ttl"),
            "cache.min_ttl is greater than cache.max_ttl");
    }
  }

  void load_zone(const toml::table& t) {
    ZoneSettings z;
    z.source = where(t);
    check_keys(t, "[[zone]]",
               {"name", "file", "on_miss", "primaries", "primary", "key", "allow_transfer",
                "allow_notify", "notify"});
    bool ok = true;
    if (!t.get("name")) {
      error(t, "[[zone]] needs a name");
      ok = false;
    } else if (!get_name(t, "name", "zone.name", z.name)) {
      ok = false;
    }
    std::string file;
    if (!t.get("file")) {
      error(t, "[[zone]] needs a file");
    } else if (get_string(t, "file", "zone.file", file)) {
      if (file.empty()) {
        error(*t.get("file"), "zone.file is empty");
      } else {
        z.file = resolve_path(file);
      }
    }
    get_enum(t, "on_miss", "zone.on_miss", z.on_miss,
             {{"nxdomain", OnMiss::kNxDomain}, {"forward", OnMiss::kForward}});
    load_zone_transfer(t, z);
    if (ok) {
      for (const auto& other : s_.zones) {
        if (other.name == z.name) {
          error(*t.get("name"),
                "zone " + z.name.to_text() + " is already defined at " + other.source);
          ok = false;
        }
      }
    }
    if (ok) s_.zones.push_back(std::move(z));
  }

  // [[key]]: a TSIG key. The secret must be base64 (what `tsig-keygen` and `keymgr` print).
  void load_key(const toml::table& t) {
    TsigKeySettings k;
    k.source = where(t);
    check_keys(t, "[[key]]", {"name", "algorithm", "secret"});
    bool ok = t.get("name") != nullptr && get_name(t, "name", "key.name", k.name);
    if (!t.get("name")) error(t, "[[key]] needs a name");
    std::string algorithm;
    if (get_string(t, "algorithm", "key.algorithm", algorithm)) {
      // What ldns 1.8 can compute (it has no SHA-224/384 HMAC under their RFC names).
      static constexpr std::string_view kAlgorithms[] = {"hmac-md5", "hmac-sha1", "hmac-sha256",
                                                         "hmac-sha512"};
      if (std::find(std::begin(kAlgorithms), std::end(kAlgorithms), algorithm) ==
          std::end(kAlgorithms)) {
        error(*t.get("algorithm"), "key.algorithm = \"" + algorithm +
                                       "\" is not one of hmac-sha256, hmac-sha512, hmac-sha1, "
                                       "hmac-md5");
        ok = false;
      } else {
        k.algorithm = algorithm;
      }
    }
    if (!t.get("secret")) {
      error(t, "[[key]] needs a secret (base64)");
      ok = false;
    } else if (get_string(t, "secret", "key.secret", k.secret)) {
      if (!valid_base64(k.secret)) {
        error(*t.get("secret"), "key.secret is not base64");
        ok = false;
      }
    } else {
      ok = false;
    }
    if (ok && find_key(s_, k.name) != nullptr) {
      error(*t.get("name"),
            "key " + k.name.to_text() + " is already defined at " + find_key(s_, k.name)->source);
      ok = false;
    }
    if (ok) s_.keys.push_back(std::move(k));
  }

  // The zone-transfer keys of a [[zone]]: secondary (primaries), primary (notify,
  // allow_transfer), TSIG (key, which [[key]] must define above this table).
  void load_zone_transfer(const toml::table& t, ZoneSettings& z) {
    get_endpoints(t, "primaries", "zone.primaries", z.primaries, kDnsPort);
    if (const auto* n = t.get("primary")) {
      // BIND's spelling of one primary: accepted, with a warning.
      if (t.get("primaries") != nullptr) {
        error(*n, "zone.primary and zone.primaries both given: keep primaries = [...]");
      } else if (auto ep = endpoint(*n, "zone.primary", kDnsPort)) {
        z.primaries = {*ep};
        deprecated(*n,
                   "zone.primary is deprecated: write primaries = [\"" + ep->to_string() + "\"]");
      }
    }
    if (const auto* n = t.get("primaries");
        n != nullptr && n->is_array() && n->as_array()->empty()) {
      error(*n, "zone.primaries is empty (leave it out for a zone served from its file)");
    }
    if (get_name(t, "key", "zone.key", z.key)) {
      z.has_key = true;
      if (find_key(s_, z.key) == nullptr) {
        error(*t.get("key"), "zone.key: no [[key]] named " + z.key.to_text() + " is defined");
      }
    }
    get_prefixes(t, "allow_transfer", "zone.allow_transfer", z.allow_transfer);
    get_endpoints(t, "notify", "zone.notify", z.notify, kDnsPort);
    if (!get_prefixes(t, "allow_notify", "zone.allow_notify", z.allow_notify)) {
      std::vector<policy::Prefix> from_primaries;
      for (const auto& p : z.primaries) {
        if (auto prefix = policy::Prefix::parse(p.address_string()))
          from_primaries.push_back(*prefix);
      }
      z.allow_notify = policy::PrefixList(std::move(from_primaries));
    } else if (!z.secondary()) {
      error(*t.get("allow_notify"),
            "zone.allow_notify needs zone.primaries (NOTIFY only asks a secondary to refresh)");
    }
  }

  void load_forward(const toml::table& t) {
    ForwardSettings f;
    f.source = where(t);
    check_keys(
        t, "[[forward]]",
        {"zone", "upstreams", "policy", "timeout", "deadline", "max_outstanding", "max_qps",
         "protocol", "health_probe", "randomize_case", "source_ports", "avoid_ports", "dnssec"});
    bool ok = true;
    std::string zone_list;  // "@azure-privatelink": every zone of a built-in list
    if (const auto* z = t.get("zone");
        z != nullptr && z->is_string() && z->value<std::string>()->rfind('@', 0) == 0) {
      zone_list = *z->value<std::string>();
      if (zone_list != kAzurePrivateLink) {
        error(*z, "unknown zone list '" + zone_list + "' (known: " + kAzurePrivateLink + ")");
        ok = false;
      } else if (!zone_list_rule_.source.empty()) {
        error(*z, "forward zone " + zone_list + " is already defined at " + zone_list_rule_.source);
        ok = false;
      }
    } else if (!t.get("zone")) {
      error(t, "[[forward]] needs a zone (\".\" for everything)");
      ok = false;
    } else if (!get_name(t, "zone", "forward.zone", f.zone)) {
      ok = false;
    }
    if (!t.get("upstreams")) {
      error(t, "[[forward]] needs upstreams (a list of \"ip\" or \"ip:port\")");
    } else if (get_endpoints(t, "upstreams", "forward.upstreams", f.upstreams, kDnsPort)) {
      const auto& n = *t.get("upstreams");
      if (n.is_array() && n.as_array()->empty()) error(n, "forward.upstreams is empty");
      for (const auto& ep : f.upstreams) {
        static constexpr std::uint8_t kZero[16] = {};
        if (std::memcmp(ep.address_bytes(), kZero, ep.address_length()) == 0) {
          error(n, "forward.upstreams: " + ep.to_string() + " is the unspecified address");
        }
      }
    }
    get_enum(t, "policy", "forward.policy", f.policy,
             {{"sequential", UpstreamPolicy::kSequential},
              {"round_robin", UpstreamPolicy::kRoundRobin},
              {"random", UpstreamPolicy::kRandom},
              {"fastest", UpstreamPolicy::kFastest}});
    const bool have_timeout = get_duration(t, "timeout", "forward.timeout", f.timeout, false);
    const bool have_deadline = get_duration(t, "deadline", "forward.deadline", f.deadline, false);
    if (f.timeout > f.deadline) {
      error(have_deadline  ? *t.get("deadline")
            : have_timeout ? *t.get("timeout")
                           : static_cast<const toml::node&>(t),
            "forward.timeout (" + std::to_string(f.timeout.count()) +
                "ms) is longer than forward.deadline (" + std::to_string(f.deadline.count()) +
                "ms)");
    }
    get_uint(t, "max_outstanding", "forward.max_outstanding", f.max_outstanding, 1, 1000000);
    get_uint(t, "max_qps", "forward.max_qps", f.max_qps, 1, 100000000);
    get_enum(t, "protocol", "forward.protocol", f.protocol,
             {{"udp", UpstreamProtocol::kUdp}, {"tcp", UpstreamProtocol::kTcp}});
    get_name(t, "health_probe", "forward.health_probe", f.health_probe);
    get_bool(t, "randomize_case", "forward.randomize_case", f.randomize_case);
    get_bool(t, "dnssec", "forward.dnssec", f.dnssec);
    get_enum(t, "source_ports", "forward.source_ports", f.source_ports,
             {{"per-question", SourcePorts::kPerQuestion}, {"pool", SourcePorts::kPool}});
    get_ports(t, "avoid_ports", "forward.avoid_ports", f.avoid_ports);
    if (ok && !zone_list.empty()) {
      zone_list_rule_ = std::move(f);  // expanded once every explicit rule is known
      return;
    }
    if (ok) {
      for (const auto& other : s_.forwards) {
        if (other.zone == f.zone) {
          error(*t.get("zone"),
                "forward zone " + f.zone.to_text() + " is already defined at " + other.source);
          ok = false;
        }
      }
    }
    if (ok) s_.forwards.push_back(std::move(f));
  }

  // `zone = "@azure-privatelink"`: one rule per public and private zone of Azure's
  // private-link table (policy/privatelink_table.hpp), with the rule's other keys. A zone
  // that also has an explicit [[forward]] keeps the explicit one.
  void expand_zone_lists() {
    if (zone_list_rule_.source.empty()) return;
    for (const auto& zone : policy::PrivateLinkTable::builtin().forward_zones()) {
      const bool explicit_rule = std::any_of(s_.forwards.begin(), s_.forwards.end(),
                                             [&](const auto& f) { return f.zone == zone; });
      if (explicit_rule) continue;
      ForwardSettings f = zone_list_rule_;
      f.zone = zone;
      s_.forwards.push_back(std::move(f));
    }
  }

  void load_dnssec(const toml::table* t) {
    auto& d = s_.dnssec;
    if (!t) return;
    d.source = where(*t);
    check_keys(*t, "[dnssec]", {"mode", "trust_anchor_file", "insecure"});
    get_enum(*t, "mode", "dnssec.mode", d.mode,
             {{"off", DnssecMode::kOff}, {"validate", DnssecMode::kValidate}});
    std::string file;
    if (get_string(*t, "trust_anchor_file", "dnssec.trust_anchor_file", file)) {
      if (file.empty()) {
        error(*t->get("trust_anchor_file"), "dnssec.trust_anchor_file is empty");
      } else {
        d.trust_anchor_file = resolve_path(file);
        d.source = where(*t->get("trust_anchor_file"));
      }
    }
    if (const auto* n = t->get("insecure"); n != nullptr) {
      if (!expect(*n, toml::node_type::array, "dnssec.insecure")) return;
      for (const auto& el : *n->as_array()) {
        if (!expect(el, toml::node_type::string, "dnssec.insecure")) continue;
        const std::string& v = el.as_string()->get();
        wire::NameError err = wire::NameError::kNone;
        wire::Name name = wire::Name::from_text(v, &err);
        if (!valid_domain_text(v) || err != wire::NameError::kNone) {
          error(el, "dnssec.insecure: \"" + v + "\" is not a valid domain name");
          continue;
        }
        d.insecure.push_back(name);
      }
    }
  }

  void load_admin(const toml::table* t) {
    auto& a = s_.admin;
    a.listen = *util::Endpoint::parse("127.0.0.1", kAdminPort);
    a.allow = loopback();
    if (!t) return;
    a.enabled = true;
    check_keys(*t, "[admin]", {"enabled", "listen", "allow"});
    get_bool(*t, "enabled", "admin.enabled", a.enabled);
    if (const auto* n = t->get("listen")) {
      if (auto ep = endpoint(*n, "admin.listen", kAdminPort)) a.listen = *ep;
    }
    get_prefixes(*t, "allow", "admin.allow", a.allow);
  }

  Settings s_;
  ForwardSettings zone_list_rule_;  // the "@azure-privatelink" rule, if any (source set)
  static constexpr const char* kAzurePrivateLink = "@azure-privatelink";
};

}  // namespace

util::Result<Settings, Errors> parse_settings(std::string_view text, const std::string& path) {
  try {
    return Loader(path).run(text);
  } catch (const std::exception& e) {
    return util::Err{Errors{path + ": internal error while loading: " + e.what()}};
  }
}

util::Result<Settings, Errors> load_settings(const std::string& path) {
  try {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return util::Err{Errors{path + ":0: cannot open: " + std::strerror(errno)}};
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    if (in.bad()) return util::Err{Errors{path + ":0: cannot read: " + std::strerror(errno)}};
    return parse_settings(buf.str(), path);
  } catch (const std::exception& e) {
    return util::Err{Errors{path + ":0: cannot read: " + e.what()}};
  }
}

}  // namespace vnetdns::settings
