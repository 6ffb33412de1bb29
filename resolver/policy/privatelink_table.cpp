#include "resolver/policy/privatelink_table.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace vnetdns::policy {
namespace {

// zones/azure-privatelink-zones.txt, made into a string literal at build time
// (resolver/CMakeLists.txt generates the file included here): one table, no copy to keep equal.
constexpr std::string_view kBuiltin =
#include "privatelink_zones.inc"
    ;

bool has_privatelink_label(const wire::Name& n) {
  const std::string t = "." + n.to_text();
  return t.find(".privatelink.") != std::string::npos;
}

}  // namespace

std::string_view PrivateLinkTable::builtin_text() { return kBuiltin; }

const PrivateLinkTable& PrivateLinkTable::builtin() {
  static const PrivateLinkTable table = [] {
    auto r = parse(builtin_text(), "<builtin azure-privatelink-zones.txt>");
    return r.ok() ? std::move(r.value()) : PrivateLinkTable{};
  }();
  return table;
}

util::Result<PrivateLinkTable, std::string> PrivateLinkTable::parse(std::string_view text,
                                                                    std::string_view display_name) {
  PrivateLinkTable t;
  std::istringstream in{std::string(text)};
  std::string line;
  std::size_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    const auto fail = [&](const std::string& why) {
      return util::Err(std::string(display_name) + ":" + std::to_string(line_no) + ": " + why);
    };
    if (auto hash = line.find('#'); hash != std::string::npos) line.erase(hash);
    std::istringstream fields(line);
    std::string pub, priv;
    if (!(fields >> pub)) continue;
    if (!(fields >> priv)) return fail("expected PUBLIC-ZONE PRIVATE-ZONE [SERVICE]");
    std::string service;
    std::getline(fields, service);
    service.erase(0, service.find_first_not_of(" \t"));
    while (!service.empty() && (service.back() == ' ' || service.back() == '\r'))
      service.pop_back();
    wire::NameError e1 = wire::NameError::kNone, e2 = wire::NameError::kNone;
    PrivateLinkZone z{wire::Name::from_text(pub, &e1), wire::Name::from_text(priv, &e2), service};
    if (e1 != wire::NameError::kNone || z.public_zone.is_root())
      return fail("bad zone name " + pub);
    if (e2 != wire::NameError::kNone || z.private_zone.is_root())
      return fail("bad zone name " + priv);
    if (!has_privatelink_label(z.private_zone)) {
      return fail(priv + " has no 'privatelink' label");
    }
    for (const auto& o : t.zones_) {
      if (o.public_zone == z.public_zone) return fail(pub + " is listed twice");
    }
    t.zones_.push_back(std::move(z));
  }
  if (t.zones_.empty()) return util::Err(std::string(display_name) + ":1: no zones");
  return t;
}

util::Result<PrivateLinkTable, std::string> PrivateLinkTable::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return util::Err(path + ":1: cannot open: " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), path);
}

std::optional<PrivateName> PrivateLinkTable::to_private(const wire::Name& name) const {
  const PrivateLinkZone* best_private = nullptr;
  const PrivateLinkZone* best_public = nullptr;
  for (const auto& z : zones_) {
    if (name.is_subdomain_of(z.private_zone) &&
        (!best_private ||
         z.private_zone.label_count() > best_private->private_zone.label_count())) {
      best_private = &z;
    }
    if (name != z.public_zone && name.is_subdomain_of(z.public_zone) &&
        (!best_public || z.public_zone.label_count() > best_public->public_zone.label_count())) {
      best_public = &z;
    }
  }
  if (best_private) return PrivateName{name, best_private->private_zone};
  if (!best_public) return std::nullopt;
  // The labels of `name` below the public zone, put in front of the private zone.
  const std::size_t prefix = name.size() - best_public->public_zone.size();
  const wire::Name& zone = best_public->private_zone;
  if (prefix + zone.size() > wire::kMaxNameLength) return std::nullopt;  // too long once moved
  std::uint8_t buf[wire::kMaxNameLength];
  std::memcpy(buf, name.data(), prefix);
  std::memcpy(buf + prefix, zone.data(), zone.size());
  wire::Name out;
  if (!out.assign_wire(buf, prefix + zone.size())) return std::nullopt;
  return PrivateName{out, zone};
}

std::vector<wire::Name> PrivateLinkTable::forward_zones() const {
  std::vector<wire::Name> out;
  for (const auto& z : zones_) {
    for (const auto* n : {&z.public_zone, &z.private_zone}) {
      if (std::find(out.begin(), out.end(), *n) == out.end()) out.push_back(*n);
    }
  }
  return out;
}

}  // namespace vnetdns::policy
