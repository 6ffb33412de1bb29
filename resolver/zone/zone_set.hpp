// ZoneSet: the local zones served at one moment, immutable. find() picks the zone with the
// longest origin that a query name is at or below, walking the name's suffixes through a hash
// map: no allocation, at most (labels of qname) lookups, bounded by the origins' depths.
// A reload builds a whole new ZoneSet (reusing unchanged Zones, compare content_hash()) and
// the caller swaps a shared_ptr<const ZoneSet> atomically; a failed reload keeps the old one.
// Invariant: no two zones share an origin. Thread safety: immutable; share freely.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "resolver/util/result.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/zone/zone.hpp"

namespace vnetdns::zone {

class ZoneSet {
 public:
  ZoneSet() = default;  // no zones

  // Fails (with a message naming the origin) when two zones have the same origin.
  static util::Result<std::shared_ptr<const ZoneSet>, std::string> build(
      std::vector<std::shared_ptr<const Zone>> zones);

  // The zone with the longest origin that `qname` is at or below, or nullptr.
  [[nodiscard]] const Zone* find(const wire::Name& qname) const noexcept;
  // The zone whose origin is exactly `origin`, or nullptr (for reloads and admin).
  [[nodiscard]] const Zone* zone(const wire::Name& origin) const noexcept;
  // The shared handle to a zone of this set, so a reload can reuse an unchanged one.
  [[nodiscard]] std::shared_ptr<const Zone> shared(const wire::Name& origin) const;

  [[nodiscard]] std::span<const std::shared_ptr<const Zone>> zones() const noexcept {
    return zones_;
  }
  [[nodiscard]] std::size_t size() const noexcept { return zones_.size(); }
  [[nodiscard]] bool empty() const noexcept { return zones_.empty(); }

 private:
  std::vector<std::shared_ptr<const Zone>> zones_;
  std::unordered_map<wire::Name, const Zone*, wire::NameHash, wire::NameEqual> by_origin_;
  std::size_t min_labels_ = 0;  // label counts of the shallowest and deepest origins
  std::size_t max_labels_ = 0;
};

}  // namespace vnetdns::zone
