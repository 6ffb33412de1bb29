// scrub_reply(): turns an accepted upstream reply into the answer we cache and send, keeping
// only what lies on the question's CNAME/DNAME chain (anything else, out-of-bailiwick extras
// and the additional section included, is dropped: nothing off the chain is ever cached).
// When the chain reaches a name that a local zone answers, the chain is cut there and marked
// for splicing: the pipeline completes it from local data on every use (the guide's answer:
// public CNAME + private A). TTLs follow RFC 2308 for negative answers (min of SOA TTL and
// MINIMUM) and the configured clamps.
// Output format: header (ID 0, QR|RA, RCODE), the lowered question, records, no OPT.
// Thread safety: a pure function of its arguments (the ZoneSet is immutable).
#pragma once

#include <cstdint>
#include <vector>

#include "resolver/cache/cache_key.hpp"
#include "resolver/cache/packet_cache.hpp"
#include "resolver/util/endpoint.hpp"
#include "resolver/util/result.hpp"
#include "resolver/zone/zone_set.hpp"

namespace vnetdns::pipeline {

struct TtlPolicy {
  std::uint32_t min_ttl = 0;
  std::uint32_t max_ttl = 86400;
  std::uint32_t max_negative_ttl = 3600;
};

struct Processed {
  std::vector<std::uint8_t> wire;
  std::vector<std::uint16_t> ttl_offsets;
  std::uint32_t ttl = 0;  // cache lifetime; 0 = do not cache
  cache::EntryKind kind = cache::EntryKind::kPositive;
  bool splice = false;
  wire::Name splice_target;
  std::uint8_t rcode = 0;
  util::Endpoint upstream;  // the server that answered (not kept in the cache)
  int ede = -1;             // RFC 8914 info code to answer with (cache::InsertRequest::ede)
};

// Why a reply that passed the acceptance check was not used (each has a counter).
enum class ScrubError : std::uint8_t { kMalformed, kRcode, kChainTooLong, kTooBig, kCount };
const char* to_string(ScrubError e) noexcept;

util::Result<Processed, ScrubError> scrub_reply(const std::uint8_t* reply, std::size_t len,
                                                const cache::CacheKey& key,
                                                const zone::ZoneSet& zones,
                                                const TtlPolicy& policy);

// Lowers every TTL of `p` (its records' and its cache lifetime) to at most `cap` seconds: a
// validated answer's RFC 4035 section 5.3.3 limit (dnssec::Verdict::ttl_cap), which wins over
// the configured min_ttl.
void cap_ttls(Processed& p, std::uint32_t cap);

// A SERVFAIL answer for `key` in the same format (what a failure entry holds, RFC 9520).
Processed failure_answer(const cache::CacheKey& key, std::uint32_t ttl);

}  // namespace vnetdns::pipeline
