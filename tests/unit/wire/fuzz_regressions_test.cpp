// Replays the fuzz seed corpora and every crash reproducer kept under
// tests/fuzz/regressions/<target>/ through the wire parsers with the fuzz targets' main
// checks, so a fixed crash stays fixed in the ordinary (ASan/UBSan) unit run, without clang.
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "resolver/wire/builder.hpp"
#include "resolver/wire/message_view.hpp"
#include "resolver/wire/query_view.hpp"

namespace fs = std::filesystem;
namespace wire = vnetdns::wire;

namespace {

std::vector<fs::path> inputs(const std::string& sub) {
  std::vector<fs::path> out;
  const fs::path dir = fs::path(VNETDNS_SOURCE_DIR) / "tests" / "fuzz" / sub;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (!e.is_regular_file() || name.rfind("LICENSE", 0) == 0 || name == "README.md") continue;
    out.push_back(e.path());
  }
  return out;
}

std::vector<std::uint8_t> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The checks of tests/fuzz/fuzz_query_parser.cpp, reduced. Returns true for kNone.
bool replay_query(const std::vector<std::uint8_t>& m) {
  wire::QueryView q;
  if (wire::parse_query(m.data(), m.size(), q) != wire::QueryError::kNone) return false;
  CHECK(q.question_end <= m.size());
  wire::Name n;
  std::size_t end = 0;
  REQUIRE(wire::read_name(m.data(), m.size(), wire::kHeaderSize, n, &end) ==
          wire::NameError::kNone);
  CHECK(n == q.qname);
  std::array<std::uint8_t, 1232> buf{};
  wire::MessageBuilder b(buf.data(), q.max_udp_response());
  b.start(q.id, wire::kFlagQR);
  REQUIRE(b.add_question(m.data() + wire::kHeaderSize, q.qname_wire_len, q.qtype, q.qclass));
  const std::uint8_t a[4] = {192, 0, 2, 1};
  CHECK(b.add_rr(wire::Section::kAnswer, q.qname, wire::type::kA, 1, 60, a, 4));
  if (q.has_opt) {
    wire::OptOptions o;
    o.cookie = q.has_cookie ? q.cookie : nullptr;
    o.cookie_len = q.has_cookie ? q.cookie_len : 0;
    CHECK(b.add_opt(o));
  }
  wire::MessageView v;
  REQUIRE(wire::parse_message(buf.data(), b.size(), v) == wire::MessageError::kNone);
  CHECK(v.qname == q.qname);
  REQUIRE(v.rrs.size() == 1);
  wire::Name owner;
  CHECK((v.owner(v.rrs[0], owner) && owner == q.qname));
  return true;
}

// The checks of tests/fuzz/fuzz_message_parser.cpp, reduced. Returns true for kNone.
bool replay_message(const std::vector<std::uint8_t>& m) {
  wire::MessageView v;
  if (wire::parse_message(m.data(), m.size(), v) != wire::MessageError::kNone) return false;
  static std::array<std::uint8_t, 64 * 1024> out;
  for (const auto& rr : v.rrs) {
    CHECK(static_cast<std::size_t>(rr.rdata_offset) + rr.rdlength <= m.size());
    wire::Name owner;
    CHECK(v.owner(rr, owner));
    CHECK(wire::skip_name(m.data(), m.size(), rr.name_offset) + 10 == rr.rdata_offset);
    std::size_t n = 0;
    if (wire::copy_rdata(v, rr, out.data(), out.size(), &n)) CHECK(n <= out.size());
  }
  return true;
}

}  // namespace

TEST_CASE("fuzz seed corpora replay through the wire parsers", "[unit][wire]") {
  const auto queries = inputs("corpus/fuzz_query_parser");
  const auto messages = inputs("corpus/fuzz_message_parser");
  REQUIRE(queries.size() >= 50);
  REQUIRE(messages.size() >= 50);
  std::size_t q_ok = 0;
  for (const auto& p : queries) {
    INFO(p.string());
    if (replay_query(slurp(p))) ++q_ok;
  }
  std::size_t m_ok = 0;
  for (const auto& p : messages) {
    INFO(p.string());
    if (replay_message(slurp(p))) ++m_ok;
  }
  // Most seeds are real traffic: the parsers must accept the bulk of them.
  CHECK(q_ok * 2 > queries.size());
  CHECK(m_ok * 2 > messages.size());
}

TEST_CASE("fuzz crash reproducers stay fixed", "[unit][wire]") {
  for (const auto& p : inputs("regressions/fuzz_query_parser")) {
    INFO(p.string());
    (void)replay_query(slurp(p));
  }
  for (const auto& p : inputs("regressions/fuzz_message_parser")) {
    INFO(p.string());
    (void)replay_message(slurp(p));
  }
  SUCCEED("replayed");
}
