// Replays the wire parsers' fuzz seed corpora, and every crash reproducer kept under
// tests/fuzz/regressions/<target>/ (each target's folder must have a replay here, or the test
// fails), through the code the target drives, with its main checks: a fixed crash stays fixed
// in the ordinary (GCC, ASan/UBSan) unit run, without clang. The fuzz stage of tests/run.sh
// replays them again through the libFuzzer binaries themselves.
#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "resolver/settings/loader.hpp"
#include "resolver/wire/builder.hpp"
#include "resolver/wire/message_view.hpp"
#include "resolver/wire/query_view.hpp"
#include "resolver/xfr/packet.hpp"
#include "resolver/xfr/request_signature.hpp"
#include "resolver/xfr/transfer_responder.hpp"
#include "resolver/zone/local_answer.hpp"
#include "resolver/zone/zone_loader.hpp"
#include "resolver/zone/zone_set.hpp"

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

// tests/fuzz/fuzz_zone_loader.cpp, reduced: load never crashes, errors carry FILE:LINE,
// answers fit.
void replay_zone(const std::vector<std::uint8_t>& m) {
  const std::string_view text(reinterpret_cast<const char*>(m.data()), m.size());
  const wire::Name origin = wire::Name::from_text("example.test");
  auto loaded = vnetdns::zone::load_zone_from_text(origin, text, {}, "fuzz.zone");
  if (!loaded) {
    CHECK(loaded.error().rfind("fuzz.zone:", 0) == 0);
    return;
  }
  auto set = vnetdns::zone::ZoneSet::build({loaded.value()});
  if (!set) return;
  static std::array<std::uint8_t, 65535> buf{};
  for (const char* n : {"example.test", "www.example.test", "nope.example.test"}) {
    const wire::Name qname = wire::Name::from_text(n);
    for (const std::uint16_t t : {1, 5, 6, 28, 255}) {
      wire::MessageBuilder b(buf.data(), buf.size());
      b.start(0, wire::kFlagQR);
      b.add_question(qname, t, 1);
      const vnetdns::zone::Zone* z = set.value()->find(qname);
      if (z != nullptr) (void)vnetdns::zone::answer_local(*set.value(), *z, qname, t, b);
    }
  }
}

// tests/fuzz/fuzz_xfr_request.cpp, reduced: transfer, NOTIFY and TSIG paths on the bytes;
// every reply a whole header with the request's ID.
void replay_xfr(const std::vector<std::uint8_t>& q) {
  static const auto settings = [] {
    auto s = vnetdns::settings::parse_settings(
        "[[key]]\nname = \"xfr-key\"\nsecret = \"bTBjazNkLXNlY3JldC1mb3ItdGVzdHMtb25seQ==\"\n"
        "[[zone]]\nname = \"privatelink.azurecr.io\"\nfile = \"z\"\n"
        "allow_transfer = [\"127.0.0.1\"]\nkey = \"xfr-key\"\n",
        "fuzz.toml");
    REQUIRE(s.ok());
    return s.value();
  }();
  static const auto zones = [] {
    auto z = vnetdns::zone::load_zone_from_text(
        wire::Name::from_text("privatelink.azurecr.io."),
        "@ 300 SOA ns1 hostmaster 1 3600 600 86400 300\n@ 300 NS ns1\nns1 300 A 10.0.0.53\n");
    REQUIRE(z.ok());
    auto set = vnetdns::zone::ZoneSet::build({z.value()});
    REQUIRE(set.ok());
    return set.value();
  }();
  const auto client = *vnetdns::util::Endpoint::parse("127.0.0.1", 5353);
  for (const bool tcp : {true, false}) {
    const auto replies =
        vnetdns::xfr::answer_transfer(settings, *zones, {q.data(), q.size(), client, tcp});
    REQUIRE_FALSE(replies.empty());
    for (const auto& r : replies) {
      REQUIRE(r.size() >= wire::kHeaderSize);
      if (q.size() >= 2) CHECK((r[0] == q[0] && r[1] == q[1]));
    }
  }
  (void)vnetdns::xfr::answer_notify(settings, {q.data(), q.size(), client, false});
  vnetdns::xfr::Packet p = vnetdns::xfr::Packet::parse(q.data(), q.size());
  if (p.valid()) {
    const auto sig =
        vnetdns::xfr::RequestSignature::check(settings, nullptr, p, q.data(), q.size());
    std::vector<std::uint8_t> out(4096, 0);
    const std::size_t n = std::min<std::size_t>(q.size(), out.size());
    std::copy(q.begin(), q.begin() + static_cast<long>(n), out.begin());
    if (sig.ok) CHECK(sig.sign_answer(out.data(), n, out.size()) <= out.size());
    if (!sig.ok) CHECK(sig.append_error_tsig(out.data(), n, out.size()) <= out.size());
  }
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

TEST_CASE("fuzz crash reproducers stay fixed: every one under tests/fuzz/regressions/",
          "[unit][wire]") {
  const fs::path root = fs::path(VNETDNS_SOURCE_DIR) / "tests" / "fuzz" / "regressions";
  REQUIRE(fs::is_directory(root));
  std::size_t found = 0;
  std::size_t replayed = 0;
  for (const auto& dir : fs::directory_iterator(root)) {
    if (!dir.is_directory()) continue;
    const std::string target = dir.path().filename().string();
    const auto files = inputs("regressions/" + target);
    found += files.size();
    for (const auto& p : files) {
      INFO(p.string());
      const auto bytes = slurp(p);
      if (target == "fuzz_query_parser") {
        (void)replay_query(bytes);
      } else if (target == "fuzz_message_parser") {
        (void)replay_message(bytes);
      } else if (target == "fuzz_zone_loader") {
        replay_zone(bytes);
      } else if (target == "fuzz_xfr_request") {
        replay_xfr(bytes);
      } else if (target == "fuzz_validator") {
        // Replayed by tests/unit/dnssec/fuzz_regressions_test.cpp (this layer cannot link
        // the validator).
      } else {
        FAIL("no replay here for reproducers of " << target << ": add one");
      }
      ++replayed;
    }
  }
  REQUIRE(found > 0);
  CHECK(replayed == found);
}
