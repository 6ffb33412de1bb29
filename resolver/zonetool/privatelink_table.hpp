// The private-link zone table lives in policy/ (the settings loader expands
// `zone = "@azure-privatelink"` with it); zonetool uses it under its own names.
#pragma once

#include "resolver/policy/privatelink_table.hpp"

namespace vnetdns::zonetool {
using policy::PrivateLinkTable;
using policy::PrivateLinkZone;
using policy::PrivateName;
}  // namespace vnetdns::zonetool
