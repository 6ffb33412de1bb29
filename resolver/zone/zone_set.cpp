#include "resolver/zone/zone_set.hpp"

#include <algorithm>

namespace vnetdns::zone {
namespace {
util::Err<std::string> fail(std::string message) { return {std::move(message)}; }
}  // namespace

util::Result<std::shared_ptr<const ZoneSet>, std::string> ZoneSet::build(
    std::vector<std::shared_ptr<const Zone>> zones) {
  auto set = std::make_shared<ZoneSet>();
  set->by_origin_.reserve(zones.size());
  bool first = true;
  for (const auto& z : zones) {
    if (!z) return fail(std::string("null zone in zone set"));
    if (!set->by_origin_.emplace(z->origin(), z.get()).second) {
      return fail("zone " + z->origin().to_text() + " is defined twice");
    }
    const std::size_t labels = z->origin().label_count();
    set->min_labels_ = first ? labels : std::min(set->min_labels_, labels);
    set->max_labels_ = first ? labels : std::max(set->max_labels_, labels);
    first = false;
  }
  set->zones_ = std::move(zones);
  return std::shared_ptr<const ZoneSet>(std::move(set));
}

const Zone* ZoneSet::find(const wire::Name& qname) const noexcept {
  if (by_origin_.empty()) return nullptr;
  const std::size_t labels = qname.label_count();
  if (labels < min_labels_) return nullptr;
  // Longest first: strip labels until the suffix is no deeper than the deepest origin.
  const std::size_t start = labels > max_labels_ ? labels - max_labels_ : 0;
  const std::uint8_t* d = qname.data();
  std::size_t pos = 0;
  for (std::size_t i = 0; i < start; ++i) pos += 1 + d[pos];
  for (std::size_t strip = start; labels - strip >= min_labels_; ++strip) {
    // The suffix as it lies in qname (already canonical): no copy.
    const auto it = by_origin_.find(wire::NameBytes{d + pos, qname.size() - pos});
    if (it != by_origin_.end()) return it->second;
    if (strip == labels) break;
    pos += 1 + d[pos];
  }
  return nullptr;
}

const Zone* ZoneSet::zone(const wire::Name& origin) const noexcept {
  const auto it = by_origin_.find(origin);
  return it == by_origin_.end() ? nullptr : it->second;
}

std::shared_ptr<const Zone> ZoneSet::shared(const wire::Name& origin) const {
  for (const auto& z : zones_) {
    if (z->origin() == origin) return z;
  }
  return nullptr;
}

}  // namespace vnetdns::zone
