// Helpers of the resolver/dnssec unit tests: records written as zone text, keys generated in
// the test (ldns_key_new_frm_algorithm), RRSIGs made with ldns_sign_public over a chosen
// validity window, NSEC3 chains hashed with ldns, and wire messages packed by ldns and parsed
// with SignedMessage::parse, the way the validator sees an upstream's answer.
// All times are relative to kNow: no test reads the clock.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "resolver/dnssec/answer_validator.hpp"
#include "resolver/dnssec/denial.hpp"
#include "resolver/dnssec/ldns_ptr.hpp"
#include "resolver/dnssec/signed_message.hpp"
#include "resolver/dnssec/zone_keys.hpp"

namespace vnetdns::dnssec::test {

// The validation time of every test (2023-11-14), and a day.
inline constexpr std::uint32_t kNow = 1700000000;
inline constexpr std::uint32_t kDay = 86400;

inline wire::Name N(std::string_view text) { return wire::Name::from_text(text); }

// An RRSIG validity window; the default one holds kNow.
struct Validity {
  std::uint32_t inception = kNow - kDay;
  std::uint32_t expiration = kNow + 30 * kDay;
};
inline Validity expired() { return {kNow - 30 * kDay, kNow - kDay}; }
inline Validity not_yet_valid() { return {kNow + kDay, kNow + 30 * kDay}; }

using Records = std::vector<LdnsRr>;

// One record from zone text (default TTL 3600); the test fails on a syntax error.
inline LdnsRr rr(std::string_view text) {
  const std::string line(text);
  ldns_rr* out = nullptr;
  const ldns_status st = ldns_rr_new_frm_str(&out, line.c_str(), 3600, nullptr, nullptr);
  INFO(line << ": " << ldns_get_errorstr_by_id(st));
  REQUIRE(st == LDNS_STATUS_OK);
  return LdnsRr(out);
}

inline Records rrs(std::initializer_list<std::string_view> lines) {
  Records out;
  for (auto l : lines) out.push_back(rr(l));
  return out;
}

// The RRset most checks sign: www.example. A, two addresses.
inline Records www() {
  return rrs({"www.example. 300 IN A 192.0.2.1", "www.example. 300 IN A 192.0.2.2"});
}

inline Records clone(const Records& in) {
  Records out;
  for (const auto& r : in) out.emplace_back(ldns_rr_clone(r.get()));
  return out;
}

// a followed by b (both copied).
inline Records operator+(const Records& a, const Records& b) {
  Records out = clone(a);
  for (const auto& r : b) out.emplace_back(ldns_rr_clone(r.get()));
  return out;
}

// Replaces the owner name of `r`.
inline void set_owner(ldns_rr* r, std::string_view name) {
  const std::string text(name);
  ldns_rdf* old = ldns_rr_owner(r);
  ldns_rr_set_owner(r, ldns_dname_new_frm_str(text.c_str()));
  ldns_rdf_deep_free(old);
}

// A shallow list over `recs` (the records stay owned by `recs`).
inline LdnsRrList list_of(const Records& recs) {
  LdnsRrList l = new_list();
  for (const auto& r : recs) ldns_rr_list_push_rr(l.get(), r.get());
  return l;
}

inline std::string to_text(const ldns_rr* r) {
  char* s = ldns_rr2str(r);
  std::string out = s != nullptr ? s : "";
  std::free(s);
  return out;
}

// A zone with its keys: signs RRsets, gives its DNSKEY RRset, DS records and the ZoneKeys a
// secure chain of trust would have found for it.
class Zone {
 public:
  explicit Zone(std::string apex, ldns_signing_algorithm alg = LDNS_SIGN_ECDSAP256SHA256,
                std::uint16_t flags = 257)
      : apex_(std::move(apex)), keys_(ldns_key_list_new()) {
    add_key(alg, flags);
  }
  // A zone of the same name with another key, of another tag than `other`'s.
  Zone(std::string apex, const Zone& other) : apex_(std::move(apex)), keys_(ldns_key_list_new()) {
    add_key(LDNS_SIGN_ECDSAP256SHA256, 257, {other.keytag()});
  }
  ~Zone() { ldns_key_list_free(keys_); }  // the keys too
  Zone(const Zone&) = delete;
  Zone& operator=(const Zone&) = delete;

