#!/usr/bin/env bash
# Times every nn op in C (bench_ops) and in PyTorch (dev/bench_ops.py) on this
# machine with the same thread count, and prints one table:
#   op, shape, C fwd/bwd ms, torch fwd/bwd ms, ratio torch/C (>1: C faster),
#   C GFLOP/s of matmul ops and their share of OpenBLAS's own sgemm peak.
#   bench/ops.sh [BUILD_DIR] [--threads T] [--reps R] [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
if [[ $# -gt 0 && $1 != --* ]]; then build=$1; shift; fi
threads=$(nproc); reps=5; quick=""
while [[ $# -gt 0 ]]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --quick) quick=--quick; shift ;;
    *) echo "usage: bench/ops.sh [BUILD_DIR] [--threads T] [--reps R] [--quick]" >&2; exit 2 ;;
  esac
done
[[ -x $build/bench_ops ]] || { echo "ops.sh: build $build/bench_ops first (cmake --build $build)" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS=$threads OPENBLAS_NUM_THREADS=$threads
echo "threads=$threads reps=$reps $(lscpu | sed -n 's/^Model name: *//p')"
"$build/bench_ops" --reps "$reps" $quick > "$tmp/c.tsv"
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  /usr/bin/python3 dev/bench_ops.py --reps "$reps" --threads "$threads" $quick > "$tmp/t.tsv"
  echo "torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)')"
else
  echo "SKIP torch side: /usr/bin/python3 cannot import torch" >&2
  : > "$tmp/t.tsv"
fi
awk -F'\t' '
  FNR == 1 { next }
  FILENAME == ARGV[1] { if ($1 == "sgemm_peak") { tpeak = $3; next } tf[$1] = $3; tb[$1] = $4; next }
  $1 == "sgemm_peak" { peak = $3 + 0; cpeak = $3; next }
  { n++; op[n] = $1; sh[n] = $2; cf[n] = $3; cb[n] = $4; gf[n] = $5; gb[n] = $6 }
  END {
    printf "%-24s %-28s %9s %9s %9s %9s %7s %7s %8s %8s %6s %6s\n", "op", "shape", "C_fwd_ms", "C_bwd_ms",
      "pt_fwd", "pt_bwd", "x_fwd", "x_bwd", "C_GF/s_f", "C_GF/s_b", "%pk_f", "%pk_b"
    for (i = 1; i <= n; i++) {
      o = op[i]
      rf = (o in tf && cf[i] > 0) ? sprintf("%.2f", tf[o] / cf[i]) : "-"
      rb = (o in tb && cb[i] > 0) ? sprintf("%.2f", tb[o] / cb[i]) : "-"
      pf = (gf[i] != "-" && peak > 0) ? sprintf("%.0f", 100 * gf[i] / peak) : "-"
      pb = (gb[i] != "-" && peak > 0) ? sprintf("%.0f", 100 * gb[i] / peak) : "-"
      printf "%-24s %-28s %9.3f %9.3f %9s %9s %7s %7s %8s %8s %6s %6s\n", o, sh[i], cf[i], cb[i],
        (o in tf) ? tf[o] : "-", (o in tb) ? tb[o] : "-", rf, rb, gf[i], gb[i], pf, pb
    }
    printf "OpenBLAS sgemm peak (C process): %s   torch matmul peak: %s\n", cpeak, tpeak
    print "x_fwd/x_bwd = torch time / C time (>1 means C is faster); %pk = share of the sgemm peak"
  }' "$tmp/t.tsv" "$tmp/c.tsv"
