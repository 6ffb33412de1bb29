// ldns_record: converts between ldns's parsed records and ZoneRecord (the zone's own wire
// form: owner and embedded rdata names lowered, RFC 4034 section 6.2). Used by the zone file
// loader and by zone transfers (resolver/xfr), which both receive records from ldns, and by
// the zone file writer, which prints records through ldns.
// Thread safety: pure functions; no shared state.
#pragma once

#include <string>

#include "resolver/zone/zone.hpp"

struct ldns_struct_rr;  // ldns's ldns_rr, kept out of every header

namespace vnetdns::zone {

// Lowers the names in `rr` (in place) and copies it into `out`; false with `why` when the
// owner or the rdata cannot be encoded.
bool record_from_ldns(ldns_struct_rr* rr, ZoneRecord& out, std::string& why);

// A new ldns record equal to `record` (the caller frees it with ldns_rr_free), or nullptr
// when ldns cannot parse the rdata for its type.
ldns_struct_rr* record_to_ldns(const ZoneRecord& record);

// The record in master file form, one line, absolute names ("" when ldns cannot print it).
std::string record_to_text(const ZoneRecord& record);

}  // namespace vnetdns::zone
