#include "resolver/wire/query_view.hpp"

#include <cstring>

namespace vnetdns::wire {

const char* to_string(QueryError e) noexcept {
  switch (e) {
    case QueryError::kNone: return "ok";
    case QueryError::kShort: return "short";
    case QueryError::kResponse: return "response";
    case QueryError::kNotQuery: return "opcode";
    case QueryError::kQdCount: return "qdcount";
    case QueryError::kBadName: return "name";
    case QueryError::kTruncated: return "truncated";
    case QueryError::kBadOpt: return "opt";
    case QueryError::kBadVersion: return "badvers";
    case QueryError::kTrailing: return "trailing";
    case QueryError::kBadTsig: return "tsig";
    case QueryError::kCount: break;
  }
  return "?";
}

namespace {

// Reads the OPT RR whose TYPE field starts at `p` (owner name already checked to be root).
QueryError read_opt(const std::uint8_t* msg, std::size_t len, std::size_t p, QueryView& out,
                    std::size_t* next) {
  if (p + 10 > len) return QueryError::kTruncated;
  out.udp_size = load16(msg + p + 2);
  out.edns_version = msg[p + 5];
  out.dnssec_ok = (load16(msg + p + 6) & edns::kFlagDO) != 0;
  const std::size_t rdlen = load16(msg + p + 8);
  std::size_t o = p + 10;
  const std::size_t end = o + rdlen;
  if (end > len) return QueryError::kTruncated;
  while (o < end) {
    if (o + 4 > end) return QueryError::kBadOpt;
    const std::uint16_t code = load16(msg + o);
    const std::uint16_t olen = load16(msg + o + 2);
    o += 4;
    if (o + olen > end) return QueryError::kBadOpt;
    if (code == edns::kOptionCookie) {
      // RFC 7873 section 5.2.2: client cookie 8 bytes, server cookie 8..32 bytes.
      if (out.has_cookie || !(olen == 8 || (olen >= 16 && olen <= 40))) return QueryError::kBadOpt;
      out.has_cookie = true;
      out.cookie_len = static_cast<std::uint8_t>(olen);
      std::memcpy(out.cookie, msg + o, olen);
    }
    o += olen;
  }
  *next = end;
  return QueryError::kNone;
}

}  // namespace

QueryError parse_query(const std::uint8_t* msg, std::size_t len, QueryView& out) noexcept {
  // A worker reuses one QueryView: nothing of the previous packet may survive.
  out.has_opt = false;
  out.udp_size = kClassicUdpSize;
  out.edns_version = 0;
  out.dnssec_ok = false;
  out.has_cookie = false;
  out.has_tsig = false;
  out.tsig_offset = 0;
  out.cookie_len = 0;
  out.qname_wire_len = 0;
  out.qtype = 0;
  out.qclass = 0;
  if (len < kHeaderSize) return QueryError::kShort;
  out.id = header_id(msg);
  out.flags = header_flags(msg);
  if ((out.flags & kFlagQR) != 0) return QueryError::kResponse;
  if (out.opcode() != static_cast<std::uint8_t>(Opcode::kQuery)) return QueryError::kNotQuery;
  if (header_qdcount(msg) != 1) return QueryError::kQdCount;

  // The question name: no compression (nothing precedes it to point at).
  std::size_t p = kHeaderSize;
  std::size_t name_len = 0;
  for (;;) {
    if (p >= len) return QueryError::kTruncated;
    const std::uint8_t b = msg[p];
    if (b > kMaxLabelLength) return QueryError::kBadName;
    name_len += 1 + b;
    if (name_len > kMaxNameLength) return QueryError::kBadName;
    if (p + 1 + b > len) return QueryError::kTruncated;
    p += 1 + b;
    if (b == 0) break;
  }
  if (!out.qname.assign_wire(msg + kHeaderSize, name_len)) return QueryError::kBadName;
  out.qname_wire_len = static_cast<std::uint16_t>(name_len);
  if (p + 4 > len) return QueryError::kTruncated;
  out.qtype = load16(msg + p);
  out.qclass = load16(msg + p + 2);
  p += 4;
  out.question_end = static_cast<std::uint16_t>(p);

  // Skip answer and authority records; look for OPT in the additional section.
  const std::size_t counts[3] = {header_ancount(msg), header_nscount(msg), header_arcount(msg)};
  for (int section = 0; section < 3; ++section) {
    for (std::size_t i = 0; i < counts[section]; ++i) {
      const std::size_t name_start = p;
      p = skip_name(msg, len, p);
      if (p == 0) return QueryError::kTruncated;
      if (p + 10 > len) return QueryError::kTruncated;
      const std::uint16_t rtype = load16(msg + p);
      if (rtype == type::kOPT) {
        // RFC 6891 section 6.1.1: one OPT only, in the additional section, owner root.
        if (section != 2 || out.has_opt || msg[name_start] != 0 || p != name_start + 1) {
          return QueryError::kBadOpt;
        }
        out.has_opt = true;
        std::size_t next = 0;
        const QueryError e = read_opt(msg, len, p, out, &next);
        if (e != QueryError::kNone) return e;
        p = next;
        continue;
      }
      if (rtype == type::kTSIG) {
        if (section != 2 || i + 1 != counts[2]) return QueryError::kBadTsig;
        out.has_tsig = true;
        out.tsig_offset = static_cast<std::uint16_t>(name_start);
      }
      const std::size_t rdlen = load16(msg + p + 8);
      p += 10 + rdlen;
      if (p > len) return QueryError::kTruncated;
    }
  }
  if (p != len) return QueryError::kTrailing;
  if (out.has_opt && out.edns_version > 0) return QueryError::kBadVersion;
  return QueryError::kNone;
}

}  // namespace vnetdns::wire
