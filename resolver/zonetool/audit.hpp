// audit: looks at a served zone the way an operator following the guide should, and names
// what is likely wrong:
//  - in privatelink.azurecr.io: a registry record (one label, "myregistry") without any data
//    endpoint record ("myregistry.REGION.data": `docker pull` fails after a successful login),
//    a data endpoint without its registry, and, with an inventory, every registry and replica
//    region of the inventory that has no record (and, as notes, records the inventory lacks);
//  - in every zone: A/AAAA records whose address is outside the expected VNet prefixes;
//  - a zone file the loader refuses.
// Names in the zone's NS and SOA MNAME are name servers, not registries.
// Thread safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "resolver/policy/prefix.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/zonetool/azure_import.hpp"

namespace vnetdns::zonetool {

struct Finding {
  bool problem = true;  // false: a note (printed, does not fail the audit)
  std::string text;     // "MISSING myregistry.northeurope.data.privatelink.azurecr.io: ..."
};

std::vector<Finding> audit_zone(const wire::Name& origin, const std::string& text,
                                const std::string& file, const Inventory* inventory,
                                const policy::PrefixList& expect);

}  // namespace vnetdns::zonetool
