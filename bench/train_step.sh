#!/usr/bin/env bash
# Training-step benchmark (issue 8): the C model (bench_train_step) beside the
# PyTorch twin (dev/bench_train_step.py) on the same machine, in one run.
#
#   bench/train_step.sh [BUILD_DIR] [--models "state ptrag"] [--steps 10]
#       [--torch-steps 3] [--threads N] [--coretype NAME|auto|none] [--n-batches 48]
#       [--precisions "fp32 bf16"] [--no-torch]
#
# For each model, with and without --freeze-backbone (--preset paper, G=2000,
# E=1536, P=2000 database rows, a batch embedding of 48 rows as in the
# published run (K562 alone has 48 gem_groups), synthetic inputs):
#   C:      OMP_NUM_THREADS=N, OPENBLAS_NUM_THREADS=1 (OpenMP is the only pool)
#   torch1: torch.set_num_threads(1), OPENBLAS_NUM_THREADS=N
#   torchN: torch.set_num_threads(N) (OpenBLAS as it comes)
# and prints ms/step (median after one warm-up step), the ratio to the faster
# torch configuration (the reference), FLOPs/step (ptrag_model_flops, and the
# direct formulation's count that torch computes), GFLOP/s, the share of
# OpenBLAS's own sgemm peak measured in the same run (2048^3, N threads),
# inference cells/s (forward only) beside torch's, and peak memory. The C step
# is measured before and after the torch runs (the faster median is used, both
# are printed), and the sgemm peak before and after the torch runs, so load
# from other processes on a shared machine shows in the output.
#
# Each configuration runs at every --precisions value (issue 20; bf16 is
# skipped when the build has no oneDNN). A bf16 row also shows x_fp32, the
# fp32 row's step time over its own (wall and CPU time: on a shared machine
# the CPU-time ratio at --threads 1 is the steadier one), and %gemm_pk, the
# rate of its bf16 products (FLOPs over the CPU time inside them) against
# oneDNN's own bf16 matmul peak (2048^3, N threads) measured in the same run.
#
# OpenBLAS 0.3.21 does not recognise some recent CPUs (this machine: an
# AVX-512 Xeon reported as "Intel Xeon Processor") and falls back to its
# Prescott (SSE3) kernels at about half the speed. --coretype auto (default)
# sets OPENBLAS_CORETYPE=SkylakeX for BOTH sides when the CPU has AVX-512 and
# OpenBLAS would pick Prescott; --coretype none keeps OpenBLAS's choice.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
if [[ $# -gt 0 && $1 != --* ]]; then build=$1; shift; fi
models="state ptrag"; steps=10; tsteps=3; threads=$(nproc); coretype=auto; torch=1; nb=48; precisions="fp32 bf16"
while [[ $# -gt 0 ]]; do
  case $1 in
    --models) models=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --torch-steps) tsteps=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    --coretype) coretype=$2; shift 2 ;;
    --no-torch) torch=0; shift ;;
    --n-batches) nb=$2; shift 2 ;;
    --precisions) precisions=$2; shift 2 ;;
    *) echo "usage: bench/train_step.sh [BUILD_DIR] [--models LIST] [--steps N] [--torch-steps N] [--threads N] [--coretype NAME|auto|none] [--n-batches N] [--precisions LIST] [--no-torch]" >&2; exit 2 ;;
  esac
done
[[ -x $build/bench_train_step ]] || { echo "train_step.sh: build $build/bench_train_step first" >&2; exit 1; }
if [[ $torch == 1 ]] && ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "SKIP torch side: /usr/bin/python3 cannot import torch" >&2; torch=0
fi
if [[ $coretype == auto ]]; then
  coretype=none
  if grep -qw avx512f /proc/cpuinfo && [[ -z ${OPENBLAS_CORETYPE:-} ]]; then
    detected=$(OPENBLAS_VERBOSE=2 OMP_NUM_THREADS=1 "$build/bench_train_step" --help 2>&1 | sed -n "s/^Core: //p" | head -1 || true)
    [[ $detected == Prescott || -z $detected ]] && coretype=SkylakeX
  fi
