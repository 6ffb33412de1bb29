// ZoneKeys: what the chain of trust says about the zone that holds a name: secure with its
// validated DNSKEY set, insecure (a proven unsigned delegation, an algorithm we cannot
// verify, a negative trust anchor, or outside every trust anchor), bogus, or indeterminate
// (a DS or DNSKEY lookup failed). ChainStep is the answer for one possible zone cut while the
// chain is walked down from the trust anchor (chain.hpp); the validator's per-worker cache
// (key_cache.hpp) keeps both.
// Thread safety: immutable once built; the key set is shared read-only between threads.
#pragma once

#include <cstdint>
#include <memory>

#include "resolver/dnssec/key_set.hpp"
#include "resolver/dnssec/ldns_ptr.hpp"
#include "resolver/dnssec/verdict.hpp"
#include "resolver/wire/name.hpp"

namespace vnetdns::dnssec {

// Longest time a validated key set or DS verdict is reused, whatever the TTLs say.
inline constexpr std::uint32_t kMaxKeyTtl = 3600;

struct ZoneKeys {
  Verdict verdict;  // kSecure: `keys` verify the zone's data
  wire::Name zone;  // the zone whose keys these are (secure), or where the chain ended
  std::shared_ptr<const KeySet> keys;  // the validated DNSKEY RRset (secure only)
  std::uint32_t ttl = 0;               // seconds this may be reused
  std::uint64_t id = 0;                // unique per validated key set (SignatureCache); 0: none
};

// A fresh ZoneKeys::id (never 0; unique in the process).
std::uint64_t next_key_set_id() noexcept;

// A shared KeySet of `dnskeys`: a deep copy, its usable keys decoded (key_set.hpp; nullptr stays
// nullptr).
std::shared_ptr<const KeySet> share_keys(const ldns_rr_list* dnskeys);

// What one DS lookup (and the DNSKEY lookup that follows a DS) found at a possible cut.
enum class CutKind : std::uint8_t {
  kZone,    // a secure zone cut: `keys` are the child's validated keys
  kNotCut,  // no zone cut here (a name of the parent zone, or an empty non-terminal)
  kNoName,  // the name does not exist: no cut here or below
  kEnd,     // insecure, bogus or indeterminate: the walk stops with `keys.verdict`
};
struct ChainStep {
  CutKind kind = CutKind::kEnd;
  ZoneKeys keys;
};

}  // namespace vnetdns::dnssec
