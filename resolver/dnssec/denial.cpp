#include "resolver/dnssec/denial.hpp"

#include <algorithm>
#include <cstdlib>

#include "resolver/dnssec/ldns_ptr.hpp"

namespace vnetdns::dnssec {

namespace {

using wire::Name;

// The longest common ancestor of two names.
Name common_ancestor(const Name& a, const Name& b) {
  const std::size_t la = a.label_count();
  const std::size_t lb = b.label_count();
  for (std::size_t k = std::min(la, lb);; --k) {
    Name x = a.parent(la - k);
    if (x == b.parent(lb - k)) return x;
    if (k == 0) return Name();
  }
}

// `n` with all but its last `labels` labels removed.
Name suffix(const Name& n, std::size_t labels) { return n.parent(n.label_count() - labels); }

bool wildcard_of(const Name& ce, Name& out) { return Name::prepend_label(ce, "*", out); }

bool bitmap_has(const ldns_rdf* bitmap, std::uint16_t type) {
  return bitmap != nullptr && ldns_nsec_bitmap_covers_type(bitmap, static_cast<ldns_rr_type>(type));
}

}  // namespace

bool base32hex_decode(const std::uint8_t* text, std::size_t len, std::string& out) {
  out.clear();
  std::uint32_t acc = 0;
  int bits = 0;
  for (std::size_t i = 0; i < len; ++i) {
    const std::uint8_t c = text[i];
    std::uint32_t v = 0;
    if (c >= '0' && c <= '9') {
      v = static_cast<std::uint32_t>(c - '0');
    } else if (c >= 'a' && c <= 'v') {
      v = static_cast<std::uint32_t>(c - 'a' + 10);
    } else if (c >= 'A' && c <= 'V') {
      v = static_cast<std::uint32_t>(c - 'A' + 10);
    } else {
      return false;
    }
    acc = (acc << 5) | v;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

void Denial::add(const RrSet& set) {
  for (std::size_t i = 0; i < set.size(); ++i) {
    const ldns_rr* rr = set.rr(i);
    if (set.type == wire::type::kNSEC) {
      Nsec n{set.owner, Name(), rr};
      if (ldns_rr_rd_count(rr) < 1 || !name_of(ldns_rr_rdf(rr, 0), n.next)) continue;
      nsec_.push_back(n);
    } else if (set.type == wire::type::kNSEC3) {
      if (ldns_rr_rd_count(rr) < 5) continue;
      const std::uint8_t algorithm = ldns_nsec3_algorithm(rr);
      const std::uint16_t iterations = ldns_nsec3_iterations(rr);
      if (algorithm != 1 || iterations > kMaxNsec3Iterations) {
        nsec3_unsupported_ = true;  // RFC 5155 section 8.1, RFC 9276 section 3.2
        continue;
      }
      std::uint8_t* salt_data = ldns_nsec3_salt_data(rr);  // a copy the caller frees
      const std::string salt =
          salt_data != nullptr
              ? std::string(reinterpret_cast<const char*>(salt_data), ldns_nsec3_salt_length(rr))
              : std::string();
      std::free(salt_data);  // NOLINT(cppcoreguidelines-no-malloc): ldns's allocation
      if (nsec3_.empty()) {
        hash_algorithm_ = algorithm;
        iterations_ = iterations;
        salt_ = salt;
      } else if (iterations != iterations_ || salt != salt_) {
        continue;  // one zone, one set of parameters (RFC 5155 section 7.1)
      }
      Nsec3 n{{}, {}, set.owner.parent(1), rr};
      const std::uint8_t* label = set.owner.data();
      if (set.owner.label_count() < 1 || !base32hex_decode(label + 1, label[0], n.hash)) continue;
      const ldns_rdf* next = ldns_nsec3_next_owner(rr);
      if (next == nullptr || ldns_rdf_size(next) < 1) continue;
      n.next.assign(reinterpret_cast<const char*>(ldns_rdf_data(next)) + 1,
                    ldns_rdf_size(next) - 1);
      nsec3_.push_back(std::move(n));
    }
  }
}

// ---- NSEC

bool Denial::nsec_has(const Nsec& n, std::uint16_t type) const {
  return bitmap_has(ldns_nsec_get_bitmap(n.rr), type);
}

const Denial::Nsec* Denial::nsec_match(const Name& n) const {
  for (const auto& r : nsec_) {
    if (r.owner == n) return &r;
  }
  return nullptr;
}

const Denial::Nsec* Denial::nsec_cover(const Name& n) const {
  for (const auto& r : nsec_) {
    if (!(r.owner < n)) continue;
    // RFC 4035 section 5.4 / RFC 6840 section 4.1: an NSEC at a delegation point (NS without
    // SOA) or at a DNAME says nothing about names below it.
    if (n.is_subdomain_of(r.owner) &&
        ((nsec_has(r, wire::type::kNS) && !nsec_has(r, wire::type::kSOA)) ||
         nsec_has(r, wire::type::kDNAME))) {
      continue;
    }
    if (r.owner < r.next) {
      if (n < r.next) return &r;
    } else if (n.is_subdomain_of(r.next)) {
      return &r;  // the last NSEC of the zone: its next name is the apex
    }
  }
  return nullptr;
}

Proof Denial::nsec_nxdomain(const Name& qname) const {
  const Nsec* c = nsec_cover(qname);
  if (c == nullptr) return Proof::kMissing;
  // A name with names below it exists (an empty non-terminal): no NXDOMAIN.
  if (c->next.is_subdomain_of(qname)) return Proof::kMissing;
  // RFC 4592: the closest encloser is the longer common ancestor of the name with either
  // end of the covering span; the wildcard below it must not exist either.
  const Name a = common_ancestor(qname, c->owner);
  const Name b = common_ancestor(qname, c->next);
  const Name& ce = a.label_count() >= b.label_count() ? a : b;
  Name wc;
  if (!wildcard_of(ce, wc) || nsec_match(wc) != nullptr) return Proof::kMissing;
  return nsec_cover(wc) != nullptr ? Proof::kProven : Proof::kMissing;
}

// ---- NSEC3

bool Denial::nsec3_has(const Nsec3& n, std::uint16_t type) const {
  return bitmap_has(ldns_nsec3_bitmap(n.rr), type);
}

std::string Denial::hash3(const Name& n) const {
  for (const auto& [name, hash] : hashes_) {
    if (name == n) return hash;
  }
  if (hashes_.size() >= kMaxHashes) return {};
  LdnsRdf name(ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, n.size(), n.data()));
  if (!name) return {};
  LdnsRdf hashed(ldns_nsec3_hash_name(name.get(), hash_algorithm_, iterations_,
                                      static_cast<std::uint8_t>(salt_.size()),
                                      reinterpret_cast<const std::uint8_t*>(salt_.data())));
  std::string out;
  if (!hashed || ldns_rdf_size(hashed.get()) < 2) return {};
  const std::uint8_t* label = ldns_rdf_data(hashed.get());
  if (!base32hex_decode(label + 1, label[0], out)) return {};
  hashes_.emplace_back(n, out);
  return out;
}

const Denial::Nsec3* Denial::nsec3_match(const Name& n) const {
  const std::string h = hash3(n);
  if (h.empty()) return nullptr;
  for (const auto& r : nsec3_) {
    if (r.hash == h && n.is_subdomain_of(r.zone)) return &r;
  }
  return nullptr;
}

const Denial::Nsec3* Denial::nsec3_cover(const Name& n) const {
  const std::string h = hash3(n);
  if (h.empty()) return nullptr;
  for (const auto& r : nsec3_) {
    if (!n.is_subdomain_of(r.zone)) continue;
    if (r.hash < r.next) {
      if (r.hash < h && h < r.next) return &r;
    } else if (r.hash < h || h < r.next) {
      return &r;  // the span that wraps around the end of the hash order
    }
  }
  return nullptr;
}

bool Denial::closest_encloser(const Name& n, Name& ce, const Nsec3*& next_closer) const {
  const Name& zone = nsec3_.front().zone;
  if (!n.is_subdomain_of(zone)) return false;
  const std::size_t labels = n.label_count();
  for (std::size_t k = labels; k >= zone.label_count(); --k) {
    const Name candidate = suffix(n, k);
    const Nsec3* m = nsec3_match(candidate);
    if (m != nullptr) {
      // RFC 5155 section 8.3: not a delegation point (NS without SOA) nor a DNAME owner.
      if ((nsec3_has(*m, wire::type::kNS) && !nsec3_has(*m, wire::type::kSOA)) ||
          nsec3_has(*m, wire::type::kDNAME)) {
        return false;
      }
      ce = candidate;
      if (k == labels) {
        next_closer = nullptr;
        return true;
      }
      next_closer = nsec3_cover(suffix(n, k + 1));
      return next_closer != nullptr;
    }
    if (k == 0) break;
  }
  return false;
}

Proof Denial::nsec3_nxdomain(const Name& qname) const {
  Name ce;
  const Nsec3* nc = nullptr;
  if (!closest_encloser(qname, ce, nc) || nc == nullptr) return Proof::kMissing;
  Name wc;
  if (!wildcard_of(ce, wc) || nsec3_cover(wc) == nullptr) return Proof::kMissing;
  return ldns_nsec3_optout(nc->rr) ? Proof::kOptOut : Proof::kProven;
}

// ---- the questions callers ask

Proof Denial::nxdomain(const Name& qname) const {
  if (nsec_nxdomain(qname) == Proof::kProven) return Proof::kProven;
  if (nsec3_.empty()) return no_nsec3_proof();
  return nsec3_nxdomain(qname);
}

Proof Denial::nodata(const Name& qname, std::uint16_t qtype) const {
  // The record at the name must come from the side of a zone cut that answers the type:
  // the parent's delegation record (NS without SOA) speaks only for DS, the child's apex
  // (SOA) for everything but DS (RFC 4035 section 5.4, RFC 6840 section 4.4).
  auto right_side = [qtype](bool ns, bool soa) {
    return qtype == wire::type::kDS ? !soa : (soa || !ns);
  };
  if (const Nsec* m = nsec_match(qname); m != nullptr) {
    if (!nsec_has(*m, qtype) && !nsec_has(*m, wire::type::kCNAME) &&
        right_side(nsec_has(*m, wire::type::kNS), nsec_has(*m, wire::type::kSOA))) {
      return Proof::kProven;
    }
  } else if (const Nsec* c = nsec_cover(qname); c != nullptr) {
    // An empty non-terminal: the next name lies below it (RFC 4035 section 3.1.3.2).
    if (c->next != qname && c->next.is_subdomain_of(qname)) return Proof::kProven;
    // A wildcard that matched without the type (RFC 4035 section 3.1.3.4).
    const Name a = common_ancestor(qname, c->owner);
    const Name b = common_ancestor(qname, c->next);
    Name wc;
    if (wildcard_of(a.label_count() >= b.label_count() ? a : b, wc)) {
      const Nsec* w = nsec_match(wc);
      if (w != nullptr && !nsec_has(*w, qtype) && !nsec_has(*w, wire::type::kCNAME)) {
        return Proof::kProven;
      }
    }
  }
  if (nsec3_.empty()) return no_nsec3_proof();
  if (const Nsec3* m = nsec3_match(qname); m != nullptr) {
    const bool proven = !nsec3_has(*m, qtype) && !nsec3_has(*m, wire::type::kCNAME) &&
                        right_side(nsec3_has(*m, wire::type::kNS), nsec3_has(*m, wire::type::kSOA));
    return proven ? Proof::kProven : Proof::kMissing;
  }
  Name ce;
  const Nsec3* nc = nullptr;
  if (!closest_encloser(qname, ce, nc) || nc == nullptr) return Proof::kMissing;
  // RFC 5155 section 8.6: a DS NODATA without a matching NSEC3 is an opt-out span.
  if (qtype == wire::type::kDS) {
    return ldns_nsec3_optout(nc->rr) ? Proof::kOptOut : Proof::kMissing;
  }
  // RFC 5155 section 8.7: wildcard NODATA.
  Name wc;
  if (!wildcard_of(ce, wc)) return Proof::kMissing;
  const Nsec3* w = nsec3_match(wc);
  if (w != nullptr && !nsec3_has(*w, qtype) && !nsec3_has(*w, wire::type::kCNAME)) {
    return Proof::kProven;
  }
  // An empty non-terminal only above unsigned delegations has no NSEC3 under opt-out.
  return ldns_nsec3_optout(nc->rr) ? Proof::kOptOut : Proof::kMissing;
}

Proof Denial::wildcard_answer(const Name& owner, std::uint8_t labels) const {
  if (owner.label_count() <= labels) return Proof::kMissing;
  if (const Nsec* c = nsec_cover(owner); c != nullptr) {
    // The span must end where the wildcard used begins: its closest encloser is the
    // wildcard's parent (`labels` labels); a longer one is a closer name, which another
    // wildcard or the name itself would have answered from (RFC 4592 section 3.3.1).
    const Name a = common_ancestor(owner, c->owner);
    const Name b = common_ancestor(owner, c->next);
    if (std::max(a.label_count(), b.label_count()) == labels) return Proof::kProven;
  }
  if (nsec3_.empty()) return no_nsec3_proof();
  return nsec3_cover(suffix(owner, labels + 1u)) != nullptr ? Proof::kProven : Proof::kMissing;
}

CutProof Denial::ds_absent(const Name& name) const {
  auto from_bitmap = [](bool ds, bool soa, bool ns) {
    if (ds || soa) return CutProof::kMissing;  // contradicts itself, or the child's apex
    return ns ? CutProof::kDelegation : CutProof::kNotCut;
  };
  if (const Nsec* m = nsec_match(name); m != nullptr) {
    return from_bitmap(nsec_has(*m, wire::type::kDS), nsec_has(*m, wire::type::kSOA),
                       nsec_has(*m, wire::type::kNS));
  }
  if (const Nsec* c = nsec_cover(name); c != nullptr) {
    if (c->next != name && c->next.is_subdomain_of(name)) return CutProof::kNotCut;
    return CutProof::kNoName;
  }
  if (nsec3_.empty()) {
    return nsec3_unsupported_ ? CutProof::kUnsupported : CutProof::kMissing;
  }
  if (const Nsec3* m = nsec3_match(name); m != nullptr) {
    return from_bitmap(nsec3_has(*m, wire::type::kDS), nsec3_has(*m, wire::type::kSOA),
                       nsec3_has(*m, wire::type::kNS));
  }
  Name ce;
  const Nsec3* nc = nullptr;
  if (!closest_encloser(name, ce, nc) || nc == nullptr) return CutProof::kMissing;
  return ldns_nsec3_optout(nc->rr) ? CutProof::kOptOut : CutProof::kNoName;
}

}  // namespace vnetdns::dnssec
