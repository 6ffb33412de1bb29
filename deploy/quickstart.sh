#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions called from traps and wait_until look unreachable
# vnetdns quickstart: install what is missing, build, and run the guide's "custom DNS" scenario
# on loopback only.
#
#   deploy/quickstart.sh          # build, start, validate, keep running until Ctrl-C
#   deploy/quickstart.sh --once   # build, start, validate, stop
#   deploy/quickstart.sh --no-build   # skip install and build (use the existing build/vnetdns)
#
# It starts two servers, both children of this script, both on loopback:
#   - the stand-in for Azure DNS (the platform resolver): knotd on 127.0.0.2:5300 serving the PUBLIC
#     view of azurecr.io from deploy/standin/ (myregistry.azurecr.io ends in 20.45.122.144);
#   - vnetdns with config/quickstart.toml: 127.0.0.1:5353 and [::1]:5353, serving the private
#     zone privatelink.azurecr.io and forwarding everything else to the stand-in.
# Then it asks both the guide's validation question. Nothing is sent off the machine.
# On exit (Ctrl-C, error, or --once) both servers are stopped by PID and waited for.
set -euo pipefail

once=0
build=1
for arg in "$@"; do
  case "$arg" in
    --once) once=1 ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "quickstart: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

STANDIN_ADDR=127.0.0.2
STANDIN_PORT=5300
VNETDNS_PORT=5353
CONFIG=config/quickstart.toml
BIN=${VNETDNS_BIN:-build/vnetdns}   # override to try another build
DEADLINE_S=20

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# --- 1. dependencies and build -------------------------------------------------------------
if [ "$build" -eq 1 ]; then
  say "installing build dependencies (Debian packages; skipped when present)"
  deploy/install-deps.sh build
  if ! command -v knotd >/dev/null && [ ! -x /usr/sbin/knotd ] || ! command -v dig >/dev/null \
      || ! command -v kdig >/dev/null; then
    say "installing the stand-in (knot) and clients (dig, kdig)"
    deploy/install-deps.sh test
  fi
  say "building vnetdns (Release)"
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build build
fi
KNOTD=$(command -v knotd || echo /usr/sbin/knotd)
[ -x "$BIN" ] || { echo "quickstart: $BIN not found; run without --no-build" >&2; exit 1; }
[ -x "$KNOTD" ] || { echo "quickstart: knotd not found; run deploy/install-deps.sh test" >&2; exit 1; }

say "checking $CONFIG"
"$BIN" check-config -c "$CONFIG"

# --- 2. the two servers, stopped by PID on any exit -----------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/vnetdns-quickstart.XXXXXX")
knot_pid=""
vnetdns_pid=""
failed=1

stop_pid() {  # SIGTERM, wait up to 10 s, then SIGKILL; always reaps the child
  local pid=$1 name=$2
  [ -n "$pid" ] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "quickstart: $name ($pid) ignored SIGTERM; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$vnetdns_pid" vnetdns
  stop_pid "$knot_pid" knotd
  if [ "$failed" -ne 0 ] && [ -d "$work" ]; then
    for log in "$work"/knotd.log "$work"/vnetdns.log; do
      [ -s "$log" ] && { echo "--- $log (last lines)" >&2; tail -n 20 "$log" >&2; }
    done
  fi
  rm -rf "$work"
  [ "$failed" -eq 0 ] && echo "quickstart: both servers stopped."
  exit "$rc"
}
trap cleanup EXIT
trap 'failed=0; exit 0' INT TERM   # Ctrl-C is the normal way out

port_busy() {  # address port
  ss -Hlnu "( sport = :$2 )" 2>/dev/null | grep -qF -- "$1:$2" || \
    ss -Hlnt "( sport = :$2 )" 2>/dev/null | grep -qF -- "$1:$2"
}
for ap in "$STANDIN_ADDR $STANDIN_PORT" "127.0.0.1 $VNETDNS_PORT" "[::1] $VNETDNS_PORT"; do
  # shellcheck disable=SC2086
  if command -v ss >/dev/null && port_busy $ap; then
    echo "quickstart: ${ap/ /:} is already in use (another quickstart still running?)" >&2
    exit 1
  fi
done

