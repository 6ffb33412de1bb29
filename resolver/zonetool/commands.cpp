#include "resolver/zonetool/commands.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "resolver/policy/privatelink_table.hpp"
#include "resolver/settings/loader.hpp"
#include "resolver/zonetool/admin_reload.hpp"
#include "resolver/zonetool/audit.hpp"
#include "resolver/zonetool/azure_import.hpp"
#include "resolver/zonetool/check.hpp"
#include "resolver/zonetool/zone_edit.hpp"
#include "resolver/zonetool/zone_text.hpp"

namespace vnetdns::zonetool {
namespace {

constexpr const char* kDefaultConfig = "/etc/vnetdns/vnetdns.toml";
constexpr const char* kDefaultZone = "privatelink.azurecr.io";

constexpr const char* kZoneHelp = R"(usage: vnetdns zone COMMAND [options]

Edit a zone file safely (lock, keep comments and order, bump the SOA serial, refuse an invalid
zone, write a temporary file, fsync, rename), then ask a running vnetdns to reload.

  add-record    -n NAME -a ADDRESS [-a ADDRESS...] [-t TTL] [--replace]
                add A (IPv4) / AAAA (IPv6) records; --replace drops the name's other addresses
  remove-record -n NAME [-a ADDRESS...]     remove those addresses, or all of NAME's A/AAAA
  list          [-n NAME]                   print the zone's records
  import        --from FILE.json [--dry-run] create or update records from Azure CLI JSON
                (az network private-endpoint show | az network nic show |
                 az network private-dns record-set a list); public names map to their
                 private-link zone (myregistry.azurecr.io -> myregistry.privatelink.azurecr.io)
  audit         [--inventory FILE.json] [--expect PREFIX,...]
                missing data endpoints, records outside the VNet prefixes (default: [acl] allow)

Where the zone is:
  -z, --zone ZONE      the zone (default privatelink.azurecr.io)
  -f, --file FILE      the zone file; or
  -c, --config FILE    the vnetdns config whose [[zone]] names it (default /etc/vnetdns/vnetdns.toml)
  --dry-run            print what would change, write nothing
  --no-reload          do not contact the admin endpoint after an edit
NAME is relative to the zone ("myregistry", "myregistry.westeurope.data") or absolute with a
trailing dot. Exit status: 0 done, 1 refused or failed, 2 usage error.
)";

constexpr const char* kCheckHelp =
    R"(usage: vnetdns check NAME... --server ADDR[:PORT] [--expect PREFIX,...]
       vnetdns check --registry REGISTRY --regions REGION,... --server ADDR[:PORT] [...]

The guide's validation step: asks ADDR (A and AAAA, recursion desired, c-ares stub client),
prints each CNAME chain and the addresses, and says whether every address is private
(RFC 1918 / RFC 4193) and inside the --expect prefixes. With --registry it checks
REGISTRY.azurecr.io and REGISTRY.REGION.data.azurecr.io for each replica region.
  --timeout MS   per try (default 2000; 2 tries)
Exit status: 0 every name is private (and expected), 1 a name is missing, public, outside or
unanswered (each is named), 2 usage error.
)";

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;
  std::set<std::string> flags;
  std::string error;

  [[nodiscard]] bool has(const std::string& k) const { return values.count(k) || flags.count(k); }
  [[nodiscard]] std::string get(const std::string& k, const std::string& def = {}) const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second.back();
  }
  [[nodiscard]] std::vector<std::string> list(const std::string& k) const {
    std::vector<std::string> out;
    auto it = values.find(k);
    if (it == values.end()) return out;
    for (const auto& v : it->second) {  // repeated and comma-separated
      std::size_t start = 0;
      for (;;) {
        const auto comma = v.find(',', start);
        std::string item = v.substr(start, comma - start);
        if (!item.empty()) out.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    }
    return out;
  }
};

