// CacheKey: what identifies a cached answer: the question name (case-insensitive: the name
// is canonical lowered), type, class, the DO bit (a DO=1 client must not get an answer
// cached without DNSSEC records) and the CD bit (a CD=1 answer may hold data a validating
// upstream would have refused). Thread safety: a plain value type.
#pragma once

#include <cstdint>

#include "resolver/wire/name.hpp"

namespace vnetdns::cache {

struct CacheKey {
  wire::Name qname;
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  bool dnssec_ok = false;
  bool checking_disabled = false;

  bool operator==(const CacheKey& o) const noexcept {
    return qtype == o.qtype && qclass == o.qclass && dnssec_ok == o.dnssec_ok &&
           checking_disabled == o.checking_disabled && qname == o.qname;
  }
  [[nodiscard]] std::uint64_t hash() const noexcept {
    std::uint64_t h = qname.hash();
    h ^= (static_cast<std::uint64_t>(qtype) << 17) ^ (static_cast<std::uint64_t>(qclass) << 33) ^
         (dnssec_ok ? 0x9e3779b97f4a7c15ULL : 0) ^ (checking_disabled ? 0xc2b2ae3d27d4eb4fULL : 0);
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 29);
  }
};

struct CacheKeyHash {
  std::size_t operator()(const CacheKey& k) const noexcept { return k.hash(); }
};

}  // namespace vnetdns::cache
