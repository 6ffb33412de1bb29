// encode_query(): what we send upstream (ID, RD, CD, lowered or 0x20 name, EDNS 1232 + DO).
// reply_matches(): the RFC 5452 section 9.1 acceptance check: ID, QR, opcode, one question
// equal to the sent one (name, type, class), letter case exact only with 0x20.
#include "resolver/upstream/upstream_query.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "resolver/wire/query_view.hpp"
#include "resolver/wire/types.hpp"

namespace vnetdns::upstream {
namespace {

using Bytes = std::vector<std::uint8_t>;
wire::Name N(const char* text) { return wire::Name::from_text(text); }

Bytes encode(const UpstreamQuery& q, std::uint16_t id, bool edns) {
  Bytes out(512);
  const std::size_t n = encode_query(q, id, out.data(), out.size(), edns);
  REQUIRE(n > 0);
  out.resize(n);
  return out;
}

UpstreamQuery query(const char* name, std::uint16_t qtype = wire::type::kA) {
  UpstreamQuery q;
  q.qname = N(name);
  q.qtype = qtype;
  return q;
}

Bytes name_bytes(const Bytes& msg) {
  const std::size_t end = wire::skip_name(msg.data(), msg.size(), wire::kHeaderSize);
  REQUIRE(end > wire::kHeaderSize);
  return Bytes(msg.begin() + wire::kHeaderSize, msg.begin() + static_cast<std::ptrdiff_t>(end));
}

TEST_CASE("encode_query: ID, RD, lowered name, EDNS 1232 with the client's DO",
          "[unit][upstream]") {
  struct Row {
    bool dnssec_ok;
    bool cd;
    bool edns;
  };
  for (const Row row : {Row{false, false, true}, Row{true, false, true}, Row{true, true, true},
                        Row{false, false, false}}) {
    INFO("do=" << row.dnssec_ok << " cd=" << row.cd << " edns=" << row.edns);
    UpstreamQuery q = query("www.example.com", wire::type::kAAAA);
    q.dnssec_ok = row.dnssec_ok;
    q.checking_disabled = row.cd;
    const Bytes m = encode(q, 0xbeef, row.edns);
    wire::QueryView v;
    REQUIRE(wire::parse_query(m.data(), m.size(), v) == wire::QueryError::kNone);
    CHECK(v.id == 0xbeef);
    CHECK(v.rd());
    CHECK((v.flags & wire::kFlagQR) == 0);
    CHECK(v.opcode() == 0);
    CHECK(v.cd() == row.cd);
    CHECK(v.qname == N("www.example.com"));
    CHECK(v.qtype == wire::type::kAAAA);
    CHECK(v.qclass == wire::klass::kIN);
    CHECK(v.has_opt == row.edns);
    CHECK(wire::header_arcount(m.data()) == (row.edns ? 1 : 0));
    if (row.edns) {
      CHECK(v.udp_size == wire::kEdnsUdpSize);
      CHECK(v.edns_version == 0);
      CHECK(v.dnssec_ok == row.dnssec_ok);
    }
    const wire::Name n = N("www.example.com");
    CHECK(name_bytes(m) == Bytes(n.data(), n.data() + n.size()));
  }
}

TEST_CASE("encode_query: too small a buffer gives 0", "[unit][upstream]") {
  std::array<std::uint8_t, 20> small{};
  CHECK(encode_query(query("www.example.com"), 1, small.data(), small.size(), true) == 0);
}

TEST_CASE("encode_query: randomize_case changes letter case, never the name", "[unit][upstream]") {
  // 60 letters: the chance that a draw leaves every letter lower case is 2^-60.
  const char* name = "abcdefghijklmnopqrstuvwxyzabcdefghij.klmnopqrstuvwx.example.com";
  UpstreamQuery q = query(name);
  q.randomize_case = true;
  const wire::Name lowered = N(name);
  const Bytes lower_bytes(lowered.data(), lowered.data() + lowered.size());
  std::set<Bytes> seen;
  for (int i = 0; i < 4; ++i) {
    const Bytes m = encode(q, static_cast<std::uint16_t>(i), true);
    const Bytes raw = name_bytes(m);
    REQUIRE(raw.size() == lower_bytes.size());
    CHECK(raw != lower_bytes);  // some letter went upper case
    Bytes folded = raw;
    for (auto& c : folded) c = wire::ascii_lower(c);
    CHECK(folded == lower_bytes);  // but it is the same name
    seen.insert(raw);
  }
  CHECK(seen.size() > 1);  // and the draw differs between queries
  // Without the option, the name goes out lowered.
  q.randomize_case = false;
  CHECK(name_bytes(encode(q, 9, true)) == lower_bytes);
}

// A reply to `sent`: its bytes with QR set (the question is echoed as sent).
Bytes reply_to(const Bytes& sent) {
  Bytes r = sent;
  r[2] |= 0x80;
  return r;
}

TEST_CASE("reply_matches: ID, QR, opcode and the whole question must match", "[unit][upstream]") {
  const Bytes sent = encode(query("www.example.com"), 0x1234, true);
  const std::size_t qname_len = N("www.example.com").size();
  const std::size_t qtype_at = wire::kHeaderSize + qname_len;
  struct Row {
    const char* what;
    std::function<void(Bytes&)> mutate;
    bool matches;
  };
  const std::vector<Row> rows = {
      {"identical", [](Bytes&) {}, true},
      {"other ID", [](Bytes& r) { r[1] ^= 0x01; }, false},
      {"QR clear", [](Bytes& r) { r[2] &= 0x7f; }, false},
      {"opcode STATUS", [](Bytes& r) { r[2] |= 0x10; }, false},
      {"no question", [](Bytes& r) { r[5] = 0; }, false},
      {"two questions", [](Bytes& r) { r[5] = 2; }, false},
      {"other name (one letter)", [](Bytes& r) { r[wire::kHeaderSize + 1] = 'v'; }, false},
      {"other name (label length)", [](Bytes& r) { r[wire::kHeaderSize] = 2; }, false},
      {"other type", [=](Bytes& r) { r[qtype_at + 1] = wire::type::kAAAA; }, false},
      {"other class", [=](Bytes& r) { r[qtype_at + 3] = wire::klass::kCH; }, false},
      {"header only", [](Bytes& r) { r.resize(wire::kHeaderSize); }, false},
      {"cut in the question", [=](Bytes& r) { r.resize(qtype_at + 2); }, false},
      {"shorter than a header", [](Bytes& r) { r.resize(8); }, false},
      {"RCODE and other flags do not matter",
       [](Bytes& r) {
         r[3] |= 0x02;
         r[2] |= 0x04;
       },
       true},
  };
  for (const Row& row : rows) {
    INFO(row.what);
    Bytes r = reply_to(sent);
    row.mutate(r);
    CHECK(reply_matches(sent.data(), sent.size(), r.data(), r.size(), false) == row.matches);
    CHECK(reply_matches(sent.data(), sent.size(), r.data(), r.size(), true) == row.matches);
  }
}

TEST_CASE("reply_matches: letter case folded, or exact with 0x20", "[unit][upstream]") {
  UpstreamQuery q = query("www.example.com");
  q.randomize_case = true;
  Bytes sent = encode(q, 0x4321, true);
  // Force a known mixed case so the test does not rest on the draw.
  const std::vector<std::uint8_t> mixed = {3,   'w', 'W', 'w', 7,   'E', 'x', 'A', 'm',
                                           'P', 'l', 'E', 3,   'c', 'O', 'm', 0};
  std::copy(mixed.begin(), mixed.end(), sent.begin() + wire::kHeaderSize);

  Bytes same = reply_to(sent);
  CHECK(reply_matches(sent.data(), sent.size(), same.data(), same.size(), true));
  CHECK(reply_matches(sent.data(), sent.size(), same.data(), same.size(), false));

  Bytes lowered = reply_to(sent);  // an upstream (or spoofer) that lost the case
  for (std::size_t i = wire::kHeaderSize; i < wire::kHeaderSize + 17; ++i) {
    lowered[i] = wire::ascii_lower(lowered[i]);
  }
  CHECK_FALSE(reply_matches(sent.data(), sent.size(), lowered.data(), lowered.size(), true));
  CHECK(reply_matches(sent.data(), sent.size(), lowered.data(), lowered.size(), false));

  Bytes other = reply_to(sent);
  other[wire::kHeaderSize + 1] = 'x';  // not a case change: another name
  CHECK_FALSE(reply_matches(sent.data(), sent.size(), other.data(), other.size(), false));
}

}  // namespace
}  // namespace vnetdns::upstream
