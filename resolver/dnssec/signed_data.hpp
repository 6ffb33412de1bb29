// signed_data(): the bytes an RRSIG's signature covers (RFC 4034 section 3.1.8.1): the RRSIG
// RDATA without the signature field, then every record of the RRset in canonical form
// (section 6.2: owner and the names inside RDATA of the listed types lowered, the TTL the
// RRSIG's original TTL, the owner rebuilt as "*.<closest encloser>" when the RRSIG's labels
// field says the RRset came from a wildcard, section 5.3.2), in canonical order (section 6.3:
// RDATA compared as unsigned octets, duplicates dropped, RFC 2181 section 5).
// ldns writes each record and the RRSIG prefix (ldns_rr2buffer_wire_canonical,
// ldns_rrsig2buffer_wire, which lowers the signer name); this file adds the TTL, the wildcard
// owner and the order, without cloning a record (ldns's own verifier clones the RRset per
// check).
// Thread safety: reentrant; the scratch buffers are per thread.
#pragma once

#include <cstdint>
#include <vector>

#include "resolver/dnssec/signed_message.hpp"

namespace vnetdns::dnssec {

// Writes into `out` (cleared first) what `rrsig` signs for `set`. False when a record is not
// of the RRSIG's class (RFC 4035 section 5.3.1: every record of the set shares it), cannot
// be written or the RRSIG's labels field exceeds the owner's label count.
bool signed_data(const RrSet& set, const ldns_rr* rrsig, std::vector<std::uint8_t>& out);

}  // namespace vnetdns::dnssec
