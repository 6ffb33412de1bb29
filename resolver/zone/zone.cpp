#include "resolver/zone/zone.hpp"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "resolver/wire/types.hpp"

namespace vnetdns::zone {
namespace {

constexpr std::uint16_t kTypeTkey = 249;
constexpr std::uint16_t kTypeTsig = 250;

// Types that never appear as data: meta types and QTYPEs (RFC 6895 section 3.1).
bool is_meta_type(std::uint16_t t) noexcept {
  return t == 0 || t == wire::type::kOPT || t == kTypeTkey || t == kTypeTsig ||
         t == wire::type::kIXFR || t == wire::type::kAXFR || t == wire::type::kMAILB ||
         t == wire::type::kMAILA || t == wire::type::kANY;
}

// Length of the uncompressed wire name at p[0..len), or 0 when it is not one.
std::size_t wire_name_length(const std::uint8_t* p, std::size_t len) noexcept {
  std::size_t pos = 0;
  while (pos < len && pos < wire::kMaxNameLength) {
    const std::uint8_t b = p[pos];
    if (b > wire::kMaxLabelLength) return 0;
    if (b == 0) return pos + 1;
    pos += 1 + b;
  }
  return 0;
}

std::string type_text(std::uint16_t t) {
  char scratch[16];
  return wire::type_name(t, scratch);
}

class Fnv {
 public:
  void add(const std::uint8_t* p, std::size_t n) noexcept {
    for (std::size_t i = 0; i < n; ++i) {
      h_ ^= p[i];
      h_ *= 1099511628211ULL;
    }
  }
  void add16(std::uint16_t v) noexcept {
    std::uint8_t b[2];
    wire::store16(b, v);
    add(b, 2);
  }
  void add32(std::uint32_t v) noexcept {
    std::uint8_t b[4];
    wire::store32(b, v);
    add(b, 4);
  }
  [[nodiscard]] std::uint64_t value() const noexcept { return h_; }

 private:
  std::uint64_t h_ = 1469598103934665603ULL;
};

util::Err<ZoneError> fail(std::size_t record, std::string message) {
  return util::Err<ZoneError>{ZoneError{record, std::move(message)}};
}

// Checks one record on its own. Returns an empty string when it is acceptable.
std::string check_record(const wire::Name& origin, const ZoneRecord& r) {
  if (!r.owner.is_subdomain_of(origin)) {
    return r.owner.to_text() + " is outside the zone " + origin.to_text();
  }
  if (r.klass != wire::klass::kIN) {
    return "class " + std::to_string(r.klass) + " is not served (only IN)";
  }
  if (is_meta_type(r.type)) return type_text(r.type) + " cannot appear in a zone";
  if (r.rdata.size() > 0xffff) return "rdata longer than 65535 bytes";
  if (r.type == wire::type::kCNAME &&
      wire_name_length(r.rdata.data(), r.rdata.size()) != r.rdata.size()) {
    return "CNAME target is not a valid name";
  }
  if (r.type == wire::type::kSOA) {
    if (r.owner != origin) return "SOA record not at the zone apex " + origin.to_text();
    const std::size_t m = wire_name_length(r.rdata.data(), r.rdata.size());
    const std::size_t n = m == 0 ? 0 : wire_name_length(r.rdata.data() + m, r.rdata.size() - m);
    if (m == 0 || n == 0 || m + n + 20 != r.rdata.size()) return "malformed SOA rdata";
  }
  return {};
}

// Data allowed beside a CNAME (RFC 4035 section 2.5, RFC 2181 section 10.1).
bool may_sit_beside_cname(std::uint16_t t) noexcept {
  return t == wire::type::kCNAME || t == wire::type::kRRSIG || t == wire::type::kNSEC;
}

}  // namespace

util::Result<std::shared_ptr<const Zone>, ZoneError> Zone::build(const wire::Name& origin,
                                                                 std::vector<ZoneRecord> records,
                                                                 const ZoneOptions& options) {
  if (records.size() > options.max_records) {
    return fail(options.max_records,
                "more than " + std::to_string(options.max_records) + " records in the zone");
  }
  std::size_t soa_record = ZoneError::kNoRecord;
  for (std::size_t i = 0; i < records.size(); ++i) {
    std::string why = check_record(origin, records[i]);
    if (!why.empty()) return fail(i, std::move(why));
    if (records[i].type == wire::type::kSOA) {
      if (soa_record != ZoneError::kNoRecord) return fail(i, "second SOA record in the zone");
      soa_record = i;
    }
  }
  if (soa_record == ZoneError::kNoRecord) {
    return fail(ZoneError::kNoRecord, "no SOA record at the zone apex " + origin.to_text());
  }

  // Canonical order: owner (RFC 4034 section 6.1), type, rdata; file order breaks ties, so
  // the first of two duplicates is the one kept.
  std::vector<std::size_t> order(records.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const ZoneRecord& x = records[a];
    const ZoneRecord& y = records[b];
    if (x.owner != y.owner) return x.owner < y.owner;
    if (x.type != y.type) return x.type < y.type;
    if (x.rdata != y.rdata) return x.rdata < y.rdata;
    return a < b;
  });

