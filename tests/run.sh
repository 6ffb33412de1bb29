#!/usr/bin/env bash
# README command 2: installs what is missing (Debian packages), builds vnetdns and its tests
# with AddressSanitizer + UndefinedBehaviorSanitizer, and runs the whole suite: the style
# check (clang-format), unit and scenario tests (Catch2), the layer and docs checks,
# integration tests (the real binary on loopback against Knot, Unbound, BIND, ldns-testns,
# with dig/kdig/dnspython), and every libFuzzer target for a short bounded time.
#
#   tests/run.sh                 everything
#   FUZZ_SECONDS=0 tests/run.sh  skip the timed fuzzing (the corpora are still replayed)
#
# All traffic stays on loopback. Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)
jobs=$(nproc)
fuzz_seconds=${FUZZ_SECONDS:-20}

deploy/install-deps.sh test

echo "== style: clang-format --dry-run --Werror on every C++ file"
git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run --Werror

echo "== build (ASan + UBSan) in build-asan"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVNETDNS_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

echo "== unit, scenario and integration tests"
ctest --test-dir build-asan --output-on-failure -j "$jobs"

echo "== fuzz targets: replay corpora and regressions, then ${fuzz_seconds}s of fuzzing each"
BUILD_DIR="$repo/build-fuzz" tests/fuzz/run.sh "$fuzz_seconds"
echo "== all tests passed"
