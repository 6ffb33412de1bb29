// answer_local(): answers a question from the local zones into a MessageBuilder whose
// header and question are already written. It follows CNAMEs through local data (across
// local zones), synthesises wildcards (RFC 4592), and writes the zone's SOA in the authority
// section for NXDOMAIN and NODATA (RFC 2308 section 3). When a CNAME leaves local data it
// stops and reports the target, so the pipeline can resolve it upstream and append it.
// Thread safety: reads an immutable ZoneSet; any number of threads may call it at once.
// Never allocates: the hot path for local names.
#pragma once

#include <cstddef>
#include <cstdint>

#include "resolver/wire/builder.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/zone/zone_set.hpp"

namespace vnetdns::zone {

enum class LocalStatus : std::uint8_t {
  kAnswered,      // complete answer written; rcode tells NOERROR/NXDOMAIN
  kMiss,          // name absent from an on_miss = "forward" zone: nothing written, forward it
  kLeavesLocal,   // CNAME chain written so far; `next` is outside local zones: resolve it
  kChainTooLong,  // CNAME loop or more than kMaxChain links: SERVFAIL
  kOverflow,      // did not fit in the builder
};

inline constexpr std::size_t kMaxChain = 12;

struct LocalResult {
  LocalStatus status = LocalStatus::kAnswered;
  std::uint8_t rcode = 0;        // NOERROR or NXDOMAIN when kAnswered
  bool authoritative = true;     // AA: the final data came from a local zone
  wire::Name next;               // the name to resolve upstream when kLeavesLocal
  std::size_t chain_length = 0;  // CNAMEs followed so far (including chain_start)
};

// `zone` is the local zone that contains `qname` (ZoneSet::find). `chain_start` counts
// CNAME links already written by the caller (when splicing an upstream chain).
LocalResult answer_local(const ZoneSet& zones, const Zone& zone, const wire::Name& qname,
                         std::uint16_t qtype, wire::MessageBuilder& builder,
                         std::size_t chain_start = 0) noexcept;

}  // namespace vnetdns::zone
