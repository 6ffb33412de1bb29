// The operator commands of the guide's workflow, for main.cpp to dispatch to:
//   vnetdns zone add-record|remove-record|list|import|audit ...   (argv[0] == "zone")
//   vnetdns check NAME... --server ADDR[:PORT] ...                 (argv[0] == "check")
// Each parses its own arguments (argv[0] is the command word itself), prints results on
// stdout and problems on stderr, and returns the process exit status:
//   0 done / everything checked is fine; 1 refused, failed, or problems found; 2 usage error.
// See resolver/zonetool/README.md for every option. Thread safety: call from main only.
#pragma once

namespace vnetdns::zonetool {

int run_zone_command(int argc, char** argv);
int run_check_command(int argc, char** argv);

}  // namespace vnetdns::zonetool
