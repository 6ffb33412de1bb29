// azure_import: reads the JSON that Azure's CLI prints and returns the private-link address
// records it implies. Recognised shapes (keys matched without regard to letter case, since the
// CLI has printed both "privateIpAddress" and "privateIPAddress"):
//  - `az network private-endpoint show` (or `list`: an array of them): customDnsConfigs[] with
//    fqdn and ipAddresses[]; when customDnsConfigs is empty, the static ipConfigurations[]
//    (groupId, memberName, privateIPAddress) of a container-registry endpoint, whose members are
//    "registry" and "registry_data_REGION" (privateLinkServiceConnections[].
//    privateLinkServiceId names the registry);
//  - `az network nic show` (or `list`) of the endpoint's interface: ipConfigurations[] with
//    privateIPAddress and privateLinkConnectionProperties.fqdns[];
//  - `az network private-dns record-set a list` / `aaaa list` (one record set, or an array):
//    fqdn (or name + the zone from id) with aRecords[].ipv4Address / aaaaRecords[].ipv6Address
//    and ttl;
//  - `az network private-endpoint dns-zone-group show`: privateDnsZoneConfigs[].recordSets[]
//    with fqdn and ipAddresses[].
// Public names map to their private-link names through the policy::PrivateLinkTable; a name below
// `extra_zone` (the -z of the command) is taken as it is. Records of one name are merged.
// parse_inventory reads the audit's inventory file.
// This is the only file that includes Boost.JSON (header-only: boost/json/src.hpp).
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "resolver/policy/privatelink_table.hpp"
#include "resolver/util/result.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/zonetool/ip_address.hpp"

namespace vnetdns::zonetool {

struct ImportedRecord {
  std::string fqdn;                  // as Azure printed it (the public name, usually)
  wire::Name name;                   // the private-link name
  wire::Name zone;                   // the private zone that holds it
  std::vector<IpAddress> addresses;  // sorted, unique
  std::string ttl;                   // from record sets; "" otherwise
};

struct ImportResult {
  std::string shape;  // "private-endpoint", "nic", "record-sets", ...
  std::vector<ImportedRecord> records;
  std::vector<std::string> warnings;  // names skipped and why
};

// The registry inventory `vnetdns zone audit --inventory FILE` reads (JSON):
//   {"registries": [{"name": "myregistry", "regions": ["westeurope", "northeurope"]}]}
// `regions` lists every region the registry has a replica in, its home region included (each
// needs a data endpoint record NAME.REGION.data). Names are lowered.
struct Inventory {
  struct Registry {
    std::string name;
    std::vector<std::string> regions;
  };
  std::vector<Registry> registries;
};
util::Result<Inventory, std::string> parse_inventory(std::string_view json,
                                                     std::string_view display_name);

util::Result<ImportResult, std::string> import_azure_json(std::string_view json,
                                                          const policy::PrivateLinkTable& table,
                                                          const wire::Name* extra_zone = nullptr);

}  // namespace vnetdns::zonetool
