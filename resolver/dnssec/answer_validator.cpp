#include "resolver/dnssec/answer_validator.hpp"

#include <algorithm>

#include "resolver/dnssec/denial.hpp"
#include "resolver/dnssec/verifier.hpp"

namespace vnetdns::dnssec {

namespace {

using wire::Name;

// Whether `set` needs its own signature: a CNAME synthesised from a DNAME in the same answer
// is unsigned by design (RFC 6672 section 5.3.1); the DNAME carries the proof.
bool synthesised_cname(const SignedMessage& m, const RrSet& set) {
  if (set.type != wire::type::kCNAME || set.signed_()) return false;
  return std::any_of(m.answer().begin(), m.answer().end(), [&](const RrSet& d) {
    return d.type == wire::type::kDNAME && set.owner != d.owner &&
           set.owner.is_subdomain_of(d.owner);
  });
}

// The zone name a signed RRset needs keys for (its first signature's signer), or its owner
// when unsigned.
Name zone_name_for(const RrSet& set) {
  Name signer;
  if (set.signed_() && rrsig_signer(ldns_rr_list_rr(set.sigs.get(), 0), signer)) return signer;
  return set.owner;
}

// The last name of the question's CNAME chain in the answer section (a question for the
// CNAME itself, or for ANY, is answered by the first link).
Name chain_end(const SignedMessage& m, const Name& qname, std::uint16_t qtype) {
  Name current = qname;
  if (qtype == wire::type::kCNAME || qtype == wire::type::kANY) return current;
  for (std::size_t hops = 0; hops < 16; ++hops) {
    const RrSet* c = m.find(wire::Section::kAnswer, current, wire::type::kCNAME);
    if (c == nullptr || c->size() == 0) break;
    Name next;
    if (!name_of(ldns_rr_rdf(c->rr(0), 0), next)) break;
    current = next;
  }
  return current;
}

bool has_data(const SignedMessage& m, const Name& name, std::uint16_t qtype) {
  return std::any_of(m.answer().begin(), m.answer().end(), [&](const RrSet& s) {
    return s.owner == name && (s.type == qtype || (qtype == wire::type::kANY && s.type != 0));
  });
}

bool wildcard_owner(const Name& n) {
  return n.label_count() > 0 && n.data()[0] == 1 && n.data()[1] == '*';
}

class Judge {
 public:
  Judge(const SignedMessage& m, const ZoneLookup& lookup, std::uint32_t now)
      : m_(m), lookup_(lookup), now_(now) {}

  // Verifies one RRset; returns false when the verdict is already settled as bogus or
  // indeterminate. `labels` gets the good signature's labels field.
  bool check(const RrSet& set, std::uint8_t& labels) {
    labels = 0;
    const ZoneKeys* zk = lookup_(zone_name_for(set));
    if (zk == nullptr) return settle(Verdict::indeterminate());
    switch (zk->verdict.security) {
      case Security::kInsecure: weaken(zk->verdict); return true;
      case Security::kBogus:
      case Security::kIndeterminate: return settle(zk->verdict);
      case Security::kSecure:
      case Security::kCount: break;
    }
    if (!set.signed_()) return settle(Verdict::bogus(BogusReason::kRrsigsMissing));
    if (zk->zone != zone_name_for(set)) {
      // The signer names a zone the chain of trust does not reach as a cut.
      return settle(Verdict::bogus(BogusReason::kDnskeyMissing));
    }
    const SigCheck sc = verify_rrset(set, zk->zone, zk->keys.get(), now_);
    if (!sc.ok) return settle(Verdict::bogus(sc.reason));
    labels = sc.labels;
    return true;
  }

  bool settle(const Verdict& v) {
    if (!settled_) {
      verdict_ = v;
      settled_ = true;
    }
    return false;
  }
  void weaken(const Verdict& insecure) {
    if (verdict_.security == Security::kSecure) verdict_ = insecure;
  }
  [[nodiscard]] bool settled() const { return settled_; }
  [[nodiscard]] Verdict verdict() const { return verdict_; }