// `with_value`: long option -> short alias; every other "--x" is a flag.
Args parse_args(int argc, char** argv, int first,
                const std::map<std::string, std::string>& with_value,
                const std::set<std::string>& flags) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.size() < 2 || arg[0] != '-') {
      a.positional.push_back(arg);
      continue;
    }
    std::optional<std::string> inline_value;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg.erase(eq);
    }
    std::string key;
    for (const auto& [long_name, short_name] : with_value) {
      if (arg == long_name || (!short_name.empty() && arg == short_name)) key = long_name;
    }
    if (!key.empty()) {
      if (inline_value) {
        a.values[key].push_back(*inline_value);
      } else if (i + 1 < argc) {
        a.values[key].push_back(argv[++i]);
      } else {
        a.error = arg + " needs a value";
        return a;
      }
    } else if (flags.count(arg)) {
      a.flags.insert(arg);
    } else {
      a.error = "unknown option " + arg;
      return a;
    }
  }
  return a;
}

int usage(const std::string& what, const char* cmd) {
  std::fprintf(stderr, "vnetdns %s: %s (try vnetdns %s --help)\n", cmd, what.c_str(), cmd);
  return 2;
}

std::optional<wire::Name> parse_name(const std::string& text) {
  wire::NameError err = wire::NameError::kNone;
  wire::Name n = wire::Name::from_text(text, &err);
  if (err != wire::NameError::kNone || text.empty()) return std::nullopt;
  return n;
}

// -n NAME relative to the zone, "@", or absolute with a trailing dot (or already ending in
// the zone's name).
std::optional<wire::Name> owner_name(const std::string& text, const wire::Name& zone) {
  if (text.empty()) return std::nullopt;
  if (text == "@") return zone;
  if (text.back() == '.') return parse_name(text);
  auto as_is = parse_name(text);
  if (as_is && as_is->is_subdomain_of(zone) && *as_is != zone) return as_is;
  return parse_name(text + "." + zone.to_text());
}

struct Target {
  wire::Name zone;
  std::string file;
  std::optional<settings::Settings> config;  // when found through -c
};

std::optional<settings::Settings> load_config(const std::string& path) {
  auto s = settings::load_settings(path);
  if (!s.ok()) {
    for (const auto& e : s.error()) std::fprintf(stderr, "%s\n", e.c_str());
    return std::nullopt;
  }
  return std::move(s.value());
}

// Resolves -z/-f/-c into the zone and its file. Prints why on failure.
std::optional<Target> find_target(const Args& a, const wire::Name& zone) {
  Target t{zone, {}, std::nullopt};
  if (a.has("--file")) {
    t.file = a.get("--file");
    if (a.has("--config")) t.config = load_config(a.get("--config"));
    return t;
  }
  const std::string config = a.get("--config", kDefaultConfig);
  t.config = load_config(config);
  if (!t.config) return std::nullopt;
  std::string names;
  for (const auto& z : t.config->zones) {
    if (z.name == zone) {
      t.file = z.file;
      return t;
    }
    names += (names.empty() ? "" : ", ") + z.name.to_text();
  }
  std::fprintf(stderr, "vnetdns zone: %s has no [[zone]] named %s (it has: %s)\n", config.c_str(),
               zone.to_text().c_str(), names.empty() ? "none" : names.c_str());
  return std::nullopt;
}

void after_edit(const Args& a, const Target& t) {
  if (a.has("--no-reload")) return;
  if (t.config && t.config->admin.enabled) {
    auto r = post_reload(t.config->admin.listen);
    if (r.ok()) {
      std::printf("reload: vnetdns at %s answered %s\n", t.config->admin.listen.to_string().c_str(),
                  r.value().c_str());
      return;
    }
    std::fprintf(stderr,
                 "warning: could not ask vnetdns to reload (%s); the file is written: run "
                 "`systemctl reload vnetdns` (or send SIGHUP)\n",
                 r.error().c_str());
    return;
  }
  std::printf(
      "note: a running vnetdns serves the old records until it reloads: `systemctl reload "
      "vnetdns` (SIGHUP); with [admin] enabled in the config, -c makes this automatic\n");
}

