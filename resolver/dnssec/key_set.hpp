// KeySet: a zone's validated DNSKEY RRset with each key decoded once into an OpenSSL public
// key, so that a signature check costs the verification alone. Decoding a DNSKEY (building
// the EVP_PKEY, checking the curve point, OpenSSL 3's export of the key to its provider) was
// about a third of each check when ldns did it per call (docs/performance.md, DNSSEC).
// Keys are decoded by ldns's own helpers (ldns_ecdsa2pkey_raw, ldns_key_buf2rsa_raw,
// ldns_ed255192pkey_raw, ldns_ed4482pkey_raw), so what decodes is what ldns accepts.
// Invariant: keys()[i].rr is the i-th record of list(). A key is `usable` when it is a zone
// key (Zone Key flag and protocol 3, RFC 4034 section 2.1) of an algorithm the validator
// verifies; an unusable key verifies nothing and is never a candidate. The first kEagerKeys
// usable keys are decoded here (pkey); a usable key whose data does not decode has pkey ==
// nullptr, and so do usable keys past kEagerKeys: those are decoded per check
// (decode_key()), so a hostile zone publishing hundreds of keys costs its decoding only
// within the verifier's crypto budget.
// Thread safety: shared read-only between threads (OpenSSL 3 allows concurrent verifications
// with one EVP_PKEY, each with its own context). The one exception is `verify_ctx`, a context
// set up once for the key, which OpenSSL mutates while verifying: only the thread that built
// the set may use it (owned_here()); any other thread makes a context per check. In the
// server a key set lives in one worker's KeyCache, so its own thread is the one that checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "resolver/dnssec/ldns_ptr.hpp"

namespace vnetdns::dnssec {

class KeySet {
 public:
  static constexpr std::size_t kEagerKeys = 8;  // real zones publish 1-4 (6 while rolling)

  struct Key {
    const ldns_rr* rr = nullptr;     // the DNSKEY record (owned by the set's list)
    std::uint16_t tag = 0;           // RFC 4034 appendix B key tag
    std::uint8_t algorithm = 0;      // DNSKEY algorithm field
    EVP_PKEY* pkey = nullptr;        // decoded public key; nullptr: unusable
    bool usable = false;             // a zone key of a verified algorithm
    bool revoked = false;            // REVOKE flag (RFC 5011 section 3): DNSKEY RRset only
    const EVP_MD* digest = nullptr;  // the algorithm's hash; nullptr for EdDSA
    // RSA and ECDSA: EVP_PKEY_verify ready for a digest made with `digest` (padding and
    // hash set); nullptr for EdDSA, which signs the message itself.
    EVP_PKEY_CTX* verify_ctx = nullptr;
  };

  // Deep-copies `dnskeys` and decodes every key.
  explicit KeySet(const ldns_rr_list* dnskeys);
  ~KeySet();
  KeySet(const KeySet&) = delete;
  KeySet& operator=(const KeySet&) = delete;

  [[nodiscard]] const ldns_rr_list* list() const noexcept { return list_.get(); }
  [[nodiscard]] const std::vector<Key>& keys() const noexcept { return keys_; }
  [[nodiscard]] std::size_t size() const noexcept { return keys_.size(); }
  // A fresh EVP_PKEY for `key` (the caller frees it), nullptr when it does not decode.
  [[nodiscard]] static EVP_PKEY* decode_key(const Key& key);
  // True on the thread that built the set: the one allowed to use Key::verify_ctx.
  [[nodiscard]] bool owned_here() const noexcept { return owner_ == std::this_thread::get_id(); }

 private:
  LdnsRrListDeep list_;
  std::vector<Key> keys_;
  std::thread::id owner_;
};

// True for the DNSKEY algorithms a KeySet decodes and verifies: RSA/SHA-1 (5, 7), RSA/SHA-256,
// RSA/SHA-512, ECDSA P-256/P-384, Ed25519, Ed448 (RFC 8624 section 3.1, as far as ldns
// decodes them).
bool verifiable_algorithm(std::uint8_t algorithm) noexcept;

}  // namespace vnetdns::dnssec
