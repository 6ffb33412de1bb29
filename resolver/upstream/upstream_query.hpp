// UpstreamQuery / UpstreamReply: what the forwarding path sends and gets back, independent
// of the transport. encode_query() writes the query we send upstream: a fresh random ID
// (RFC 5452 section 9.2), RD, the lowered name (or its 0x20-randomised case), EDNS with our
// 1232-byte UDP size and the client's DO bit, and the COOKIE option when one is given
// (RFC 7873 section 5.1; see client_cookie.hpp). reply_matches() is the acceptance check of
// RFC 5452 section 9.1 that the transport applies after address/port: ID, QR, and the
// whole question compared byte for byte with what was sent.
// Thread safety: plain values and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "resolver/util/endpoint.hpp"
#include "resolver/wire/name.hpp"

namespace vnetdns::upstream {

struct UpstreamQuery {
  wire::Name qname;
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 1;
  bool dnssec_ok = false;
  bool checking_disabled = false;
  bool randomize_case = false;  // 0x20 (draft-vixie-dnsext-dns0x20)
};

struct UpstreamReply {
  std::vector<std::uint8_t> wire;
  util::Endpoint from;
  bool via_tcp = false;
  std::uint16_t rcode = 0;
};

// Writes the query into `out` (>= 512 bytes); returns its length, 0 if it does not fit.
// `cookie` (cookie_len bytes: client cookie, then any server cookie) goes into the OPT record
// as a COOKIE option; it is left out without EDNS.
std::size_t encode_query(const UpstreamQuery& q, std::uint16_t id, std::uint8_t* out,
                         std::size_t cap, bool with_edns, const std::uint8_t* cookie = nullptr,
                         std::size_t cookie_len = 0);

// How `reply` relates to the query `sent`: kMatch when it answers it (same ID, QR=1, opcode
// QUERY, one question equal to the sent one; with `exact_case` (0x20) in exactly the case we
// sent); kCaseOnly when all of that holds but the letter case of the echoed name, with
// `exact_case` (an upstream that does not preserve case, or a forger who does not know the
// case); kNoMatch otherwise.
enum class ReplyMatch : std::uint8_t { kNoMatch, kMatch, kCaseOnly };
ReplyMatch match_reply(const std::uint8_t* sent, std::size_t sent_len, const std::uint8_t* reply,
                       std::size_t reply_len, bool exact_case) noexcept;

// match_reply() == kMatch.
inline bool reply_matches(const std::uint8_t* sent, std::size_t sent_len, const std::uint8_t* reply,
                          std::size_t reply_len, bool exact_case) noexcept {
  return match_reply(sent, sent_len, reply, reply_len, exact_case) == ReplyMatch::kMatch;
}

}  // namespace vnetdns::upstream
