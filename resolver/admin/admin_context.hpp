// AdminContext: what the admin endpoint reads and calls, handed over by the application.
// Everything is borrowed: the application owns it and outlives the AdminServer.
// Counters are read with relaxed loads while the workers write them (their single-writer
// contract, pipeline/counters.hpp); the cache and the snapshot holder are thread safe.
// `reload` is run on the control thread (through `control`), never on the admin thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "resolver/cache/packet_cache.hpp"
#include "resolver/pipeline/counters.hpp"
#include "resolver/pipeline/snapshot.hpp"
#include "resolver/xfr/transfer_service.hpp"

namespace vnetdns::admin {

class QueryLog;

struct ReloadOutcome {
  bool ok = false;
  std::vector<std::string> errors;  // "FILE:LINE: reason", when !ok
  std::vector<std::string> notes;   // e.g. "listen changes take effect at the next restart"
};

struct AdminContext {
  const pipeline::SnapshotHolder* snapshots = nullptr;
  cache::PacketCache* cache = nullptr;
  std::vector<const pipeline::Counters*> workers;  // one per worker
  const std::atomic<std::uint64_t>* reloads = nullptr;
  const std::atomic<std::uint64_t>* reload_failures = nullptr;
  const QueryLog* query_log = nullptr;            // null without a [query_log]
  const xfr::TransferStats* transfers = nullptr;  // null without zone transfers
  // Runs the reload (same as SIGHUP); called on `control`'s thread.
  std::function<ReloadOutcome()> reload;
  boost::asio::any_io_executor control;
};

}  // namespace vnetdns::admin
