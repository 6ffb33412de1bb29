// Trust anchor file (DS lines, DNSKEY lines in the style of Debian's root.key with comments
// and blank lines, several names), its errors with PATH:LINE, closest_anchor; and KeyCache
// (expiry with the TTL, at most kMaxKeyTtl, bogus and indeterminate steps kept kBogusTtl,
// TTL 0 not kept, the bound).
#include "resolver/dnssec/trust_anchor.hpp"

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

#include "resolver/dnssec/chain.hpp"
#include "resolver/dnssec/key_cache.hpp"

#include "tests/unit/dnssec/signing.hpp"

namespace vnetdns::dnssec {
namespace {

using test::N;

// A file in a fresh temporary folder, removed at the end of the test.
class TempFile {
 public:
  explicit TempFile(const std::string& text) {
    char tmpl[] = "/tmp/vnetdns-anchor-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/anchors";
    std::ofstream(path_) << text;
  }
  ~TempFile() {
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

// The LINE of an error "PATH:LINE: why" (0 when it has another form).
int line_of(const std::string& error, const std::string& path) {
  if (error.rfind(path + ":", 0) != 0) return 0;
  const std::string rest = error.substr(path.size() + 1);
  const auto colon = rest.find(": ");
  if (colon == std::string::npos || colon == 0) return 0;
  for (std::size_t i = 0; i < colon; ++i) {
    if (rest[i] < '0' || rest[i] > '9') return 0;
  }
  return std::stoi(rest.substr(0, colon));
}

// The root zone's KSK-2017 as DS (IANA root-anchors.xml).
const char* kRootDs =
    ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n";

TEST_CASE("trust anchors from DS lines", "[dnssec][anchor]") {
  TempFile f(
      std::string(kRootDs) +
      "example. 3600 IN DS 12345 13 2 "
      "2BB183AF5F22588179A53B0A98631FAD1A292118A4DB76A26F9C9E4D5E4B0AC0\n"
      ". IN DS 38696 8 2 683D2D0ACB8C9B712A1948B27F741219298D0A450D612C483AF444A4C0FB2B16\n");
  auto r = load_trust_anchors(f.path());
  INFO((r ? std::string() : r.error()));
  REQUIRE(r);
  const auto& anchors = r.value();
  REQUIRE(anchors.size() == 2);
  CHECK(anchors[0].zone.is_root());
  REQUIRE(ldns_rr_list_rr_count(anchors[0].records.get()) == 2);
  const ldns_rr* ds = ldns_rr_list_rr(anchors[0].records.get(), 0);
  CHECK(ldns_rr_get_type(ds) == LDNS_RR_TYPE_DS);
  CHECK(ldns_rdf2native_int16(ldns_rr_rdf(ds, 0)) == 20326);
  CHECK(anchors[1].zone == N("example."));
  CHECK(ldns_rr_list_rr_count(anchors[1].records.get()) == 1);
}

TEST_CASE("trust anchors from DNSKEY lines with comments (Debian root.key style)",
          "[dnssec][anchor]") {
  test::Zone root(".", LDNS_SIGN_RSASHA256);
  test::Zone ex("example.");
  const std::string text =
      "; // DNSSEC trust anchor of the root zone\n"
      ";\n"
      "\n" +
      test::to_text(root.dnskey()) + "\n   \n; example. as well\n" + test::to_text(ex.dnskey());
  TempFile f(text);
  auto r = load_trust_anchors(f.path());
  INFO(text << (r ? std::string() : r.error()));
  REQUIRE(r);
  const auto& anchors = r.value();
  REQUIRE(anchors.size() == 2);
  CHECK(anchors[0].zone.is_root());
  REQUIRE(ldns_rr_list_rr_count(anchors[0].records.get()) == 1);
  CHECK(ldns_rr_compare(ldns_rr_list_rr(anchors[0].records.get(), 0), root.dnskey()) == 0);
  CHECK(anchors[1].zone == N("example."));

  SECTION("the anchor validates the zone's DNSKEY reply") {
    const auto reply =
        test::Message{".", LDNS_RR_TYPE_DNSKEY, 0, root.signed_set(root.dnskey_records()), {}}
            .parse();
    const ZoneKeys k = check_dnskey(reply, N("."), anchors[0].records.get(), test::kNow);
    CHECK(k.verdict.security == Security::kSecure);
  }
}

TEST_CASE("trust anchor file errors name the file and line", "[dnssec][anchor]") {
  SECTION("a record of another type") {
    TempFile f(std::string("; anchors\n") + kRootDs + "example. IN A 192.0.2.1\n");
    auto r = load_trust_anchors(f.path());
    REQUIRE_FALSE(r);
    CHECK(line_of(r.error(), f.path()) == 3);
    CHECK(r.error().substr(r.error().size() - 41) == ": a trust anchor is a DS or DNSKEY record");
  }
  SECTION("a syntax error") {
    TempFile f(std::string(kRootDs) + "\nexample. IN DS notanumber 8 2 AABB\n");
    auto r = load_trust_anchors(f.path());
    REQUIRE_FALSE(r);
    INFO(r.error());
    CHECK(line_of(r.error(), f.path()) == 3);
    CHECK(r.error().find("Syntax error") != std::string::npos);
  }
  SECTION("the lines of a record spread over two lines are counted") {
    TempFile f(std::string(kRootDs) +
               "example. IN DS 12345 13 2 (\n"
               "  2BB183AF5F22588179A53B0A98631FAD1A292118A4DB76A26F9C9E4D5E4B0AC0 )\n"
               "example. IN TXT \"x\"\n");
    auto r = load_trust_anchors(f.path());
    REQUIRE_FALSE(r);
    INFO(r.error());
    CHECK(line_of(r.error(), f.path()) == 4);
  }
  SECTION("no record at all") {
    TempFile f("; nothing here\n\n");
    auto r = load_trust_anchors(f.path());
    REQUIRE_FALSE(r);
    CHECK(r.error() == f.path() + ": no DS or DNSKEY record in the trust anchor file");
  }
  SECTION("no file") {
    auto r = load_trust_anchors("/nonexistent/vnetdns/root.key");
    REQUIRE_FALSE(r);
    CHECK(r.error() == "/nonexistent/vnetdns/root.key: cannot open the trust anchor file");
  }
}

TEST_CASE("closest_anchor", "[dnssec][anchor]") {
  TempFile f(std::string(kRootDs) +
             "example. IN DS 12345 13 2 "
             "2BB183AF5F22588179A53B0A98631FAD1A292118A4DB76A26F9C9E4D5E4B0AC0\n");
  auto r = load_trust_anchors(f.path());
  REQUIRE(r);
  const auto& anchors = r.value();
  REQUIRE(closest_anchor(anchors, N("www.example.")) != nullptr);
  CHECK(closest_anchor(anchors, N("www.example."))->zone == N("example."));
  CHECK(closest_anchor(anchors, N("example."))->zone == N("example."));
  CHECK(closest_anchor(anchors, N("www.other."))->zone.is_root());
  CHECK(closest_anchor(anchors, N("anexample."))->zone.is_root());
  const std::vector<TrustAnchor> only_example(anchors.begin() + 1, anchors.end());
  CHECK(closest_anchor(only_example, N("www.example.")) != nullptr);
  CHECK(closest_anchor(only_example, N("www.other.")) == nullptr);
  CHECK(closest_anchor({}, N("www.example.")) == nullptr);
}

ChainStep step(CutKind kind, Verdict v, std::uint32_t ttl) {
  return ChainStep{kind, ZoneKeys{v, N("example."), nullptr, ttl}};
}

TEST_CASE("KeyCache: entries expire with their TTL", "[dnssec][key_cache]") {
  KeyCache c;
  c.put(N("example."), step(CutKind::kZone, Verdict::secure(), 100), 1000);
  REQUIRE(c.find(N("example."), 1000) != nullptr);
  CHECK(c.find(N("example."), 1000)->kind == CutKind::kZone);
  CHECK(c.find(N("EXAMPLE."), 1099) != nullptr);
  CHECK(c.find(N("example."), 1100) == nullptr);
  CHECK(c.find(N("www.example."), 1000) == nullptr);
  CHECK(c.size() == 1);

  SECTION("at most kMaxKeyTtl") {
    c.put(N("long."), step(CutKind::kNotCut, Verdict::secure(), 86400), 1000);
    CHECK(c.find(N("long."), 1000 + kMaxKeyTtl - 1) != nullptr);
    CHECK(c.find(N("long."), 1000 + kMaxKeyTtl) == nullptr);
  }
  SECTION("a TTL of 0 is not kept") {
    c.put(N("zero."), step(CutKind::kNotCut, Verdict::secure(), 0), 1000);
    CHECK(c.find(N("zero."), 1000) == nullptr);
    CHECK(c.size() == 1);
  }
  SECTION("a newer entry replaces the older") {
    c.put(N("example."), step(CutKind::kNoName, Verdict::secure(), 10), 2000);
    REQUIRE(c.find(N("example."), 2000) != nullptr);
    CHECK(c.find(N("example."), 2000)->kind == CutKind::kNoName);
    CHECK(c.find(N("example."), 2010) == nullptr);
  }
  SECTION("clear") {
    c.clear();
    CHECK(c.size() == 0);
    CHECK(c.find(N("example."), 1000) == nullptr);
  }
}

TEST_CASE("KeyCache: bogus and indeterminate steps are kept kBogusTtl", "[dnssec][key_cache]") {
  KeyCache c;
  c.put(N("bogus."), step(CutKind::kEnd, Verdict::bogus(BogusReason::kBadSignature), 3600), 1000);
  c.put(N("unknown."), step(CutKind::kEnd, Verdict::indeterminate(), 0), 1000);
  c.put(N("insecure."), step(CutKind::kEnd, Verdict::insecure(), 600), 1000);
  for (const char* n : {"bogus.", "unknown."}) {
    CAPTURE(n);
    REQUIRE(c.find(N(n), 1000 + KeyCache::kBogusTtl - 1) != nullptr);
    CHECK(c.find(N(n), 1000 + KeyCache::kBogusTtl) == nullptr);
  }
  CHECK(c.find(N("bogus."), 1000)->keys.verdict.reason == BogusReason::kBadSignature);
  // An insecure end keeps its own TTL.
  CHECK(c.find(N("insecure."), 1599) != nullptr);
  CHECK(c.find(N("insecure."), 1600) == nullptr);
}

TEST_CASE("KeyCache: bounded", "[dnssec][key_cache]") {
  KeyCache c;
  for (std::size_t i = 0; i < KeyCache::kMaxEntries; ++i) {
    c.put(N("n" + std::to_string(i) + ".example."), step(CutKind::kNotCut, Verdict::secure(), 60),
          1000);
  }
  CHECK(c.size() == KeyCache::kMaxEntries);
  CHECK(c.find(N("n0.example."), 1000) != nullptr);
  // Past the bound the cache starts over.
  c.put(N("one.more."), step(CutKind::kNotCut, Verdict::secure(), 60), 1000);
  CHECK(c.size() == 1);
  CHECK(c.find(N("one.more."), 1000) != nullptr);
  CHECK(c.find(N("n0.example."), 1000) == nullptr);
}

}  // namespace
}  // namespace vnetdns::dnssec
