// MessageBuilder: owner-name compression, parse-back, overflow behaviour (fits() and a
// well-formed prefix), OPT with EDE and COOKIE, TTL offsets.
#include "resolver/wire/builder.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "resolver/wire/message_view.hpp"
#include "resolver/wire/query_view.hpp"

using vnetdns::wire::MessageBuilder;
using vnetdns::wire::MessageError;
using vnetdns::wire::MessageView;
using vnetdns::wire::Name;
using vnetdns::wire::NameError;
using vnetdns::wire::OptOptions;
using vnetdns::wire::parse_message;
using vnetdns::wire::parse_query;
using vnetdns::wire::QueryError;
using vnetdns::wire::QueryView;
using vnetdns::wire::read_name;
using vnetdns::wire::Section;
namespace type = vnetdns::wire::type;
namespace wire = vnetdns::wire;

namespace {

struct Rec {
  Section section;
  const char* owner;
  std::uint16_t type;
  std::uint32_t ttl;
  std::vector<std::uint8_t> rdata;
};

std::vector<std::uint8_t> name_wire(const char* text) {
  const Name n = Name::from_text(text);
  return {n.data(), n.data() + n.size()};
}

const std::vector<Rec>& sample() {
  static const std::vector<Rec> kRecs = {
      {Section::kAnswer, "myregistry.azurecr.io", type::kCNAME, 1783,
       name_wire("myregistry.privatelink.azurecr.io")},
      {Section::kAnswer, "myregistry.privatelink.azurecr.io", type::kA, 10, {10, 0, 0, 7}},
      {Section::kAnswer,
       "myregistry.westeurope.data.privatelink.azurecr.io",
       type::kA,
       10,
       {10, 0, 0, 6}},
      {Section::kAuthority, "privatelink.azurecr.io", type::kNS, 3600,
       name_wire("ns1.privatelink.azurecr.io")},
      {Section::kAdditional, "ns1.privatelink.azurecr.io", type::kA, 3600, {10, 0, 0, 1}},
      {Section::kAdditional, "unrelated.example", type::kA, 60, {192, 0, 2, 1}},
  };
  return kRecs;
}

std::size_t build_sample(MessageBuilder& b) {
  b.start(0x1234, wire::kFlagQR | wire::kFlagRD | wire::kFlagRA);
  REQUIRE(b.add_question(Name::from_text("MyRegistry.AzureCR.io"), type::kA, 1));
  std::size_t added = 0;
  for (const auto& r : sample()) {
    if (!b.add_rr(r.section, Name::from_text(r.owner), r.type, 1, r.ttl, r.rdata.data(),
                  r.rdata.size())) {
      break;
    }
    ++added;
  }
  return added;
}

// Parses `m` as a response and checks it holds the first `n` sample records in order.
void check_parses_as_sample(const std::uint8_t* m, std::size_t len, std::size_t n) {
  MessageView v;
  REQUIRE(parse_message(m, len, v) == MessageError::kNone);
  CHECK(v.id == 0x1234);
  CHECK(v.qname == Name::from_text("myregistry.azurecr.io"));
  REQUIRE(v.rrs.size() == n);
  for (std::size_t i = 0; i < n; ++i) {
    INFO("rr " << i);
    const auto& want = sample()[i];
    Name owner;
    REQUIRE(v.owner(v.rrs[i], owner));
    CHECK(owner == Name::from_text(want.owner));
    // read_name straight from the offset gives the same name.
    Name again;
    std::size_t end = 0;
    REQUIRE(read_name(m, len, v.rrs[i].name_offset, again, &end) == NameError::kNone);
    CHECK(again == owner);
    CHECK(end + 10 == v.rrs[i].rdata_offset);
    CHECK(v.rrs[i].section == want.section);
    CHECK(v.rrs[i].type == want.type);
    CHECK(v.rrs[i].ttl == want.ttl);
    CHECK(std::vector<std::uint8_t>(m + v.rrs[i].rdata_offset,
                                    m + v.rrs[i].rdata_offset + v.rrs[i].rdlength) == want.rdata);
  }
}

}  // namespace