say "starting the stand-in for Azure DNS: knotd on $STANDIN_ADDR:$STANDIN_PORT (public view)"
sed -e "s|@RUNDIR@|$work|g" -e "s|@ZONEDIR@|$repo/deploy/standin/zones|g" \
    -e "s|@LISTEN@|$STANDIN_ADDR@$STANDIN_PORT|g" deploy/standin/knot.conf.in > "$work/knot.conf"
"$KNOTD" -c "$work/knot.conf" >"$work/knotd.log" 2>&1 &
knot_pid=$!

wait_until() {  # description, command...: polls until the command succeeds or the deadline
  local what=$1; shift
  local end=$((SECONDS + DEADLINE_S))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$end" ]; then
      echo "quickstart: $what not ready within ${DEADLINE_S}s" >&2; return 1
    fi
    sleep 0.1
  done
}
alive_and() { local pid=$1; shift; kill -0 "$pid" && "$@"; }
answers() { dig "@$1" -p "$2" +time=1 +tries=1 +short "$3" "$4" | grep -q .; }
# a line containing "listening" is what vnetdns logs once its sockets answer
logged() { grep -q "$2" "$1"; }

wait_until "knotd" alive_and "$knot_pid" answers "$STANDIN_ADDR" "$STANDIN_PORT" . SOA \
  || { kill -0 "$knot_pid" 2>/dev/null || echo "quickstart: knotd exited" >&2; exit 1; }
echo "knotd pid $knot_pid, log $work/knotd.log"

say "starting vnetdns: $BIN serve -c $CONFIG (127.0.0.1:$VNETDNS_PORT, [::1]:$VNETDNS_PORT)"
"$BIN" serve -c "$CONFIG" 2>"$work/vnetdns.log" &
vnetdns_pid=$!
wait_until "vnetdns" alive_and "$vnetdns_pid" logged "$work/vnetdns.log" listening \
  || { kill -0 "$vnetdns_pid" 2>/dev/null || echo "quickstart: vnetdns exited" >&2; exit 1; }
wait_until "vnetdns answering" answers 127.0.0.1 "$VNETDNS_PORT" privatelink.azurecr.io SOA
echo "vnetdns pid $vnetdns_pid, log $work/vnetdns.log"

# --- 3. the guide's validation -------------------------------------------------------------
say "inside the VNet: dig @127.0.0.1 -p $VNETDNS_PORT myregistry.azurecr.io   (vnetdns)"
dig @127.0.0.1 -p "$VNETDNS_PORT" +time=3 +tries=1 myregistry.azurecr.io
say "from the internet: dig @$STANDIN_ADDR -p $STANDIN_PORT myregistry.azurecr.io   (the stand-in, public view)"
dig "@$STANDIN_ADDR" -p "$STANDIN_PORT" +time=3 +tries=1 myregistry.azurecr.io

private=$(dig @127.0.0.1 -p "$VNETDNS_PORT" +time=3 +tries=1 +short myregistry.azurecr.io | tail -n1)
public=$(dig "@$STANDIN_ADDR" -p "$STANDIN_PORT" +time=3 +tries=1 +short myregistry.azurecr.io | tail -n1)
say "result"
echo "myregistry.azurecr.io -> $private via vnetdns (private endpoint), $public from outside"
if [ -z "$private" ] || [ "$private" = "$public" ]; then
  echo "quickstart: vnetdns did not give the private address" >&2
  exit 1
fi

failed=0
if [ "$once" -eq 1 ]; then
  exit 0
fi
cat <<EOF

vnetdns is running (pid $vnetdns_pid). Try:
  dig @127.0.0.1 -p $VNETDNS_PORT myregistry.westeurope.data.privatelink.azurecr.io
  dig @::1 -p $VNETDNS_PORT otherregistry.azurecr.io
  kill -HUP $vnetdns_pid     # reload after editing zones/privatelink.azurecr.io.zone
Logs: $work/vnetdns.log  $work/knotd.log
Press Ctrl-C to stop both servers.
EOF
# Wait for either server to exit (or for Ctrl-C, which runs the INT trap).
failed=1
while kill -0 "$vnetdns_pid" 2>/dev/null && kill -0 "$knot_pid" 2>/dev/null; do
  wait -n "$vnetdns_pid" "$knot_pid" 2>/dev/null || true
done
echo "quickstart: a server exited on its own" >&2
exit 1
