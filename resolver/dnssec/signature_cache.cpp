#include "resolver/dnssec/signature_cache.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include "resolver/util/random.hpp"
#include "resolver/util/siphash.hpp"

namespace vnetdns::dnssec {

namespace {

void append16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

// The RDATA of `rr` (every field, as ldns holds it), length-prefixed.
void append_rdata(std::string& out, const ldns_rr* rr) {
  for (std::size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    const ldns_rdf* f = ldns_rr_rdf(rr, i);
    append16(out, ldns_rdf_size(f));
    out.append(reinterpret_cast<const char*>(ldns_rdf_data(f)), ldns_rdf_size(f));
  }
}

std::uint32_t u32_field(const ldns_rdf* f) {
  return f != nullptr && ldns_rdf_size(f) == 4 ? ldns_rdf2native_int32(f) : 0;
}

// RFC 1982 serial arithmetic, as signature validity times are compared.
bool not_before(std::uint32_t now, std::uint32_t t) {
  return static_cast<std::int32_t>(now - t) >= 0;
}

}  // namespace

SignatureCache::SignatureCache() : slots_(std::make_unique<std::array<Slot, kSlots>>()) {
  auto& r = util::Random::thread_instance();
  for (std::size_t i = 0; i < 16; i += 4) {
    const std::uint32_t x = r.u32();
    const std::uint32_t y = r.u32();
    for (std::size_t j = 0; j < 4; ++j) {
      key_a_[i + j] = static_cast<std::uint8_t>(x >> (8 * j));
      key_b_[i + j] = static_cast<std::uint8_t>(y >> (8 * j));
    }
  }
}

SignatureCache::Fingerprint SignatureCache::fingerprint(const RrSet& set, const ldns_rr* sig,
                                                        std::uint64_t keys_id) const {
  if (keys_id == 0) return {};
  std::string data;
  data.reserve(512);
  for (std::size_t i = 0; i < 8; ++i) data.push_back(static_cast<char>(keys_id >> (8 * i)));
  append_rdata(data, sig);
  // The owner as signed: a wildcard expansion signs "*." + the last `labels` labels.
  const ldns_rdf* labels_rdf = ldns_rr_rrsig_labels(sig);
  const std::size_t labels = labels_rdf != nullptr && ldns_rdf_size(labels_rdf) == 1
                                 ? ldns_rdf2native_int8(labels_rdf)
                                 : 0;
  const std::size_t owner_labels = set.owner.label_count();
  if (labels < owner_labels) {
    data.append("\x01*", 2);
    const std::size_t off = set.owner.suffix_offset(labels);
    data.append(reinterpret_cast<const char*>(set.owner.data() + off), set.owner.size() - off);
  } else {
    data.append(reinterpret_cast<const char*>(set.owner.data()), set.owner.size());
  }
  append16(data, set.type);
  std::vector<std::string> rdatas;
  rdatas.reserve(set.size());
  for (std::size_t i = 0; i < set.size(); ++i) {
    std::string one;
    append16(one, ldns_rr_get_class(set.rr(i)));
    append_rdata(one, set.rr(i));
    rdatas.push_back(std::move(one));
  }
  std::sort(rdatas.begin(), rdatas.end());
  for (const auto& r : rdatas) data += r;
  const auto* bytes = reinterpret_cast<const std::uint8_t*>(data.data());
  Fingerprint f{util::siphash24(key_a_.data(), bytes, data.size()),
                util::siphash24(key_b_.data(), bytes, data.size())};
  if (f.a == 0 && f.b == 0) f.b = 1;  // {0, 0} means "not cacheable"
  return f;
}

bool SignatureCache::known(const Fingerprint& f, std::uint32_t now, std::uint8_t& labels) const {
  if (f.a == 0 && f.b == 0) return false;
  const Slot& s = (*slots_)[f.a % kSlots];
  if (s.a != f.a || s.b != f.b) return false;
  if (!not_before(now, s.inception) || !not_before(s.expiration, now)) return false;
  labels = s.labels;
  ++hits_;
  return true;
}

void SignatureCache::remember(const Fingerprint& f, const ldns_rr* sig, std::uint8_t labels) {
  if (f.a == 0 && f.b == 0) return;
  Slot& s = (*slots_)[f.a % kSlots];
  s.a = f.a;
  s.b = f.b;
  s.expiration = u32_field(ldns_rr_rrsig_expiration(sig));
  s.inception = u32_field(ldns_rr_rrsig_inception(sig));
  s.labels = labels;
}

}  // namespace vnetdns::dnssec
