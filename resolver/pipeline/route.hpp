// Route: where a query name goes, by longest suffix over the snapshot's local zones and
// forward rules; a local zone wins over a forward rule with an equal or shorter suffix.
// Used by the pipeline's synchronous stages and by resolve() (a CNAME target is routed anew).
// Thread safety: a pure function of an immutable Snapshot.
#pragma once

#include <cstddef>

#include "resolver/pipeline/snapshot.hpp"
#include "resolver/wire/name.hpp"
#include "resolver/zone/zone.hpp"
#include "resolver/zone/zone_set.hpp"

namespace vnetdns::pipeline {

struct Route {
  const zone::Zone* zone = nullptr;    // the local zone that answers, if any
  const std::size_t* group = nullptr;  // else (or on a miss the zone forwards) the forward group
};

inline Route route(const Snapshot& s, const wire::Name& name) {
  Route r;
  std::size_t fwd_labels = 0;
  r.group = s.routes.find(name, &fwd_labels);
  r.zone = s.zones ? s.zones->find(name) : nullptr;
  if (r.zone != nullptr && r.group != nullptr && r.zone->origin().label_count() < fwd_labels) {
    r.zone = nullptr;  // a more specific forward rule below the zone
  }
  return r;
}

}  // namespace vnetdns::pipeline
