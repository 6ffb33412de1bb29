// SignatureCache: remembers signatures that verified, so the same signature over the same
// data with the same keys is not checked twice: a refresh or prefetch of an RRset the zone
// has not re-signed, the DO=0 and DO=1 questions for one name (two cache keys, two upstream
// answers, one RRset), the NSEC that proves many wildcard answers, the wildcard RRset
// itself (signed once over "*.<zone>", RFC 4035 section 5.3.2). Unbound's RRset cache plays
// this part there.
// Key: 128 bits of SipHash-2-4 under a random per-process key over the RRSIG's RDATA (the
// signature and its validity window included), the RRset as signed (owner with a wildcard
// put back, type, class, every record's RDATA in canonical order) and the id of the key set
// (ZoneKeys::id): an attacker who does not know the key cannot make a forged RRset collide
// with a verified one. An entry keeps the signature's validity window, which is checked
// against the time of every use.
// Bounds: a fixed table of kSlots entries (direct-mapped; a newer entry replaces an older).
// Thread safety: none; one per worker.
#pragma once

#include <array>
#include <cstdint>
#include <memory>

#include "resolver/dnssec/signed_message.hpp"

namespace vnetdns::dnssec {

class SignatureCache {
 public:
  static constexpr std::size_t kSlots = 8192;
  SignatureCache();

  // The fingerprint of `sig` over `set` with the key set `keys_id` (0: not cacheable).
  struct Fingerprint {
    std::uint64_t a = 0, b = 0;
  };
  [[nodiscard]] Fingerprint fingerprint(const RrSet& set, const ldns_rr* sig,
                                        std::uint64_t keys_id) const;
  // True when the fingerprint verified before and the signature is valid at `now` (Unix
  // time); `labels` gets the signature's labels field.
  [[nodiscard]] bool known(const Fingerprint& f, std::uint32_t now, std::uint8_t& labels) const;
  void remember(const Fingerprint& f, const ldns_rr* sig, std::uint8_t labels);
  [[nodiscard]] std::uint64_t hits() const noexcept { return hits_; }

 private:
  struct Slot {
    std::uint64_t a = 0, b = 0;
    std::uint32_t inception = 0, expiration = 0;
    std::uint8_t labels = 0;
  };
  std::array<std::uint8_t, 16> key_a_{};
  std::array<std::uint8_t, 16> key_b_{};
  std::unique_ptr<std::array<Slot, kSlots>> slots_;
  mutable std::uint64_t hits_ = 0;
};

}  // namespace vnetdns::dnssec
