// libFuzzer target: parse_query on arbitrary bytes (the first thing a client packet meets),
// then the answer path: a response built with MessageBuilder from the parsed question must
// parse back with parse_message (same id, question, records), and the same message with QR
// cleared must parse back with parse_query (same question, OPT fields and cookie).
// Also checks the invariants QueryView documents after kNone.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "resolver/wire/builder.hpp"
#include "resolver/wire/message_view.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/wire/query_view.hpp"

#include "fuzz_check.hpp"

namespace wire = vnetdns::wire;

namespace {

struct Added {
  wire::Section section;
  wire::Name owner;
  std::uint16_t type;
  std::uint32_t ttl;
  std::uint8_t rdata[wire::kMaxNameLength];
  std::size_t rdlen;
};

void check_query_invariants(const std::uint8_t* data, std::size_t size, const wire::QueryView& q) {
  FUZZ_CHECK(q.qname_wire_len >= 1 && q.qname_wire_len <= wire::kMaxNameLength);
  FUZZ_CHECK(q.qname.size() == q.qname_wire_len);
  FUZZ_CHECK(q.question_end == wire::kHeaderSize + q.qname_wire_len + 4u);
  FUZZ_CHECK(q.question_end <= size);
  FUZZ_CHECK((q.flags & wire::kFlagQR) == 0);
  FUZZ_CHECK(q.opcode() == 0);
  FUZZ_CHECK(q.edns_version == 0 || !q.has_opt);
  FUZZ_CHECK(q.max_udp_response() >= 512 && q.max_udp_response() <= 1232);
  FUZZ_CHECK(!q.has_cookie || q.has_opt);
  FUZZ_CHECK(!q.has_cookie || q.cookie_len == 8 || (q.cookie_len >= 16 && q.cookie_len <= 40));
  // The question bytes are an uncompressed name equal to qname, letter case aside.
  wire::Name again;
  FUZZ_CHECK(again.assign_wire(data + wire::kHeaderSize, q.qname_wire_len));
  FUZZ_CHECK(again == q.qname);
  wire::Name via_read;
  std::size_t end = 0;
  FUZZ_CHECK(wire::read_name(data, size, wire::kHeaderSize, via_read, &end) ==
             wire::NameError::kNone);
  FUZZ_CHECK(via_read == q.qname);
  FUZZ_CHECK(end == wire::kHeaderSize + q.qname_wire_len);
  // Text form round-trips.
  wire::NameError err = wire::NameError::kBadText;
  FUZZ_CHECK(wire::Name::from_text(q.qname.to_text(), &err) == q.qname);
  FUZZ_CHECK(err == wire::NameError::kNone);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  wire::QueryView q;
  const wire::QueryError e = wire::parse_query(data, size, q);
  if (e == wire::QueryError::kShort) return 0;
  FUZZ_CHECK(size >= wire::kHeaderSize);
  FUZZ_CHECK(q.id == wire::header_id(data));
  if (e != wire::QueryError::kNone) return 0;
  check_query_invariants(data, size, q);

  // Build an answer the way the pipeline does: the client's question bytes, records owned by
  // the qname and names related to it, then our OPT echoing the client's cookie.
  static std::array<std::uint8_t, wire::kMaxMessageSize> buf;
  // Capacity from the client's UDP size; a small one (from the last input byte) exercises
  // overflow of the records but always leaves room for the question.
  std::size_t cap = q.max_udp_response();
  if ((data[size - 1] & 0x80) != 0) cap = q.question_end + (data[size - 1] & 0x3f);
  wire::MessageBuilder b(buf.data(), cap);
  b.start(q.id, static_cast<std::uint16_t>(wire::kFlagQR | (q.flags & wire::kFlagRD)));
  FUZZ_CHECK(b.add_question(data + wire::kHeaderSize, q.qname_wire_len, q.qtype, q.qclass));

  static Added added[8];
  std::size_t n_added = 0;
  auto add = [&](wire::Section s, const wire::Name& owner, std::uint16_t type, std::uint32_t ttl,
                 const std::uint8_t* rdata, std::size_t rdlen) {
    Added& a = added[n_added];
    a.section = s;
    a.owner = owner;
    a.type = type;
    a.ttl = ttl;
    a.rdlen = rdlen;
    std::memcpy(a.rdata, rdata, rdlen);
    if (b.add_rr(s, owner, type, 1, ttl, rdata, rdlen)) ++n_added;
  };
  wire::Name star;
  const bool has_star = wire::Name::prepend_label(q.qname.parent(), "*", star);
  const wire::Name parent = q.qname.parent();
  const std::uint8_t a_rdata[4] = {10, 0, 0, 7};
  add(wire::Section::kAnswer, q.qname, wire::type::kCNAME, 1783, star.data(), star.size());
  add(wire::Section::kAnswer, has_star ? star : parent, wire::type::kA, 10, a_rdata, 4);
  add(wire::Section::kAnswer, q.qname, wire::type::kA, 0xffffffffu, a_rdata, 4);
  add(wire::Section::kAuthority, parent, wire::type::kNS, 3600, q.qname.data(), q.qname.size());
  add(wire::Section::kAdditional, q.qname.parent(2), wire::type::kA, 5, a_rdata, 0);

  wire::OptOptions opt;
  opt.dnssec_ok = q.dnssec_ok;
  opt.cookie = q.has_cookie ? q.cookie : nullptr;
  opt.cookie_len = q.has_cookie ? q.cookie_len : 0;
  opt.ede_code = (q.id & 1) != 0 ? wire::ede::kProhibited : -1;
  const bool opt_added = q.has_opt && b.add_opt(opt);
  FUZZ_CHECK(b.size() <= cap);
  FUZZ_CHECK(b.fits() == (n_added == 5 && (opt_added || !q.has_opt)));

  // The response parses back with exactly what was added.
  wire::MessageView v;
  FUZZ_CHECK(wire::parse_message(buf.data(), b.size(), v) == wire::MessageError::kNone);
  FUZZ_CHECK(v.id == q.id);
  FUZZ_CHECK(v.qname == q.qname);
  FUZZ_CHECK(v.qtype == q.qtype && v.qclass == q.qclass);
  FUZZ_CHECK(v.has_opt == opt_added);
  FUZZ_CHECK(v.rrs.size() == n_added);
  FUZZ_CHECK(b.ttl_offset_count() == n_added);
  for (std::size_t i = 0; i < n_added; ++i) {
    const wire::RrView& rr = v.rrs[i];
    wire::Name owner;
    FUZZ_CHECK(v.owner(rr, owner));
    FUZZ_CHECK(owner == added[i].owner);
    FUZZ_CHECK(rr.section == added[i].section);
    FUZZ_CHECK(rr.type == added[i].type);
    FUZZ_CHECK(rr.ttl == added[i].ttl);
    FUZZ_CHECK(wire::load32(buf.data() + b.ttl_offsets()[i]) == added[i].ttl);
    std::uint8_t out[wire::kMaxNameLength];
    std::size_t out_len = 0;
    FUZZ_CHECK(wire::copy_rdata(v, rr, out, sizeof(out), &out_len));
    FUZZ_CHECK(out_len == added[i].rdlen && std::memcmp(out, added[i].rdata, out_len) == 0);
  }

  // With QR cleared the same bytes are a valid query again (records in a query are skipped),
  // carrying the question and the echoed cookie.
  wire::store16(buf.data() + 2, static_cast<std::uint16_t>(b.flags() & ~wire::kFlagQR));
  wire::QueryView q2;
  FUZZ_CHECK(wire::parse_query(buf.data(), b.size(), q2) == wire::QueryError::kNone);
  FUZZ_CHECK(q2.qname == q.qname && q2.qtype == q.qtype && q2.qclass == q.qclass);
  FUZZ_CHECK(q2.has_opt == opt_added);
  if (opt_added) {
    FUZZ_CHECK(q2.dnssec_ok == q.dnssec_ok);
    FUZZ_CHECK(q2.udp_size == wire::kEdnsUdpSize);
    FUZZ_CHECK(q2.has_cookie == q.has_cookie);
    FUZZ_CHECK(q2.cookie_len == q.cookie_len);
    FUZZ_CHECK(std::memcmp(q2.cookie, q.cookie, q.cookie_len) == 0);
  }
  return 0;
}
