#!/usr/bin/env bash
# Installs, from Debian 12 packages only, what vnetdns needs to build and to run its tests.
# Idempotent: packages already present are skipped, so a second run costs one dpkg query.
# Usage: deploy/install-deps.sh [build|test|bench]   (default: test)
set -euo pipefail
what=${1:-test}

build_pkgs=(build-essential cmake ninja-build pkg-config
  libboost1.81-dev libldns-dev libssl-dev libc-ares-dev libspdlog-dev libfmt-dev libtomlplusplus-dev
  catch2)
test_pkgs=(clang clang-format libclang-rt-14-dev bind9-dnsutils knot-dnsutils ldnsutils knot
  python3-dnspython python3-cryptography python3-minimal iproute2 procps systemd prometheus
  bind9 unbound dnsmasq-base cloud-init dpkg-dev mandoc)
bench_pkgs=(dnsperf unbound dnsdist pdns-recursor knot-resolver dnsmasq-base bind9 util-linux)

pkgs=("${build_pkgs[@]}")
case "$what" in
  build) ;;
  test) pkgs+=("${test_pkgs[@]}") ;;
  bench) pkgs+=("${test_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: $0 [build|test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Servers are installed only as test peers: keep their packaged services from starting.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
  $SUDO chmod +x /usr/sbin/policy-rc.d
  trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
