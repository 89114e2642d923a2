#!/usr/bin/env bash
# docs/scale.md: every command on a simulated Replogle-Nadig-sized experiment,
# and the training step / stage-1 growth per axis. Writes /usr/bin/time -v
# reports (wall, CPU, peak RSS) beside each command's output.
#
#   bench/scale.sh BUILD DATA_DIR OUT_DIR [data|commands|growth|all]
#
# data:     ptrag simulate --layout replogle into DATA_DIR (643k cells, 6.3 GB;
#           set CELLS=20 PERTS=100 CONTROLS=500 for a 10k-cell version)
# commands: inspect, split, train (paper preset, $STEPS steps), predict, eval,
#           each baseline, experiment (one seed, $EXP_STEPS steps) on DATA_DIR
# growth:   bench_train_step over genes, set size and database size; bench_knn
#           (stage 1) over database size
# One thread, nice: on a shared machine the timings are upper bounds.
set -u
BUILD=${1:?build folder}
DATA=${2:?data folder}
OUT=${3:?output folder}
WHAT=${4:-all}
HERE=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$HERE/../shared}
P=$BUILD/ptrag
E=$SHARED/data/go_svd128_embeddings/go_svd128_perturbation_genes.tsv
STEPS=${STEPS:-20}
EXP_STEPS=${EXP_STEPS:-5}
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# OpenBLAS falls back to old kernels on this CPU without it (docs/performance.md)
grep -q avx512f /proc/cpuinfo && export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}
t() {
    local name=$1; shift
    echo "$(date +%T) $name: $*" >> "$OUT/log"
    /usr/bin/time -v -o "$OUT/$name.time" nice "$@" > "$OUT/$name.out" 2>&1
    echo "$(date +%T) $name rc=$?" >> "$OUT/log"
}
D="--split $DATA/split_fewshot.toml --celltype-col cell_line --x obsm/X_hvg --embeddings $E --missing drop"

if [ "$WHAT" = data ] || [ "$WHAT" = all ]; then
    t simulate "$P" simulate --source "$SHARED/data/perturbench_devel_4celltypes/devel.h5ad" --embeddings "$E" \
        --out "$DATA" --layout replogle --perts "${PERTS:-1800}" --modules "${MODULES:-120}" --cells "${CELLS:-88}" \
        --controls "${CONTROLS:-2500}" --genes 3000 --hvg-genes 2000 --test-frac 0.31 --val-frac 0.05 --batches 8 \
        --no-truth --threads 1 --quiet
fi
if [ "$WHAT" = commands ] || [ "$WHAT" = all ]; then
    t inspect "$P" inspect "$DATA/data/K562.h5ad" --x obsm/X_hvg --counts gene
    t split "$P" split $D
    rm -rf "$DATA/run_paper" "$DATA/exp"
    t train "$P" train $D --model ptrag --preset paper --steps "$STEPS" --val-every "$STEPS" --threads 1 --out "$DATA/run_paper"
    t predict "$P" predict --run "$DATA/run_paper" --out "$DATA/pred.h5ad" --write-real "$DATA/real.h5ad"
    t eval "$P" eval --pred "$DATA/pred.h5ad" --real "$DATA/real.h5ad" --celltype-col cell_line --out "$DATA/scores"
    for k in control pert-mean linear celleval-mean context-mean perturb-mean knn; do
        t "base_$k" "$P" baseline --kind "$k" $D --out "$DATA/b_$k.h5ad"
    done
    t experiment "$P" experiment $D --models ptrag --seeds 1 --preset paper --steps "$EXP_STEPS" \
        --val-every "$EXP_STEPS" --threads 1 --out "$DATA/exp"
fi
if [ "$WHAT" = growth ] || [ "$WHAT" = all ]; then
    B=(--model ptrag --preset paper --steps 2 --warmup 1 --infer-steps 1)
    for g in 500 2000 8000; do t "step_G$g" "$BUILD/bench_train_step" "${B[@]}" --G "$g"; done
    t step_S32 "$BUILD/bench_train_step" "${B[@]}" --set-size 32 --batch 128
    t step_S512 "$BUILD/bench_train_step" "${B[@]}" --set-size 512 --batch 8
    for p in 100 2000 20000; do
        t "knn_P$p" "$BUILD/bench_knn" knn "$p" 1536 "$p" 32
        [ "$p" = 2000 ] || t "step_P$p" "$BUILD/bench_train_step" "${B[@]}" --P "$p"
    done
fi
echo "$(date +%T) done" >> "$OUT/log"
