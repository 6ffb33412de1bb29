// The chain of trust, one link at a time (RFC 4035 section 5.2): what a DS reply says about a
// possible zone cut below a secure zone, and whether a DNSKEY reply holds keys that a DS set
// (or a trust anchor) vouches for. The caller (pipeline/validation.cpp) fetches the replies
// and walks from the trust anchor down; these functions only judge.
// Insecure is concluded only from verified evidence: a signed denial of the DS (a delegation
// without DS, or an opt-out span), or a DS set whose algorithms or digests are all unknown
// (RFC 6840 section 5.2, RFC 4509 section 3); anything unverifiable is bogus, never insecure.
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <memory>

#include "resolver/dnssec/signed_message.hpp"
#include "resolver/dnssec/zone_keys.hpp"

namespace vnetdns::dnssec {

struct DsResult {
  CutKind kind = CutKind::kEnd;  // kZone here: a verified DS set, `ds` holds it
  std::shared_ptr<const ldns_rr_list> ds;
  Verdict end;  // with kEnd
  std::uint32_t ttl = 0;
};

// `reply` answers "DS `child`"; `parent` holds the secure keys of the zone above.
DsResult check_ds(const SignedMessage& reply, const wire::Name& child, const ZoneKeys& parent,
                  std::uint32_t now);

// `reply` answers "DNSKEY `zone`"; `anchors` are the DS records (or DNSKEY records of a trust
// anchor) that vouch for it. Secure when a key that an anchor names signs the DNSKEY RRset.
ZoneKeys check_dnskey(const SignedMessage& reply, const wire::Name& zone,
                      const ldns_rr_list* anchors, std::uint32_t now);

}  // namespace vnetdns::dnssec
