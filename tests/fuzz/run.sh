#!/usr/bin/env bash
# Builds the libFuzzer targets with clang in their own build folder and runs each one for a
# bounded time over its seed corpus (tests/fuzz/corpus/<target>/, read-only; new inputs go to
# a temporary folder), after replaying its crash reproducers (tests/fuzz/regressions/<target>/).
#
#   tests/fuzz/run.sh [seconds-per-target] [target...]
#
# seconds defaults to 30. Environment: BUILD_DIR (default <repo>/build-fuzz), JOBS (parallel
# fuzzing jobs per target, default 1), CXX (default clang++), KEEP_NEW=1 keeps the new inputs.
# Exits non-zero when a target fails to build, a regression input fails, or fuzzing finds a
# crash, leak, timeout or failed check; the reproducer is left in <BUILD_DIR>/artifacts/<target>/.
set -euo pipefail

seconds="${1:-30}"
shift || true
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [seconds-per-target] [target...]" >&2
  exit 2
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
build="${BUILD_DIR:-$repo/build-fuzz}"
jobs="${JOBS:-1}"
cxx="${CXX:-clang++}"
# Leaks inside third-party libraries (see lsan.supp) are not ours to fail on.
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$here/lsan.supp:print_suppressions=0"
# Full stacks for leaks (ldns is built without frame pointers), so suppressions name a frame.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0"

generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$repo" -B "$build" "${generator[@]}" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVNETDNS_FUZZ=ON
fi

if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  # Every fuzz_*.cpp in tests/fuzz is a target of the same name.
  targets=()
  for src in "$here"/fuzz_*.cpp; do
    targets+=("$(basename "$src" .cpp)")
  done
fi
cmake --build "$build" --target "${targets[@]}"

work="$(mktemp -d "${TMPDIR:-/tmp}/vnetdns-fuzz.XXXXXX")"
if [[ "${KEEP_NEW:-0}" != 1 ]]; then
  trap 'rm -rf "$work"' EXIT
else
  echo "new inputs are kept in $work"
fi

status=0
for t in "${targets[@]}"; do
  bin="$(find "$build" -type f -name "$t" -perm -u+x | head -n1)"
  if [[ -z "$bin" ]]; then
    echo "== $t: not built" >&2
    status=1
    continue
  fi
  artifacts="$build/artifacts/$t"
  mkdir -p "$artifacts" "$work/$t"
  common=(-artifact_prefix="$artifacts/" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

  regressions="$here/regressions/$t"
  if [[ -d "$regressions" ]] && [[ -n "$(ls -A "$regressions")" ]]; then
    echo "== $t: replaying $(ls "$regressions" | wc -l) regression input(s)"
    if ! "$bin" "${common[@]}" "$regressions"/*; then
      echo "== $t: a regression input fails again" >&2
      status=1
      continue
    fi
  fi

  corpus=()
  [[ -d "$here/corpus/$t" ]] && corpus=("$here/corpus/$t")
  echo "== $t: fuzzing for ${seconds}s (seeds: ${corpus[*]:-none})"
  log="$work/$t.log"
  set +e
  # Run inside the temporary folder: with -jobs libFuzzer writes fuzz-<n>.log to the cwd.
  if [[ "$jobs" -gt 1 ]]; then
    (cd "$work" && "$bin" "${common[@]}" -max_total_time="$seconds" -jobs="$jobs" \
      -workers="$jobs" "$work/$t" "${corpus[@]}" >"$log" 2>&1)
  else
    (cd "$work" && "$bin" "${common[@]}" -max_total_time="$seconds" "$work/$t" "${corpus[@]}" \
      >"$log" 2>&1)
  fi
  rc=$?
  set -e
  grep -E '^#[0-9]+.*(DONE|INITED)|stat::number_of_executed_units|stat::peak_rss_mb' "$log" || true
  if [[ $rc -ne 0 ]]; then
    echo "== $t: FAILED (exit $rc); last lines of the log:" >&2
    tail -n 60 "$log" >&2
    echo "== $t: reproducer(s) in $artifacts/:" >&2
    ls -l "$artifacts" >&2
    status=1
  else
    echo "== $t: ok, $(ls "$work/$t" | wc -l) new input(s) in the temporary corpus"
  fi
done
exit $status
