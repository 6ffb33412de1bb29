#include "resolver/dnssec/answer_validator.hpp"

#include <algorithm>
#include <array>

#include "resolver/dnssec/denial.hpp"
#include "resolver/dnssec/verifier.hpp"

namespace vnetdns::dnssec {

namespace {

using wire::Name;

// The CNAME a DNAME owned by `dname_owner` with target `dname_target` synthesises for
// `owner` (RFC 6672 section 2.2); false when it would be too long.
bool dname_substitution(const Name& owner, const Name& dname_owner, const Name& dname_target,
                        Name& out) {
  const std::size_t prefix = owner.suffix_offset(dname_owner.label_count());
  if (prefix + dname_target.size() > wire::kMaxNameLength) return false;
  std::array<std::uint8_t, wire::kMaxNameLength> buf{};
  std::copy(owner.data(), owner.data() + prefix, buf.begin());
  std::copy(dname_target.data(), dname_target.data() + dname_target.size(),
            buf.begin() + static_cast<std::ptrdiff_t>(prefix));
  return out.assign_wire(buf.data(), prefix + dname_target.size());
}

// Whether `set` is a CNAME synthesised from a DNAME of the same answer (RFC 6672 section
// 5.3.1): unsigned by design, the signed DNAME carries the proof. It must be exactly the
// DNAME's substitution, or it is any other unsigned CNAME.
bool synthesised_cname(const SignedMessage& m, const RrSet& set) {
  if (set.type != wire::type::kCNAME || set.signed_() || set.size() != 1) return false;
  Name target;
  if (!name_of(ldns_rr_rdf(set.rr(0), 0), target)) return false;
  return std::any_of(m.answer().begin(), m.answer().end(), [&](const RrSet& d) {
    if (d.type != wire::type::kDNAME || d.size() != 1 || set.owner == d.owner ||
        !set.owner.is_subdomain_of(d.owner)) {
      return false;
    }
    Name dname_target;
    Name expected;
    return name_of(ldns_rr_rdf(d.rr(0), 0), dname_target) &&
           dname_substitution(set.owner, d.owner, dname_target, expected) && expected == target;
  });
}

// The zone a signed RRset needs keys for: the signer of its first RRSIG whose signer
// encloses the owner (RFC 4035 section 5.3.1; a signer elsewhere is no signature of this
// data), with `has_signer` true. Else the owner itself: its zone must be proven insecure.
Name zone_name_for(const RrSet& set, bool* has_signer = nullptr) {
  Name signer;
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(set.sigs.get()); ++i) {
    if (rrsig_signer(ldns_rr_list_rr(set.sigs.get(), i), signer) &&
        set.owner.is_subdomain_of(signer)) {
      if (has_signer != nullptr) *has_signer = true;
      return signer;
    }
  }
  if (has_signer != nullptr) *has_signer = false;
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

bool is_proof(const RrSet& set) {
  return (set.type == wire::type::kNSEC || set.type == wire::type::kNSEC3) && set.signed_();
}

class Judge {
 public:
  Judge(const ZoneLookup& lookup, std::uint32_t now, SignatureCache* cache)
      : lookup_(lookup), now_(now), cache_(cache) {}

