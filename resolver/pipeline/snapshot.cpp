#include "resolver/pipeline/snapshot.hpp"

#include "resolver/zone/zone_loader.hpp"

namespace vnetdns::pipeline {

util::Result<std::shared_ptr<const Snapshot>, std::vector<std::string>> build_snapshot(
    settings::Settings settings, const BuildOptions& options) {
  (void)options;
  std::vector<std::string> errors;
  auto snap = std::make_shared<Snapshot>();
  std::vector<std::shared_ptr<const zone::Zone>> zones;
  for (const auto& zs : settings.zones) {
    zone::ZoneOptions zo;
    zo.on_miss = zs.on_miss == settings::OnMiss::kForward ? zone::OnMiss::kForward
                                                          : zone::OnMiss::kNxDomain;
    auto loaded = zone::load_zone(zs.name, zs.file, zo);
    if (!loaded) {
      errors.push_back(loaded.error());
      continue;
    }
    zones.push_back(std::move(loaded.value()));
  }
  auto set = zone::ZoneSet::build(std::move(zones));
  if (!set) {
    errors.push_back(settings.path + ": " + set.error());
  } else {
    snap->zones = std::move(set.value());
  }
  for (const auto& fs : settings.forwards) {
    // Loop guard: a rule that forwards to one of our own listen addresses would send every
    // query round in circles until the deadline.
    for (const auto& up : fs.upstreams) {
      for (const auto& listen : settings.server.listen) {
        if (up == listen) {
          errors.push_back(fs.source + ": upstream " + up.to_string() +
                           " is one of vnetdns's own listen addresses (a forwarding loop)");
        }
      }
    }
    snap->routes.insert(fs.zone, snap->groups.size());
    snap->groups.push_back(std::make_shared<upstream::ForwardGroup>(fs));
  }
  if (!errors.empty()) return util::Err(std::move(errors));
  snap->settings = std::move(settings);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

}  // namespace vnetdns::pipeline
