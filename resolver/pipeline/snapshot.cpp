#include "resolver/pipeline/snapshot.hpp"

#include <unistd.h>

#include "resolver/zone/zone_loader.hpp"

namespace vnetdns::pipeline {

namespace {

// Same servers and the same way of asking them ("source", the FILE:LINE, may move).
bool same_rule(const settings::ForwardSettings& a, const settings::ForwardSettings& b) {
  return a.zone == b.zone && a.upstreams == b.upstreams && a.policy == b.policy &&
         a.timeout == b.timeout && a.deadline == b.deadline &&
         a.max_outstanding == b.max_outstanding && a.max_qps == b.max_qps &&
         a.protocol == b.protocol && a.health_probe == b.health_probe &&
         a.randomize_case == b.randomize_case && a.source_ports == b.source_ports &&
         a.avoid_ports == b.avoid_ports && a.dnssec == b.dnssec;
}

}  // namespace

util::Result<std::shared_ptr<const Snapshot>, std::vector<std::string>> build_snapshot(
    settings::Settings settings, const BuildOptions& options) {
  std::vector<std::string> errors;
  auto snap = std::make_shared<Snapshot>();
  std::vector<std::shared_ptr<const zone::Zone>> zones;
  for (std::size_t i = 0; i < settings.zones.size(); ++i) {
    const auto& zs = settings.zones[i];
    zone::ZoneOptions zo;
    zo.on_miss =
        zs.on_miss == settings::OnMiss::kForward ? zone::OnMiss::kForward : zone::OnMiss::kNxDomain;
    if (zs.secondary() && ::access(zs.file.c_str(), F_OK) != 0) {
      snap->unready.insert(zs.name, i);
      snap->notes.push_back(zs.source + ": secondary zone " + zs.name.to_text() +
                            " has no copy yet (" + zs.file +
                            "); SERVFAIL until the first transfer");
      continue;
    }
    auto loaded = zone::load_zone(zs.name, zs.file, zo);
    if (!loaded && zs.secondary()) {
      // Our own copy is damaged: not the operator's config at fault; transfer it again.
      snap->unready.insert(zs.name, i);
      snap->notes.push_back(loaded.error() + " (the copy of secondary zone " + zs.name.to_text() +
                            "; SERVFAIL until the next transfer)");
      continue;
    }
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
    // An unchanged rule keeps its group across a reload: its health (servers marked down,
    // probes, RTTs) and its counters carry on.
    std::shared_ptr<upstream::ForwardGroup> kept;
    if (options.previous != nullptr) {
      for (const auto& g : options.previous->groups) {
        if (same_rule(g->settings(), fs)) kept = g;
      }
    }
    snap->groups.push_back(kept ? std::move(kept) : std::make_shared<upstream::ForwardGroup>(fs));
  }
  if (settings.dnssec.mode == settings::DnssecMode::kValidate) {
    snap->validate = true;
    auto anchors = dnssec::load_trust_anchors(settings.dnssec.trust_anchor_file);
    if (!anchors) {
      errors.push_back(settings.dnssec.source + ": " + anchors.error());
    } else {
      snap->anchors =
          std::make_shared<const std::vector<dnssec::TrustAnchor>>(std::move(anchors.value()));
    }
    for (const auto& name : settings.dnssec.insecure) snap->not_validated.insert(name, true);
    for (const auto& fs : settings.forwards) {
      if (!fs.dnssec) snap->not_validated.insert(fs.zone, true);
    }
  }
  if (!errors.empty()) return util::Err(std::move(errors));
  snap->settings = std::move(settings);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

}  // namespace vnetdns::pipeline
