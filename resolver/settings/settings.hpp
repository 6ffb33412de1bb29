// Settings: the whole configuration as plain structs, produced by load_settings() from TOML
// and validated there (every error carries FILE:LINE). Defaults below are the documented
// defaults (docs/configuration.md). Durations are std::chrono values.
// Thread safety: immutable once loaded; shared read-only through a snapshot.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "resolver/policy/prefix.hpp"
#include "resolver/util/endpoint.hpp"
#include "resolver/wire/name.hpp"

namespace vnetdns::settings {

using Millis = std::chrono::milliseconds;

struct ServerSettings {
  std::vector<util::Endpoint> listen;  // UDP and TCP on each
  unsigned threads = 1;                // 0 in the file = one per core (resolved at load)
  std::size_t max_tcp_clients = 10000;
  std::size_t max_tcp_per_client = 0;  // per client address and worker; 0 = no limit
  Millis tcp_idle_timeout{10000};
  std::string user;  // drop to this user after binding (when root)
};

struct LogSettings {
  std::string level = "info";
  // The JSON query log: [query_log] (a table switched on by its presence, like [rate_limit]
  // and [admin]); [log] queries / query_file / sample is its deprecated spelling.
  bool queries = false;
  std::string query_file;  // empty = stderr
  unsigned sample = 1;
};

enum class AclAction { kRefuse, kDrop };

struct AclSettings {
  policy::PrefixList allow;
  AclAction action = AclAction::kRefuse;
};

struct RateLimitSettings {
  bool enabled = false;  // [rate_limit] present
  unsigned qps = 200;
  unsigned burst = 400;
  unsigned slip = 2;
  unsigned ipv4_prefix = 24;
  unsigned ipv6_prefix = 56;
};

struct CacheSettings {
  std::size_t max_entries = 100000;  // 0 disables the cache
  Millis serve_stale{0};
  Millis stale_answer_timeout{1800};
  bool prefetch = false;
  Millis max_negative_ttl{3600 * 1000};
  Millis min_ttl{0};
  Millis max_ttl{86400 * 1000};
};

enum class OnMiss { kNxDomain, kForward };

// A TSIG key (RFC 8945), [[key]]; `secret` is base64 (checked at load).
struct TsigKeySettings {
  wire::Name name;
  std::string algorithm = "hmac-sha256";  // hmac-sha256|hmac-sha512|hmac-sha1|hmac-md5
  std::string secret;
  std::string source;  // "FILE:LINE"
};

struct ZoneSettings {
  wire::Name name;
  // Resolved against the config file's folder. For a secondary zone: where the last good
  // transferred copy is kept (written by vnetdns; may be absent before the first transfer).
  std::string file;
  OnMiss on_miss = OnMiss::kNxDomain;
  // Secondary (RFC 5936 AXFR, RFC 1995 IXFR, RFC 1996 NOTIFY): transfer from these, in order.
  std::vector<util::Endpoint> primaries;
  // TSIG key name ([[key]]): signs our transfers and NOTIFYs for this zone and is required
  // on transfer requests we answer for it. Empty: no TSIG.
  wire::Name key;
  bool has_key = false;
  policy::PrefixList allow_transfer;   // who may AXFR/IXFR it from us (default: nobody)
  policy::PrefixList allow_notify;     // whose NOTIFY we act on (default: the primaries)
  std::vector<util::Endpoint> notify;  // secondaries to NOTIFY when the serial changes
  std::string source;                  // "FILE:LINE" of the [[zone]] table, for messages
  [[nodiscard]] bool secondary() const noexcept { return !primaries.empty(); }
};

enum class UpstreamPolicy { kSequential, kRoundRobin, kRandom, kFastest };
enum class UpstreamProtocol { kUdp, kTcp };
// Where a UDP query to an upstream leaves from: a socket of its own on a fresh random port,
// closed when the question ends (kPerQuestion), or a port of the worker's pool, shared by a
// few dozen queries for at most 10 s (kPool; udp_pool.hpp).
enum class SourcePorts { kPerQuestion, kPool };

struct ForwardSettings {
  wire::Name zone;
  std::vector<util::Endpoint> upstreams;
  UpstreamPolicy policy = UpstreamPolicy::kSequential;
  Millis timeout{1000};   // per try
  Millis deadline{4000};  // whole query
  unsigned max_outstanding = 200;
  unsigned max_qps = 1000;
  UpstreamProtocol protocol = UpstreamProtocol::kUdp;
  wire::Name health_probe;  // root = probe "." NS
  bool randomize_case = false;
  SourcePorts source_ports = SourcePorts::kPerQuestion;
  std::vector<std::uint16_t> avoid_ports;  // sorted; per-question ports never take these
  // false: the rule's zone is not validated (an unsigned on-prem domain that is not
  // delegated from the public tree): a negative trust anchor (RFC 7646) for it.
  bool dnssec = true;
  std::string source;  // "FILE:LINE"
};

enum class DnssecMode { kOff, kValidate };

// [dnssec] (docs/dnssec.md).
struct DnssecSettings {
  DnssecMode mode = DnssecMode::kOff;
  std::string trust_anchor_file = "/usr/share/dns/root.key";  // DS or DNSKEY lines
  std::vector<wire::Name> insecure;                           // negative trust anchors
  std::string source;  // "FILE:LINE" of trust_anchor_file (or of [dnssec]), for messages
};

struct AdminSettings {
  bool enabled = false;
  util::Endpoint listen;
  policy::PrefixList allow;  // default: loopback only
};

struct Settings {
  std::string path;  // the config file
  ServerSettings server;
  LogSettings log;
  AclSettings acl;
  RateLimitSettings rate_limit;
  CacheSettings cache;
  std::vector<TsigKeySettings> keys;
  std::vector<ZoneSettings> zones;
  std::vector<ForwardSettings> forwards;
  DnssecSettings dnssec;
  AdminSettings admin;
  // Deprecated spellings that were accepted, each "FILE:LINE: what to write instead": the
  // application logs them (serve, reload) and check-config prints them.
  std::vector<std::string> warnings;
};

// The key named `name`, or nullptr.
inline const TsigKeySettings* find_key(const Settings& s, const wire::Name& name) {
  for (const auto& k : s.keys) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

}  // namespace vnetdns::settings
