// QueryView: what the pipeline needs of a client query, read in one bounds-checked pass:
// header, the single question (name lowered, plus where the client's original bytes sit),
// and the OPT record (RFC 6891): UDP size, version, DO, and a client COOKIE if present.
// parse_query() never throws and never reads outside the buffer; every rejection has a
// QueryError reason so the pipeline can count it and choose the RCODE in one place.
// Invariant after kNone: qname_wire_len bytes at offset 12 are the uncompressed question
// name as the client sent it (its letter case), and question_end points past QCLASS.
// Thread safety: a plain value type over a buffer the caller owns.
#pragma once

#include <cstddef>
#include <cstdint>

#include "resolver/wire/name.hpp"

namespace vnetdns::wire {

enum class QueryError : std::uint8_t {
  kNone = 0,
  kShort,       // fewer than 12 bytes: nothing to answer (dropped)
  kResponse,    // QR=1: never answered (dropped)
  kNotQuery,    // opcode other than QUERY -> NOTIMP
  kQdCount,     // QDCOUNT != 1 -> FORMERR
  kBadName,     // malformed or compressed question name -> FORMERR
  kTruncated,   // question or an RR runs past the end -> FORMERR
  kBadOpt,      // two OPT records, OPT not at root, malformed options -> FORMERR
  kBadVersion,  // EDNS version > 0 -> BADVERS (RFC 6891 section 6.1.3)
  kTrailing,    // bytes after the last record -> FORMERR
  kBadTsig,     // a TSIG record that is not the last additional record -> FORMERR
  kCount,
};
const char* to_string(QueryError e) noexcept;

struct QueryView {
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  Name qname;  // lowered
  std::uint16_t qname_wire_len = 0;
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  std::uint16_t question_end = 0;  // offset just past QCLASS

  bool has_opt = false;
  // A TSIG record ends the message (RFC 8945 section 5.1): it starts at tsig_offset.
  bool has_tsig = false;
  std::uint16_t tsig_offset = 0;
  std::uint16_t udp_size = kClassicUdpSize;  // what the client can take over UDP
  std::uint8_t edns_version = 0;
  bool dnssec_ok = false;
  // Client COOKIE option (RFC 7873 section 4): 8-byte client cookie, optional server cookie.
  bool has_cookie = false;
  std::uint8_t cookie_len = 0;  // 8, or 16..40 with a server cookie
  std::uint8_t cookie[40] = {};

  [[nodiscard]] bool rd() const noexcept { return (flags & kFlagRD) != 0; }
  [[nodiscard]] bool cd() const noexcept { return (flags & kFlagCD) != 0; }
  [[nodiscard]] std::uint8_t opcode() const noexcept { return (flags & kOpcodeMask) >> 11; }
  // Largest response that may go back over UDP: 512 without EDNS, else the advertised
  // size clamped to [512, our 1232] (RFC 6891 section 6.2.5; Flag Day 2020).
  [[nodiscard]] std::uint16_t max_udp_response() const noexcept {
    if (!has_opt) return kClassicUdpSize;
    if (udp_size < kClassicUdpSize) return kClassicUdpSize;
    return udp_size > kEdnsUdpSize ? kEdnsUdpSize : udp_size;
  }
};

// Parses `len` bytes at `msg`. On error, `out` holds what could be read (the header at
// least, when the error is not kShort) so the pipeline can still answer FORMERR/NOTIMP.
QueryError parse_query(const std::uint8_t* msg, std::size_t len, QueryView& out) noexcept;

}  // namespace vnetdns::wire