 private:
  const SignedMessage& m_;
  const ZoneLookup& lookup_;
  std::uint32_t now_;
  Verdict verdict_ = Verdict::secure();
  bool settled_ = false;
};

// Applies a denial proof's outcome to `j`.
void apply(Judge& j, Proof p) {
  switch (p) {
    case Proof::kProven: break;
    case Proof::kOptOut: j.weaken(Verdict::insecure()); break;
    case Proof::kUnsupported:
      j.weaken(Verdict::insecure(wire::ede::kUnsupportedNsec3Iterations));
      break;
    case Proof::kMissing: j.settle(Verdict::bogus(BogusReason::kNsecMissing)); break;
  }
}

}  // namespace

std::vector<Name> needed_zones(const SignedMessage& m, const AnswerQuestion& q) {
  std::vector<Name> out;
  auto need = [&](const Name& n) {
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  };
  for (const auto& set : m.answer()) {
    if (!synthesised_cname(m, set)) need(zone_name_for(set));
  }
  bool signed_denial = false;
  for (const auto& set : m.authority()) {
    if ((set.type == wire::type::kNSEC || set.type == wire::type::kNSEC3) && set.signed_()) {
      need(zone_name_for(set));
      signed_denial = true;
    }
  }
  const Name last = chain_end(m, q.qname, q.qtype);
  if (!q.spliced && !has_data(m, last, q.qtype) && !signed_denial) need(last);
  return out;
}

Verdict judge(const SignedMessage& m, const AnswerQuestion& q, const ZoneLookup& lookup,
              std::uint32_t now) {
  Judge j(m, lookup, now);
  struct Wild {
    Name owner;
    std::uint8_t labels;
  };
  std::vector<Wild> wildcards;
  for (const auto& set : m.answer()) {
    if (synthesised_cname(m, set)) continue;
    std::uint8_t labels = 0;
    if (!j.check(set, labels)) return j.verdict();
    if (labels > 0 && labels < set.owner.label_count() &&
        !(wildcard_owner(set.owner) && labels + 1u == set.owner.label_count())) {
      wildcards.push_back({set.owner, labels});
    }
  }
  const Name last = chain_end(m, q.qname, q.qtype);
  const bool negative = !q.spliced && !has_data(m, last, q.qtype);
  if (!negative && wildcards.empty()) return j.verdict();

  // The proofs: NSEC/NSEC3 of the authority section, each verified with its zone's keys.
  Denial denial;
  bool unsigned_denial = true;
  for (const auto& set : m.authority()) {
    if (set.type != wire::type::kNSEC && set.type != wire::type::kNSEC3) continue;
    if (!set.signed_()) continue;
    unsigned_denial = false;
    std::uint8_t labels = 0;
    const Verdict before = j.verdict();
    if (!j.check(set, labels)) return j.verdict();
    if (j.verdict().security != before.security) return j.verdict();  // an insecure zone
    denial.add(set);
  }
  if (negative && unsigned_denial) {
    // No signed proof at all: fine in an insecure zone, bogus in a secure one.
    const ZoneKeys* zk = lookup(last);
    if (zk == nullptr) return Verdict::indeterminate();
    if (zk->verdict.security == Security::kSecure) {
      j.settle(Verdict::bogus(BogusReason::kNsecMissing));
    } else if (zk->verdict.security == Security::kInsecure) {
      j.weaken(zk->verdict);
    } else {
      j.settle(zk->verdict);
    }
    return j.verdict();
  }
  for (const auto& w : wildcards) {
    apply(j, denial.wildcard_answer(w.owner, w.labels));
    if (j.settled()) return j.verdict();
  }
  if (negative) {
    apply(j, m.rcode() == 3 ? denial.nxdomain(last) : denial.nodata(last, q.qtype));
  }
  return j.verdict();
}

}  // namespace vnetdns::dnssec
