#!/usr/bin/env bash
# A/B of the C training step between two builds (e.g. main and a branch), for
# "no slower than before" checks on a shared machine: the same bench_train_step
# run alternately from both builds in one script, the order swapped every round
# (ABBA), so load from other processes falls on both alike. Prints every run and
# the mean ms/step (wall and CPU) of each build and their ratio.
#
#   bench/train_step_ab.sh BASE_BUILD NEW_BUILD [--models "state ptrag"] [--rounds 3]
#       [--steps 3] [--threads N] [--precision fp32]
#
# Same C settings as bench/train_step.sh (OMP_NUM_THREADS=N, OPENBLAS_NUM_THREADS=1,
# --n-batches 48, OPENBLAS_CORETYPE=SkylakeX on AVX-512 CPUs unless set).
set -euo pipefail
[[ $# -ge 2 ]] || { echo "usage: bench/train_step_ab.sh BASE_BUILD NEW_BUILD [--models LIST] [--rounds N] [--steps N] [--threads N] [--precision P]" >&2; exit 2; }
base=$1 new=$2; shift 2
models="state ptrag"; rounds=3; steps=3; threads=$(nproc); prec=fp32
while [[ $# -gt 0 ]]; do
  case $1 in
    --models) models=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --precision) prec=$2; shift 2 ;;
    *) echo "train_step_ab.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
for b in "$base" "$new"; do [[ -x $b/bench_train_step ]] || { echo "train_step_ab.sh: no $b/bench_train_step" >&2; exit 1; }; done
if [[ -z ${OPENBLAS_CORETYPE:-} ]] && grep -qw avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; fi
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$2"; }
echo "# $(date '+%F %T') threads=$threads steps=$steps rounds=$rounds precision=$prec; load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A wall cpu runs
for r in $(seq 1 "$rounds"); do
  for model in $models; do
    order="base new"; (( r % 2 == 0 )) && order="new base"
    for side in $order; do
      b=$base; [[ $side == new ]] && b=$new
      o=$("$b/bench_train_step" --model "$model" --precision "$prec" --steps "$steps" --warmup 1 --infer-steps 1 --n-batches 48 | tail -1)
      w=$(field ms_per_step "$o"); c=$(field cpu_ms_per_step "$o")
      echo "round $r $model $side: $w ms/step, cpu $c ms/step (load $(cut -d' ' -f1 /proc/loadavg))"
      wall[$model.$side]=$(awk -v a="${wall[$model.$side]:-0}" -v b="$w" 'BEGIN { print a + b }')
      cpu[$model.$side]=$(awk -v a="${cpu[$model.$side]:-0}" -v b="$c" 'BEGIN { print a + b }')
    done
  done
done
for model in $models; do
  awk -v m="$model" -v r="$rounds" -v wb="${wall[$model.base]}" -v wn="${wall[$model.new]}" -v cb="${cpu[$model.base]}" -v cn="${cpu[$model.new]}" \
    'BEGIN { printf "%-6s mean ms/step base %.0f new %.0f (new/base %.3f); cpu base %.0f new %.0f (%.3f)\n", m, wb / r, wn / r, wn / wb, cb / r, cn / r, cn / cb }'
done
