// Denial with NSEC3 (RFC 5155 sections 8.3-8.8, opt-out in 6 and 9.2, RFC 9276 iteration
// limit): closest-encloser NXDOMAIN, opt-out, NODATA (plain, empty non-terminal, wildcard),
// DS denials and opt-out, the proof behind a wildcard answer, unusable parameters, and
// base32hex; and the same proofs signed, through check_ds and judge(). The chains are hashed with
// ldns (ldns_nsec3_hash_name) in the test.
#include <string>

#include <catch2/catch.hpp>

#include "resolver/dnssec/answer_validator.hpp"
#include "resolver/dnssec/chain.hpp"
#include "resolver/dnssec/denial.hpp"
#include "resolver/wire/types.hpp"

#include "tests/unit/dnssec/signing.hpp"

namespace vnetdns::dnssec {
namespace {

using test::kNow;
using test::Message;
using test::N;
using test::Nsec3Chain;
using test::Nsec3Params;
using test::Proofs;
using test::Records;
using test::rrs;
using test::Zone;
using test::Zones;
using test::operator+;

// Zone example.: the apex, a.example. (A), the empty non-terminal c.example. above
// b.c.example. (A), d.example. (delegation without DS), s.example. (delegation with DS),
// e.example. (CNAME), the empty non-terminal w.example. above the wildcard *.w.example. (TXT).
// With opt-out the unsigned delegation d.example. has no NSEC3 of its own.
Nsec3Chain chain(Nsec3Params p = {}) {
  std::vector<std::pair<std::string, std::string>> names = {
      {"example.", "NS SOA RRSIG DNSKEY NSEC3PARAM"},
      {"a.example.", "A RRSIG"},
      {"c.example.", ""},
      {"b.c.example.", "A RRSIG"},
      {"s.example.", "NS DS RRSIG"},
      {"e.example.", "CNAME RRSIG"},
      {"w.example.", ""},
      {"*.w.example.", "TXT RRSIG"},
  };
  if (!p.opt_out) names.emplace_back("d.example.", "NS");
  return Nsec3Chain("example.", names, p);
}

bool same(const Records& a, const Records& b) {
  for (const auto& x : a) {
    for (const auto& y : b) {
      if (ldns_rr_compare(x.get(), y.get()) == 0) return true;
    }
  }
  return false;
}

// A name "n<i>.<parent>" whose covering NSEC3 is none of `avoid`: a proof built for it then
// holds each record it needs as a record of its own (hashes fall where they fall).
std::string pick(const Nsec3Chain& c, const std::string& parent, const Records& avoid) {
  for (int i = 0; i < 200; ++i) {
    const std::string name = "n" + std::to_string(i) + "." + parent;
    if (!same(c.cover(name), avoid)) return name;
  }
  FAIL("every name below " << parent << " hashed into an avoided span");
  return {};
}

// A name below example. to deny: its span is neither the apex's nor the wildcard's.
std::string nx_name(const Nsec3Chain& c) {
  return pick(c, "example.", c.match("example.") + c.cover("*.example."));
}

TEST_CASE("NSEC3 helper hashes as RFC 5155 appendix A", "[dnssec][denial][nsec3]") {
  const Nsec3Params p{12, "aabbccdd", false};
  CHECK(test::nsec3_hash("example.", p) == "0p9mhaveqvm6t7vbl5lop2u3t2rp3tom");
  CHECK(test::nsec3_hash("a.example.", p) == "35mthgpgcu1qg68fab165klnsnk3dpvl");
  CHECK(test::nsec3_hash("x.y.w.example.", p) == "2vptu5timamqttgl4luu9kg21e0aor3s");
}

TEST_CASE("NSEC3 NXDOMAIN: closest encloser, next closer, wildcard", "[dnssec][denial][nsec3]") {
  const auto params = GENERATE(Nsec3Params{}, Nsec3Params{12, "aabbccdd", false});
  const Nsec3Chain c = chain(params);
  const std::string nx = nx_name(c);
  CAPTURE(nx, params.iterations);
  SECTION("proven") {
    Proofs p(test::unique(c.match("example.") + c.cover(nx) + c.cover("*.example.")));
    CHECK(p.denial.nxdomain(N(nx)) == Proof::kProven);
  }
  SECTION("a deeper closest encloser") {
    // nx.b.c.example.: closest encloser b.c.example., next closer nx.b.c.example.
    Proofs p(test::unique(c.match("b.c.example.") + c.cover("nx.b.c.example.") +
                          c.cover("*.b.c.example.")));
    CHECK(p.denial.nxdomain(N("nx.b.c.example.")) == Proof::kProven);
    // Below a name that does not exist the next closer is that name.
    Proofs q(test::unique(c.match("example.") + c.cover(nx) + c.cover("*.example.")));
    CHECK(q.denial.nxdomain(N("deeper." + nx)) == Proof::kProven);
  }
  SECTION("without the wildcard proof") {
    Proofs p(c.match("example.") + c.cover(nx));
    CHECK(p.denial.nxdomain(N(nx)) == Proof::kMissing);
  }
  SECTION("without the closest encloser") {
    // (Unless the apex's own record covers the wildcard: then it is left out too.)
    const Records wild = c.cover("*.example.");
    Proofs p(same(wild, c.match("example.")) ? c.cover(nx) : c.cover(nx) + wild);
    CHECK(p.denial.nxdomain(N(nx)) == Proof::kMissing);
  }
  SECTION("without the next closer name") {
    Proofs p(test::unique(c.match("example.") + c.cover("*.example.")));
    CHECK(p.denial.nxdomain(N(nx)) == Proof::kMissing);
  }
  SECTION("a name that exists is not denied") {
    Proofs p(test::unique(c.all()));
    CHECK(p.denial.nxdomain(N("a.example.")) == Proof::kMissing);
    CHECK(p.denial.nxdomain(N(nx)) == Proof::kProven);
  }
  SECTION("the closest encloser may not be a delegation") {
    Proofs p(
        test::unique(c.match("s.example.") + c.cover("x.s.example.") + c.cover("*.s.example.")));
    CHECK(p.denial.nxdomain(N("x.s.example.")) == Proof::kMissing);
  }
  SECTION("records of another zone prove nothing here") {
    const Nsec3Chain other("other.", {{"example.", "NS SOA"}, {"a.example.", "A"}}, params);
    Proofs p(test::unique(other.match("example.") + other.cover(nx) + other.cover("*.example.")));
    CHECK(p.denial.nxdomain(N(nx)) == Proof::kMissing);
  }
}

TEST_CASE("NSEC3 NXDOMAIN in an opt-out span is insecure", "[dnssec][denial][nsec3]") {
  const Nsec3Chain c = chain(Nsec3Params{0, "-", true});
  const std::string nx = nx_name(c);
  Proofs p(test::unique(c.match("example.") + c.cover(nx) + c.cover("*.example.")));
  CHECK(p.denial.nxdomain(N(nx)) == Proof::kOptOut);
}

TEST_CASE("NSEC3 NODATA", "[dnssec][denial][nsec3]") {
  const Nsec3Chain c = chain();
  SECTION("the name exists without the type") {
    Proofs p(c.match("a.example."));
    CHECK(p.denial.nodata(N("a.example."), wire::type::kTXT) == Proof::kProven);
    CHECK(p.denial.nodata(N("a.example."), wire::type::kA) == Proof::kMissing);
  }
  SECTION("a CNAME answers every type") {
    Proofs p(c.match("e.example."));
    CHECK(p.denial.nodata(N("e.example."), wire::type::kA) == Proof::kMissing);
  }
  SECTION("an empty non-terminal") {
    Proofs p(c.match("c.example."));
    CHECK(p.denial.nodata(N("c.example."), wire::type::kA) == Proof::kProven);
  }
  SECTION("wildcard NODATA") {
    const std::string q = pick(c, "w.example.", c.match("w.example.") + c.match("*.w.example."));
    Proofs p(c.match("w.example.") + c.cover(q) + c.match("*.w.example."));
    CHECK(p.denial.nodata(N(q), wire::type::kMX) == Proof::kProven);
    CHECK(p.denial.nodata(N(q), wire::type::kTXT) == Proof::kMissing);
    Proofs no_wild(c.match("w.example.") + c.cover(q));
    CHECK(no_wild.denial.nodata(N(q), wire::type::kMX) == Proof::kMissing);
  }
  SECTION("DS at a delegation without DS") {
    Proofs p(c.match("d.example."));
    CHECK(p.denial.nodata(N("d.example."), wire::type::kDS) == Proof::kProven);
    Proofs s(c.match("s.example."));
    CHECK(s.denial.nodata(N("s.example."), wire::type::kDS) == Proof::kMissing);
  }
  SECTION("nothing about the name") {
    Proofs p(c.match("a.example."));
    CHECK(p.denial.nodata(N("b.c.example."), wire::type::kTXT) == Proof::kMissing);
  }
}

TEST_CASE("NSEC3 DS denial and opt-out", "[dnssec][denial][nsec3]") {
  const Nsec3Chain plain = chain();
  const Nsec3Chain opt = chain(Nsec3Params{0, "-", true});
  SECTION("an unsigned delegation in an opt-out span") {
    // d.example. has no NSEC3 of its own: the span covering it has the opt-out flag.
    Proofs p(test::unique(opt.match("example.") + opt.cover("d.example.")));
    CHECK(p.denial.nodata(N("d.example."), wire::type::kDS) == Proof::kOptOut);
    CHECK(p.denial.ds_absent(N("d.example.")) == CutProof::kOptOut);
  }
  const std::string u = pick(plain, "example.", plain.match("example."));
  SECTION("without opt-out: the name does not exist") {
    Proofs p(plain.match("example.") + plain.cover(u));
    CHECK(p.denial.nodata(N(u), wire::type::kDS) == Proof::kMissing);
    CHECK(p.denial.ds_absent(N(u)) == CutProof::kNoName);
  }
  SECTION("what a matching NSEC3 says about a cut") {
    Proofs p(plain.all());
    CHECK(p.denial.ds_absent(N("d.example.")) == CutProof::kDelegation);
    CHECK(p.denial.ds_absent(N("a.example.")) == CutProof::kNotCut);
    CHECK(p.denial.ds_absent(N("c.example.")) == CutProof::kNotCut);   // empty non-terminal
    CHECK(p.denial.ds_absent(N("s.example.")) == CutProof::kMissing);  // DS exists
    CHECK(p.denial.ds_absent(N("example.")) == CutProof::kMissing);    // a child's apex
  }
  SECTION("no closest encloser") {
    Proofs p(plain.cover(u));
    CHECK(p.denial.ds_absent(N(u)) == CutProof::kMissing);
  }
}

TEST_CASE("NSEC3 proof behind a wildcard-synthesised answer", "[dnssec][denial][nsec3]") {
  const Nsec3Chain c = chain();
  // q.w.example. TXT from *.w.example. (labels 2): the next closer name q.w.example. is
  // covered; for r.q.w.example. the next closer name is q.w.example. as well.
  Proofs p(c.cover("q.w.example."));
  CHECK(p.denial.wildcard_answer(N("q.w.example."), 2) == Proof::kProven);
  CHECK(p.denial.wildcard_answer(N("r.q.w.example."), 2) == Proof::kProven);
  // A labels field that is no expansion at all.
  CHECK(p.denial.wildcard_answer(N("q.w.example."), 3) == Proof::kMissing);
  // Any other record of the chain.
  for (const auto& r : c.all()) {
    Records one;
    one.emplace_back(ldns_rr_clone(r.get()));
    if (same(one, c.cover("q.w.example."))) continue;
    Proofs other(one);
    CHECK(other.denial.wildcard_answer(N("q.w.example."), 2) == Proof::kMissing);
  }
  Proofs none({});
  CHECK(none.denial.wildcard_answer(N("q.w.example."), 2) == Proof::kMissing);
}

TEST_CASE("NSEC3 with too many iterations or an unknown hash is not used",
          "[dnssec][denial][nsec3]") {
  SECTION("150 iterations are used, 151 are not") {
    const Nsec3Chain ok = chain(Nsec3Params{kMaxNsec3Iterations, "-", false});
    const std::string nx = nx_name(ok);
    Proofs p(test::unique(ok.match("example.") + ok.cover(nx) + ok.cover("*.example.")));
    CHECK(p.denial.nxdomain(N(nx)) == Proof::kProven);

    const Nsec3Chain many = chain(Nsec3Params{kMaxNsec3Iterations + 1, "-", false});
    Proofs q(many.all());
    CHECK(q.denial.nxdomain(N(nx_name(many))) == Proof::kUnsupported);
    CHECK(q.denial.nodata(N("a.example."), wire::type::kTXT) == Proof::kUnsupported);
    CHECK(q.denial.wildcard_answer(N("q.w.example."), 2) == Proof::kUnsupported);
    CHECK(q.denial.ds_absent(N("d.example.")) == CutProof::kUnsupported);
  }
  SECTION("hash algorithm 2") {
    const Nsec3Chain c = chain();
    std::string text = test::to_text(c.match("a.example.")[0].get());
    const auto at = text.find("NSEC3\t1 ");
    REQUIRE(at != std::string::npos);
    text[at + 6] = '2';
    Proofs p(test::rrs({text}));
    CHECK(p.denial.nodata(N("a.example."), wire::type::kTXT) == Proof::kUnsupported);
  }
}

TEST_CASE("NSEC3 denials signed, through check_ds and judge", "[dnssec][denial][nsec3]") {
  Zone ex("example.");
  const Records soa = ex.signed_set(rrs({"example. 300 IN SOA ns. host. 1 2 3 4 300"}));
  // Each NSEC3 RRset signed on its own (one record per owner).
  auto signed_each = [&](const Records& recs) {
    Records out;
    for (const auto& r : recs) {
      Records one;
      one.emplace_back(ldns_rr_clone(r.get()));
      out = out + ex.signed_set(one);
    }
    return out;
  };
  SECTION("check_ds: an opt-out span is insecure") {
    const Nsec3Chain opt = chain(Nsec3Params{0, "-", true});
    const auto reply =
        Message{"d.example.",
                wire::type::kDS,
                0,
                {},
                soa + signed_each(test::unique(opt.match("example.") + opt.cover("d.example.")))}
            .parse();
    const DsResult r = check_ds(reply, N("d.example."), ex.secure(), kNow);
    CHECK(r.kind == CutKind::kEnd);
    CHECK(r.end.security == Security::kInsecure);
    CHECK(r.end.ede() == -1);
  }
  SECTION("check_ds: a delegation without DS is insecure, a name without NS no cut") {
    const Nsec3Chain c = chain();
    const auto reply =
        Message{"d.example.", wire::type::kDS, 0, {}, soa + signed_each(c.match("d.example."))}
            .parse();
    const DsResult r = check_ds(reply, N("d.example."), ex.secure(), kNow);
    CHECK(r.end.security == Security::kInsecure);
    const auto a =
        Message{"a.example.", wire::type::kDS, 0, {}, soa + signed_each(c.match("a.example."))}
            .parse();
    CHECK(check_ds(a, N("a.example."), ex.secure(), kNow).kind == CutKind::kNotCut);
  }
  SECTION("check_ds: too many iterations is insecure with EDE 27") {
    const Nsec3Chain many = chain(Nsec3Params{kMaxNsec3Iterations + 1, "-", false});
    const auto reply =
        Message{"d.example.", wire::type::kDS, 0, {}, soa + signed_each(many.match("d.example."))}
            .parse();
    const DsResult r = check_ds(reply, N("d.example."), ex.secure(), kNow);
    CHECK(r.end.security == Security::kInsecure);
    CHECK(r.end.ede() == wire::ede::kUnsupportedNsec3Iterations);
  }
  SECTION("judge: NXDOMAIN proven, opt-out, too many iterations, unsigned") {
    Zones zones;
    zones.add(ex.secure());
    auto verdict = [&](const Nsec3Chain& c, bool sign) {
      const std::string nx = nx_name(c);
      const Records proof = test::unique(c.match("example.") + c.cover(nx) + c.cover("*.example."));
      const auto m =
          Message{nx, wire::type::kA, 3, {}, soa + (sign ? signed_each(proof) : test::clone(proof))}
              .parse();
      return judge(m, AnswerQuestion{N(nx), wire::type::kA, false}, zones.lookup(), kNow);
    };
    CHECK(verdict(chain(), true).security == Security::kSecure);
    CHECK(verdict(chain(Nsec3Params{0, "-", true}), true).security == Security::kInsecure);
    const Verdict many = verdict(chain(Nsec3Params{kMaxNsec3Iterations + 1, "-", false}), true);
    CHECK(many.security == Security::kInsecure);
    CHECK(many.ede() == wire::ede::kUnsupportedNsec3Iterations);
    const Verdict bare = verdict(chain(), false);
    CHECK(bare.security == Security::kBogus);
    CHECK(bare.reason == BogusReason::kNsecMissing);
  }
}

TEST_CASE("base32hex_decode (RFC 4648 section 10 vectors, unpadded)", "[dnssec][denial]") {
  auto decode = [](std::string_view text, bool& ok) {
    std::string out = "junk";
    ok = base32hex_decode(reinterpret_cast<const std::uint8_t*>(text.data()), text.size(), out);
    return out;
  };
  bool ok = false;
  CHECK(decode("", ok).empty());
  CHECK(ok);
  CHECK(decode("CO", ok) == "f");
  CHECK(decode("CPNG", ok) == "fo");
  CHECK(decode("CPNMU", ok) == "foo");
  CHECK(decode("CPNMUOG", ok) == "foob");
  CHECK(decode("CPNMUOJ1", ok) == "fooba");
  CHECK(decode("cpnmuoj1e8", ok) == "foobar");
  CHECK(ok);
  CHECK(decode("0123456789abcdefghijklmnopqrstuv", ok) ==
        std::string("\x00\x44\x32\x14\xc7\x42\x54\xb6\x35\xcf\x84\x65\x3a\x56\xd7\xc6\x75\xbe"
                    "\x77\xdf",
                    20));
  CHECK(ok);
  for (const char* bad : {"w", "W", "CO==", "C O", "z0"}) {
    CAPTURE(bad);
    decode(bad, ok);
    CHECK_FALSE(ok);
  }
}

}  // namespace
}  // namespace vnetdns::dnssec
