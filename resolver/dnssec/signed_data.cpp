#include "resolver/dnssec/signed_data.hpp"

#include <algorithm>
#include <string_view>

namespace vnetdns::dnssec {

namespace {

// This thread's scratch buffer, emptied (nullptr when memory is out).
ldns_buffer* scratch() {
  thread_local LdnsBuffer buffer;
  return reuse(buffer, 512);
}

// One record's RDATA inside the per-thread arena.
struct Span {
  std::uint32_t offset;
  std::uint16_t size;
};

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

}  // namespace

bool signed_data(const RrSet& set, const ldns_rr* rrsig, std::vector<std::uint8_t>& out) {
  out.clear();
  const ldns_rdf* labels_rdf = ldns_rr_rrsig_labels(rrsig);
  const ldns_rdf* ttl_rdf = ldns_rr_rrsig_origttl(rrsig);
  if (labels_rdf == nullptr || ldns_rdf_size(labels_rdf) != 1 || ttl_rdf == nullptr ||
      ldns_rdf_size(ttl_rdf) != 4 || set.size() == 0) {
    return false;
  }
  const std::size_t labels = ldns_rdf2native_int8(labels_rdf);
  const std::size_t owner_labels = set.owner.label_count();
  if (labels > owner_labels) return false;
  wire::Name owner = set.owner;
  if (labels < owner_labels &&
      !wire::Name::prepend_label(set.owner.parent(owner_labels - labels), "*", owner)) {
    return false;
  }

  // The RRSIG RDATA without the signature: 18 fixed octets, then the signer name.
  ldns_buffer* buf = scratch();
  if (buf == nullptr || ldns_rrsig2buffer_wire(buf, rrsig) != LDNS_STATUS_OK) return false;
  const std::uint8_t* b = ldns_buffer_begin(buf);
  out.assign(b, b + ldns_buffer_position(buf));  // ldns writes the signer name lowered

  // Each record in canonical form; keep its class and RDATA.
  thread_local std::vector<std::uint8_t> arena;
  thread_local std::vector<Span> spans;
  arena.clear();
  spans.clear();
  std::uint16_t klass = 0;
  for (std::size_t i = 0; i < set.size(); ++i) {
    const ldns_rr* rr = set.rr(i);
    ldns_buffer* one = scratch();
    if (one == nullptr ||
        ldns_rr2buffer_wire_canonical(one, rr, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK) {
      return false;
    }
    const std::size_t owner_len = ldns_rdf_size(ldns_rr_owner(rr));
    const std::size_t len = ldns_buffer_position(one);
    const std::uint8_t* p = ldns_buffer_begin(one);
    if (len < owner_len + 10) return false;
    // RFC 4035 section 5.3.1: the RRSIG's class is the RRset's; one class per RRset.
    const auto rr_class = static_cast<std::uint16_t>((p[owner_len + 2] << 8) | p[owner_len + 3]);
    if (rr_class != ldns_rr_get_class(rrsig)) return false;
    klass = rr_class;
    const std::size_t rdlen = len - owner_len - 10;
    if (rdlen > 0xffff) return false;
    spans.push_back(
        Span{static_cast<std::uint32_t>(arena.size()), static_cast<std::uint16_t>(rdlen)});
    arena.insert(arena.end(), p + owner_len + 10, p + len);
  }
  const std::uint8_t* base = arena.data();
  auto bytes = [base](const Span& s) {
    return std::string_view(reinterpret_cast<const char*>(base + s.offset), s.size);
  };
  // string_view compares as unsigned octets (char_traits<char>::compare is memcmp-like).
  std::sort(spans.begin(), spans.end(),
            [&bytes](const Span& x, const Span& y) { return bytes(x) < bytes(y); });
  spans.erase(std::unique(spans.begin(), spans.end(),
                          [&bytes](const Span& x, const Span& y) { return bytes(x) == bytes(y); }),
              spans.end());

  const std::uint32_t ttl = ldns_rdf2native_int32(ttl_rdf);
  for (const Span& s : spans) {
    out.insert(out.end(), owner.data(), owner.data() + owner.size());
    put16(out, set.type);
    put16(out, klass);
    put16(out, static_cast<std::uint16_t>(ttl >> 16));
    put16(out, static_cast<std::uint16_t>(ttl));
    put16(out, s.size);
    out.insert(out.end(), base + s.offset, base + s.offset + s.size);
  }
  return true;
}

}  // namespace vnetdns::dnssec