TEST_CASE("MessageBuilder compresses owner names and parses back", "[unit][wire]") {
  std::array<std::uint8_t, 1232> buf{};
  MessageBuilder b(buf.data(), buf.size());
  REQUIRE(build_sample(b) == sample().size());
  REQUIRE(b.fits());
  CHECK(b.count(Section::kAnswer) == 3);
  CHECK(b.count(Section::kAuthority) == 1);
  CHECK(b.count(Section::kAdditional) == 2);

  // Uncompressed size: header + question + each RR with its full owner.
  std::size_t uncompressed = 12 + Name::from_text("myregistry.azurecr.io").size() + 4;
  for (const auto& r : sample())
    uncompressed += Name::from_text(r.owner).size() + 10 + r.rdata.size();
  CHECK(b.size() < uncompressed);

  // The first answer's owner equals the question name: exactly a pointer to offset 12.
  const std::size_t first_rr = 12 + 23 + 4;
  CHECK(buf[first_rr] == 0xc0);
  CHECK(buf[first_rr + 1] == 12);
  // add_question(Name) writes the lowered name (a Name holds no letter case).
  CHECK(std::string(buf.begin() + 13, buf.begin() + 23) == "myregistry");

  // Exact expected saving per owner: the longest suffix already written is replaced by a
  // 2-byte pointer.
  //   myregistry.azurecr.io                              23 -> 2
  //   myregistry.privatelink.azurecr.io                  35 -> 11+12 labels, ptr -> 25
  //   myregistry.westeurope.data.privatelink.azurecr.io  51 -> 11+11+5 +2 = 29
  //   privatelink.azurecr.io                             24 -> 2 (suffix of rr 2's owner)
  //   ns1.privatelink.azurecr.io                         28 -> 4 + 2 = 6
  //   unrelated.example                                  19 -> 19 (nothing shared)
  const std::size_t want_size = 12 + 23 + 4 + (2 + 10 + 35) + (25 + 10 + 4) + (29 + 10 + 4) +
                                (2 + 10 + 28) + (6 + 10 + 4) + (19 + 10 + 4);
  CHECK(b.size() == want_size);

  check_parses_as_sample(buf.data(), b.size(), sample().size());

  // TTL offsets point at each RR's TTL.
  REQUIRE(b.ttl_offset_count() == sample().size());
  CHECK(b.ttl_offsets_complete());
  for (std::size_t i = 0; i < b.ttl_offset_count(); ++i) {
    CHECK(wire::load32(buf.data() + b.ttl_offsets()[i]) == sample()[i].ttl);
  }
}

TEST_CASE("MessageBuilder overflow keeps a well-formed message", "[unit][wire]") {
  // Size of the full message, then every smaller capacity down to the bare header.
  std::array<std::uint8_t, 1232> big{};
  MessageBuilder full(big.data(), big.size());
  REQUIRE(build_sample(full) == sample().size());
  const std::size_t full_size = full.size();

  for (std::size_t cap = 12 + 23 + 4; cap < full_size; ++cap) {
    INFO("capacity " << cap);
    std::vector<std::uint8_t> buf(cap);
    MessageBuilder b(buf.data(), buf.size());
    const std::size_t added = build_sample(b);
    CHECK(added < sample().size());
    CHECK_FALSE(b.fits());
    CHECK(b.size() <= cap);
    CHECK(b.ttl_offset_count() == added);
    check_parses_as_sample(buf.data(), b.size(), added);
    // Once overflowed, nothing more is written, even a record that would fit.
    const std::size_t before = b.size();
    const std::uint8_t tiny[1] = {0};
    CHECK_FALSE(b.add_rr(Section::kAdditional, Name(), 99, 1, 0, tiny, 0));
    CHECK(b.size() == before);
    CHECK_FALSE(b.add_opt(OptOptions{}));
    CHECK(b.size() == before);
  }

  // Question does not fit.
  std::array<std::uint8_t, 20> small{};
  MessageBuilder b(small.data(), small.size());
  b.start(1, wire::kFlagQR);
  CHECK_FALSE(b.add_question(Name::from_text("myregistry.azurecr.io"), type::kA, 1));
  CHECK_FALSE(b.fits());
  CHECK(b.size() == 12);
  CHECK(wire::header_qdcount(small.data()) == 0);

  // start() resets the overflow state.
  std::array<std::uint8_t, 64> again{};
  MessageBuilder b2(again.data(), again.size());
  b2.start(1, 0);
  CHECK_FALSE(b2.add_rr(Section::kAnswer, Name::from_text(std::string(60, 'a').c_str()), 1, 1, 0,
                        again.data(), 4));
  CHECK_FALSE(b2.fits());
  b2.start(1, 0);
  CHECK(b2.fits());
  CHECK(b2.size() == 12);
}

