// verify_rrset(): checks an RRset's signatures against a zone's validated DNSKEY set (RFC 4035
// section 5.3): the RRSIG's fields, the signed data in canonical form (signed_data.hpp), the
// signature with the key set's decoded keys (key_set.hpp, OpenSSL through the EVP interface),
// then the validity window (RFC 4034 section 3.1.5, serial number arithmetic). One good signature
// suffices; when none is good the most telling failure is returned (expired or not yet valid over a
// bad signature over no matching key), so the EDE a client sees says why. Wildcard expansion (RRSIG
// labels < owner labels) is reported so the caller can demand the proof that the name itself does
// not exist (RFC 4035 section 5.3.4), and so is how long the RRset may live (section 5.3.3:
// the RRSIG's Original TTL and the time left to its expiration). Algorithms: those a KeySet decodes
// (RSA/SHA-1, RSA/SHA-256, RSA/SHA-512, ECDSA P-256/P-384, Ed25519, Ed448); verifiable_algorithm()
// (key_set.hpp) names them. Thread safety: pure functions; the key set is read only, scratch
// buffers are per thread.
#pragma once

#include <cstddef>
#include <cstdint>

#include "resolver/dnssec/key_set.hpp"
#include "resolver/dnssec/signature_cache.hpp"
#include "resolver/dnssec/signed_message.hpp"
#include "resolver/dnssec/verdict.hpp"

namespace vnetdns::dnssec {

struct SigCheck {
  bool ok = false;
  BogusReason reason = BogusReason::kNone;  // when !ok
  // When ok: the RRSIG labels field (RFC 4034 section 3.1.3) of the good signature; less
  // than the owner's label count means the RRset was synthesised from a wildcard.
  std::uint8_t labels = 0;
  // When ok (RFC 4035 section 5.3.3): the longest the RRset may be cached and its TTLs may
  // read, in seconds: the good RRSIG's Original TTL, and the time left to its expiration.
  std::uint32_t ttl_cap = 0;
};

// Bounds on the work a hostile answer can ask for (KeyTrap, CVE-2023-50387: many keys with
// one key tag times many signatures): at most kMaxSigsPerRrset signatures of an RRset are
// tried, each against at most kMaxKeysPerSig keys (those whose algorithm and key tag match),
// and a CryptoBudget caps the verifications of one answer or one chain step.
inline constexpr std::size_t kMaxSigsPerRrset = 8;
inline constexpr std::size_t kMaxKeysPerSig = 4;
struct CryptoBudget {
  std::size_t left = 64;  // signature verifications allowed
};

struct VerifyOptions {
  // Each verification is taken from it; an empty budget fails the RRset as a bad signature.
  CryptoBudget* budget = nullptr;
  // Signatures that verified before with the key set `keys_id` are not checked again.
  SignatureCache* cache = nullptr;
  std::uint64_t keys_id = 0;
};

// `zone` and `keys`: the signer zone and its validated DNSKEY RRset. `now`: Unix time.
SigCheck verify_rrset(const RrSet& set, const wire::Name& zone, const KeySet* keys,
                      std::uint32_t now, const VerifyOptions& options = {});
// The same with keys not yet decoded (a DNSKEY RRset checked against a DS or anchor).
SigCheck verify_rrset(const RrSet& set, const wire::Name& zone, const ldns_rr_list* keys,
                      std::uint32_t now, const VerifyOptions& options = {});

// True for DS digest types the validator can compute (SHA-1, SHA-256, SHA-384).
bool supported_digest(std::uint8_t digest_type) noexcept;

// The signer name of an RRSIG (false when unreadable).
bool rrsig_signer(const ldns_rr* rrsig, wire::Name& out) noexcept;

}  // namespace vnetdns::dnssec
