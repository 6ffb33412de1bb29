// AnswerValidator: judges one answer (RFC 4035 section 5): every RRset of the answer section
// (the CNAME/DNAME chain and the data) verified with the keys of its signer zone, or its zone
// proven insecure; an answer synthesised from a wildcard needs the proof that the name itself
// does not exist; an NXDOMAIN or NODATA at the end of the chain needs its NSEC/NSEC3 proof.
// The answer's verdict is the weakest of its parts: bogus if any part is bogus, insecure if
// any part is insecure, secure only when all are.
// Two passes: needed_zones() lists the names whose zone status the caller must find (the
// signer of each signature, the owner of each unsigned RRset) without doing any crypto; the
// caller walks the chain of trust for each (pipeline/validation.cpp) and then calls judge()
// with a lookup over what it found.
// Input is hostile (an upstream's answer): anything unexpected is bogus or ignored, never
// a crash. Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "resolver/dnssec/signature_cache.hpp"
#include "resolver/dnssec/signed_message.hpp"
#include "resolver/dnssec/verdict.hpp"
#include "resolver/dnssec/zone_keys.hpp"

namespace vnetdns::dnssec {

struct AnswerQuestion {
  wire::Name qname;
  std::uint16_t qtype = 0;
  // The chain was cut at a name answered from local data (splice): no final data or denial
  // is expected from upstream.
  bool spliced = false;
};

// For a name (a signer, or an unsigned owner): the status of the deepest zone at or above it
// the chain of trust reached; nullptr when unknown.
using ZoneLookup = std::function<const ZoneKeys*(const wire::Name&)>;

// The names needed by judge(), deduplicated, in the order found.
std::vector<wire::Name> needed_zones(const SignedMessage& m, const AnswerQuestion& q);

// The verdict on `m`. `now`: Unix time for signature validity. A name whose lookup is
// unknown makes the verdict indeterminate.
// `cache`: signatures verified before (by this worker) are not checked again.
Verdict judge(const SignedMessage& m, const AnswerQuestion& q, const ZoneLookup& lookup,
              std::uint32_t now, SignatureCache* cache = nullptr);

}  // namespace vnetdns::dnssec
