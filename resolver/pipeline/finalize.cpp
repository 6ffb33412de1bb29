#include "resolver/pipeline/finalize.hpp"

#include <cstring>

#include "resolver/wire/builder.hpp"

namespace vnetdns::pipeline {

namespace {
constexpr std::uint16_t kKeptFlags =
    wire::kFlagAA | wire::kFlagTC | wire::kFlagAD | wire::kRcodeMask;
}

std::size_t finalize_answer(std::uint8_t* out, std::size_t len, std::size_t cap,
                            const ClientInfo& c, int ede_code, bool* truncated) noexcept {
  const wire::QueryView& q = *c.query;
  // RFC 6840 section 5.8: AD (set only on validated data) goes to clients that set DO or AD.
  const std::uint16_t kept =
      q.dnssec_ok || (q.flags & wire::kFlagAD) != 0 ? kKeptFlags : (kKeptFlags & ~wire::kFlagAD);
  const std::uint16_t flags =
      static_cast<std::uint16_t>((wire::header_flags(out) & kept) | wire::kFlagQR | wire::kFlagRA |
                                 (q.flags & (wire::kFlagRD | wire::kFlagCD)));
  wire::store16(out, q.id);
  wire::store16(out + 2, flags);
  std::memcpy(out + wire::kHeaderSize, c.qname_raw, q.qname_wire_len);

  const std::size_t opt_len =
      q.has_opt ? 11 + (ede_code >= 0 ? 6 : 0) + (c.cookie_len > 0 ? 4 + c.cookie_len : 0) : 0;
  const std::size_t limit =
      c.transport == Transport::kUdp ? q.max_udp_response() : wire::kMaxMessageSize;
  const std::size_t max = limit < cap ? limit : cap;
  bool tc = false;
  if (len + opt_len > max) {
    // Too big for this client: keep the question only and set TC, so it retries over TCP.
    len = keep_question_only(out, q.qname_wire_len);
    wire::store16(out + 2, static_cast<std::uint16_t>(flags | wire::kFlagTC));
    tc = true;
  }
  if (truncated != nullptr) *truncated = tc;
  if (!q.has_opt) return len;
  wire::MessageBuilder b(out, max);
  b.resume(len, wire::Section::kAdditional);
  wire::OptOptions opt;
  opt.dnssec_ok = q.dnssec_ok;
  opt.ede_code = ede_code;
  opt.cookie = c.cookie;
  opt.cookie_len = static_cast<std::uint8_t>(c.cookie_len);
  if (!b.add_opt(opt)) return len;
  return b.size();
}

std::size_t keep_question_only(std::uint8_t* out, std::size_t qname_wire_len) noexcept {
  wire::store16(out + 4, 1);                      // QDCOUNT
  std::memset(out + 6, 0, 6);                     // ANCOUNT, NSCOUNT, ARCOUNT
  return wire::kHeaderSize + qname_wire_len + 4;  // the name, its type and class
}

std::size_t write_error(std::uint8_t* out, std::size_t cap, const std::uint8_t* query,
                        const wire::QueryView& parsed, std::uint16_t rcode,
                        const ErrorAnswer& how) noexcept {
  const bool with_question = how.with_question;
  wire::MessageBuilder b(out, cap);
  // CD is defined for opcode QUERY only (RFC 4035 section 3.2.2, RFC 6840 section 5.9): an
  // error to another opcode (NOTIMP to opcode 15, say) does not echo it.
  const bool is_query = (parsed.flags & wire::kOpcodeMask) == 0;
  const std::uint16_t echoed = static_cast<std::uint16_t>(wire::kOpcodeMask | wire::kFlagRD |
                                                          (is_query ? wire::kFlagCD : 0));
  const std::uint16_t flags =
      static_cast<std::uint16_t>(wire::kFlagQR | (parsed.flags & echoed) | (rcode & 0x0f));
  b.start(parsed.id, flags);
  if (with_question) {
    b.add_question(query + wire::kHeaderSize, parsed.qname_wire_len, parsed.qtype, parsed.qclass);
  }
  b.set_flags(static_cast<std::uint16_t>(b.flags() | (with_question ? wire::kFlagRA : 0)));
  // RFC 6891 section 7: an OPT in the answer only when the query had one; BADVERS needs it.
  if (parsed.has_opt || rcode > 15) {
    wire::OptOptions opt;
    opt.extended_rcode = static_cast<std::uint8_t>(rcode >> 4);
    opt.dnssec_ok = parsed.dnssec_ok;
    opt.ede_code = how.ede ? static_cast<int>(*how.ede) : -1;
    opt.cookie = how.cookie;
    opt.cookie_len = static_cast<std::uint8_t>(how.cookie_len);
    b.add_opt(opt);
  }
  return b.size();
}

}  // namespace vnetdns::pipeline
