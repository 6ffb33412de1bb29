#include "resolver/pipeline/response_scrubber.hpp"

#include <algorithm>
#include <array>
#include <limits>

#include "resolver/wire/builder.hpp"
#include "resolver/wire/message_view.hpp"
#include "resolver/zone/local_answer.hpp"

namespace vnetdns::pipeline {

namespace {

using wire::Section;

// True when `target` is answered from local data (so the upstream chain is cut there).
bool answered_locally(const zone::ZoneSet& zones, const wire::Name& target, std::uint16_t qtype,
                      std::size_t chain) {
  const zone::Zone* z = zones.find(target);
  if (z == nullptr) return false;
  thread_local std::array<std::uint8_t, 4096> scratch;
  wire::MessageBuilder b(scratch.data(), scratch.size());
  b.start(0, wire::kFlagQR);
  b.add_question(target, qtype, wire::klass::kIN);
  const zone::LocalResult r = zone::answer_local(zones, *z, target, qtype, b, chain);
  if (r.status == zone::LocalStatus::kMiss) return false;
  if (r.status == zone::LocalStatus::kLeavesLocal && r.next == target) return false;
  return true;
}

std::uint32_t clamp(std::uint32_t v, std::uint32_t lo, std::uint32_t hi) {
  return std::min(std::max(v, lo), hi);
}

}  // namespace

const char* to_string(ScrubError e) noexcept {
  switch (e) {
    case ScrubError::kMalformed: return "malformed";
    case ScrubError::kRcode: return "rcode";
    case ScrubError::kChainTooLong: return "chain_too_long";
    case ScrubError::kTooBig: return "too_big";
    case ScrubError::kCount: break;
  }
  return "unknown";
}

util::Result<Processed, ScrubError> scrub_reply(const std::uint8_t* reply, std::size_t len,
                                                const cache::CacheKey& key,
                                                const zone::ZoneSet& zones,
                                                const TtlPolicy& policy) {
  wire::MessageView view;
  if (wire::parse_message(reply, len, view) != wire::MessageError::kNone) {
    return util::Err(ScrubError::kMalformed);
  }
  // A truncated reply is incomplete (RFC 2181 section 9): never used or cached as it is.
  if (view.truncated()) return util::Err(ScrubError::kMalformed);
  const std::uint16_t rcode = view.rcode();
  if (rcode != 0 && rcode != 3) return util::Err(ScrubError::kRcode);

  Processed out;
  // Built in per-thread scratch space, then copied at its exact size: no 64 KiB zero-fill.
  thread_local std::array<std::uint8_t, wire::kMaxMessageSize> buffer;
  wire::MessageBuilder b(buffer.data(), buffer.size());
  b.start(0, wire::kFlagQR | wire::kFlagRA);
  b.add_question(key.qname, key.qtype, key.qclass);

  thread_local std::array<std::uint8_t, wire::kMaxMessageSize> rdata;
  std::uint32_t min_ttl = std::numeric_limits<std::uint32_t>::max();
  auto write = [&](const wire::RrView& rr, const wire::Name& owner, Section s,
                   std::uint32_t ttl) -> bool {
    std::size_t n = 0;
    if (!wire::copy_rdata(view, rr, rdata.data(), rdata.size(), &n)) return false;
    return b.add_rr(s, owner, rr.type, rr.klass, ttl, rdata.data(), n);
  };

  wire::Name current = key.qname;
  wire::Name owner;
  wire::Name wildcard_signer;  // the signer of a wildcard-synthesised RRset, if any
  std::size_t chain = 0;
  bool have_data = false;
  for (;;) {
    bool found = false;
    const wire::RrView* cname = nullptr;
    for (const auto& rr : view.rrs) {
      if (rr.section != Section::kAnswer || rr.klass != key.qclass) continue;
      if (!view.owner(rr, owner)) return util::Err(ScrubError::kMalformed);
      if (rr.type == wire::type::kDNAME && current != owner && current.is_subdomain_of(owner)) {
        // RFC 6672: the DNAME stays with the synthesised CNAME that follows it.
        const std::uint32_t t = clamp(rr.ttl, policy.min_ttl, policy.max_ttl);
        if (!write(rr, owner, Section::kAnswer, t)) return util::Err(ScrubError::kTooBig);
        min_ttl = std::min(min_ttl, t);
        continue;
      }
      if (owner != current) continue;
      const bool wanted = rr.type == key.qtype || key.qtype == wire::type::kANY ||
                          (key.dnssec_ok && rr.type == wire::type::kRRSIG);
      if (wanted) {
        const std::uint32_t t = clamp(rr.ttl, policy.min_ttl, policy.max_ttl);
        if (!write(rr, owner, Section::kAnswer, t)) return util::Err(ScrubError::kTooBig);
        min_ttl = std::min(min_ttl, t);
        if (rr.type != wire::type::kRRSIG) found = true;
        // RFC 4034 section 3.1.3: fewer labels than the owner: a wildcard expansion.
        if (rr.type == wire::type::kRRSIG && rr.rdlength > 18 &&
            reply[rr.rdata_offset + 3] < owner.label_count()) {
          std::size_t end = 0;
          if (wire::read_name(reply, len, rr.rdata_offset + 18u, wildcard_signer, &end) !=
              wire::NameError::kNone) {
            wildcard_signer = wire::Name();
          }
        }
      } else if (rr.type == wire::type::kCNAME && cname == nullptr) {
        cname = &rr;
      }
    }
    if (found) {
      have_data = true;
      break;
    }
    if (cname == nullptr) break;
    // RFC 1034 section 3.6.2: follow the CNAME; bounded against loops.
    if (++chain > zone::kMaxChain) return util::Err(ScrubError::kChainTooLong);
    wire::Name target;
    if (!wire::rdata_name(view, *cname, target)) return util::Err(ScrubError::kMalformed);
    const std::uint32_t t = clamp(cname->ttl, policy.min_ttl, policy.max_ttl);
    if (!write(*cname, current, Section::kAnswer, t)) return util::Err(ScrubError::kTooBig);
    min_ttl = std::min(min_ttl, t);
    if (answered_locally(zones, target, key.qtype, chain)) {
      out.splice = true;
      out.splice_target = target;
      break;
    }
    current = target;
  }

  out.rcode = static_cast<std::uint8_t>(rcode);
  // The NSEC/NSEC3 proofs of the authority section (with DO): those of the zone `apex`, with
  // their RRSIGs (RFC 4035 section 3.1.3); their owners need not be on the chain (an NSEC
  // that covers a name is owned by another one).
  auto keep_proofs = [&](const wire::Name& apex, std::uint32_t max_ttl) -> bool {
    for (const auto& rr : view.rrs) {
      if (rr.section != Section::kAuthority) continue;
      const bool proof = rr.type == wire::type::kNSEC || rr.type == wire::type::kNSEC3;
      const bool proof_sig = rr.type == wire::type::kRRSIG && rr.rdlength >= 2 &&
                             (wire::load16(reply + rr.rdata_offset) == wire::type::kNSEC ||
                              wire::load16(reply + rr.rdata_offset) == wire::type::kNSEC3 ||
                              wire::load16(reply + rr.rdata_offset) == wire::type::kSOA);
      if (!proof && !proof_sig) continue;
      if (!view.owner(rr, owner)) return false;
      if (!owner.is_subdomain_of(apex)) continue;
      if (!write(rr, owner, Section::kAuthority, std::min(rr.ttl, max_ttl))) return false;
    }
    return true;
  };
  if (!have_data && !out.splice) {
    // Negative (NXDOMAIN, or NODATA at the end of the chain): keep the SOA of the zone
    // that holds the last name, its TTL lowered to the SOA MINIMUM (RFC 2308 section 5).
    std::uint32_t neg_ttl = 0;
    bool have_soa = false;
    wire::Name apex;
    for (const auto& rr : view.rrs) {
      if (rr.section != Section::kAuthority || rr.type != wire::type::kSOA) continue;
      if (!view.owner(rr, owner)) return util::Err(ScrubError::kMalformed);
      if (!current.is_subdomain_of(owner) || rr.rdlength < 22) continue;
      const std::uint32_t minimum = wire::load32(reply + rr.rdata_offset + rr.rdlength - 4);
      neg_ttl = std::min({rr.ttl, minimum, policy.max_negative_ttl});
      if (!write(rr, owner, Section::kAuthority, neg_ttl)) return util::Err(ScrubError::kTooBig);
      have_soa = true;
      apex = owner;
      break;
    }
    if (key.dnssec_ok && have_soa && !keep_proofs(apex, policy.max_negative_ttl)) {
      return util::Err(ScrubError::kTooBig);
    }
    out.kind = cache::EntryKind::kNegative;
    // RFC 2308 section 5: a negative answer without an SOA is not cached.
    out.ttl = have_soa ? std::min(neg_ttl, min_ttl) : 0;
  } else {
    // An answer synthesised from a wildcard carries the proof that the name itself does not
    // exist (RFC 4035 section 3.1.3.3): kept with DO, for the zone that signed the data.
    if (key.dnssec_ok && wildcard_signer.size() > 1 &&
        !keep_proofs(wildcard_signer, std::numeric_limits<std::uint32_t>::max())) {
      return util::Err(ScrubError::kTooBig);
    }
    out.kind = cache::EntryKind::kPositive;
    out.ttl = min_ttl == std::numeric_limits<std::uint32_t>::max() ? 0 : min_ttl;
  }
  b.set_rcode(static_cast<std::uint8_t>(rcode & 0x0f));
  if (!b.fits()) return util::Err(ScrubError::kTooBig);
  if (!b.ttl_offsets_complete()) out.ttl = 0;  // cannot age it: do not cache
  out.ttl_offsets.assign(b.ttl_offsets(), b.ttl_offsets() + b.ttl_offset_count());
  out.wire.assign(buffer.data(), buffer.data() + b.size());
  return out;
}

void cap_ttls(Processed& p, std::uint32_t cap) {
  p.ttl = std::min(p.ttl, cap);
  std::uint8_t* m = p.wire.data();
  const auto clamp_at = [&](std::size_t at) {
    if (at + 4 <= p.wire.size() && wire::load32(m + at) > cap) wire::store32(m + at, cap);
  };
  if (p.wire.size() < wire::kHeaderSize) return;
  const std::size_t records =
      std::size_t{wire::header_ancount(m)} + wire::header_nscount(m) + wire::header_arcount(m);
  if (p.ttl_offsets.size() == records) {
    for (const std::uint16_t at : p.ttl_offsets) clamp_at(at);
    return;
  }
  // More records than the builder kept offsets for: find each TTL field by parsing.
  wire::MessageView view;
  if (wire::parse_message(m, p.wire.size(), view) != wire::MessageError::kNone) return;
  for (const auto& rr : view.rrs) clamp_at(rr.rdata_offset - 6u);  // TTL, RDLENGTH, RDATA
}

Processed failure_answer(const cache::CacheKey& key, std::uint32_t ttl) {
  Processed out;
  out.wire.resize(wire::kHeaderSize + key.qname.size() + 4);
  wire::MessageBuilder b(out.wire.data(), out.wire.size());
  b.start(0, wire::kFlagQR | wire::kFlagRA);
  b.add_question(key.qname, key.qtype, key.qclass);
  b.set_rcode(static_cast<std::uint8_t>(wire::Rcode::kServFail));
  out.kind = cache::EntryKind::kFailure;
  out.ttl = ttl;
  out.rcode = static_cast<std::uint8_t>(wire::Rcode::kServFail);
  return out;
}

}  // namespace vnetdns::pipeline
