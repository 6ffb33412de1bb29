// Snapshot: everything a query is answered from that a reload may change: the settings,
// the local zones, and the forward rules with their upstream groups. Built whole by
// build_snapshot() and published through SnapshotHolder; a query keeps the snapshot it
// started with until it ends, so a reload never changes a query half-way.
// Thread safety: a Snapshot is immutable (the upstream groups' health counters are atomics).
// SnapshotHolder: publish() from the reloading thread; workers poll generation() (one
// relaxed load per batch) and take the shared_ptr under a short lock only when it changed.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "resolver/dnssec/trust_anchor.hpp"
#include "resolver/policy/suffix_table.hpp"
#include "resolver/settings/settings.hpp"
#include "resolver/upstream/forward_group.hpp"
#include "resolver/util/result.hpp"
#include "resolver/zone/zone_set.hpp"

namespace vnetdns::pipeline {

struct Snapshot {
  settings::Settings settings;
  std::shared_ptr<const zone::ZoneSet> zones;
  std::vector<std::shared_ptr<upstream::ForwardGroup>> groups;
  policy::SuffixTable<std::size_t> routes;  // forward zone -> index into groups
  // Secondary zones without a usable copy yet (no file before the first transfer, or a
  // file that does not load): names in them answer SERVFAIL with EDE 14 (Not Ready), never
  // forwarded. Value: index into settings.zones.
  policy::SuffixTable<std::size_t> unready;
  std::vector<std::string> notes;  // what the reload should log (unready secondaries)
  // [dnssec] mode = "validate": the trust anchors (loaded from trust_anchor_file), and the
  // names never validated: negative trust anchors (RFC 7646) from dnssec.insecure and the
  // zones of [[forward]] rules with dnssec = false.
  bool validate = false;
  std::shared_ptr<const std::vector<dnssec::TrustAnchor>> anchors;
  policy::SuffixTable<bool> not_validated;
};

struct BuildOptions {
  // Zones of the running snapshot: an unchanged file reuses its Zone (and its content hash).
  const Snapshot* previous = nullptr;
};

// Loads every zone named by `settings` and builds the forward groups. On failure returns
// every error as "FILE:LINE: reason".
util::Result<std::shared_ptr<const Snapshot>, std::vector<std::string>> build_snapshot(
    settings::Settings settings, const BuildOptions& options = {});

class SnapshotHolder {
 public:
  explicit SnapshotHolder(std::shared_ptr<const Snapshot> initial) : current_(std::move(initial)) {}
  void publish(std::shared_ptr<const Snapshot> next) {
    std::lock_guard lock(mu_);
    current_ = std::move(next);
    generation_.fetch_add(1, std::memory_order_release);
  }
  [[nodiscard]] std::shared_ptr<const Snapshot> get() const {
    std::lock_guard lock(mu_);
    return current_;
  }
  [[nodiscard]] std::uint64_t generation() const noexcept {
    return generation_.load(std::memory_order_acquire);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Snapshot> current_;
  std::atomic<std::uint64_t> generation_{0};
};

}  // namespace vnetdns::pipeline
