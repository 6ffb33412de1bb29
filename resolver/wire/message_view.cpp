#include "resolver/wire/message_view.hpp"

#include <algorithm>
#include <cstring>

namespace vnetdns::wire {

const char* to_string(MessageError e) noexcept {
  switch (e) {
    case MessageError::kNone: return "ok";
    case MessageError::kShort: return "short";
    case MessageError::kNotResponse: return "not a response";
    case MessageError::kQdCount: return "qdcount";
    case MessageError::kBadName: return "bad name";
    case MessageError::kTruncated: return "truncated";
    case MessageError::kBadOpt: return "bad opt";
    case MessageError::kCount: break;
  }
  return "?";
}

bool MessageView::owner(const RrView& rr, Name& out) const noexcept {
  return read_name(msg, len, rr.name_offset, out, nullptr) == NameError::kNone;
}

MessageError parse_message(const std::uint8_t* msg, std::size_t len, MessageView& out) {
  out.msg = msg;
  out.len = len;
  out.rrs.clear();
  out.has_opt = false;
  out.extended_rcode = 0;
  if (len < kHeaderSize) return MessageError::kShort;
  if (len > kMaxMessageSize) return MessageError::kTruncated;  // offsets are 16-bit
  out.id = header_id(msg);
  out.flags = header_flags(msg);
  if ((out.flags & kFlagQR) == 0) return MessageError::kNotResponse;
  if (header_qdcount(msg) != 1) return MessageError::kQdCount;
  std::size_t p = kHeaderSize;
  if (read_name(msg, len, p, out.qname, &p) != NameError::kNone) return MessageError::kBadName;
  if (p + 4 > len) return MessageError::kTruncated;
  out.qtype = load16(msg + p);
  out.qclass = load16(msg + p + 2);
  p += 4;
  const std::size_t counts[3] = {header_ancount(msg), header_nscount(msg), header_arcount(msg)};
  // Every RR takes at least 11 bytes: never trust the header counts for an allocation.
  out.rrs.reserve(std::min(counts[0] + counts[1] + counts[2], (len - p) / 11));
  Name scratch;
  for (int s = 0; s < 3; ++s) {
    for (std::size_t i = 0; i < counts[s]; ++i) {
      const std::size_t name_at = p;
      if (read_name(msg, len, p, scratch, &p) != NameError::kNone) return MessageError::kBadName;
      if (p + 10 > len) return MessageError::kTruncated;
      RrView rr{};
      rr.section = static_cast<Section>(s);
      rr.name_offset = static_cast<std::uint16_t>(name_at);
      rr.type = load16(msg + p);
      rr.klass = load16(msg + p + 2);
      rr.ttl = load32(msg + p + 4);
      rr.rdlength = load16(msg + p + 8);
      rr.rdata_offset = static_cast<std::uint16_t>(p + 10);
      p += 10 + rr.rdlength;
      if (p > len) return MessageError::kTruncated;
      if (rr.type == type::kOPT) {
        if (s != 2 || out.has_opt || !scratch.is_root()) return MessageError::kBadOpt;
        out.has_opt = true;
        out.opt_udp_size = rr.klass;
        out.extended_rcode = static_cast<std::uint8_t>(rr.ttl >> 24);
        continue;
      }
      out.rrs.push_back(rr);
    }
  }
  return MessageError::kNone;
}

namespace {

// Layout of rdata fields for types that embed names: a sequence of steps.
enum class Step : std::uint8_t { kName, kFixed2, kFixed20, kRest };

struct Layout {
  const Step* steps;
  std::size_t count;
};

constexpr Step kOneName[] = {Step::kName};
constexpr Step kTwoNames[] = {Step::kName, Step::kName};
constexpr Step kPrefName[] = {Step::kFixed2, Step::kName};
constexpr Step kSoa[] = {Step::kName, Step::kName, Step::kFixed20};
constexpr Step kSrv[] = {Step::kFixed2, Step::kFixed2, Step::kFixed2, Step::kName};

bool layout_for(std::uint16_t t, Layout& l) {
  switch (t) {
    case type::kNS:
    case type::kMD:
    case type::kMF:
    case type::kCNAME:
    case type::kMB:
    case type::kMG:
    case type::kMR:
    case type::kPTR:
    case type::kDNAME: l = {kOneName, 1}; return true;
    case type::kMINFO:
    case type::kRP: l = {kTwoNames, 2}; return true;
    case type::kMX:
    case type::kAFSDB:
    case type::kRT:
    case type::kKX: l = {kPrefName, 2}; return true;
    case type::kSOA: l = {kSoa, 3}; return true;
    case type::kSRV: l = {kSrv, 4}; return true;
    default: return false;
  }
}

}  // namespace

bool copy_rdata(const MessageView& v, const RrView& rr, std::uint8_t* out, std::size_t cap,
                std::size_t* out_len) noexcept {
  Layout l{};
  const std::size_t start = rr.rdata_offset;
  const std::size_t end = start + rr.rdlength;
  if (!layout_for(rr.type, l)) {
    if (rr.rdlength > cap) return false;
    std::memcpy(out, v.msg + start, rr.rdlength);
    *out_len = rr.rdlength;
    return true;
  }
  std::size_t p = start;
  std::size_t o = 0;
  Name name;
  for (std::size_t i = 0; i < l.count; ++i) {
    switch (l.steps[i]) {
      case Step::kName: {
        std::size_t next = 0;
        // Names inside rdata may only point into the message, never past the rdata.
        if (read_name(v.msg, end, p, name, &next) != NameError::kNone) return false;
        if (o + name.size() > cap) return false;
        std::memcpy(out + o, name.data(), name.size());
        o += name.size();
        p = next;
        break;
      }
      case Step::kFixed2:
      case Step::kFixed20: {
        const std::size_t n = l.steps[i] == Step::kFixed2 ? 2 : 20;
        if (p + n > end || o + n > cap) return false;
        std::memcpy(out + o, v.msg + p, n);
        o += n;
        p += n;
        break;
      }
      case Step::kRest: break;
    }
  }
  if (p != end) return false;
  *out_len = o;
  return true;
}

bool rdata_name(const MessageView& v, const RrView& rr, Name& out) noexcept {
  const std::size_t end = static_cast<std::size_t>(rr.rdata_offset) + rr.rdlength;
  std::size_t next = 0;
  if (read_name(v.msg, end, rr.rdata_offset, out, &next) != NameError::kNone) return false;
  return next == end;
}

}  // namespace vnetdns::wire