  // Adds a key (a ZSK with flags 256, a KSK with 257) whose key tag is none of `avoid` nor
  // of this zone's other keys (ldns tries every key with the RRSIG's tag: a shared tag would
  // turn "no such key" into "bad signature"); returns its index.
  std::size_t add_key(ldns_signing_algorithm alg, std::uint16_t flags,
                      std::vector<std::uint16_t> avoid = {}) {
    for (const auto& d : dnskeys_) avoid.push_back(ldns_calc_keytag(d.get()));
    const bool rsa = alg == LDNS_SIGN_RSASHA1 || alg == LDNS_SIGN_RSASHA1_NSEC3 ||
                     alg == LDNS_SIGN_RSASHA256 || alg == LDNS_SIGN_RSASHA512;
    const std::uint16_t bits = rsa ? 1024 : 256;
    for (;;) {
      ldns_key* k = ldns_key_new_frm_algorithm(alg, bits);
      REQUIRE(k != nullptr);
      ldns_key_set_pubkey_owner(k, ldns_dname_new_frm_str(apex_.c_str()));
      ldns_key_set_flags(k, flags);
      LdnsRr dnskey(ldns_key2rr(k));
      REQUIRE(dnskey != nullptr);
      ldns_rr_set_ttl(dnskey.get(), 3600);
      const std::uint16_t tag = ldns_calc_keytag(dnskey.get());
      if (std::find(avoid.begin(), avoid.end(), tag) != avoid.end()) {
        ldns_key_deep_free(k);
        continue;
      }
      ldns_key_set_keytag(k, tag);
      ldns_key_list_push_key(keys_, k);
      dnskeys_.push_back(std::move(dnskey));
      return dnskeys_.size() - 1;
    }
  }

  [[nodiscard]] const std::string& apex() const { return apex_; }
  [[nodiscard]] wire::Name name() const { return N(apex_); }
  [[nodiscard]] Records dnskey_records() const { return clone(dnskeys_); }
  [[nodiscard]] const ldns_rr* dnskey(std::size_t i = 0) const { return dnskeys_.at(i).get(); }
  [[nodiscard]] std::uint16_t keytag(std::size_t i = 0) const {
    return ldns_key_keytag(ldns_key_list_key(keys_, i));
  }
  // The DNSKEY RRset as a decoded key set (what ZoneKeys::keys holds).
  [[nodiscard]] std::shared_ptr<const KeySet> key_list() const {
    return share_keys(list_of(dnskeys_).get());
  }
  // The DS record of key `i`.
  [[nodiscard]] LdnsRr ds(std::size_t i = 0, ldns_hash h = LDNS_SHA256) const {
    LdnsRr d(ldns_key_rr2ds(dnskeys_.at(i).get(), h));
    REQUIRE(d != nullptr);
    ldns_rr_set_ttl(d.get(), 3600);
    return d;
  }
  // What the chain of trust finds for a secure zone.
  [[nodiscard]] ZoneKeys secure() const {
    return ZoneKeys{Verdict::secure(), name(), key_list(), 3600};
  }

  // The RRSIGs over the RRset `set` by every key (or only key `only`).
  [[nodiscard]] Records sign(const Records& set, Validity v = {}, int only = -1) const {
    ldns_key_list* use = ldns_key_list_new();
    for (std::size_t i = 0; i < ldns_key_list_key_count(keys_); ++i) {
      if (only >= 0 && static_cast<std::size_t>(only) != i) continue;
      ldns_key* k = ldns_key_list_key(keys_, i);
      ldns_key_set_inception(k, v.inception);
      ldns_key_set_expiration(k, v.expiration);
      ldns_key_list_push_key(use, k);
    }
    LdnsRrList in = list_of(set);
    LdnsRrListDeep sigs(ldns_sign_public(in.get(), use));
    // Emptied first (ldns_key_list_free frees the keys it holds): the keys stay in keys_.
    // (Not with ldns_key_list_pop_key: popping the last key frees the array it then keeps.)
    ldns_key_list_set_key_count(use, 0);
    ldns_key_list_free(use);
    REQUIRE(sigs != nullptr);
    REQUIRE(ldns_rr_list_rr_count(sigs.get()) > 0);
    Records out;
    for (std::size_t i = 0; i < ldns_rr_list_rr_count(sigs.get()); ++i) {
      out.emplace_back(ldns_rr_clone(ldns_rr_list_rr(sigs.get(), i)));
    }
    return out;
  }
  // The RRset followed by its RRSIGs.
  [[nodiscard]] Records signed_set(const Records& set, Validity v = {}, int only = -1) const {
    return set + sign(set, v, only);
  }
  [[nodiscard]] Records signed_set(std::initializer_list<std::string_view> lines,
                                   Validity v = {}) const {
    return signed_set(rrs(lines), v);
  }