fi
[[ $coretype != none ]] && export OPENBLAS_CORETYPE=$coretype
echo "# $(date '+%F %T')  $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, threads=$threads, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-(auto-detected)}"
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)  (the machine is shared: compare ratios within one run)"
[[ $torch == 1 ]] && echo "# torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'); C steps=$steps, torch steps=$tsteps (median after 1 warm-up)"

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$2"; }
printf "%-6s %-6s %-5s %9s %9s %9s %9s %7s %8s %8s %7s %6s %9s %9s %7s %8s %13s %8s\n" model frozen prec C_ms C_cpu_ms t1_ms tN_ms ratio GF_step GF_dense GF/s %peak C_cell/s t_cell/s x_inf rss_MiB x_fp32_w/cpu %gemm_pk
for model in $models; do
  for frozen in 0 1; do
   fp32_ms=-; fp32_cpu=-; t1=-; tn=-; tcell=-
   for prec in $precisions; do
    fz="--n-batches $nb"; [[ $frozen == 1 ]] && fz="$fz --freeze-backbone"
    runc() { OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=1 "$build/bench_train_step" --model "$model" --precision "$prec" --steps "$steps" --warmup 1 --infer-steps 3 --peak $fz; }
    if [[ $prec == bf16 ]] && ! c=$(runc 2>/dev/null); then echo "#   $model frozen=$frozen: bf16 unavailable in this build (no oneDNN)"; continue; fi
    peak() { OMP_NUM_THREADS=$threads "$build/bench_train_step" --peak-only | sed 's/.*=//'; }
    [[ $prec == bf16 ]] || c=$(runc)
    cms=$(field ms_per_step "$c"); cms_a=$cms; cms_b=-; ratio=-; xinf=-; pk_t=-
    if [[ $torch == 1 && $t1 == - ]]; then
      pk_t=$(peak)
      o1=$(OPENBLAS_NUM_THREADS=$threads /usr/bin/python3 dev/bench_train_step.py --model "$model" --threads 1 --steps "$tsteps" --warmup 1 $fz)
      on=$(/usr/bin/python3 dev/bench_train_step.py --model "$model" --threads "$threads" --steps "$tsteps" --warmup 1 $fz)
      pk_t="$pk_t/$(peak)"
      t1=$(field ms_per_step "$o1"); tn=$(field ms_per_step "$on")
    fi
    # the C step twice (torch ran in between for the first precision): load
    # from other processes only slows a run down, so the faster one counts
    c2=$(runc)
    cms_b=$(field ms_per_step "$c2")
    if awk -v a="$cms_b" -v b="$cms" 'BEGIN { exit !(a < b) }'; then c=$c2; cms=$cms_b; fi
    ccpu=$(field cpu_ms_per_step "$c")
    if [[ $t1 != - ]]; then
      best=$(awk -v a="$t1" -v b="$tn" 'BEGIN { print (a < b) ? a : b }')
      ratio=$(awk -v t="$best" -v c="$cms" 'BEGIN { printf "%.2f", t / c }')
      if [[ $frozen == 0 && $tcell == - ]]; then  # inference does not depend on freezing
        tenv=$([[ $(awk -v a="$t1" -v b="$tn" 'BEGIN { print (a < b) }') == 1 ]] && echo 1 || echo "$threads")
        if [[ $tenv == 1 ]]; then
          oi=$(OPENBLAS_NUM_THREADS=$threads /usr/bin/python3 dev/bench_train_step.py --model "$model" --threads 1 --steps "$tsteps" --warmup 1 --n-batches "$nb" --predict)
        else
          oi=$(/usr/bin/python3 dev/bench_train_step.py --model "$model" --threads "$threads" --steps "$tsteps" --warmup 1 --n-batches "$nb" --predict)
        fi
        tcell=$(field cells_per_s "$oi")
      fi
      if [[ $frozen == 0 && $tcell != - ]]; then xinf=$(awk -v t="$tcell" -v c="$(field infer_cells_per_s "$c")" 'BEGIN { printf "%.2f", c / t }'); fi
    fi
    xfp=-; gpk=-
    if [[ $prec == fp32 ]]; then fp32_ms=$cms; fp32_cpu=$ccpu
    elif [[ $fp32_ms != - ]]; then xfp=$(awk -v a="$fp32_ms" -v b="$cms" -v c="$fp32_cpu" -v d="$ccpu" 'BEGIN { printf "%.2f/%.2f", a / b, c / d }'); fi
    [[ $prec != bf16 ]] || gpk=$(awk -v f="$(field gemm_frac_bf16_peak "$c")" 'BEGIN { printf "%.0f", 100 * f }')
    printf "%-6s %-6s %-5s %9s %9s %9s %9s %7s %8s %8s %7s %6s %9s %9s %7s %8s %13s %8s\n" "$model" "$frozen" "$prec" "$cms" "$ccpu" "$t1" "$tn" "$ratio" \
      "$(field gflop_per_step "$c")" "$(field gflop_dense "$c")" "$(field gflops "$c")" \
      "$(awk -v f="$(field frac_peak "$c")" 'BEGIN { printf "%.0f", 100 * f }')" \
      "$(field infer_cells_per_s "$c")" "$tcell" "$xinf" "$(field peak_rss_mib "$c")" "$xfp" "$gpk"
    echo "#   C runs before/after torch: $cms_a / $cms_b ms; C: fwd $(field fwd_ms "$c") ms, bwd $(field bwd_ms "$c") ms, clip+Adam $(field opt_ms "$c") ms; sgemm peak $(field sgemm_peak_gflops "$c") GFLOP/s (before/after the torch runs: $pk_t); activations $(field act_mib "$c") MiB, params+grads+Adam $(field params_mib "$c") MiB"
    if [[ $prec == bf16 ]]; then echo "#   bf16: oneDNN bf16 matmul peak $(field bf16_peak_gflops "$c") GFLOP/s, the step's bf16 products $(field gemm_gflops "$c") GFLOP/s, step $(field step_frac_bf16_peak "$c") of the bf16 peak"; fi
   done
  done
done
echo "# ratio = faster torch configuration / C (>1: C faster); x_inf = C cells/s / torch cells/s (torch: its faster thread setting)"
echo "# x_fp32 = fp32 C step / this C step (wall/CPU time); %gemm_pk = the bf16 products' rate / oneDNN's bf16 matmul peak"
echo "# %peak = C GFLOP/s (GF_step: FLOPs this implementation computes) / OpenBLAS sgemm peak; GF_dense: FLOPs of the direct formulation torch computes"
echo "# load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
