// KeySet: a zone's validated DNSKEY RRset with each key decoded once into an OpenSSL public
// key, so that a signature check costs the verification alone. Decoding a DNSKEY (building
// the EVP_PKEY, checking the curve point, OpenSSL 3's export of the key to its provider) was
// about a third of each check when ldns did it per call (docs/performance.md, DNSSEC).
// Keys are decoded by ldns's own helpers (ldns_ecdsa2pkey_raw, ldns_key_buf2rsa_raw,
// ldns_ed255192pkey_raw, ldns_ed4482pkey_raw), so what decodes is what ldns accepts.
// Invariant: keys()[i].rr is the i-th record of list(); a key whose algorithm the validator
// cannot verify, whose data does not decode, or that is not a zone key (Zone Key flag and
// protocol 3, RFC 4034 section 2.1) has pkey == nullptr and verifies nothing.
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
  struct Key {
    const ldns_rr* rr = nullptr;     // the DNSKEY record (owned by the set's list)
    std::uint16_t tag = 0;           // RFC 4034 appendix B key tag
    std::uint8_t algorithm = 0;      // DNSKEY algorithm field
    EVP_PKEY* pkey = nullptr;        // decoded public key; nullptr: unusable
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
  // True on the thread that built the set: the one allowed to use Key::verify_ctx.
  [[nodiscard]] bool owned_here() const noexcept { return owner_ == std::this_thread::get_id(); }

 private:
  LdnsRrListDeep list_;
  std::vector<Key> keys_;
  std::thread::id owner_;
};

}  // namespace vnetdns::dnssec
