// vnetdns entry point: parses the command line and runs one command. Nothing else.
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "resolver/admin/ctl.hpp"
#include "resolver/app/application.hpp"
#include "resolver/app/commands.hpp"
#include "resolver/util/log.hpp"
#include "resolver/zonetool/commands.hpp"

namespace {

constexpr const char* kDefaultConfig = "/etc/vnetdns/vnetdns.toml";

int usage_error(const char* what) {
  std::fprintf(stderr, "vnetdns: %s (try --help)\n", what);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace vnetdns;
  if (argc < 2) return usage_error("missing command");
  const std::string_view command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    app::print_help();
    return 0;
  }
  if (command == "--version" || command == "-V" || command == "version") {
    app::print_version();
    return 0;
  }
  // These parse their own options.
  if (command == "zone") return zonetool::run_zone_command(argc - 1, argv + 1);
  if (command == "check") return zonetool::run_check_command(argc - 1, argv + 1);
  if (command == "ctl") return admin::run_ctl_command(argc - 1, argv + 1);
  std::string config = kDefaultConfig;
  for (int i = 2; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "-c" || a == "--config") {
      if (i + 1 >= argc) return usage_error("-c needs a file");
      config = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      config = std::string(a.substr(9));
    } else {
      return usage_error(("unknown argument: " + std::string(a)).c_str());
    }
  }
  util::setup_logging({});
  if (command == "serve") return app::Application(config).run();
  if (command == "check-config") return app::check_config(config);
  return usage_error(("unknown command: " + std::string(command)).c_str());
}
