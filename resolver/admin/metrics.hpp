// Metrics: the Prometheus text exposition (format 0.0.4) of everything AdminContext can
// see, computed at scrape time: each worker's pipeline::Counters summed (no shared atomic
// on the hot path), the cache's per-shard tallies, the upstream groups' health figures in
// the running snapshot (these restart from zero when a reload rebuilds the groups), reload
// counts, and the query log's written/dropped lines. The metrics table of docs/operations.md lists
// every family. Also readiness (GET /readyz). Thread safety: pure functions over thread-safe
// sources; call from any thread.
#pragma once

#include <string>

#include "resolver/admin/admin_context.hpp"

namespace vnetdns::admin {

std::string render_metrics(const AdminContext& context);

struct Readiness {
  bool ready = false;
  std::string reason;  // why not ready, or a one-line summary when ready
};

// Ready when the snapshot has its zones and at least one upstream of the forward rule for
// "." is up (of any rule when there is no "." rule; ready without forward rules at all).
Readiness check_readiness(const pipeline::Snapshot& snapshot);

}  // namespace vnetdns::admin