void print_edit(const EditResult& r, const Target& t, bool dry_run) {
  for (const auto& d : r.diff) std::printf("%s\n", d.c_str());
  if (!r.changed) {
    std::printf("%s: unchanged (serial %u)\n", t.file.c_str(), r.old_serial);
  } else if (dry_run) {
    std::printf("dry run: %s not written (serial would go %u -> %u)\n", t.file.c_str(),
                r.old_serial, r.new_serial);
  } else {
    std::printf("%s: written, serial %u -> %u\n", t.file.c_str(), r.old_serial, r.new_serial);
  }
}

std::optional<std::vector<IpAddress>> parse_addresses(const std::vector<std::string>& texts) {
  std::vector<IpAddress> out;
  for (const auto& s : texts) {
    auto ip = IpAddress::parse(s);
    if (!ip) {
      std::fprintf(stderr, "vnetdns zone: '%s' is not an IPv4 or IPv6 address\n", s.c_str());
      return std::nullopt;
    }
    if (std::find(out.begin(), out.end(), *ip) == out.end()) out.push_back(*ip);
  }
  return out;
}

bool valid_ttl(const std::string& t) {
  if (t.empty() || t.size() > 10) return false;
  for (char c : t) {
    if (c < '0' || c > '9') return false;
  }
  return std::stoull(t) <= 2147483647ull;  // RFC 2181 section 8
}

int zone_edit_command(const std::string& sub, const Args& a, const wire::Name& zone) {
  const bool adding = sub == "add-record";
  if (!a.has("--name")) return usage(sub + " needs -n NAME", "zone");
  if (adding && !a.has("--address")) return usage("add-record needs -a ADDRESS", "zone");
  if (a.has("--ttl") && !valid_ttl(a.get("--ttl"))) {
    return usage("-t wants a TTL in seconds (0..2147483647)", "zone");
  }
  auto owner = owner_name(a.get("--name"), zone);
  if (!owner || !owner->is_subdomain_of(zone)) {
    std::fprintf(stderr, "vnetdns zone: '%s' is not a name in %s\n", a.get("--name").c_str(),
                 zone.to_text().c_str());
    return 1;
  }
  auto addresses = parse_addresses(a.list("--address"));
  if (!addresses) return 1;
  auto target = find_target(a, zone);
  if (!target) return 1;
  AddressChange change{*owner, {}, a.get("--ttl")};
  EditOptions opt;
  opt.dry_run = a.has("--dry-run");
  auto result = edit_zone_file_with(
      target->file, zone,
      [&](const ZoneText& zt) {
        std::vector<IpAddress> now = zt.addresses(*owner);
        std::vector<IpAddress> want;
        if (adding) {
          if (!a.has("--replace")) want = now;
          for (const auto& ip : *addresses) {
            if (std::find(want.begin(), want.end(), ip) == want.end()) want.push_back(ip);
          }
        } else if (!addresses->empty()) {
          for (const auto& ip : now) {
            if (std::find(addresses->begin(), addresses->end(), ip) == addresses->end()) {
              want.push_back(ip);
            }
          }
        }
        change.addresses = want;
        return std::vector<AddressChange>{change};
      },
      opt);
  if (!result.ok()) {
    std::fprintf(stderr, "vnetdns zone: %s\n", result.error().c_str());
    return 1;
  }
  if (!adding && !result.value().changed) {
    std::fprintf(stderr, "vnetdns zone: %s has no such address record; nothing removed\n",
                 owner->to_text().c_str());
    return 1;
  }
  print_edit(result.value(), *target, opt.dry_run);
  if (result.value().changed && !opt.dry_run) after_edit(a, *target);
  return 0;
}

