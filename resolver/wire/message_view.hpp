// MessageView: a parsed upstream response: header, the question, and every RR as offsets
// into the caller's buffer (names are decoded on demand with read_name). Used off the hot
// path: on the forwarding path to validate, scrub and splice a reply before it is cached.
// Invariant after kNone: every RrView lies inside the buffer and its owner name decodes.
// Thread safety: a plain value type; it points into a buffer the caller keeps alive.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "resolver/wire/name.hpp"

namespace vnetdns::wire {

enum class MessageError : std::uint8_t {
  kNone = 0,
  kShort,
  kNotResponse,
  kQdCount,
  kBadName,
  kTruncated,
  kBadOpt,
  kCount,
};
const char* to_string(MessageError e) noexcept;

struct RrView {
  Section section;
  std::uint16_t name_offset;
  std::uint16_t type;
  std::uint16_t klass;
  std::uint32_t ttl;
  std::uint16_t rdata_offset;
  std::uint16_t rdlength;
};

struct MessageView {
  const std::uint8_t* msg = nullptr;
  std::size_t len = 0;
  std::uint16_t id = 0;
  std::uint16_t flags = 0;
  Name qname;
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  std::uint16_t qname_offset = kHeaderSize;
  std::vector<RrView> rrs;  // answer, authority, additional (without OPT)
  bool has_opt = false;
  std::uint16_t opt_udp_size = 0;
  std::uint8_t extended_rcode = 0;

  [[nodiscard]] std::uint16_t rcode() const noexcept {
    return static_cast<std::uint16_t>((extended_rcode << 4) | (flags & kRcodeMask));
  }
  [[nodiscard]] bool truncated() const noexcept { return (flags & kFlagTC) != 0; }
  // Decodes the owner name of `rr`; false when it cannot (never after a kNone parse).
  bool owner(const RrView& rr, Name& out) const noexcept;
};

// Parses a response. QDCOUNT must be 1 (we only ever send one question).
MessageError parse_message(const std::uint8_t* msg, std::size_t len, MessageView& out);

// Copies the rdata of `rr` with every embedded name decompressed (RFC 3597 section 4 lists
// the types whose rdata names may be compressed), so it can be stored or re-sent alone.
// Returns false when the rdata is malformed or does not fit in `cap`.
bool copy_rdata(const MessageView& view, const RrView& rr, std::uint8_t* out, std::size_t cap,
                std::size_t* out_len) noexcept;

// For the types whose rdata is a single name (CNAME, DNAME, NS, PTR, ...): decodes it.
bool rdata_name(const MessageView& view, const RrView& rr, Name& out) noexcept;

}  // namespace vnetdns::wire
