// Verdict: what validation concluded about an answer or a zone (RFC 4033 section 5: secure,
// insecure, bogus, indeterminate), and why when it is bogus. Each BogusReason maps to one
// RFC 8914 Extended DNS Error code; metrics count bogus answers by reason.
// Thread safety: plain value types.
#pragma once

#include <cstdint>

namespace vnetdns::dnssec {

enum class Security : std::uint8_t { kSecure, kInsecure, kBogus, kIndeterminate, kCount };
const char* to_string(Security s) noexcept;

enum class BogusReason : std::uint8_t {
  kNone,
  kBadSignature,          // EDE 6: no signature verifies
  kSignatureExpired,      // EDE 7
  kSignatureNotYetValid,  // EDE 8
  kDnskeyMissing,         // EDE 9: no DNSKEY matches the DS, or the DNSKEY set is absent
  kRrsigsMissing,         // EDE 10: an RRset of a secure zone came unsigned
  kNsecMissing,           // EDE 12: a denial came without a proof
  kCount,
};
const char* to_string(BogusReason r) noexcept;
// The RFC 8914 info code for a bogus answer with this reason.
std::uint16_t ede_code(BogusReason r) noexcept;

struct Verdict {
  Security security = Security::kIndeterminate;
  BogusReason reason = BogusReason::kNone;
  // An informational EDE for an insecure answer (1 Unsupported DNSKEY Algorithm, 2 Unsupported
  // DS Digest Type, 27 Unsupported NSEC3 Iterations Value); -1 for none.
  int info_ede = -1;
  // RFC 4035 section 5.3.3, for a secure or insecure answer: the longest its data may be
  // cached, and its TTLs may read, in seconds (the least of the verified RRSIGs' Original TTLs
  // and times left to expiration); kNoTtlCap when no signature was verified.
  static constexpr std::uint32_t kNoTtlCap = 0xffffffff;
  std::uint32_t ttl_cap = kNoTtlCap;

  static Verdict secure() { return {Security::kSecure, BogusReason::kNone, -1}; }
  static Verdict insecure(int info = -1) { return {Security::kInsecure, BogusReason::kNone, info}; }
  static Verdict bogus(BogusReason r) { return {Security::kBogus, r, -1}; }
  static Verdict indeterminate() { return {Security::kIndeterminate, BogusReason::kNone, -1}; }
  // The EDE the client gets: the bogus reason's, else the informational one (-1: none).
  [[nodiscard]] int ede() const noexcept;
};

}  // namespace vnetdns::dnssec
