// Zone: one locally served zone, immutable once built. It holds the origin, the SOA, the
// on_miss policy, a content hash and an index of nodes: owner name -> RRsets, each RRset a
// (type, class, TTL) and its rdatas as uncompressed wire bytes with embedded names lowered,
// all stored contiguously in one byte arena.
// Invariants after build(): every owner is at or below origin(); exactly one SOA, at the apex;
// a CNAME owner has no other data (RFC 1034 section 3.6.2; RRSIG/NSEC excepted, RFC 4035
// section 2.5) and exactly one CNAME (RFC 2181 section 10.1); each RRset has one TTL (the
// lowest of its records, RFC 2181 section 5.2) and no duplicate rdata (RFC 2181 section 5);
// every ancestor of an owner up to the apex has a node (empty non-terminals have no RRsets,
// RFC 4592 section 2.2.2), so "name exists" is one hash lookup. Wildcard owners ("*.<name>")
// are ordinary nodes; synthesis is done by local_answer.
// Only class IN is served. DNAME records are stored and answered as data, never synthesised.
// Thread safety: immutable after build(); share it as shared_ptr<const Zone> across threads.
// Lookups never allocate.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "resolver/util/result.hpp"
#include "resolver/wire/name.hpp"

namespace vnetdns::zone {

// What a name absent from the zone gets: NXDOMAIN (authoritative) or forwarded upstream
// (the "fallback to internet" of Azure private DNS; such NXDOMAINs are never cached).
enum class OnMiss : std::uint8_t { kNxDomain, kForward };

struct ZoneOptions {
  OnMiss on_miss = OnMiss::kNxDomain;
  std::uint32_t default_ttl = 3600;     // for records without a TTL and no $TTL
  std::size_t max_records = 1'000'000;  // refuse absurd files rather than exhaust memory
};

// One record as read from a zone file, before build(). rdata: uncompressed wire form.
struct ZoneRecord {
  wire::Name owner;
  std::uint16_t type = 0;
  std::uint16_t klass = 0;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata;
};

// Why build() refused the records; `record` indexes the offending input record, or kNoRecord
// when the fault belongs to the zone as a whole (no SOA).
struct ZoneError {
  static constexpr std::size_t kNoRecord = std::numeric_limits<std::size_t>::max();
  std::size_t record = kNoRecord;
  std::string message;
};

struct RdataView {
  const std::uint8_t* data;
  std::uint16_t size;
};

struct RRset {
  std::uint16_t type;
  std::uint16_t klass;
  std::uint32_t ttl;
  std::uint32_t first_rdata;  // index into the zone's rdata table
  std::uint32_t rdata_count;
};

struct Node {
  std::uint32_t first_rrset = 0;         // index into the zone's RRset table, sorted by type
  std::uint32_t rrset_count = 0;         // 0: an empty non-terminal
  std::uint16_t cname_index = kNoCname;  // position of the CNAME RRset within the node
  static constexpr std::uint16_t kNoCname = 0xffff;
  [[nodiscard]] bool empty_non_terminal() const noexcept { return rrset_count == 0; }
  [[nodiscard]] bool has_cname() const noexcept { return cname_index != kNoCname; }
};

class Zone {
 public:
  // Validates and indexes `records` (all of them: SOA included).
  static util::Result<std::shared_ptr<const Zone>, ZoneError> build(const wire::Name& origin,
                                                                    std::vector<ZoneRecord> records,
                                                                    const ZoneOptions& options);

  [[nodiscard]] const wire::Name& origin() const noexcept { return origin_; }
  [[nodiscard]] OnMiss on_miss() const noexcept { return on_miss_; }
  [[nodiscard]] bool forward_on_miss() const noexcept { return on_miss_ == OnMiss::kForward; }
  // FNV-1a over origin, on_miss and every record in canonical order: equal hashes mean
  // equal content, whatever the order or letter case of the file.
  [[nodiscard]] std::uint64_t content_hash() const noexcept { return content_hash_; }
  [[nodiscard]] std::uint32_t serial() const noexcept { return serial_; }
  [[nodiscard]] const RRset& soa() const noexcept { return rrsets_[soa_index_]; }
  // TTL for the SOA in negative answers: min(SOA TTL, SOA MINIMUM) (RFC 2308 section 3).
  [[nodiscard]] std::uint32_t negative_ttl() const noexcept { return negative_ttl_; }
  [[nodiscard]] std::size_t node_count() const noexcept { return nodes_.size(); }
  [[nodiscard]] std::size_t record_count() const noexcept { return rdatas_.size(); }

  // Every record of the zone, the SOA first (for zone transfers and for writing the zone
  // out; allocates, never on the query path).
  [[nodiscard]] std::vector<ZoneRecord> to_records() const;

  // The node at `name`, or nullptr when the name does not exist in the zone.
  [[nodiscard]] const Node* find(const wire::Name& name) const noexcept;
  [[nodiscard]] std::span<const RRset> rrsets(const Node& node) const noexcept {
    return {rrsets_.data() + node.first_rrset, node.rrset_count};
  }
  // The RRset of `type` at `node`, or nullptr.
  [[nodiscard]] const RRset* find_rrset(const Node& node, std::uint16_t type) const noexcept;
  [[nodiscard]] const RRset* cname(const Node& node) const noexcept {
    return node.has_cname() ? &rrsets_[node.first_rrset + node.cname_index] : nullptr;
  }
  [[nodiscard]] RdataView rdata(const RRset& set, std::size_t i) const noexcept {
    const Rdata& r = rdatas_[set.first_rdata + i];
    return {bytes_.data() + r.offset, r.size};
  }

 private:
  struct Rdata {
    std::uint32_t offset;
    std::uint16_t size;
  };
  Zone() = default;

  wire::Name origin_;
  OnMiss on_miss_ = OnMiss::kNxDomain;
  std::uint64_t content_hash_ = 0;
  std::uint32_t serial_ = 0;
  std::uint32_t negative_ttl_ = 0;
  std::size_t soa_index_ = 0;
  std::unordered_map<wire::Name, Node, wire::NameHash> nodes_;
  std::vector<RRset> rrsets_;
  std::vector<Rdata> rdatas_;
  std::vector<std::uint8_t> bytes_;
};

}  // namespace vnetdns::zone
