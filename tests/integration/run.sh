#!/usr/bin/env bash
# Runs every integration test (tests/integration/test_*.py) against a vnetdns binary, the way
# CTest does (ctest -L integration). Needs knotd, dig, kdig, drill and python3-dnspython
# (deploy/install-deps.sh test). All traffic stays on loopback.
#   tests/integration/run.sh [path/to/vnetdns] [-k NAME]
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bin=${1:-$repo/build/vnetdns}
shift || true
rc=0
for t in "$repo"/tests/integration/test_*.py; do
  echo "### $(basename "$t")"
  /usr/bin/python3 "$t" --binary "$bin" --source "$repo" "$@" || rc=1
done
exit "$rc"