  std::shared_ptr<Zone> zone(new Zone());
  zone->origin_ = origin;
  zone->on_miss_ = options.on_miss;
  Fnv fnv;
  fnv.add(origin.data(), origin.size());
  fnv.add(reinterpret_cast<const std::uint8_t*>(&options.on_miss), 1);
  zone->nodes_.reserve(records.size() * 2);

  std::size_t i = 0;
  while (i < order.size()) {
    const wire::Name& owner = records[order[i]].owner;
    std::size_t owner_end = i;
    while (owner_end < order.size() && records[order[owner_end]].owner == owner) ++owner_end;

    // RFC 1034 section 3.6.2: a CNAME owner holds no other data.
    std::size_t cname_at = ZoneError::kNoRecord;  // file index of the first CNAME
    std::size_t other_at = ZoneError::kNoRecord;  // file index of the first other record
    for (std::size_t k = i; k < owner_end; ++k) {
      const std::size_t idx = order[k];
      if (records[idx].type == wire::type::kCNAME) {
        if (cname_at != ZoneError::kNoRecord && records[cname_at].rdata != records[idx].rdata) {
          return fail(std::max(cname_at, idx), "more than one CNAME at " + owner.to_text());
        }
        cname_at = std::min(cname_at, idx);
      } else if (!may_sit_beside_cname(records[idx].type)) {
        other_at = std::min(other_at, idx);
      }
    }
    if (cname_at != ZoneError::kNoRecord && other_at != ZoneError::kNoRecord) {
      return fail(std::max(cname_at, other_at),
                  "CNAME and other data at " + owner.to_text() + " (RFC 1034 section 3.6.2)");
    }

    Node node;
    node.first_rrset = static_cast<std::uint32_t>(zone->rrsets_.size());
    std::size_t k = i;
    while (k < owner_end) {
      const std::uint16_t type = records[order[k]].type;
      RRset set{type, records[order[k]].klass, records[order[k]].ttl,
                static_cast<std::uint32_t>(zone->rdatas_.size()), 0};
      const std::vector<std::uint8_t>* previous = nullptr;
      for (; k < owner_end && records[order[k]].type == type; ++k) {
        const ZoneRecord& r = records[order[k]];
        set.ttl = std::min(set.ttl, r.ttl);  // RFC 2181 section 5.2: the lowest TTL wins
        if (previous != nullptr && *previous == r.rdata) continue;  // RFC 2181 section 5
        previous = &r.rdata;
        zone->rdatas_.push_back(Rdata{static_cast<std::uint32_t>(zone->bytes_.size()),
                                      static_cast<std::uint16_t>(r.rdata.size())});
        zone->bytes_.insert(zone->bytes_.end(), r.rdata.begin(), r.rdata.end());
        ++set.rdata_count;
      }
      if (type == wire::type::kCNAME) {
        node.cname_index = static_cast<std::uint16_t>(zone->rrsets_.size() - node.first_rrset);
      }
      if (type == wire::type::kSOA) zone->soa_index_ = zone->rrsets_.size();
      for (std::uint32_t d = 0; d < set.rdata_count; ++d) {
        const Rdata& rd = zone->rdatas_[set.first_rdata + d];
        fnv.add(owner.data(), owner.size());
        fnv.add16(set.type);
        fnv.add16(set.klass);
        fnv.add32(set.ttl);
        fnv.add16(rd.size);
        fnv.add(zone->bytes_.data() + rd.offset, rd.size);
      }
      zone->rrsets_.push_back(set);
      ++node.rrset_count;
    }
    zone->nodes_[owner] = node;
    i = owner_end;
  }

  // Empty non-terminals: every ancestor of an owner, up to the apex, exists
  // (RFC 4592 section 2.2.2).
  for (const ZoneRecord& r : records) {
    const std::size_t depth = r.owner.label_count() - origin.label_count();
    for (std::size_t up = 1; up < depth; ++up) zone->nodes_.try_emplace(r.owner.parent(up));
  }

  const RRset& soa = zone->rrsets_[zone->soa_index_];
  const RdataView soa_rdata = zone->rdata(soa, 0);
  zone->serial_ = wire::load32(soa_rdata.data + soa_rdata.size - 20);
  const std::uint32_t minimum = wire::load32(soa_rdata.data + soa_rdata.size - 4);
  zone->negative_ttl_ = std::min(soa.ttl, minimum);
  zone->content_hash_ = fnv.value();
  return std::shared_ptr<const Zone>(std::move(zone));
}

const Node* Zone::find(const wire::Name& name) const noexcept {
  const auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

const RRset* Zone::find_rrset(const Node& node, std::uint16_t type) const noexcept {
  for (const RRset& set : rrsets(node)) {
    if (set.type == type) return &set;
  }
  return nullptr;
}

std::vector<ZoneRecord> Zone::to_records() const {
  std::vector<ZoneRecord> out;
  out.reserve(rdatas_.size());
  auto add = [&](const wire::Name& owner, const RRset& set) {
    for (std::size_t i = 0; i < set.rdata_count; ++i) {
      const RdataView r = rdata(set, i);
      out.push_back(ZoneRecord{owner, set.type, set.klass, set.ttl,
                               std::vector<std::uint8_t>(r.data, r.data + r.size)});
    }
  };
  add(origin_, soa());
  for (const auto& [owner, node] : nodes_) {
    for (const RRset& set : rrsets(node)) {
      if (&set != &soa()) add(owner, set);
    }
  }
  return out;
}

}  // namespace vnetdns::zone