TEST_CASE("MessageBuilder refuses records out of section order", "[unit][wire]") {
  std::array<std::uint8_t, 512> buf{};
  MessageBuilder b(buf.data(), buf.size());
  b.start(7, wire::kFlagQR);
  REQUIRE(b.add_question(Name::from_text("a"), type::kA, 1));
  const std::uint8_t a[4] = {1, 2, 3, 4};
  REQUIRE(b.add_rr(Section::kAdditional, Name::from_text("a"), type::kA, 1, 1, a, 4));
  const std::size_t before = b.size();
  CHECK_FALSE(b.add_rr(Section::kAnswer, Name::from_text("a"), type::kA, 1, 1, a, 4));
  CHECK(b.size() == before);
  CHECK(b.count(Section::kAnswer) == 0);
  CHECK(b.count(Section::kAdditional) == 1);
}

TEST_CASE("MessageBuilder add_opt with EDE and COOKIE round-trips", "[unit][wire]") {
  const std::array<std::uint8_t, 24> cookie = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12,
                                               13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24};
  std::array<std::uint8_t, 512> buf{};
  MessageBuilder b(buf.data(), buf.size());

  SECTION("as a query: parse_query sees the OPT fields and the cookie") {
    b.start(0x55aa, wire::kFlagRD);
    REQUIRE(b.add_question(Name::from_text("example.com"), type::kAAAA, 1));
    OptOptions o;
    o.udp_size = 1232;
    o.dnssec_ok = true;
    o.cookie = cookie.data();
    o.cookie_len = static_cast<std::uint8_t>(cookie.size());
    o.ede_code = wire::ede::kProhibited;
    REQUIRE(b.add_opt(o));
    REQUIRE(b.fits());
    CHECK(b.size() == 12 + 13 + 4 + 11 + (4 + 24) + (4 + 2));
    QueryView q;
    REQUIRE(parse_query(buf.data(), b.size(), q) == QueryError::kNone);
    CHECK(q.has_opt);
    CHECK(q.udp_size == 1232);
    CHECK(q.dnssec_ok);
    CHECK(q.edns_version == 0);
    REQUIRE(q.has_cookie);
    CHECK(q.cookie_len == 24);
    CHECK(std::equal(cookie.begin(), cookie.end(), q.cookie));
    // The EDE option is the last 6 bytes: code 15, length 2, info code 18.
    const std::uint8_t* ede = buf.data() + b.size() - 6;
    CHECK(wire::load16(ede) == wire::edns::kOptionEde);
    CHECK(wire::load16(ede + 2) == 2);
    CHECK(wire::load16(ede + 4) == wire::ede::kProhibited);
    CHECK(b.ttl_offset_count() == 0);  // OPT's TTL is not a TTL
  }

  SECTION("as a response: parse_message reads the extended RCODE (BADVERS)") {
    b.start(0x55aa, wire::kFlagQR);
    REQUIRE(b.add_question(Name::from_text("example.com"), type::kA, 1));
    const auto badvers = static_cast<std::uint16_t>(wire::Rcode::kBadVers);
    b.set_rcode(static_cast<std::uint8_t>(badvers & 0x0f));
    OptOptions o;
    o.extended_rcode = static_cast<std::uint8_t>(badvers >> 4);
    o.ede_code = wire::ede::kNotReady;
    REQUIRE(b.add_opt(o));
    MessageView v;
    REQUIRE(parse_message(buf.data(), b.size(), v) == MessageError::kNone);
    CHECK(v.has_opt);
    CHECK(v.opt_udp_size == wire::kEdnsUdpSize);
    CHECK(v.rcode() == 16);
    CHECK(b.count(Section::kAdditional) == 1);
  }

  SECTION("does not fit: nothing written") {
    std::array<std::uint8_t, 12 + 13 + 4 + 11 + 10> tight{};
    MessageBuilder t(tight.data(), tight.size());
    t.start(1, 0);
    REQUIRE(t.add_question(Name::from_text("example.com"), type::kA, 1));
    OptOptions o;
    o.cookie = cookie.data();
    o.cookie_len = 8;  // 11 + 12 > 21 left
    CHECK_FALSE(t.add_opt(o));
    CHECK(t.size() == 12 + 13 + 4);
    CHECK(wire::header_arcount(tight.data()) == 0);
  }
}

