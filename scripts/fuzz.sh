#!/usr/bin/env bash
# Builds the libFuzzer harnesses (fuzz/fuzz_*.c, clang + ASan + UBSan) and, for
# each, replays its committed corpus (fuzz/corpus/<name>: seeds and every
# crash fixed so far) and then fuzzes it for SECONDS.
#   scripts/fuzz.sh [SECONDS=20] [BUILD_DIR=build-fuzz] [HARNESS...]
# New inputs go to BUILD_DIR/corpus/<name> (the committed corpus is only read).
# Fuzzing runs in libFuzzer's fork mode, which goes on after a crash; each
# crash input is then replayed and classified by the first stack frame that is
# not a sanitizer interceptor: inside libhdf5 it is an upstream HDF5 bug
# (reported, kept in BUILD_DIR/artifacts, see docs/reliability.md); anywhere
# else it is ours and fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
build=${2:-build-fuzz}
shift $(( $# > 2 ? 2 : $# ))
CC=clang cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPTRAG_FUZZ=ON -DPTRAG_WERROR=ON >/dev/null
cmake --build "$build" -j "$(nproc)" >/dev/null
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
  for f in fuzz/fuzz_*.c; do n=$(basename "$f" .c); names+=("${n#fuzz_}"); done
fi
mkdir -p "$build/artifacts" "$build/tmp"
export TMPDIR="$PWD/$build/tmp"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ours=0
for n in "${names[@]}"; do
  bin="$build/fuzz_$n" seeds="fuzz/corpus/$n" work="$build/corpus/$n"
  mkdir -p "$work"
  echo "== fuzz_$n: replay of $(ls "$seeds" | wc -l) corpus inputs"
  "$bin" -runs=0 -timeout=20 "$seeds" 2>&1 | grep -E "DONE|ERROR|SUMMARY" || true
  echo "== fuzz_$n: ${secs}s of fuzzing"
  "$bin" -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 -max_total_time="$secs" -timeout=20 \
    -rss_limit_mb=2048 -artifact_prefix="$build/artifacts/$n-" "$work" "$seeds" >"$build/fuzz_$n.log" 2>&1 || true
  grep -E "^#[0-9]+" "$build/fuzz_$n.log" | tail -1 || true
  for a in "$build/artifacts/$n-"*; do
    [ -e "$a" ] || continue
    case "$a" in *.class) continue ;; esac
    [ -e "$a.class" ] && continue
    report=$("$bin" -timeout=20 -rss_limit_mb=2048 -artifact_prefix="$build/tmp/replay-" "$a" 2>&1 || true)
    if ! echo "$report" | grep -qE 'ERROR|runtime error'; then
      echo "not reproducible (fork-mode job failure?): $a" | tee "$a.class"
      continue
    fi
    frame=$(echo "$report" | grep -E '^ +#[0-9]+ ' |
      grep -vE '__interceptor_|__asan|__sanitizer|__ubsan|fuzzer::|libclang_rt|libc\.so|in (mem|str)[a-z]* |in (malloc|calloc|realloc|free|strdup|posix_memalign) ' |
      head -1 || true)
    if echo "$frame" | grep -q libhdf5; then
      echo "upstream libhdf5 crash: $a: $frame" | tee "$a.class"
    else
      echo "ptrag crash: $a: ${frame:-(no stack)}" | tee "$a.class"
      ours=$((ours + 1))
    fi
  done
done
exit $(( ours > 0 ))
