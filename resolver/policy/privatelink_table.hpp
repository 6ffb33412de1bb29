// PrivateLinkTable: Azure's public service zones and the "privatelink." zones their names
// CNAME into (zones/azure-privatelink-zones.txt). It maps a public name to its private-link
// name (myregistry.westeurope.data.azurecr.io -> myregistry.westeurope.data.privatelink.
// azurecr.io; myvault.vault.azure.net -> myvault.privatelink.vaultcore.azure.net) by the
// longest public zone the name lies strictly below, and lists every zone an Azure-facing
// forwarder must forward (both columns, deduplicated) for `zone = "@azure-privatelink"`.
// builtin() is the shipped file compiled in (a unit test keeps the two byte-identical), so the
// binary needs no data file at run time.
// Lives in policy/ (wire::Name only) so that the settings loader can expand the rule.
// Invariants: every public zone appears once. Thread safety: immutable after parse().
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "resolver/util/result.hpp"
#include "resolver/wire/name.hpp"

namespace vnetdns::policy {

struct PrivateLinkZone {
  wire::Name public_zone;
  wire::Name private_zone;
  std::string service;
};

struct PrivateName {
  wire::Name name;          // the name inside the private zone
  wire::Name private_zone;  // the zone that holds it
};

class PrivateLinkTable {
 public:
  // Errors read "FILE:LINE: reason": a line without two names, a bad name, a public zone
  // listed twice, a private zone that does not start with a "privatelink" label (anywhere).
  static util::Result<PrivateLinkTable, std::string> parse(std::string_view text,
                                                           std::string_view display_name);
  static util::Result<PrivateLinkTable, std::string> load(const std::string& path);
  static const PrivateLinkTable& builtin();
  static std::string_view builtin_text();

  [[nodiscard]] const std::vector<PrivateLinkZone>& zones() const noexcept { return zones_; }
  // The private-link name of `name`: a name already inside a private zone maps to itself; a
  // name strictly below a public zone moves under its private zone; anything else: nullopt.
  [[nodiscard]] std::optional<PrivateName> to_private(const wire::Name& name) const;
  // Every public and private zone once, in table order (public first on each line).
  [[nodiscard]] std::vector<wire::Name> forward_zones() const;

 private:
  std::vector<PrivateLinkZone> zones_;
};

}  // namespace vnetdns::policy
