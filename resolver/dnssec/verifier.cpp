#include "resolver/dnssec/verifier.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <memory>
#include <vector>

#include "resolver/dnssec/signed_data.hpp"

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

// RFC 4034 section 3.1.5: inception <= now <= expiration in serial number arithmetic (RFC
// 1982), so the window works across 2106.
BogusReason check_window(const ldns_rr* sig, std::uint32_t now) {
  const ldns_rdf* inc = ldns_rr_rrsig_inception(sig);
  const ldns_rdf* exp = ldns_rr_rrsig_expiration(sig);
  if (inc == nullptr || exp == nullptr || ldns_rdf_size(inc) != 4 || ldns_rdf_size(exp) != 4) {
    return BogusReason::kBadSignature;
  }
  const std::uint32_t inception = ldns_rdf2native_int32(inc);
  const std::uint32_t expiration = ldns_rdf2native_int32(exp);
  auto before = [](std::uint32_t a, std::uint32_t b) {  // a < b in serial arithmetic
    return static_cast<std::int32_t>(a - b) < 0;
  };
  if (before(expiration, inception)) return BogusReason::kBadSignature;
  if (before(now, inception)) return BogusReason::kSignatureNotYetValid;
  if (before(expiration, now)) return BogusReason::kSignatureExpired;
  return BogusReason::kNone;
}

// The keys of `keys` that may have made `sig` (its algorithm and key tag, RFC 4035 section
// 5.3.1) and can verify it, at most kMaxKeysPerSig of them; returns how many.
std::size_t keys_for(const ldns_rr* sig, const KeySet& keys, std::uint16_t type,
                     std::array<const KeySet::Key*, kMaxKeysPerSig>& out) {
  const ldns_rdf* alg = ldns_rr_rrsig_algorithm(sig);
  const ldns_rdf* tag = ldns_rr_rrsig_keytag(sig);
  if (alg == nullptr || tag == nullptr || ldns_rdf_size(alg) != 1 || ldns_rdf_size(tag) != 2) {
    return 0;
  }
  const std::uint8_t a = ldns_rdf2native_int8(alg);
  const std::uint16_t t = ldns_rdf2native_int16(tag);
  std::size_t n = 0;
  for (const KeySet::Key& k : keys.keys()) {
    // A revoked key signs only its DNSKEY RRset (RFC 5011 section 2.1).
    if (!k.usable || k.algorithm != a || k.tag != t || (k.revoked && type != wire::type::kDNSKEY)) {
      continue;
    }
    out[n++] = &k;
    if (n == kMaxKeysPerSig) break;
  }
  return n;
}

struct MdCtxFree {
  void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};

// This thread's buffer for DER signatures, emptied (nullptr when memory is out).
ldns_buffer* scratch_buffer() {
  thread_local LdnsBuffer buffer;
  return reuse(buffer, 128);
}

// One signature check with a decoded key. ECDSA signatures are r|s in the DNS (RFC 6605
// section 4) and DER for OpenSSL; RSA and EdDSA signatures go as they are. On the thread that
// owns the key set, RSA and ECDSA use the key's ready context (one digest, one verification:
// no per-check context setup, which costs OpenSSL 3 several lookups).
bool crypto_ok(const KeySet& keys, const KeySet::Key& key, const ldns_rdf* signature,
               const std::vector<std::uint8_t>& data) {
  if (signature == nullptr) return false;
  const unsigned char* sig = ldns_rdf_data(signature);
  std::size_t sig_len = ldns_rdf_size(signature);
  if (key.algorithm == LDNS_ECDSAP256SHA256 || key.algorithm == LDNS_ECDSAP384SHA384) {
    // RFC 6605 section 4: r and s, 32 octets each for P-256, 48 for P-384.
    if (sig_len != (key.algorithm == LDNS_ECDSAP256SHA256 ? 64U : 96U)) return false;
    ldns_buffer* der = scratch_buffer();
    if (der == nullptr || ldns_convert_ecdsa_rrsig_rdf2asn1(der, signature) != LDNS_STATUS_OK) {
      return false;
    }
    sig = ldns_buffer_begin(der);
    sig_len = ldns_buffer_position(der);
  }
  // A key past the set's eagerly decoded ones is decoded for this check only.
  std::unique_ptr<EVP_PKEY, PkeyFree> own;
  EVP_PKEY* pkey = key.pkey;
  if (pkey == nullptr) {
    own.reset(KeySet::decode_key(key));
    pkey = own.get();
    if (pkey == nullptr) return false;
  }
  bool ok = false;
  if (key.verify_ctx != nullptr && keys.owned_here()) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int digest_len = 0;
    ok = EVP_Digest(data.data(), data.size(), digest.data(), &digest_len, key.digest, nullptr) ==
             1 &&
         EVP_PKEY_verify(key.verify_ctx, sig, sig_len, digest.data(), digest_len) == 1;
  } else {
    thread_local const std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
    if (ctx == nullptr) return false;
    EVP_MD_CTX_reset(ctx.get());
    ok = EVP_DigestVerifyInit(ctx.get(), nullptr, key.digest, nullptr, pkey) == 1 &&
         EVP_DigestVerify(ctx.get(), sig, sig_len, data.data(), data.size()) == 1;
  }
  if (!ok) ERR_clear_error();  // a bad signature leaves OpenSSL errors on this thread's queue
  return ok;
}

