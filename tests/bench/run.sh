#!/usr/bin/env bash
# vnetdns benchmark, one command (issue 3): vnetdns against Unbound, dnsdist, PowerDNS
# Recursor, BIND, Knot Resolver, dnsmasq and a batched echo responder, on loopback only.
# Usage: tests/bench/run.sh [--quick] [--outage] [--scaling] [--servers a,b,...] [--rounds N]
#        [--duration S] [--misses N] [--nice N] | --upstream-stress [...] | --dnssec [...]
#   --quick: 1 round, 2 s runs, 20k miss names (a smoke test, ~3 minutes; writes quick.md)
#   default: 3 rounds (median and range), 5 s runs, 200k miss names (~20 minutes)
#   --scaling: also vnetdns with threads = 1 and 2, server and generator on both CPUs
#   --upstream-stress: instead of bench.py, tests/bench/upstream_stress.py (issue 16: vnetdns,
#     Unbound and dnsdist in front of a slow, vanishing or half-dead upstream, in network
#     namespaces; needs root; ~6 minutes) with the other arguments; writes
#     results/upstream-stress.md (and .json)
#   --dnssec: instead of bench.py, tests/bench/dnssec_bench.py (DNSSEC validation: vnetdns with
#     [dnssec] mode = "validate" against a validating Unbound and vnetdns with mode off, misses
#     under both miss load settings with DO=1 and DO=0, a wildcard side row, hits validate vs
#     off; the signed hierarchy of tests/integration/signed_hierarchy.py plus a signed zone of
#     200k names; ~15 minutes) with the other arguments; writes results/dnssec-<hash>.md
#     (and .json). Its zone is signed with ECDSA P-256; `--dnssec --alg RSASHA256 --names
#     120000` measures RSA/SHA-256 (results/dnssec-rsasha256-<hash>.md)
# Environment: VNETDNS_BIN=path uses that binary instead of building build-bench/vnetdns
# (it must be a Release build without sanitizers).
# Writes tests/bench/results/latest.md (and latest.json) and prints the tables.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

stress=0
dnssec=0
args=()
for a in "$@"; do
  if [ "$a" = "--upstream-stress" ]; then stress=1
  elif [ "$a" = "--dnssec" ]; then dnssec=1
  else args+=("$a"); fi
done
set -- ${args[@]+"${args[@]}"}

deploy/install-deps.sh bench

if [ -z "${VNETDNS_BIN:-}" ]; then
  cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DVNETDNS_TESTS=OFF >/dev/null
  cmake --build build-bench --target vnetdns
  VNETDNS_BIN=build-bench/vnetdns
  VNETDNS_REV="$(git describe --always --dirty 2>/dev/null || echo unknown)"
fi
export VNETDNS_REV="${VNETDNS_REV:-prebuilt $VNETDNS_BIN}"
if [ "$stress" = 1 ]; then
  exec /usr/bin/python3 "$here/upstream_stress.py" --binary "$VNETDNS_BIN" "$@"
fi
if [ "$dnssec" = 1 ]; then
  exec /usr/bin/python3 "$here/dnssec_bench.py" --binary "$VNETDNS_BIN" "$@"
fi
mkdir -p build-bench/bench
c++ -O2 -std=c++20 -Wall -Wextra -o build-bench/bench/loadgen "$here/loadgen.cpp"
c++ -O2 -std=c++20 -Wall -Wextra -o build-bench/bench/echo_responder "$here/echo_responder.cpp"

exec /usr/bin/python3 "$here/bench.py" --source "$root" --vnetdns "$VNETDNS_BIN" \
  --loadgen build-bench/bench/loadgen --echo build-bench/bench/echo_responder "$@"