TEST_CASE("MessageBuilder TTL offsets stop at kMaxTtlOffsets", "[unit][wire]") {
  std::vector<std::uint8_t> buf(8192);
  MessageBuilder b(buf.data(), buf.size());
  b.start(1, wire::kFlagQR);
  REQUIRE(b.add_question(Name::from_text("many.example"), type::kA, 1));
  const std::uint8_t a[4] = {192, 0, 2, 1};
  const std::size_t n = MessageBuilder::kMaxTtlOffsets + 3;
  for (std::size_t i = 0; i < n; ++i) {
    REQUIRE(b.add_rr(Section::kAnswer, Name::from_text("many.example"), type::kA, 1,
                     static_cast<std::uint32_t>(i), a, 4));
  }
  CHECK(b.ttl_offset_count() == MessageBuilder::kMaxTtlOffsets);
  CHECK_FALSE(b.ttl_offsets_complete());
  // Every owner after the question is a 2-byte pointer.
  CHECK(b.size() == 12 + 14 + 4 + n * (2 + 10 + 4));
  MessageView v;
  REQUIRE(parse_message(buf.data(), b.size(), v) == MessageError::kNone);
  CHECK(v.rrs.size() == n);
}

TEST_CASE("MessageBuilder compresses against the client's mixed-case question", "[unit][wire]") {
  // The question is copied from the client's bytes ("WwW.ExAmPlE"); owners compress to it.
  const std::uint8_t qwire[] = {3, 'W', 'w', 'W', 7, 'E', 'x', 'A', 'm', 'P', 'l', 'E', 0};
  std::array<std::uint8_t, 256> buf{};
  MessageBuilder b(buf.data(), buf.size());
  b.start(1, wire::kFlagQR);
  REQUIRE(b.add_question(qwire, sizeof(qwire), type::kA, 1));
  const std::uint8_t a[4] = {192, 0, 2, 1};
  REQUIRE(b.add_rr(Section::kAnswer, Name::from_text("www.example"), type::kA, 1, 5, a, 4));
  REQUIRE(b.add_rr(Section::kAnswer, Name::from_text("mail.example"), type::kA, 1, 5, a, 4));
  CHECK(b.size() == 12 + 13 + 4 + (2 + 10 + 4) + (5 + 2 + 10 + 4));
  MessageView v;
  REQUIRE(parse_message(buf.data(), b.size(), v) == MessageError::kNone);
  Name owner;
  REQUIRE(v.owner(v.rrs[1], owner));
  CHECK(owner == Name::from_text("mail.example"));
}

TEST_CASE("MessageBuilder::add_question with the parsed name writes what the plain one does",
          "[unit][wire]") {
  // The client's spelling (mixed case) goes out as is; the lowered name given alongside only
  // feeds the compression table, so the answer's owner names compress against the question
  // exactly as when the builder lowers the bytes itself.
  const Name lowered = Name::from_text("MyRegistry.PrivateLink.AzureCR.io");
  std::vector<std::uint8_t> wire(lowered.data(), lowered.data() + lowered.size());
  wire[1] = 'M';  // "Myregistry": the client's case
  wire[12] = 'P';
  const Name owner = Name::from_text("myregistry.privatelink.azurecr.io");
  const std::uint8_t rdata[4] = {10, 0, 0, 7};
  const auto build = [&](bool given, const Name& name) {
    std::array<std::uint8_t, 512> buf{};
    MessageBuilder b(buf.data(), buf.size());
    b.start(0x1234, 0x8400);
    if (given) {
      b.add_question(wire.data(), wire.size(), name, 1, 1);
    } else {
      b.add_question(wire.data(), wire.size(), 1, 1);
    }
    b.add_rr(vnetdns::wire::Section::kAnswer, owner, 1, 1, 60, rdata, sizeof(rdata));
    return std::vector<std::uint8_t>(buf.begin(), buf.begin() + static_cast<long>(b.size()));
  };
  const auto plain = build(false, lowered);
  CHECK(build(true, lowered) == plain);
  // A name that does not spell these bytes (another length) is not trusted: same result.
  CHECK(build(true, Name::from_text("other.example")) == plain);
  // The owner was compressed to a pointer at the question (offset 12): 2 bytes, not 35.
  CHECK(plain.size() == 12 + wire.size() + 4 + 2 + 10 + sizeof(rdata));
}
