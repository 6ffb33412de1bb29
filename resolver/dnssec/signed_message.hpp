// SignedMessage: a DNS message as the validator sees it: its RCODE and its answer and
// authority sections grouped into RRsets (owner, type, class), each with the RRSIGs that
// cover it (RFC 4034 section 3: an RRSIG covers the RRset of its owner and type covered).
// Parsed with ldns from the wire form the pipeline keeps (scrub_reply's output, or any reply:
// the parser takes hostile input and rejects what it cannot read). The additional section
// is ignored: nothing there is ever validated or served.
// Invariant: every RrSet's records and signatures point into the owned packet, which lives
// as long as the SignedMessage; names are lowered (canonical form, RFC 4034 section 6.2).
// Thread safety: immutable after parse(); not copyable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "resolver/dnssec/ldns_ptr.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::dnssec {

struct RrSet {
  wire::Name owner;
  std::uint16_t type = 0;
  wire::Section section = wire::Section::kAnswer;
  LdnsRrList rrs;   // the records (not owned)
  LdnsRrList sigs;  // the RRSIGs covering them (not owned); empty list when unsigned
  [[nodiscard]] bool signed_() const noexcept { return ldns_rr_list_rr_count(sigs.get()) > 0; }
  [[nodiscard]] std::size_t size() const noexcept { return ldns_rr_list_rr_count(rrs.get()); }
  [[nodiscard]] const ldns_rr* rr(std::size_t i) const noexcept {
    return ldns_rr_list_rr(rrs.get(), i);
  }
};

class SignedMessage {
 public:
  // Nullopt when ldns cannot parse the message.
  static std::optional<SignedMessage> parse(const std::uint8_t* wire, std::size_t len);

  SignedMessage(SignedMessage&&) noexcept = default;
  SignedMessage& operator=(SignedMessage&&) noexcept = default;

  [[nodiscard]] std::uint16_t rcode() const noexcept { return rcode_; }
  [[nodiscard]] const std::vector<RrSet>& answer() const noexcept { return answer_; }
  [[nodiscard]] const std::vector<RrSet>& authority() const noexcept { return authority_; }
  // The RRset of `owner` and `type` in `section`, or nullptr.
  [[nodiscard]] const RrSet* find(wire::Section section, const wire::Name& owner,
                                  std::uint16_t type) const noexcept;

 private:
  SignedMessage() = default;
  LdnsPkt pkt_;
  std::uint16_t rcode_ = 0;
  std::vector<RrSet> answer_;
  std::vector<RrSet> authority_;
};

// The owner name of an ldns record as a wire::Name (false when it cannot be held).
bool name_of(const ldns_rdf* dname, wire::Name& out) noexcept;

}  // namespace vnetdns::dnssec
