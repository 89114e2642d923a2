#!/usr/bin/env bash
# Streams a generated CSR .h5ad (default 200,000 cells x 2,000 genes, about 7%
# non-zero, written by python3-anndata 0.8 like the files people have) with
# ptrag and with h5py, the same two ways, and prints rows/s, peak memory and
# the ratios:
#   block:  every row, in blocks of BLOCK rows, as dense float32
#   random: RANDOM_ROWS random rows in minibatches of BATCH, as dense float32
# h5py reads the way anndata's backed mode does: indptr once, then data/indices
# slices (one slice per block; one per row for random rows), scipy -> dense.
#
#   bench/h5ad_stream.sh [BUILD_DIR]
#   env: N_OBS N_VARS DENSITY BLOCK RANDOM_ROWS BATCH COMPRESSION(=gzip|none) FILE
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
N_OBS=${N_OBS:-200000}
N_VARS=${N_VARS:-2000}
DENSITY=${DENSITY:-0.07}
BLOCK=${BLOCK:-1024}
RANDOM_ROWS=${RANDOM_ROWS:-20000}
BATCH=${BATCH:-256}
COMPRESSION=${COMPRESSION:-none}
FILE=${FILE:-/tmp/ptrag_bench_stream_${N_OBS}x${N_VARS}_${DENSITY}_${COMPRESSION}.h5ad}
PY=/usr/bin/python3

if ! "$PY" -c 'import anndata, h5py, scipy' 2>/dev/null; then
    echo "SKIP: $PY cannot import anndata, h5py, scipy (needed to generate the file and for the reference)"
    exit 0
fi
[ -x "$build/bench_h5ad_stream" ] || cmake --build "$build" -j2 --target bench_h5ad_stream >/dev/null

if [ ! -f "$FILE" ]; then
    echo "generating $FILE ..."
    "$PY" - "$FILE" "$N_OBS" "$N_VARS" "$DENSITY" "$COMPRESSION" <<'EOF'
import sys, numpy as np, scipy.sparse as sp, anndata, pandas as pd
path, n, m, dens, comp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
rng = np.random.default_rng(7)
# Gene-specific detection rates (a few high, most low) around the target density.
rate = rng.gamma(0.6, dens / 0.6, m).clip(0, 0.95).astype(np.float32)
blocks = []
for r0 in range(0, n, 5000):
    k = min(5000, n - r0)
    mask = rng.random((k, m), dtype=np.float32) < rate
    vals = np.zeros((k, m), dtype=np.float32)
    vals[mask] = rng.geometric(0.4, mask.sum()).astype(np.float32)
    blocks.append(sp.csr_matrix(vals))
X = sp.vstack(blocks, format="csr")
obs = pd.DataFrame({"gene": pd.Categorical(rng.choice([f"G{i}" for i in range(500)], n))},
                   index=[f"cell{i}" for i in range(n)])
var = pd.DataFrame(index=[f"gene{j}" for j in range(m)])
anndata.AnnData(X=X, obs=obs, var=var).write_h5ad(path, compression=None if comp == "none" else comp)
print(f"  {n} x {m}, nnz {X.nnz} ({100 * X.nnz / n / m:.1f}%)")
EOF
fi

pyref() {
    "$PY" - "$FILE" "$@" <<'EOF'
import sys, time, resource, numpy as np, h5py, scipy.sparse as sp
path, mode = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
f = h5py.File(path, "r")
X = f["X"]
n, m = (int(v) for v in X.attrs["shape"])
indptr = X["indptr"][:]
data, indices = X["data"], X["indices"]
t_open = time.perf_counter() - t0
checksum = 0.0
t0 = time.perf_counter()
if mode == "block":
    block = int(sys.argv[3]); total = n
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        a, b = indptr[r0], indptr[r1]
        dense = sp.csr_matrix((data[a:b], indices[a:b], indptr[r0:r1 + 1] - a), shape=(r1 - r0, m)).toarray()
        checksum += float(dense.sum(dtype=np.float64))
else:
    total, batch, seed = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    rng = np.random.default_rng(seed)
    for done in range(0, total, batch):
        rows = rng.integers(0, n, min(batch, total - done))
        dense = np.zeros((len(rows), m), dtype=np.float32)
        for i, r in enumerate(rows):
            a, b = indptr[r], indptr[r + 1]
            dense[i, indices[a:b]] = data[a:b]
        checksum += float(dense.sum(dtype=np.float64))
secs = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"impl=h5py mode={mode} rows={total} genes={m} open_s={t_open:.3f} seconds={secs:.3f} "
      f"rows_per_s={total / secs:.0f} checksum={checksum:.6e} peak_rss_mb={rss:.1f}")
EOF
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

echo "file: $FILE ($(du -h "$FILE" | cut -f1)); block=$BLOCK rows; random: $RANDOM_ROWS rows in batches of $BATCH"
c_block=$("$build/bench_h5ad_stream" "$FILE" block "$BLOCK")
p_block=$(pyref block "$BLOCK")
c_rand=$("$build/bench_h5ad_stream" "$FILE" random "$RANDOM_ROWS" "$BATCH" 1)
p_rand=$(pyref random "$RANDOM_ROWS" "$BATCH" 1)
printf '%s\n%s\n%s\n%s\n' "$c_block" "$p_block" "$c_rand" "$p_rand"
for mode in block random; do
    if [ $mode = block ]; then c=$c_block; p=$p_block; else c=$c_rand; p=$p_rand; fi
    awk -v mode=$mode -v cr="$(field rows_per_s "$c")" -v pr="$(field rows_per_s "$p")" \
        -v cm="$(field peak_rss_mb "$c")" -v pm="$(field peak_rss_mb "$p")" \
        'BEGIN { printf "%-6s ptrag %9.0f rows/s  h5py %9.0f rows/s  speed ratio %.2fx   peak RSS ptrag %.0f MB, h5py %.0f MB (ratio %.2f)\n", mode, cr, pr, cr / pr, cm, pm, cm / pm }'
done
