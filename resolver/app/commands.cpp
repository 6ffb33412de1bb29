#include "resolver/app/commands.hpp"

#include <cstdio>

#include "resolver/pipeline/snapshot.hpp"
#include "resolver/settings/loader.hpp"

namespace vnetdns::app {

int check_config(const std::string& path) {
  auto loaded = settings::load_settings(path);
  if (!loaded) {
    for (const auto& e : loaded.error()) std::fprintf(stderr, "%s\n", e.c_str());
    return 1;
  }
  for (const auto& w : loaded.value().warnings) std::fprintf(stderr, "warning: %s\n", w.c_str());
  const std::size_t zones = loaded.value().zones.size();
  const std::size_t rules = loaded.value().forwards.size();
  auto snap = pipeline::build_snapshot(std::move(loaded.value()));
  if (!snap) {
    for (const auto& e : snap.error()) std::fprintf(stderr, "%s\n", e.c_str());
    return 1;
  }
  std::printf("%s: ok (%zu zone%s, %zu forward rule%s)\n", path.c_str(), zones,
              zones == 1 ? "" : "s", rules, rules == 1 ? "" : "s");
  return 0;
}

void print_version() { std::printf("vnetdns %s\n", VNETDNS_VERSION); }

void print_help() {
  std::printf(
      "vnetdns %s: DNS forwarder and caching resolver for Azure Private Link\n"
      "\n"
      "usage:\n"
      "  vnetdns serve -c FILE          run in the foreground (SIGHUP reloads, SIGTERM stops)\n"
      "  vnetdns check-config -c FILE   validate the config and every zone it names\n"
      "  vnetdns ctl reload|flush [NAME]|flush --zone Z|dump NAME|stats|ready [-c FILE] [--admin "
      "ADDR]\n"
      "                                 talk to a running server's admin endpoint\n"
      "  vnetdns zone add-record|remove-record|list|import|audit ...\n"
      "                                 edit and check private zones (vnetdns zone --help)\n"
      "  vnetdns check NAME --server ADDR[:PORT] [--expect PREFIX] [--registry R --regions a,b]\n"
      "                                 the guide's validation step (c-ares stub client)\n"
      "  vnetdns --version\n"
      "  vnetdns --help\n"
      "\n"
      "options:\n"
      "  -c, --config FILE   configuration file (TOML); default /etc/vnetdns/vnetdns.toml\n",
      VNETDNS_VERSION);
}

}  // namespace vnetdns::app