int zone_list(const Args& a, const wire::Name& zone) {
  auto target = find_target(a, zone);
  if (!target) return 1;
  auto text = read_text_file(target->file);
  if (!text.ok()) {
    std::fprintf(stderr, "vnetdns zone: %s\n", text.error().c_str());
    return 1;
  }
  auto zt = ZoneText::parse(zone, text.value());
  if (!zt.ok()) {
    std::fprintf(stderr, "vnetdns zone: %s: %s\n", target->file.c_str(), zt.error().c_str());
    return 1;
  }
  std::optional<wire::Name> only;
  if (a.has("--name")) only = owner_name(a.get("--name"), zone);
  const auto serial = zt.value().serial();
  std::printf("; zone %s from %s, serial %s\n", zone.to_text().c_str(), target->file.c_str(),
              serial ? std::to_string(*serial).c_str() : "?");
  for (const auto& e : zt.value().records()) {
    if (only && e.owner != *only) continue;
    std::printf("%-40s %8s %-2s %-5s %s\n", e.owner.to_text().c_str(),
                e.ttl.empty() ? "-" : e.ttl.c_str(), e.klass.c_str(), e.type.c_str(),
                e.rdata_text().c_str());
  }
  return 0;
}

int zone_import(const Args& a, const std::optional<wire::Name>& zone_filter) {
  if (!a.has("--from")) return usage("import needs --from FILE.json", "zone");
  const std::string from = a.get("--from");
  auto json = from == "-" ? util::Result<std::string, std::string>(
                                std::string(std::istreambuf_iterator<char>(std::cin), {}))
                          : read_text_file(from);
  if (!json.ok()) {
    std::fprintf(stderr, "vnetdns zone import: %s\n", json.error().c_str());
    return 1;
  }
  auto imported = import_azure_json(json.value(), policy::PrivateLinkTable::builtin(),
                                    zone_filter ? &*zone_filter : nullptr);
  if (!imported.ok()) {
    std::fprintf(stderr, "vnetdns zone import: %s: %s\n", from.c_str(), imported.error().c_str());
    return 1;
  }
  for (const auto& w : imported.value().warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  // Group by zone, keeping the order of appearance.
  std::vector<std::pair<wire::Name, std::vector<AddressChange>>> by_zone;
  for (const auto& r : imported.value().records) {
    if (zone_filter && r.zone != *zone_filter) {
      std::printf("skipped %s (zone %s; -z %s)\n", r.fqdn.c_str(), r.zone.to_text().c_str(),
                  zone_filter->to_text().c_str());
      continue;
    }
    auto it = std::find_if(by_zone.begin(), by_zone.end(),
                           [&](const auto& p) { return p.first == r.zone; });
    if (it == by_zone.end()) {
      by_zone.push_back({r.zone, {}});
      it = by_zone.end() - 1;
    }
    it->second.push_back({r.name, r.addresses, r.ttl});
  }
  if (by_zone.empty()) {
    std::fprintf(stderr, "vnetdns zone import: %s: no records to import\n", from.c_str());
    return 1;
  }
  if (a.has("--file") && by_zone.size() > 1) {
    std::string zones;
    for (const auto& [z, _] : by_zone) zones += " " + z.to_text();
    std::fprintf(stderr,
                 "vnetdns zone import: the records belong to several zones (%s ); -f names one "
                 "file: add -z ZONE, or use -c CONFIG\n",
                 zones.c_str());
    return 1;
  }
  EditOptions opt;
  opt.dry_run = a.has("--dry-run");
  int status = 0;
  for (const auto& [zone, changes] : by_zone) {
    auto target = find_target(a, zone);
    if (!target) {
      status = 1;
      continue;
    }
    std::printf("--- %s (%s, %s)\n+++ %s (%s, after import from %s)\n", target->file.c_str(),
                zone.to_text().c_str(), imported.value().shape.c_str(), target->file.c_str(),
                zone.to_text().c_str(), from.c_str());
    auto r = edit_zone_file(target->file, zone, changes, opt);
    if (!r.ok()) {
      std::fprintf(stderr, "vnetdns zone import: %s\n", r.error().c_str());
      status = 1;
      continue;
    }
    print_edit(r.value(), *target, opt.dry_run);
    if (r.value().changed && !opt.dry_run) after_edit(a, *target);
  }
  return status;
}

int zone_audit(const Args& a) {
  const std::string config = a.get("--config", kDefaultConfig);
  auto s = load_config(config);
  if (!s) return 1;
  std::optional<Inventory> inventory;
  if (a.has("--inventory")) {
    auto text = read_text_file(a.get("--inventory"));
    if (!text.ok()) {
      std::fprintf(stderr, "vnetdns zone audit: %s\n", text.error().c_str());
      return 1;
    }
    auto inv = parse_inventory(text.value(), a.get("--inventory"));
    if (!inv.ok()) {
      std::fprintf(stderr, "vnetdns zone audit: %s\n", inv.error().c_str());
      return 1;
    }
    inventory = std::move(inv.value());
  }
  policy::PrefixList expect = s->acl.allow;
  if (a.has("--expect")) {
    std::vector<policy::Prefix> ps;
    for (const auto& p : a.list("--expect")) {
      auto prefix = policy::Prefix::parse(p);
      if (!prefix) return usage("--expect: bad prefix " + p, "zone");
      ps.push_back(*prefix);
    }
    expect = policy::PrefixList(std::move(ps));
  }
  int problems = 0;
  for (const auto& z : s->zones) {
    auto text = read_text_file(z.file);
    std::vector<Finding> findings;
    if (!text.ok()) {
      findings.push_back({true, "INVALID " + text.error()});
    } else {
      findings =
          audit_zone(z.name, text.value(), z.file, inventory ? &*inventory : nullptr, expect);
    }
    std::printf("zone %s (%s): %s\n", z.name.to_text().c_str(), z.file.c_str(),
                findings.empty() ? "ok" : "");
    for (const auto& f : findings) {
      std::printf("  %s\n", f.text.c_str());
      problems += f.problem;
    }
  }
  std::printf("audit: %d problem%s\n", problems, problems == 1 ? "" : "s");
  return problems ? 1 : 0;
}

}  // namespace

