#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/fuzz_*.c, clang + ASan + UBSan) and, for
# each, replays its committed corpus (fuzz/corpus/<name>: seeds and every
# crash found so far) and then fuzzes it for SECONDS.
#   scripts/fuzz.sh [SECONDS=20] [BUILD_DIR=build-fuzz] [HARNESS...]
# New inputs go to BUILD_DIR/corpus/<name> (the committed corpus is only read);
# a crash leaves BUILD_DIR/artifacts/<name>-crash-* and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
build=${2:-build-fuzz}
shift $(( $# > 2 ? 2 : $# ))
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPTRAG_FUZZ=ON -DPTRAG_WERROR=ON >/dev/null
cmake --build "$build" -j "$(nproc)"
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do n=$(basename "$f" .c); names+=("${n#fuzz_}"); done
fi
mkdir -p "$build/artifacts" "$build/tmp"
export TMPDIR="$PWD/$build/tmp"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
for n in "${names[@]}"; do
  bin="$build/fuzz_$n" seeds="fuzz/corpus/$n" work="$build/corpus/$n"
  mkdir -p "$work"
  echo "== fuzz_$n: replay $(ls "$seeds" | wc -l) corpus inputs, then ${secs}s of fuzzing"
  "$bin" -runs=0 -timeout=20 "$seeds" 2>&1 | tail -1
  "$bin" -max_total_time="$secs" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/artifacts/$n-" "$work" "$seeds" 2>&1 |
    grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)|ERROR|SUMMARY|Done" || true
  if ls "$build/artifacts/$n-"* >/dev/null 2>&1; then
    echo "fuzz_$n: crash inputs in $build/artifacts:" >&2
    ls "$build/artifacts/$n-"* >&2
    exit 1
  fi
done
