// Zone loader: reads an RFC 1035 master file (section 5) with ldns and builds a Zone.
// Honours $ORIGIN, $TTL, relative names, "@", blank owners, parentheses, every type ldns
// knows and unknown types in RFC 3597 "\#" form. $INCLUDE is refused.
// Every error reads "FILE:LINE: what is wrong"; LINE is the first line of the entry at fault
// (1 for faults of the file as a whole: unreadable, no SOA). Rejected: syntax errors, records
// outside the origin, classes other than IN, meta types, a missing or second SOA, a SOA below
// the apex, a CNAME beside other data (RFC 1034 section 3.6.2).
// Startup and reload only; never on the query path. ldns is used here and in ldns_record.cpp.
// Thread safety: no shared state; may run on any thread (a reload runs it off the workers).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "resolver/util/result.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/zone/zone.hpp"

namespace vnetdns::zone {

using LoadResult = util::Result<std::shared_ptr<const Zone>, std::string>;

// Loads the zone `origin` from the file at `path`.
LoadResult load_zone(const wire::Name& origin, const std::string& path,
                     const ZoneOptions& options = {});

// Loads the zone from `text`; `display_name` stands for FILE in messages. For tests, fuzzing
// and zones held in memory.
LoadResult load_zone_from_text(const wire::Name& origin, std::string_view text,
                               const ZoneOptions& options = {},
                               std::string_view display_name = "<text>");

}  // namespace vnetdns::zone