  // Verifies one RRset; returns false when the verdict is already settled as bogus or
  // indeterminate. `labels` gets the good signature's labels field (0: not verified, as in
  // an insecure zone).
  bool check(const RrSet& set, std::uint8_t& labels) {
    labels = 0;
    bool has_signer = false;
    const Name zone = zone_name_for(set, &has_signer);
    const ZoneKeys* zk = lookup_(zone);
    if (zk == nullptr) return settle(Verdict::indeterminate());
    switch (zk->verdict.security) {
      case Security::kInsecure: weaken(zk->verdict); return true;
      case Security::kBogus:
      case Security::kIndeterminate: return settle(zk->verdict);
      case Security::kSecure:
      case Security::kCount: break;
    }
    // Unsigned (or signed only by zones that do not hold it) in a secure zone.
    if (!has_signer) return settle(Verdict::bogus(BogusReason::kRrsigsMissing));
    // A signer that the chain of trust does not reach as a zone cut.
    if (zk->zone != zone) return settle(Verdict::bogus(BogusReason::kDnskeyMissing));
    const SigCheck sc =
        verify_rrset(set, zk->zone, zk->keys.get(), now_, {&budget_, cache_, zk->id});
    if (!sc.ok) return settle(Verdict::bogus(sc.reason));
    labels = sc.labels;
    ttl_cap_ = std::min(ttl_cap_, sc.ttl_cap);
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
  // Applies a denial proof's outcome.
  void apply(Proof p) {
    switch (p) {
      case Proof::kProven: break;
      case Proof::kOptOut: weaken(Verdict::insecure()); break;
      case Proof::kUnsupported:
        weaken(Verdict::insecure(wire::ede::kUnsupportedNsec3Iterations));
        break;
      case Proof::kMissing: settle(Verdict::bogus(BogusReason::kNsecMissing)); break;
    }
  }
  [[nodiscard]] bool settled() const { return settled_; }
  [[nodiscard]] Verdict verdict() const {
    Verdict v = verdict_;
    v.ttl_cap = ttl_cap_;
    return v;
  }

 private:
  const ZoneLookup& lookup_;
  std::uint32_t now_;
  SignatureCache* cache_;
  CryptoBudget budget_;
  Verdict verdict_ = Verdict::secure();
  std::uint32_t ttl_cap_ = Verdict::kNoTtlCap;  // of every RRset verified so far
  bool settled_ = false;
};

// The proofs of zone `zone` in the authority section, each verified with that zone's keys.
// An insecure or failing zone settles or weakens `j` and leaves the Denial empty.
Denial proofs_of(const SignedMessage& m, const Name& zone, Judge& j) {
  Denial denial;
  for (const auto& set : m.authority()) {
    if (!is_proof(set) || zone_name_for(set) != zone) continue;
    std::uint8_t labels = 0;
    const Security before = j.verdict().security;
    if (!j.check(set, labels)) return Denial();
    if (j.verdict().security != before) return Denial();  // an insecure zone
    denial.add(set);
  }
  return denial;
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
  const Name last = chain_end(m, q.qname, q.qtype);
  bool denial_zone = false;  // a signed proof of a zone that holds `last` (as judge() picks)
  for (const auto& set : m.authority()) {
    if (!is_proof(set)) continue;
    const Name zone = zone_name_for(set);
    need(zone);
    if (last.is_subdomain_of(zone)) denial_zone = true;
  }
  if (!q.spliced && !has_data(m, last, q.qtype) && !denial_zone) need(last);
  return out;
}

Verdict judge(const SignedMessage& m, const AnswerQuestion& q, const ZoneLookup& lookup,
              std::uint32_t now, SignatureCache* cache) {
  Judge j(lookup, now, cache);
  struct Wild {
    Name owner;
    Name zone;
    std::uint8_t labels;
  };
  std::vector<Wild> wildcards;
  for (const auto& set : m.answer()) {
    if (synthesised_cname(m, set)) continue;
    std::uint8_t labels = 0;
    if (!j.check(set, labels)) return j.verdict();
    if (labels > 0 && labels < set.owner.label_count() &&
        !(wildcard_owner(set.owner) && labels + 1u == set.owner.label_count())) {
      wildcards.push_back({set.owner, zone_name_for(set), labels});
    }
  }
  const Name last = chain_end(m, q.qname, q.qtype);
  const bool negative = !q.spliced && !has_data(m, last, q.qtype);

  // A wildcard answer: the proof, from the zone that signed the data, that the name itself
  // does not exist.
  for (const auto& w : wildcards) {
    const Denial d = proofs_of(m, w.zone, j);
    if (j.settled()) return j.verdict();
    j.apply(d.wildcard_answer(w.owner, w.labels));
    if (j.settled()) return j.verdict();
  }
  if (!negative) return j.verdict();

  // A denial: the proofs of the deepest zone that holds the name (records another zone
  // signed say nothing about it).
  Name zone;
  bool found = false;
  for (const auto& set : m.authority()) {
    if (!is_proof(set)) continue;
    const Name z = zone_name_for(set);
    if (last.is_subdomain_of(z) && (!found || z.label_count() > zone.label_count())) {
      zone = z;
      found = true;
    }
  }
  if (!found) {
    // No signed proof: fine in an insecure zone, bogus in a secure one.
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
  const Security before = j.verdict().security;
  const Denial d = proofs_of(m, zone, j);
  if (j.settled() || j.verdict().security != before) return j.verdict();
  j.apply(m.rcode() == 3 ? d.nxdomain(last) : d.nodata(last, q.qtype));
  return j.verdict();
}

}  // namespace vnetdns::dnssec
