// Application: the `serve` command. Loads the config and zones (fatal with FILE:LINE
// messages when they are wrong), binds every listen address on every worker (fatal when a
// port is taken), logs "listening on ..." once every socket is bound (from then on it
// answers), then waits for signals: SIGHUP reloads config and zones into a new snapshot
// (kept only if whole; a failure logs why and keeps serving the old one), SIGTERM/SIGINT
// stop the workers and return.
// Thread safety: run() is called once, from the main thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "resolver/cache/packet_cache.hpp"
#include "resolver/pipeline/snapshot.hpp"
#include "resolver/server/worker.hpp"

namespace vnetdns::app {

class Application {
 public:
  explicit Application(std::string config_path) : config_path_(std::move(config_path)) {}
  // Returns the process exit code.
  int run();

  // Loads config + zones into a new snapshot and publishes it. Returns false (and logs every
  // error) when anything is wrong; the running snapshot stays.
  bool reload();

 private:
  std::string config_path_;
  std::unique_ptr<pipeline::SnapshotHolder> snapshots_;
  std::unique_ptr<cache::PacketCache> cache_;
  std::vector<std::unique_ptr<server::Worker>> workers_;
  std::atomic<std::uint64_t> reloads_{0};
  std::atomic<std::uint64_t> reload_failures_{0};
};

}  // namespace vnetdns::app
