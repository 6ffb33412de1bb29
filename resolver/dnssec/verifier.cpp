#include "resolver/dnssec/verifier.hpp"

#include <algorithm>

namespace vnetdns::dnssec {

namespace {

// Higher is more telling: reported when no signature verifies.
int rank(BogusReason r) {
  switch (r) {
    case BogusReason::kSignatureExpired:
    case BogusReason::kSignatureNotYetValid: return 3;
    case BogusReason::kBadSignature: return 2;
    case BogusReason::kDnskeyMissing: return 1;
    default: return 0;
  }
}

BogusReason reason_of(ldns_status st) {
  switch (st) {
    case LDNS_STATUS_CRYPTO_SIG_EXPIRED: return BogusReason::kSignatureExpired;
    case LDNS_STATUS_CRYPTO_SIG_NOT_INCEPTED: return BogusReason::kSignatureNotYetValid;
    case LDNS_STATUS_CRYPTO_NO_MATCHING_KEYTAG_DNSKEY:
    case LDNS_STATUS_CRYPTO_NO_DNSKEY: return BogusReason::kDnskeyMissing;
    default: return BogusReason::kBadSignature;
  }
}

// The keys of `keys` that may have made `sig` (its algorithm and key tag, RFC 4035 section
// 5.3.1), at most kMaxKeysPerSig of them.
LdnsRrList keys_for(const ldns_rr* sig, const ldns_rr_list* keys) {
  LdnsRrList out = new_list();
  const ldns_rdf* alg = ldns_rr_rrsig_algorithm(sig);
  const ldns_rdf* tag = ldns_rr_rrsig_keytag(sig);
  if (alg == nullptr || tag == nullptr || ldns_rdf_size(alg) != 1 || ldns_rdf_size(tag) != 2) {
    return out;
  }
  for (std::size_t k = 0; k < ldns_rr_list_rr_count(keys); ++k) {
    ldns_rr* key = ldns_rr_list_rr(keys, k);
    const ldns_rdf* key_alg = ldns_rr_dnskey_algorithm(key);
    if (key_alg == nullptr || ldns_rdf_size(key_alg) != 1 ||
        ldns_rdf2native_int8(key_alg) != ldns_rdf2native_int8(alg) ||
        ldns_calc_keytag(key) != ldns_rdf2native_int16(tag)) {
      continue;
    }
    ldns_rr_list_push_rr(out.get(), key);
    if (ldns_rr_list_rr_count(out.get()) == kMaxKeysPerSig) break;
  }
  return out;
}

}  // namespace

bool rrsig_signer(const ldns_rr* rrsig, wire::Name& out) noexcept {
  return name_of(ldns_rr_rrsig_signame(rrsig), out);
}

bool supported_algorithm(std::uint8_t a) noexcept {
  switch (a) {
    case LDNS_RSASHA1:
    case LDNS_RSASHA1_NSEC3:
    case LDNS_RSASHA256:
    case LDNS_RSASHA512:
    case LDNS_ECDSAP256SHA256:
    case LDNS_ECDSAP384SHA384:
    case LDNS_ED25519:
    case LDNS_ED448: return true;
    default: return false;
  }
}

bool supported_digest(std::uint8_t d) noexcept {
  return d == LDNS_SHA1 || d == LDNS_SHA256 || d == LDNS_SHA384;
}

SigCheck verify_rrset(const RrSet& set, const wire::Name& zone, const ldns_rr_list* keys,
                      std::uint32_t now, const VerifyOptions& options) {
  CryptoBudget* budget = options.budget;
  SigCheck best{false, BogusReason::kRrsigsMissing, 0};
  if (!set.signed_()) return best;
  best.reason = BogusReason::kNone;
  auto note = [&best](BogusReason why) {
    if (best.reason == BogusReason::kNone || rank(why) > rank(best.reason)) best.reason = why;
  };
  const std::size_t owner_labels = set.owner.label_count();
  const std::size_t sigs = std::min(ldns_rr_list_rr_count(set.sigs.get()), kMaxSigsPerRrset);
  wire::Name signer;
  for (std::size_t i = 0; i < sigs; ++i) {
    const ldns_rr* sig = ldns_rr_list_rr(set.sigs.get(), i);
    const ldns_rdf* labels_rdf = ldns_rr_rrsig_labels(sig);
    // RFC 4035 section 5.3.1: the signer is the zone of the keys and encloses the owner; the
    // labels field is at most the owner's label count (a wildcard "*" label not counted).
    if (labels_rdf == nullptr || ldns_rdf_size(labels_rdf) != 1 || !rrsig_signer(sig, signer) ||
        signer != zone || !set.owner.is_subdomain_of(zone) ||
        ldns_rdf2native_int8(labels_rdf) > owner_labels) {
      note(BogusReason::kBadSignature);
      continue;
    }
    SignatureCache::Fingerprint fp;
    if (options.cache != nullptr) {
      fp = options.cache->fingerprint(set, sig, options.keys_id);
      std::uint8_t labels = 0;
      if (options.cache->known(fp, now, labels)) return SigCheck{true, BogusReason::kNone, labels};
    }
    const LdnsRrList candidates = keys_for(sig, keys);
    const std::size_t n = ldns_rr_list_rr_count(candidates.get());
    if (n == 0) {
      note(BogusReason::kDnskeyMissing);
      continue;
    }
    if (budget != nullptr) {
      if (budget->left < n) {
        note(BogusReason::kBadSignature);  // out of budget: the work is refused
        break;
      }
      budget->left -= n;
    }
    const ldns_status st = ldns_verify_rrsig_keylist_time(set.rrs.get(), sig, candidates.get(),
                                                          static_cast<time_t>(now), nullptr);
    if (st == LDNS_STATUS_OK && options.cache != nullptr) {
      options.cache->remember(fp, sig, ldns_rdf2native_int8(labels_rdf));
    }
    if (st == LDNS_STATUS_OK)
      return SigCheck{true, BogusReason::kNone, ldns_rdf2native_int8(labels_rdf)};
    note(reason_of(st));
  }
  return best;
}

}  // namespace vnetdns::dnssec
