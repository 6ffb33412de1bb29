// The command-line commands other than `serve`: check-config (validate a config and every
// zone it names; exit 0, or 1 with FILE:LINE messages on stderr), version and help.
// Thread safety: called once from main.
#pragma once

#include <string>

namespace vnetdns::app {

int check_config(const std::string& path);
void print_help();
void print_version();

}  // namespace vnetdns::app
