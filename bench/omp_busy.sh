#!/usr/bin/env bash
# OpenMP on a busy machine (issue 17): a small `ptrag train` (state model,
# A172 split, 30 steps) with 1 and 2 OpenMP threads, on the machine as it is
# and with one busy-loop competitor per core, under
#   old: libgomp's default spinning barriers (GOMP_SPINCOUNT=300000, what
#        ptrag got before it chose a policy)
#   new: what ptrag uses now (it re-executes itself with
#        OMP_WAIT_POLICY=passive when no policy is set)
# and prints the wall seconds (best of REPS) and the ratios to the 1-thread
# run of the same condition: the old 2-thread run was 7-30x slower than 1
# thread on a loaded 2-core machine.
#   bench/omp_busy.sh [BUILD_DIR=build] [REPS=3]
set -euo pipefail
shopt -s inherit_errexit # a failed run inside $(...) stops the script
cd "$(dirname "$0")/.."
build=${1:-build}
reps=${2:-3}
shared=$(realpath ../shared)
out=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$out"' EXIT
export OPENBLAS_NUM_THREADS=1
train() { # $1 threads, $2.. env
  local t=$1; shift
  env "$@" "$build/ptrag" train --split "$shared/splits/perturbench_fewshot_a172.toml" \
    --pert-col perturbation --control control --missing drop \
    --embeddings "$shared/data/go_svd128_embeddings/go_svd128_perturbation_genes.tsv" \
    --model state --hidden 64 --layers 2 --heads 4 --head-dim 16 --mlp 128 --set-size 32 --batch 4 \
    --val-every 1000 --steps 30 --threads "$t" --quiet --overwrite --out "$out/run$t" >/dev/null
}
best_of() { # prints the best wall seconds of $reps runs of train "$@"
  local best=""
  for _ in $(seq "$reps"); do
    local t0 t1 s
    t0=$(date +%s.%N); train "$@"; t1=$(date +%s.%N)
    s=$(echo "$t1 - $t0" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$s < $best" | bc -l)" = 1 ]; then best=$s; fi
  done
  printf "%.2f" "$best"
}
measure() { # $1 condition label
  local one old new
  one=$(best_of 1 X=1)
  old=$(best_of 2 GOMP_SPINCOUNT=300000)
  new=$(best_of 2 X=1)
  printf "| %-22s | %6s | %8s | %8s | %8.2f | %8.2f |\n" "$1" "$one" "$old" "$new" \
    "$(echo "$old / $one" | bc -l)" "$(echo "$new / $one" | bc -l)"
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
echo "| condition              | 1 thr s | 2 thr old s | 2 thr new s | old/1thr | new/1thr |"
echo "|---|---:|---:|---:|---:|---:|"
measure "as is"
for _ in $(seq "$(nproc)"); do (while :; do :; done) & done
sleep 1
measure "+$(nproc) busy loops"
kill $(jobs -p) 2>/dev/null || true
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
