#!/usr/bin/env bash
# Stage-1 retrieval and embedding-loading benchmark: ptrag (C) beside numpy and
# Python's pickle on the same machine, in this one script.
#   bench/knn.sh [BUILD_DIR]          (default: build; needs /usr/bin/python3 with numpy)
# Env: SIZES="2000 34000 200000" DIM=1536 QUERIES=2000 K=32 PICKLE_N=34000 THREADS=2
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
SIZES=${SIZES:-"2000 34000 200000"}
DIM=${DIM:-1536}
QUERIES=${QUERIES:-2000}
K=${K:-32}
PICKLE_N=${PICKLE_N:-34000}
THREADS=${THREADS:-2}
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS
py=/usr/bin/python3
bench=$build/bench_knn
[ -x "$bench" ] || { echo "build first: cmake --build $build" >&2; exit 1; }
field() { sed -n "s/.*$1=\([^ ]*\).*/\1/p"; }

echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); threads=$THREADS"
echo "# top-$K of $QUERIES queries x $DIM dims"
printf "%-8s %12s %12s %8s %12s %12s\n" rows c_qps numpy_qps ratio c_build_s top1_same
for n in $SIZES; do
    c=$("$bench" knn "$n" "$DIM" "$QUERIES" "$K")
    block=$(echo "$c" | field block)
    p=$($py bench/knn_reference.py knn "$n" "$DIM" "$QUERIES" "$K" "$block")
    cq=$(echo "$c" | field qps); pq=$(echo "$p" | field qps)
    same=$([ "$(echo "$c" | field top1_checksum)" = "$(echo "$p" | field top1_checksum)" ] && echo yes || echo NO)
    printf "%-8s %12s %12s %8s %12s %12s\n" "$n" "$cq" "$pq" "$(awk -v a="$cq" -v b="$pq" 'BEGIN{printf "%.2f", a/b}')" \
        "$(echo "$c" | field build_s)" "$same"
done

tmp=$build/tmp/bench_knn
mkdir -p "$tmp"
echo "# loading a GenePT-layout pickle: $PICKLE_N genes x $DIM float64 + $((PICKLE_N / 10)) alias keys, protocol 4"
printf "%-8s %10s %12s %12s %8s\n" layout size_MB c_load_s python_s ratio
for layout in ndarray list; do
    f=$tmp/genept_${layout}_${PICKLE_N}.pickle
    $py bench/knn_reference.py make-pickle "$f" "$PICKLE_N" "$DIM" "$layout"
    c=$("$bench" load "$f" 2)
    p=$($py bench/knn_reference.py load "$f" 2)
    cs=$(echo "$c" | field best_s); ps=$(echo "$p" | field best_s)
    printf "%-8s %10s %12s %12s %8s\n" "$layout" "$(( $(stat -c %s "$f") / 1000000 ))" "$cs" "$ps" \
        "$(awk -v a="$ps" -v b="$cs" 'BEGIN{printf "%.2f", a/b}')"
    rm -f "$f"
done
