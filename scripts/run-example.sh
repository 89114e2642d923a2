#!/usr/bin/env bash
# The main job on the bundled real data: install dependencies, build, then train
# STATE, vanilla RAG and PT-RAG on the PerturBench few-shot A172 split, predict
# the held-out perturbations and print the metrics beside the baselines.
#   scripts/run-example.sh [OUT_DIR]     (default: runs/example)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/example}
shared=${PTRAG_SHARED:-../shared}
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
./build/ptrag experiment \
  --split "$shared/splits/perturbench_fewshot_a172.toml" \
  --embeddings "$shared/data/go_svd128_embeddings/go_svd128_perturbation_genes.tsv" \
  --pert-col perturbation --control control --celltype-col cell_type --missing drop \
  --models state,rag,ptrag --seeds 3 --preset small --out "$out"
