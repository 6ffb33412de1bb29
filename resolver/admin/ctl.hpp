// `vnetdns ctl`: a thin client of the admin endpoint.
//   vnetdns ctl reload            POST /reload (exit 1 and the FILE:LINE errors if it failed)
//   vnetdns ctl flush [NAME]      POST /cache/flush (everything, or exactly NAME)
//   vnetdns ctl flush --zone Z    POST /cache/flush?zone=Z (Z and everything below it)
//   vnetdns ctl dump NAME         GET /cache/dump?name=NAME
//   vnetdns ctl stats             GET /metrics, samples only (no # lines)
//   vnetdns ctl ready             GET /readyz
// Options: -c/--config FILE (read [admin] listen from it; default /etc/vnetdns/vnetdns.toml),
// --admin ADDR (ip:port, [v6]:port; overrides the config), --timeout SECONDS (default 30).
// A wildcard listen address (0.0.0.0, ::) is reached through loopback.
// Exit status: 0 success, 1 the server said no or could not be reached, 2 usage error.
// Thread safety: called once from main.
#pragma once

namespace vnetdns::admin {

// argv[0] is "ctl".
int run_ctl_command(int argc, char** argv);

}  // namespace vnetdns::admin
