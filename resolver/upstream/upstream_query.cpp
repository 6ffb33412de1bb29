#include "resolver/upstream/upstream_query.hpp"

#include <cstring>

#include "resolver/util/random.hpp"
#include "resolver/wire/builder.hpp"

namespace vnetdns::upstream {

std::size_t encode_query(const UpstreamQuery& q, std::uint16_t id, std::uint8_t* out,
                         std::size_t cap, bool with_edns, const std::uint8_t* cookie,
                         std::size_t cookie_len) {
  wire::MessageBuilder b(out, cap);
  std::uint16_t flags = wire::kFlagRD;
  if (q.checking_disabled) flags |= wire::kFlagCD;
  b.start(id, flags);
  std::uint8_t name[wire::kMaxNameLength];
  std::memcpy(name, q.qname.data(), q.qname.size());
  if (q.randomize_case) {
    auto& rng = util::Random::thread_instance();
    std::uint32_t bits = 0;
    int left = 0;
    for (std::size_t i = 0; i < q.qname.size(); ++i) {
      if (name[i] >= 'a' && name[i] <= 'z') {
        if (left == 0) {
          bits = rng.u32();
          left = 32;
        }
        if ((bits & 1U) != 0) name[i] = static_cast<std::uint8_t>(name[i] - 32);
        bits >>= 1;
        --left;
      }
    }
  }
  b.add_question(name, q.qname.size(), q.qtype, q.qclass);
  if (with_edns) {
    wire::OptOptions opt;
    opt.dnssec_ok = q.dnssec_ok;
    if (cookie != nullptr && cookie_len > 0 && cookie_len <= 40) {
      opt.cookie = cookie;
      opt.cookie_len = static_cast<std::uint8_t>(cookie_len);
    }
    b.add_opt(opt);
  }
  return b.fits() ? b.size() : 0;
}

ReplyMatch match_reply(const std::uint8_t* sent, std::size_t sent_len, const std::uint8_t* reply,
                       std::size_t reply_len, bool exact_case) noexcept {
  constexpr ReplyMatch kNo = ReplyMatch::kNoMatch;
  if (reply_len < wire::kHeaderSize || sent_len < wire::kHeaderSize) return kNo;
  if (wire::header_id(sent) != wire::header_id(reply)) return kNo;
  const std::uint16_t flags = wire::header_flags(reply);
  if ((flags & wire::kFlagQR) == 0 || (flags & wire::kOpcodeMask) != 0) return kNo;
  if (wire::header_qdcount(reply) != 1) return kNo;
  // The question we sent is uncompressed at offset 12; the reply's must equal it.
  const std::size_t name_end = wire::skip_name(sent, sent_len, wire::kHeaderSize);
  if (name_end == 0 || name_end + 4 > sent_len) return kNo;
  const std::size_t name_len = name_end - wire::kHeaderSize;
  if (name_end + 4 > reply_len) return kNo;
  const std::uint8_t* a = sent + wire::kHeaderSize;
  const std::uint8_t* b = reply + wire::kHeaderSize;
  if (std::memcmp(a + name_len, b + name_len, 4) != 0) return kNo;  // QTYPE, QCLASS
  if (std::memcmp(a, b, name_len) == 0) return ReplyMatch::kMatch;
  // Label length bytes (< 64) are unaffected by lowering, so a bytewise fold is exact.
  for (std::size_t i = 0; i < name_len; ++i) {
    if (wire::ascii_lower(a[i]) != wire::ascii_lower(b[i])) return kNo;
  }
  return exact_case ? ReplyMatch::kCaseOnly : ReplyMatch::kMatch;
}

}  // namespace vnetdns::upstream