// RFC 4035 section 5.3.3: how long data that `sig` authenticates may be kept and handed on at
// `now` (a time inside the signature's window): at most the RRSIG's Original TTL and the time
// left before its Signature Expiration.
std::uint32_t ttl_cap(const ldns_rr* sig, std::uint32_t now) {
  const ldns_rdf* orig = ldns_rr_rrsig_origttl(sig);
  const ldns_rdf* exp = ldns_rr_rrsig_expiration(sig);
  std::uint32_t cap = orig != nullptr && ldns_rdf_size(orig) == 4 ? ldns_rdf2native_int32(orig) : 0;
  if (exp != nullptr && ldns_rdf_size(exp) == 4) {
    cap = std::min(cap, ldns_rdf2native_int32(exp) - now);  // serial arithmetic: not negative
  }
  return cap;
}

}  // namespace

bool rrsig_signer(const ldns_rr* rrsig, wire::Name& out) noexcept {
  return name_of(ldns_rr_rrsig_signame(rrsig), out);
}

bool supported_digest(std::uint8_t d) noexcept {
  return d == LDNS_SHA1 || d == LDNS_SHA256 || d == LDNS_SHA384;
}

SigCheck verify_rrset(const RrSet& set, const wire::Name& zone, const ldns_rr_list* keys,
                      std::uint32_t now, const VerifyOptions& options) {
  const KeySet decoded(keys);
  return verify_rrset(set, zone, &decoded, now, options);
}

SigCheck verify_rrset(const RrSet& set, const wire::Name& zone, const KeySet* keys,
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
  thread_local std::vector<std::uint8_t> data;
  for (std::size_t i = 0; i < sigs; ++i) {
    const ldns_rr* sig = ldns_rr_list_rr(set.sigs.get(), i);
    const ldns_rdf* labels_rdf = ldns_rr_rrsig_labels(sig);
    const ldns_rdf* covered = ldns_rr_rrsig_typecovered(sig);
    // RFC 4035 section 5.3.1: the RRSIG covers this type; the signer is the zone of the
    // keys and encloses the owner; the labels field is at most the owner's label count (a
    // wildcard "*" label not counted).
    if (labels_rdf == nullptr || ldns_rdf_size(labels_rdf) != 1 || covered == nullptr ||
        ldns_rdf_size(covered) != 2 || ldns_rdf2native_int16(covered) != set.type ||
        !rrsig_signer(sig, signer) || signer != zone || !set.owner.is_subdomain_of(zone) ||
        ldns_rdf2native_int8(labels_rdf) > owner_labels) {
      note(BogusReason::kBadSignature);
      continue;
    }
    SignatureCache::Fingerprint fp;
    if (options.cache != nullptr) {
      fp = options.cache->fingerprint(set, sig, options.keys_id);
      std::uint8_t labels = 0;
      if (options.cache->known(fp, now, labels)) {
        return SigCheck{true, BogusReason::kNone, labels, ttl_cap(sig, now)};
      }
    }
    std::array<const KeySet::Key*, kMaxKeysPerSig> candidates{};
    const std::size_t n = keys != nullptr ? keys_for(sig, *keys, set.type, candidates) : 0;
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
    if (!signed_data(set, sig, data)) {
      note(BogusReason::kBadSignature);
      continue;
    }
    const ldns_rdf* signature = ldns_rr_rrsig_sig(sig);
    bool good = false;
    for (std::size_t k = 0; k < n && !good; ++k)
      good = crypto_ok(*keys, *candidates[k], signature, data);
    if (!good) {
      note(BogusReason::kBadSignature);
      continue;
    }
    // The window is checked after the signature, as ldns does: a forged signature is
    // reported as bad, not as expired.
    const BogusReason window = check_window(sig, now);
    if (window != BogusReason::kNone) {
      note(window);
      continue;
    }
    const std::uint8_t labels = ldns_rdf2native_int8(labels_rdf);
    if (options.cache != nullptr) options.cache->remember(fp, sig, labels);
    return SigCheck{true, BogusReason::kNone, labels, ttl_cap(sig, now)};
  }
  return best;
}

}  // namespace vnetdns::dnssec