 private:
  std::string apex_;
  ldns_key_list* keys_;
  Records dnskeys_;
};

// A DNS message as an upstream sends it: question, header, answer and authority sections.
struct Message {
  std::string qname = ".";
  std::uint16_t qtype = LDNS_RR_TYPE_A;
  std::uint8_t rcode = 0;
  Records answer;
  Records authority;

  [[nodiscard]] std::vector<std::uint8_t> wire() const {
    ldns_pkt* p = ldns_pkt_query_new(ldns_dname_new_frm_str(qname.c_str()),
                                     static_cast<ldns_rr_type>(qtype), LDNS_RR_CLASS_IN, LDNS_QR);
    REQUIRE(p != nullptr);
    LdnsPkt pkt(p);
    ldns_pkt_set_rcode(p, rcode);
    for (const auto& r : answer) ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, ldns_rr_clone(r.get()));
    for (const auto& r : authority) {
      ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, ldns_rr_clone(r.get()));
    }
    std::uint8_t* buf = nullptr;
    std::size_t size = 0;
    REQUIRE(ldns_pkt2wire(&buf, p, &size) == LDNS_STATUS_OK);
    std::vector<std::uint8_t> out(buf, buf + size);
    std::free(buf);
    return out;
  }

  [[nodiscard]] SignedMessage parse() const {
    const auto w = wire();
    auto m = SignedMessage::parse(w.data(), w.size());
    REQUIRE(m.has_value());
    return std::move(*m);
  }
};

// The answer RRset of `owner`/`type` in a message holding `records`.
struct OneSet {
  explicit OneSet(const Records& records, const char* owner = "www.example.",
                  std::uint16_t type = LDNS_RR_TYPE_A)
      : msg(Message{owner, type, 0, clone(records), {}}.parse()) {
    set = msg.find(wire::Section::kAnswer, N(owner), type);
    REQUIRE(set != nullptr);
  }
  SignedMessage msg;
  const RrSet* set = nullptr;
};

// A Denial over the NSEC/NSEC3 records given, with the message that owns them.
struct Proofs {
  explicit Proofs(const Records& records) : msg(Message{".", 1, 0, {}, clone(records)}.parse()) {
    for (const auto& s : msg.authority()) denial.add(s);
  }
  SignedMessage msg;
  Denial denial;
};

// NSEC3 parameters of a chain.
struct Nsec3Params {
  std::uint16_t iterations = 0;
  std::string salt = "-";  // hex, or "-" for none
  bool opt_out = false;
};

