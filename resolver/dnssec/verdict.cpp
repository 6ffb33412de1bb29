#include "resolver/dnssec/verdict.hpp"

#include "resolver/wire/types.hpp"

namespace vnetdns::dnssec {

const char* to_string(Security s) noexcept {
  switch (s) {
    case Security::kSecure: return "secure";
    case Security::kInsecure: return "insecure";
    case Security::kBogus: return "bogus";
    case Security::kIndeterminate: return "indeterminate";
    case Security::kCount: break;
  }
  return "unknown";
}

const char* to_string(BogusReason r) noexcept {
  switch (r) {
    case BogusReason::kNone: return "none";
    case BogusReason::kBadSignature: return "bad_signature";
    case BogusReason::kSignatureExpired: return "signature_expired";
    case BogusReason::kSignatureNotYetValid: return "signature_not_yet_valid";
    case BogusReason::kDnskeyMissing: return "dnskey_missing";
    case BogusReason::kRrsigsMissing: return "rrsigs_missing";
    case BogusReason::kNsecMissing: return "nsec_missing";
    case BogusReason::kCount: break;
  }
  return "unknown";
}

std::uint16_t ede_code(BogusReason r) noexcept {
  switch (r) {
    case BogusReason::kSignatureExpired: return wire::ede::kSignatureExpired;
    case BogusReason::kSignatureNotYetValid: return wire::ede::kSignatureNotYetValid;
    case BogusReason::kDnskeyMissing: return wire::ede::kDnskeyMissing;
    case BogusReason::kRrsigsMissing: return wire::ede::kRrsigsMissing;
    case BogusReason::kNsecMissing: return wire::ede::kNsecMissing;
    case BogusReason::kNone:
    case BogusReason::kBadSignature:
    case BogusReason::kCount: break;
  }
  return wire::ede::kDnssecBogus;
}

int Verdict::ede() const noexcept {
  if (security == Security::kBogus) return ede_code(reason);
  return info_ede;
}

}  // namespace vnetdns::dnssec
