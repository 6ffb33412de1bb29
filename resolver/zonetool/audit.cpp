#include "resolver/zonetool/audit.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "resolver/zone/zone_loader.hpp"
#include "resolver/zonetool/zone_text.hpp"

namespace vnetdns::zonetool {
namespace {

std::vector<std::string> split_labels(const std::string& relative) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto dot = relative.find('.', start);
    out.push_back(relative.substr(start, dot - start));
    if (dot == std::string::npos) return out;
    start = dot + 1;
  }
}

std::string prefixes_text(const policy::PrefixList& l) {
  std::string s;
  for (const auto& p : l.prefixes()) s += (s.empty() ? "" : ", ") + p.to_string();
  return s;
}

std::optional<wire::Name> rdata_name(const std::string& token, const wire::Name& origin) {
  wire::NameError err = wire::NameError::kNone;
  wire::Name n;
  if (token == "@") return origin;
  if (!token.empty() && token.back() == '.') {
    n = wire::Name::from_text(token, &err);
  } else {
    n = wire::Name::from_text(token + "." + origin.to_text(), &err);
  }
  if (err != wire::NameError::kNone) return std::nullopt;
  return n;
}

}  // namespace

std::vector<Finding> audit_zone(const wire::Name& origin, const std::string& text,
                                const std::string& file, const Inventory* inventory,
                                const policy::PrefixList& expect) {
  std::vector<Finding> out;
  const std::string zone = origin.to_text();
  if (auto z = zone::load_zone_from_text(origin, text, {}, file); !z.ok()) {
    out.push_back({true, "INVALID " + z.error()});
    return out;
  }
  auto parsed = ZoneText::parse(origin, text);
  if (!parsed.ok()) {
    out.push_back({true, "INVALID " + file + ": " + parsed.error()});
    return out;
  }
  const ZoneText& zt = parsed.value();
  std::set<wire::Name> name_servers;
  for (const auto& e : zt.records()) {
    if ((e.type == "NS" && !e.rdata.empty()) || (e.type == "SOA" && !e.rdata.empty())) {
      if (auto n = rdata_name(e.rdata[0].text, e.origin)) name_servers.insert(*n);
    }
  }
  // Addresses outside the expected prefixes (every zone).
  for (const auto& e : zt.records()) {
    if ((e.type != "A" && e.type != "AAAA") || e.rdata.size() != 1 || expect.empty()) continue;
    auto ip = IpAddress::parse(e.rdata[0].text);
    if (ip && !ip->in(expect)) {
      out.push_back({true, "OUTSIDE " + e.owner.to_text() + " " + e.type + " " + ip->to_string() +
                               ": not inside the VNet prefixes " + prefixes_text(expect)});
    }
  }
  if (origin != wire::Name::from_text("privatelink.azurecr.io")) return out;

  // Registries and data endpoints of privatelink.azurecr.io.
  std::set<std::string> registries;
  std::map<std::string, std::set<std::string>> regions;  // registry -> regions with a record
  for (const auto& e : zt.records()) {
    if (e.type != "A" && e.type != "AAAA") continue;
    if (name_servers.count(e.owner) || e.owner == origin) continue;
    const auto labels = split_labels(ZoneText::owner_text(e.owner, origin));
    if (labels.size() == 1) {
      registries.insert(labels[0]);
    } else if (labels.size() == 3 && labels[2] == "data") {
      regions[labels[0]].insert(labels[1]);
    }
  }
  const auto fq = [&](const std::string& rel) { return rel + "." + zone; };
  std::set<std::string> inventoried;
  if (inventory) {
    for (const auto& r : inventory->registries) {
      inventoried.insert(r.name);
      if (!registries.count(r.name)) {
        out.push_back({true, "MISSING " + fq(r.name) + ": registry " + r.name + " (login server " +
                                 r.name + ".azurecr.io) has no record"});
      }
      for (const auto& g : r.regions) {
        if (!regions[r.name].count(g)) {
          out.push_back({true, "MISSING " + fq(r.name + "." + g + ".data") +
                                   ": data endpoint of replica " + g + " of " + r.name +
                                   " (docker pull fails after login)"});
        }
      }
      for (const auto& g : regions[r.name]) {
        if (std::find(r.regions.begin(), r.regions.end(), g) == r.regions.end()) {
          out.push_back({false, "NOTE " + fq(r.name + "." + g + ".data") + ": region " + g +
                                    " is not in the inventory (a removed replica?)"});
        }
      }
    }
  }
  for (const auto& r : registries) {
    if (inventory && !inventoried.count(r)) {
      out.push_back({false, "NOTE " + fq(r) + ": registry " + r + " is not in the inventory"});
    }
    if (!inventoried.count(r) && regions[r].empty()) {
      out.push_back({true, "MISSING " + fq(r + ".REGION.data") + ": registry " + r +
                               " has no data endpoint record at all; every replica region "
                               "(the home region too) needs one, or docker pull fails after "
                               "login"});
    }
  }
  for (const auto& [r, gs] : regions) {
    if (!gs.empty() && !registries.count(r)) {
      out.push_back({true, "MISSING " + fq(r) + ": data endpoints of " + r +
                               " exist but the registry record does not"});
    }
  }
  return out;
}

}  // namespace vnetdns::zonetool
