#include "resolver/zonetool/azure_import.hpp"

#include <algorithm>
#include <cctype>
#include <map>

#include <boost/json/src.hpp>  // header-only Boost.JSON: this is the one file that includes it

namespace vnetdns::zonetool {
namespace {

namespace json = boost::json;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return lower(a) == lower(b); }

const json::value* get(const json::object& o, std::string_view key) {
  for (const auto& kv : o) {
    if (iequals(kv.key(), key)) return &kv.value();
  }
  return nullptr;
}

std::string get_string(const json::object& o, std::string_view key) {
  const json::value* v = get(o, key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

const json::array* get_array(const json::object& o, std::string_view key) {
  const json::value* v = get(o, key);
  return v && v->is_array() ? &v->as_array() : nullptr;
}

const json::object* get_object(const json::object& o, std::string_view key) {
  const json::value* v = get(o, key);
  return v && v->is_object() ? &v->as_object() : nullptr;
}

class Collector {
 public:
  explicit Collector(ImportResult& out) : out_(out) {}

  void add(std::string fqdn, std::string_view address, const std::string& ttl = {}) {
    while (!fqdn.empty() && fqdn.back() == '.') fqdn.pop_back();
    fqdn = lower(fqdn);
    if (fqdn.empty()) return;
    auto ip = IpAddress::parse(address);
    if (!ip) {
      out_.warnings.push_back(fqdn + ": '" + std::string(address) +
                              "' is not an IP address; skipped");
      return;
    }
    auto [it, fresh] = index_.emplace(fqdn, entries_.size());
    if (fresh) entries_.push_back({fqdn, {}, ttl});
    auto& e = entries_[it->second];
    if (std::find(e.addresses.begin(), e.addresses.end(), *ip) == e.addresses.end()) {
      e.addresses.push_back(*ip);
    }
  }

  void finish(const policy::PrivateLinkTable& table, const wire::Name* extra_zone) {
    for (auto& e : entries_) {
      wire::NameError err = wire::NameError::kNone;
      const wire::Name n = wire::Name::from_text(e.fqdn, &err);
      if (err != wire::NameError::kNone || e.fqdn.find('*') != std::string::npos) {
        out_.warnings.push_back(e.fqdn + ": not a host name; skipped");
        continue;
      }
      ImportedRecord r;
      r.fqdn = e.fqdn;
      r.ttl = e.ttl;
      std::sort(e.addresses.begin(), e.addresses.end());
      r.addresses = e.addresses;
      if (extra_zone && n.is_subdomain_of(*extra_zone)) {
        r.name = n;
        r.zone = *extra_zone;
      } else if (auto p = table.to_private(n)) {
        r.name = p->name;
        r.zone = p->private_zone;
      } else {
        out_.warnings.push_back(e.fqdn +
                                ": no private-link zone is known for it "
                                "(zones/azure-privatelink-zones.txt); skipped");
        continue;
      }
      out_.records.push_back(std::move(r));
    }
  }

 private:
  struct Entry {
    std::string fqdn;
    std::vector<IpAddress> addresses;
    std::string ttl;
  };
  ImportResult& out_;
  std::map<std::string, std::size_t> index_;
  std::vector<Entry> entries_;
};

std::string registry_of(const json::object& pe) {
  for (const char* key : {"privateLinkServiceConnections", "manualPrivateLinkServiceConnections"}) {
    const json::array* conns = get_array(pe, key);
    if (!conns) continue;
    for (const auto& c : *conns) {
      if (!c.is_object()) continue;
      std::string id = get_string(c.as_object(), "privateLinkServiceId");
      if (id.empty()) {
        if (const auto* props = get_object(c.as_object(), "properties")) {
          id = get_string(*props, "privateLinkServiceId");
        }
      }
      const std::string marker = "/providers/microsoft.containerregistry/registries/";
      const auto at = lower(id).find(marker);
      if (at == std::string::npos) continue;
      std::string name = lower(id.substr(at + marker.size()));
      return name.substr(0, name.find('/'));
    }
  }
  return {};
}

void private_endpoint(const json::object& pe, Collector& c, ImportResult& out) {
  bool any = false;
  if (const json::array* configs = get_array(pe, "customDnsConfigs")) {
    for (const auto& v : *configs) {
      if (!v.is_object()) continue;
      const std::string fqdn = get_string(v.as_object(), "fqdn");
      if (const json::array* ips = get_array(v.as_object(), "ipAddresses")) {
        for (const auto& ip : *ips) {
          if (ip.is_string()) {
            c.add(fqdn, std::string(ip.as_string()));
            any = true;
          }
        }
      }
    }
  }
  if (any) return;
  // Static IP configurations (newer endpoints): member names of a container registry.
  const json::array* ipcs = get_array(pe, "ipConfigurations");
  if (!ipcs || ipcs->empty()) {
    out.warnings.push_back("private endpoint " + get_string(pe, "name") +
                           ": no customDnsConfigs; use `az network nic show` of its interface");
    return;
  }
  const std::string registry = registry_of(pe);
  for (const auto& v : *ipcs) {
    if (!v.is_object()) continue;
    const std::string member = lower(get_string(v.as_object(), "memberName"));
    const std::string ip = get_string(v.as_object(), "privateIPAddress");
    if (registry.empty()) {
      out.warnings.push_back("ipConfiguration " + member +
                             ": not a container registry endpoint; its FQDN is unknown");
      continue;
    }
    if (member == "registry") {
      c.add(registry + ".azurecr.io", ip);
    } else if (member.rfind("registry_data_", 0) == 0) {
      c.add(registry + "." + member.substr(14) + ".data.azurecr.io", ip);
    } else {
      out.warnings.push_back("ipConfiguration member " + member + ": unknown; skipped");
    }
  }
}

void nic(const json::object& n, Collector& c) {
  const json::array* ipcs = get_array(n, "ipConfigurations");
  if (!ipcs) return;
  for (const auto& v : *ipcs) {
    if (!v.is_object()) continue;
    const json::object& ipc = v.as_object();
    std::string ip = get_string(ipc, "privateIPAddress");
    const json::object* props = get_object(ipc, "privateLinkConnectionProperties");
    if (const auto* p = get_object(ipc, "properties")) {  // ARM (REST) form
      if (ip.empty()) ip = get_string(*p, "privateIPAddress");
      if (!props) props = get_object(*p, "privateLinkConnectionProperties");
    }
    if (!props) continue;
    if (const json::array* fqdns = get_array(*props, "fqdns")) {
      for (const auto& f : *fqdns) {
        if (f.is_string()) c.add(std::string(f.as_string()), ip);
      }
    }
  }
}

void record_set(const json::object& rs, Collector& c) {
  std::string fqdn = get_string(rs, "fqdn");
  if (fqdn.empty()) {
    const std::string id = get_string(rs, "id");
    const std::string name = get_string(rs, "name");
    const std::string marker = "/privatednszones/";
    const auto at = lower(id).find(marker);
    if (at != std::string::npos) {
      std::string zone = id.substr(at + marker.size());
      zone = zone.substr(0, zone.find('/'));
      fqdn = name == "@" ? zone : name + "." + zone;
    }
  }
  std::string ttl;
  if (const json::value* t = get(rs, "ttl"); t && t->is_int64())
    ttl = std::to_string(t->as_int64());
  for (const auto& [key, field] :
       {std::pair{"aRecords", "ipv4Address"}, std::pair{"aaaaRecords", "ipv6Address"}}) {
    const json::array* recs = get_array(rs, key);
    if (!recs) continue;
    for (const auto& r : *recs) {
      if (r.is_object()) c.add(fqdn, get_string(r.as_object(), field), ttl);
    }
  }
}

void zone_group(const json::object& g, Collector& c) {
  const json::array* configs = get_array(g, "privateDnsZoneConfigs");
  if (!configs) return;
  for (const auto& v : *configs) {
    if (!v.is_object()) continue;
    const json::array* sets = get_array(v.as_object(), "recordSets");
    if (!sets) continue;
    for (const auto& s : *sets) {
      if (!s.is_object()) continue;
      const std::string fqdn = get_string(s.as_object(), "fqdn");
      std::string ttl;
      if (const json::value* t = get(s.as_object(), "ttl"); t && t->is_int64()) {
        ttl = std::to_string(t->as_int64());
      }
      if (const json::array* ips = get_array(s.as_object(), "ipAddresses")) {
        for (const auto& ip : *ips) {
          if (ip.is_string()) c.add(fqdn, std::string(ip.as_string()), ttl);
        }
      }
    }
  }
}

util::Result<bool, std::string> one(const json::value& v, Collector& c, ImportResult& out) {
  if (v.is_array()) {
    for (const auto& e : v.as_array()) {
      auto r = one(e, c, out);
      if (!r.ok()) return r;
    }
    return true;
  }
  if (!v.is_object()) return util::Err(std::string("expected a JSON object or array"));
  const json::object& o = v.as_object();
  const std::string type = lower(get_string(o, "type"));
  std::string shape;
  if (get(o, "customDnsConfigs") || type == "microsoft.network/privateendpoints") {
    shape = "private-endpoint";
    private_endpoint(o, c, out);
  } else if (get(o, "privateDnsZoneConfigs")) {
    shape = "dns-zone-group";
    zone_group(o, c);
  } else if (get(o, "aRecords") || get(o, "aaaaRecords") ||
             type.rfind("microsoft.network/privatednszones/", 0) == 0) {
    shape = "record-sets";
    record_set(o, c);
  } else if (get(o, "ipConfigurations") || type == "microsoft.network/networkinterfaces") {
    shape = "nic";
    nic(o, c);
  } else {
    return util::Err(
        std::string("unrecognised JSON: expected the output of `az network private-endpoint show`, "
                    "`az network nic show` or `az network private-dns record-set a list`"));
  }
  if (out.shape.empty()) {
    out.shape = shape;
  } else if (out.shape != shape && out.shape != "mixed") {
    out.shape = "mixed";
  }
  return true;
}

}  // namespace

util::Result<ImportResult, std::string> import_azure_json(std::string_view text,
                                                          const policy::PrivateLinkTable& table,
                                                          const wire::Name* extra_zone) {
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return util::Err("not valid JSON: " + ec.message());
  ImportResult out;
  Collector c(out);
  auto r = one(v, c, out);
  if (!r.ok()) return util::Err(r.error());
  c.finish(table, extra_zone);
  return out;
}

util::Result<Inventory, std::string> parse_inventory(std::string_view text,
                                                     std::string_view display_name) {
  const std::string where(display_name);
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec) return util::Err(where + ": not valid JSON: " + ec.message());
  const json::array* regs = v.is_object() ? get_array(v.as_object(), "registries") : nullptr;
  if (!regs)
    return util::Err(where + ": expected {\"registries\": [{\"name\": ..., \"regions\": [...]}]}");
  Inventory inv;
  for (const auto& r : *regs) {
    if (!r.is_object()) return util::Err(where + ": each registry must be an object");
    Inventory::Registry reg;
    reg.name = lower(get_string(r.as_object(), "name"));
    if (auto dot = reg.name.find(".azurecr.io"); dot != std::string::npos) reg.name.erase(dot);
    if (reg.name.empty() || reg.name.find('.') != std::string::npos) {
      return util::Err(where + ": a registry needs a \"name\" (e.g. \"myregistry\")");
    }
    if (const json::array* regions = get_array(r.as_object(), "regions")) {
      for (const auto& g : *regions) {
        if (!g.is_string() || g.as_string().empty()) {
          return util::Err(where + ": regions of " + reg.name + " must be strings");
        }
        reg.regions.push_back(lower(std::string(g.as_string())));
      }
    }
    inv.registries.push_back(std::move(reg));
  }
  return inv;
}

}  // namespace vnetdns::zonetool