int run_zone_command(int argc, char** argv) {
  if (argc < 2 || std::string_view(argv[1]) == "--help" || std::string_view(argv[1]) == "-h" ||
      std::string_view(argv[1]) == "help") {
    std::fputs(kZoneHelp, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string sub = argv[1];
  const Args a = parse_args(argc, argv, 2,
                            {{"--zone", "-z"},
                             {"--name", "-n"},
                             {"--address", "-a"},
                             {"--ttl", "-t"},
                             {"--file", "-f"},
                             {"--config", "-c"},
                             {"--from", ""},
                             {"--inventory", ""},
                             {"--expect", ""}},
                            {"--dry-run", "--replace", "--no-reload", "--help", "-h"});
  if (!a.error.empty()) return usage(a.error, "zone");
  if (a.has("--help") || a.has("-h")) {
    std::fputs(kZoneHelp, stdout);
    return 0;
  }
  if (!a.positional.empty()) return usage("unexpected argument " + a.positional[0], "zone");
  std::optional<wire::Name> zone_arg;
  if (a.has("--zone")) {
    zone_arg = parse_name(a.get("--zone"));
    if (!zone_arg || zone_arg->is_root()) return usage("bad zone name " + a.get("--zone"), "zone");
  }
  const wire::Name zone = zone_arg ? *zone_arg : wire::Name::from_text(kDefaultZone);
  if (sub == "add-record" || sub == "remove-record") return zone_edit_command(sub, a, zone);
  if (sub == "list") return zone_list(a, zone);
  if (sub == "import") return zone_import(a, zone_arg);
  if (sub == "audit") return zone_audit(a);
  return usage("unknown zone command " + sub, "zone");
}

int run_check_command(int argc, char** argv) {
  const Args a = parse_args(argc, argv, 1,
                            {{"--server", "-s"},
                             {"--expect", ""},
                             {"--registry", ""},
                             {"--regions", ""},
                             {"--timeout", ""}},
                            {"--help", "-h"});
  if (!a.error.empty()) return usage(a.error, "check");
  if (a.has("--help") || a.has("-h")) {
    std::fputs(kCheckHelp, stdout);
    return 0;
  }
  if (!a.has("--server")) return usage("--server ADDR[:PORT] is required", "check");
  CheckOptions opt;
  auto server = util::Endpoint::parse(a.get("--server"), 53);
  if (!server) return usage("bad --server " + a.get("--server"), "check");
  opt.server = *server;
  std::vector<policy::Prefix> ps;
  for (const auto& p : a.list("--expect")) {
    auto prefix = policy::Prefix::parse(p);
    if (!prefix) return usage("--expect: bad prefix " + p, "check");
    ps.push_back(*prefix);
  }
  opt.expect = policy::PrefixList(std::move(ps));
  if (a.has("--timeout")) {
    const std::string t = a.get("--timeout");
    if (!valid_ttl(t) || std::stoul(t) == 0 || std::stoul(t) > 60000) {
      return usage("--timeout wants milliseconds (1..60000)", "check");
    }
    opt.timeout_ms = static_cast<int>(std::stoul(t));
  }
  std::vector<CheckTarget> targets;
  for (const auto& n : a.positional) {
    if (!parse_name(n)) return usage("bad name " + n, "check");
    targets.push_back({n, ""});
  }
  if (a.has("--registry")) {
    std::string reg = a.get("--registry");
    for (char& c : reg) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (auto at = reg.find(".azurecr.io"); at != std::string::npos) reg.erase(at);
    if (reg.empty() || reg.find('.') != std::string::npos || !parse_name(reg)) {
      return usage("bad --registry " + a.get("--registry"), "check");
    }
    auto more = registry_targets(reg, a.list("--regions"));
    targets.insert(targets.end(), more.begin(), more.end());
  } else if (a.has("--regions")) {
    return usage("--regions needs --registry", "check");
  }
  if (targets.empty()) return usage("nothing to check: give NAME or --registry", "check");

  const auto results = check_names(targets, opt);
  int bad = 0;
  std::string bad_list;
  for (const auto& r : results) {
    std::printf("%s%s\n", r.target.name.c_str(),
                r.target.label.empty() ? "" : (" (" + r.target.label + ")").c_str());
    for (const auto& c : r.chain) std::printf("  %s\n", c.c_str());
    for (const auto& ip : r.addresses) {
      std::printf("  %s %s %s  %s\n", r.final_name.c_str(), ip.rr_type_text(),
                  ip.to_string().c_str(), ip.is_private() ? "private" : "PUBLIC");
    }
    std::printf("  %s: %s\n", to_string(r.verdict), r.detail.c_str());
    if (r.verdict == Verdict::kMissing || r.verdict == Verdict::kPublic) {
      if (auto p = policy::PrivateLinkTable::builtin().to_private(*parse_name(r.target.name))) {
        std::printf(
            "  hint: the server needs %s in its zone %s: vnetdns zone add-record -z %s "
            "-n %s -a ADDRESS\n",
            p->name.to_text().c_str(), p->private_zone.to_text().c_str(),
            p->private_zone.to_text().c_str(),
            ZoneText::owner_text(p->name, p->private_zone).c_str());
      }
    }
    if (r.verdict != Verdict::kOk) {
      ++bad;
      bad_list += std::string(bad_list.empty() ? "" : ", ") + to_string(r.verdict) + " " +
                  r.target.name + (r.target.label.empty() ? "" : " (" + r.target.label + ")");
    }
  }
  std::printf("check: %zu name%s, %zu ok%s%s\n", results.size(), results.size() == 1 ? "" : "s",
              results.size() - static_cast<std::size_t>(bad), bad ? ", not ok: " : "",
              bad_list.c_str());
  return bad ? 1 : 0;
}

}  // namespace vnetdns::zonetool