// The base32hex label (lower case) of NSEC3 hash 1 (SHA-1) of `name`.
inline std::string nsec3_hash(std::string_view name, const Nsec3Params& p) {
  std::vector<std::uint8_t> salt;
  if (p.salt != "-") {
    for (std::size_t i = 0; i + 1 < p.salt.size(); i += 2) {
      salt.push_back(static_cast<std::uint8_t>(std::stoul(p.salt.substr(i, 2), nullptr, 16)));
    }
  }
  const std::string text(name);
  LdnsRdf dname(ldns_dname_new_frm_str(text.c_str()));
  REQUIRE(dname != nullptr);
  LdnsRdf hashed(ldns_nsec3_hash_name(dname.get(), 1, p.iterations,
                                      static_cast<std::uint8_t>(salt.size()), salt.data()));
  REQUIRE(hashed != nullptr);
  char* s = ldns_rdf2str(hashed.get());
  std::string out = s;
  std::free(s);
  if (!out.empty() && out.back() == '.') out.pop_back();
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// The NSEC3 chain of a zone: one record per name given (owner name and its types, "" for an
// empty non-terminal), in hash order, each pointing to the next. match() and cover() pick the
// records a proof needs.
class Nsec3Chain {
 public:
  Nsec3Chain(std::string zone, std::vector<std::pair<std::string, std::string>> names,
             Nsec3Params p = {})
      : zone_(std::move(zone)), params_(std::move(p)) {
    for (auto& [name, types] : names) entries_.push_back({nsec3_hash(name, params_), types});
    std::sort(entries_.begin(), entries_.end(),
              [](const Entry& a, const Entry& b) { return a.hash < b.hash; });
  }

  [[nodiscard]] std::string hash(std::string_view name) const { return nsec3_hash(name, params_); }

  // The NSEC3 record at position i, as zone text.
  [[nodiscard]] std::string text(std::size_t i) const {
    const Entry& e = entries_.at(i);
    const Entry& next = entries_[(i + 1) % entries_.size()];
    return e.hash + "." + zone_ + " 3600 IN NSEC3 1 " + (params_.opt_out ? "1 " : "0 ") +
           std::to_string(params_.iterations) + " " + params_.salt + " " + next.hash + " " +
           e.types;
  }
  [[nodiscard]] Records all() const {
    Records out;
    for (std::size_t i = 0; i < entries_.size(); ++i) out.push_back(rr(text(i)));
    return out;
  }
  // The record whose owner is the hash of `name`.
  [[nodiscard]] Records match(std::string_view name) const {
    const std::string h = hash(name);
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].hash == h) return rrs({text(i)});
    }
    FAIL("no NSEC3 matches " << name);
    return {};
  }
  // The record whose span covers the hash of `name` (which has no record of its own).
  [[nodiscard]] Records cover(std::string_view name) const {
    const std::string h = hash(name);
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      const std::string& lo = entries_[i].hash;
      const std::string& hi = entries_[(i + 1) % entries_.size()].hash;
      REQUIRE(lo != h);
      const bool in = lo < hi ? (lo < h && h < hi) : (lo < h || h < hi);
      if (in) return rrs({text(i)});
    }
    FAIL("no NSEC3 covers " << name);
    return {};
  }

 private:
  struct Entry {
    std::string hash;
    std::string types;
  };
  std::string zone_;
  Nsec3Params params_;
  std::vector<Entry> entries_;
};

// Records without duplicates (a proof may name the same NSEC3 twice).
inline Records unique(const Records& in) {
  Records out;
  for (const auto& r : in) {
    const bool seen = std::any_of(out.begin(), out.end(), [&](const LdnsRr& o) {
      return ldns_rr_compare(o.get(), r.get()) == 0;
    });
    if (!seen) out.emplace_back(ldns_rr_clone(r.get()));
  }
  return out;
}

// What judge() asks: the deepest zone given that encloses the name (nullptr when none).
class Zones {
 public:
  void add(ZoneKeys z) { zones_.push_back(std::move(z)); }
  void add_insecure(std::string_view zone, int info = -1) {
    zones_.push_back(ZoneKeys{Verdict::insecure(info), N(zone), nullptr, 3600});
  }
  void add_bogus(std::string_view zone, BogusReason why) {
    zones_.push_back(ZoneKeys{Verdict::bogus(why), N(zone), nullptr, 5});
  }
  [[nodiscard]] ZoneLookup lookup() const {
    return [this](const wire::Name& n) -> const ZoneKeys* {
      const ZoneKeys* best = nullptr;
      for (const auto& z : zones_) {
        if (n.is_subdomain_of(z.zone) &&
            (best == nullptr || z.zone.label_count() > best->zone.label_count())) {
          best = &z;
        }
      }
      return best;
    };
  }

 private:
  std::vector<ZoneKeys> zones_;
};

}  // namespace vnetdns::dnssec::test
