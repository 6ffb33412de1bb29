// Denial: the proofs of non-existence, from NSEC (RFC 4035 section 5.4, RFC 4592 for
// wildcards) and NSEC3 (RFC 5155 sections 8.3-8.8, opt-out in 6 and 9.2) records that the
// caller has already verified (signed by the zone that holds the name). Every answer a
// validator gives about absence comes from here: NXDOMAIN, NODATA (plain, empty non-terminal
// and wildcard), "the name itself does not exist" behind a wildcard-synthesised answer, and,
// for the chain of trust, what a DS denial says about a possible zone cut.
// NSEC3 records with more than kMaxNsec3Iterations iterations are not used: RFC 9276 section
// 3.2 lets a validator treat such answers as insecure (Unbound's and BIND's limit is 150).
// Thread safety: a Denial borrows the records it was built from; pure functions otherwise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "resolver/dnssec/signed_message.hpp"
#include "resolver/wire/name.hpp"

namespace vnetdns::dnssec {

inline constexpr std::uint16_t kMaxNsec3Iterations = 150;

enum class Proof : std::uint8_t {
  kProven,
  kMissing,      // no proof: bogus (EDE 12)
  kOptOut,       // only an opt-out span covers it: insecure (RFC 5155 section 9.2)
  kUnsupported,  // NSEC3 with an unknown hash or too many iterations: insecure
};

// What a DS denial says about `name` as a possible zone cut.
enum class CutProof : std::uint8_t {
  kDelegation,  // a delegation without DS: insecure below
  kNotCut,      // the name exists (or is an empty non-terminal) and is no delegation
  kNoName,      // the name does not exist: no cut here or below
  kOptOut,      // in an opt-out span: an unsigned delegation may be there: insecure
  kMissing,     // no proof
  kUnsupported,
};

class Denial {
 public:
  // Adds a verified NSEC or NSEC3 RRset of the one zone this Denial speaks for (others are
  // ignored). NSEC3 records whose parameters differ from the first usable one, or that use
  // an unknown hash or too many iterations, are not used (the latter noted: kUnsupported).
  void add(const RrSet& set);
  [[nodiscard]] bool empty() const noexcept { return nsec_.empty() && nsec3_.empty(); }
  // Most NSEC3 hashes one Denial computes (CVE-2023-50868: a name of many labels under a
  // zone with many iterations); past it, proofs that need more hashes fail.
  static constexpr std::size_t kMaxHashes = 64;

  // NXDOMAIN for `qname`: it does not exist and no wildcard could have answered it.
  [[nodiscard]] Proof nxdomain(const wire::Name& qname) const;
  // NODATA for `qname`/`qtype`: the name exists without that type (or an empty
  // non-terminal), or a wildcard that would answer has no such type.
  [[nodiscard]] Proof nodata(const wire::Name& qname, std::uint16_t qtype) const;
  // An answer synthesised from a wildcard whose RRSIG has `labels` labels: `owner` itself
  // must not exist (RFC 4035 section 5.3.4; RFC 5155 section 8.8: the next closer name).
  [[nodiscard]] Proof wildcard_answer(const wire::Name& owner, std::uint8_t labels) const;
  // A NODATA/NXDOMAIN answer to a DS query for `name`.
  [[nodiscard]] CutProof ds_absent(const wire::Name& name) const;

 private:
  struct Nsec {
    wire::Name owner;
    wire::Name next;
    const ldns_rr* rr;
  };
  struct Nsec3 {
    std::string hash;  // owner's first label, base32hex-decoded
    std::string next;  // next hashed owner
    wire::Name zone;   // owner minus its first label
    const ldns_rr* rr;
  };
  [[nodiscard]] const Nsec* nsec_match(const wire::Name& n) const;
  [[nodiscard]] const Nsec* nsec_cover(const wire::Name& n) const;
  [[nodiscard]] bool nsec_has(const Nsec& n, std::uint16_t type) const;
  // NSEC3: the hash of `n` under the parameters of the records (empty when unusable).
  [[nodiscard]] std::string hash3(const wire::Name& n) const;
  [[nodiscard]] const Nsec3* nsec3_match(const wire::Name& n) const;
  [[nodiscard]] const Nsec3* nsec3_cover(const wire::Name& n) const;
  [[nodiscard]] bool nsec3_has(const Nsec3& n, std::uint16_t type) const;
  // RFC 5155 section 8.3: the closest provable encloser of `n` (a matching NSEC3) and the
  // NSEC3 covering the next closer name; false when there is no such proof.
  bool closest_encloser(const wire::Name& n, wire::Name& ce, const Nsec3*& next_closer) const;
  [[nodiscard]] Proof nsec_nxdomain(const wire::Name& qname) const;
  [[nodiscard]] Proof nsec3_nxdomain(const wire::Name& qname) const;
  // kMissing, or kUnsupported when only unusable NSEC3 records were offered.
  [[nodiscard]] Proof no_nsec3_proof() const {
    return nsec3_unsupported_ ? Proof::kUnsupported : Proof::kMissing;
  }

  std::vector<Nsec> nsec_;
  std::vector<Nsec3> nsec3_;
  bool nsec3_unsupported_ = false;
  // The NSEC3 parameters of nsec3_ (from its first record).
  std::uint8_t hash_algorithm_ = 0;
  std::uint16_t iterations_ = 0;
  std::string salt_;
  mutable std::vector<std::pair<wire::Name, std::string>> hashes_;  // memo of hash3()
};

// Decodes base32hex (RFC 4648 section 7, either case); false on a bad character.
bool base32hex_decode(const std::uint8_t* text, std::size_t len, std::string& out);

}  // namespace vnetdns::dnssec
