#include "resolver/dnssec/key_set.hpp"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

namespace vnetdns::dnssec {

namespace {

// The hash each DNSKEY algorithm signs with (RFC 3110, 5702, 6605, 8080); nullptr for EdDSA,
// which hashes internally, and for algorithms not verified.
const EVP_MD* digest_of(std::uint8_t algorithm) {
  switch (algorithm) {
    case LDNS_RSASHA1:
    case LDNS_RSASHA1_NSEC3: return EVP_sha1();
    case LDNS_RSASHA256:
    case LDNS_ECDSAP256SHA256: return EVP_sha256();
    case LDNS_RSASHA512: return EVP_sha512();
    case LDNS_ECDSAP384SHA384: return EVP_sha384();
    default: return nullptr;
  }
}

EVP_PKEY* rsa_key(const unsigned char* data, std::size_t len) {
  RSA* rsa = ldns_key_buf2rsa_raw(data, len);
  if (rsa == nullptr) return nullptr;
  EVP_PKEY* pkey = EVP_PKEY_new();
  // ldns hands out a legacy RSA object, and wrapping it takes OpenSSL 3's deprecated legacy
  // API (the key is exported to the provider once, on first use, and kept with the EVP_PKEY).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  const bool ok = pkey != nullptr && EVP_PKEY_assign_RSA(pkey, rsa) == 1;
  if (!ok) RSA_free(rsa);
#pragma GCC diagnostic pop
  if (ok) return pkey;
  EVP_PKEY_free(pkey);
  return nullptr;
}

EVP_PKEY* decode(std::uint8_t algorithm, const ldns_rdf* data) {
  if (data == nullptr || ldns_rdf_size(data) == 0) return nullptr;
  // Errors of a key that does not decode stay off this thread's OpenSSL error queue.
  struct ClearErrors {
    ~ClearErrors() { ERR_clear_error(); }
  } clear;
  const unsigned char* p = ldns_rdf_data(data);
  const std::size_t n = ldns_rdf_size(data);
  switch (algorithm) {
    case LDNS_RSASHA1:
    case LDNS_RSASHA1_NSEC3:
    case LDNS_RSASHA256:
    case LDNS_RSASHA512: return rsa_key(p, n);
    case LDNS_ECDSAP256SHA256:
    case LDNS_ECDSAP384SHA384: return ldns_ecdsa2pkey_raw(p, n, algorithm);
    case LDNS_ED25519: return ldns_ed255192pkey_raw(p, n);
    case LDNS_ED448: return ldns_ed4482pkey_raw(p, n);
    default: return nullptr;
  }
}

// RFC 4034 sections 2.1.1 and 2.1.2: only a key with the Zone Key flag (bit 7) and protocol 3
// verifies RRSIGs (RFC 4035 section 5.3.1); any other DNSKEY is some other kind of key.
bool zone_key(const ldns_rr* rr) {
  const ldns_rdf* flags = ldns_rr_dnskey_flags(rr);
  const ldns_rdf* protocol = ldns_rr_dnskey_protocol(rr);
  return flags != nullptr && ldns_rdf_size(flags) == 2 && protocol != nullptr &&
         ldns_rdf_size(protocol) == 1 && (ldns_rdf2native_int16(flags) & 0x0100) != 0 &&
         ldns_rdf2native_int8(protocol) == 3;
}

constexpr std::uint16_t kRevokeFlag = 0x0080;

// A verification context for `key`, ready for EVP_PKEY_verify over a digest (RSA: PKCS #1
// v1.5 padding with the algorithm's DigestInfo, RFC 3110 section 3; ECDSA: RFC 6605).
EVP_PKEY_CTX* verify_context(const KeySet::Key& key) {
  if (key.pkey == nullptr || key.digest == nullptr) return nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new(key.pkey, nullptr);
  if (ctx == nullptr) {
    ERR_clear_error();
    return nullptr;
  }
  const bool rsa = EVP_PKEY_get_base_id(key.pkey) == EVP_PKEY_RSA;
  if (EVP_PKEY_verify_init(ctx) == 1 &&
      (!rsa || EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1) &&
      EVP_PKEY_CTX_set_signature_md(ctx, key.digest) == 1) {
    return ctx;
  }
  EVP_PKEY_CTX_free(ctx);
  ERR_clear_error();
  return nullptr;
}

}  // namespace

KeySet::KeySet(const ldns_rr_list* dnskeys)
    : list_(dnskeys != nullptr ? ldns_rr_list_clone(dnskeys) : ldns_rr_list_new()),
      owner_(std::this_thread::get_id()) {
  const std::size_t n = ldns_rr_list_rr_count(list_.get());
  keys_.reserve(n);
  std::size_t eager = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(list_.get(), i);
    Key k;
    k.rr = rr;
    const ldns_rdf* alg = ldns_rr_dnskey_algorithm(rr);
    if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_DNSKEY && alg != nullptr && ldns_rdf_size(alg) == 1) {
      k.algorithm = ldns_rdf2native_int8(alg);
      k.tag = ldns_calc_keytag(rr);
      k.digest = digest_of(k.algorithm);
      k.usable = zone_key(rr) && verifiable_algorithm(k.algorithm);
      k.revoked = k.usable && (ldns_rdf2native_int16(ldns_rr_dnskey_flags(rr)) & kRevokeFlag) != 0;
      if (k.usable && eager < kEagerKeys) {
        ++eager;
        k.pkey = decode_key(k);
        k.verify_ctx = verify_context(k);
      }
    }
    keys_.push_back(k);
  }
}

bool verifiable_algorithm(std::uint8_t a) noexcept {
  return digest_of(a) != nullptr || a == LDNS_ED25519 || a == LDNS_ED448;
}

EVP_PKEY* KeySet::decode_key(const Key& key) {
  if (!key.usable || key.rr == nullptr) return nullptr;
  return decode(key.algorithm, ldns_rr_dnskey_key(key.rr));
}

KeySet::~KeySet() {
  for (const Key& k : keys_) {
    EVP_PKEY_CTX_free(k.verify_ctx);
    EVP_PKEY_free(k.pkey);
  }
}

}  // namespace vnetdns::dnssec
