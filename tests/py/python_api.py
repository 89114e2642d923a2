"""The Python binding against the CLI on the bundled A172 split (run by
tests/test_e2e_python.c): usage  python_api.py PTRAG_CLI SHARED_DIR TMP_DIR

  1. train -> predict -> evaluate from Python on an in-memory AnnData equals
     the CLI on the file, value for value (checkpoints byte for byte);
  2. the in-memory matrix crosses without a copy (shared buffers; no RSS
     growth for a large X);
  3. a bad column name raises PtragError carrying the C message;
  4. SIGINT during training stops it at a step boundary, and
     `ptrag train --resume` continues the run to the same checkpoint.
Exit 77 (skipped) when anndata/scipy/pandas are missing.
"""
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

try:
    import anndata
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp
except ImportError as e:
    print(f"SKIP: /usr/bin/python3 lacks {e.name}")
    sys.exit(77)

import ptrag
import ptrag._source

CLI, SHARED, TMP = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(TMP, ignore_errors=True)
os.makedirs(TMP)
DATA = f"{SHARED}/data/perturbench_devel_4celltypes/devel.h5ad"
SPLIT = f"{SHARED}/splits/perturbench_fewshot_a172.toml"
EMB = f"{SHARED}/data/go_svd128_embeddings/go_svd128_perturbation_genes.tsv"
COLS = dict(pert_col="perturbation", control="control")
TRAIN = dict(COLS, missing="drop", preset="small", steps=12, val_every=6, threads=1, seed=7)
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def cli(*args):
    r = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"ptrag {' '.join(map(str, args))} failed: {r.stderr}")
    return r.stdout


def flags(d):
    out = []
    for k, v in d.items():
        out += ["--" + k.replace("_", "-"), str(v)]
    return out


def same_file(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def log_without_time(path):
    return pd.read_csv(path).drop(columns=["seconds"], errors="ignore")


# ---- 1. parity with the CLI ----
T = lambda *p: os.path.join(TMP, *p)  # noqa: E731
cli("train", "--split", SPLIT, "--embeddings", EMB, "--model", "ptrag", "--out", T("cli_run"), "--quiet", *flags(TRAIN))
cli("predict", "--run", T("cli_run"), "--out", T("cli_pred.h5ad"), "--write-real", T("cli_real.h5ad"))
cli("eval", "--pred", T("cli_pred.h5ad"), "--real", T("cli_real.h5ad"), "--out", T("cli_scores"), *flags(COLS))

adata = anndata.read_h5ad(DATA)
check(sp.isspmatrix_csr(adata.X), f"the bundled X is CSR ({type(adata.X).__name__}, {adata.X.dtype})")
ticks, done = [0], threading.Event()


def tick():  # runs only while the training call has released the GIL
    while not done.is_set():
        ticks[0] += 1
        time.sleep(0.001)


ticker = threading.Thread(target=tick, daemon=True)
ticker.start()
t0 = time.time()
try:
    run = ptrag.train(adata, split=SPLIT, model="ptrag", embeddings=EMB, out=T("py_run"), progress=False, **TRAIN)
finally:
    elapsed = time.time() - t0
    done.set()
    ticker.join()
check(ticks[0] > max(60, 20 * elapsed), f"another thread ran during training ({ticks[0]} ticks in {elapsed:.1f} s): the GIL is released")
for ck in ("best.ckpt", "last.ckpt"):
    check(same_file(T("cli_run", ck), T("py_run", ck)), f"{ck}: Python (in-memory AnnData) == CLI (file), byte for byte")
check(log_without_time(T("cli_run", "train_log.csv")).equals(log_without_time(T("py_run", "train_log.csv"))),
      "train_log.csv: same rows (wall-clock seconds aside)")

pred, real = run.predict(with_real=True)
cli_pred, cli_real = anndata.read_h5ad(T("cli_pred.h5ad")), anndata.read_h5ad(T("cli_real.h5ad"))
check(np.array_equal(pred.X, cli_pred.X) and np.array_equal(real.X, cli_real.X), "predicted and real X == CLI's")
check(pred.obs.equals(cli_pred.obs) and list(pred.obs_names) == list(cli_pred.obs_names), "obs == CLI's")
check(list(pred.obs.columns) == ["perturbation", "cell_type", "control_index"], f"obs columns {list(pred.obs.columns)}")
check(pred.obs["control_index"].dtype == np.int64, f"control_index is int64 ({pred.obs['control_index'].dtype})")
ci = pred.obs["control_index"].to_numpy()
src_obs = adata.obs.iloc[ci]
check(bool((src_obs["perturbation"].to_numpy() == "control").all()) and
      bool((src_obs["cell_type"].to_numpy() == pred.obs["cell_type"].to_numpy()).all()),
      "control_index names a control cell of the predicted cell's type, for every cell")

calls = []
again = run.predict(progress=lambda done, total, _: calls.append((done, total)))
check(np.array_equal(again.X, pred.X) and len(calls) > 1 and calls[-1][0] == calls[-1][1] == len(calls),
      f"predict reports progress per set of cells ({len(calls)} sets) and is deterministic")

res = ptrag.evaluate(pred, real, out=T("py_scores"), **COLS)
for name in ("results.csv", "agg_results.csv", "per_condition.csv", "summary.csv"):
    check(pd.read_csv(T("cli_scores", name)).equals(pd.read_csv(T("py_scores", name))), f"{name}: Python == CLI")
cli_res = pd.read_csv(T("cli_scores", "results.csv"))
check(res.equals(cli_res), "evaluate() returns results.csv")
check(list(res.columns[:1]) == ["perturbation"] and "de_sig_genes_recall" in res.columns
      and "de_nsig_counts_real" in res.columns and "discrimination_score_l1" in res.columns,
      "results.csv: cell-eval's column names")
agg = res.attrs["summary"]
check(list(agg["statistic"]) == ["count", "null_count", "mean", "std", "min", "25%", "50%", "75%", "max"],
      f"agg_results.csv statistics {list(agg['statistic'])}")
ok = True
for col in res.columns[1:]:
    v = res[col].dropna().to_numpy()
    got = agg.set_index("statistic")[col]
    want = {"count": len(v), "null_count": res[col].isna().sum()}
    if len(v):
        # polars' describe(): sample std, quantiles by the nearest rank (no ties at n = 5)
        want.update(mean=v.mean(), min=v.min(), max=v.max(),
                    **{f"{int(q * 100)}%": np.quantile(v, q, method="nearest") for q in (0.25, 0.5, 0.75)})
        if len(v) > 1:
            want["std"] = v.std(ddof=1)
    for k, w in want.items():
        if not np.isclose(got[k], w, rtol=1e-12, atol=1e-15):
            ok = False
            print(f"  {col} {k}: file {got[k]} expected {w}")
check(ok, "agg_results.csv == describe() of results.csv (count, null_count, mean, std, quantiles)")

# A dense, float32 copy of the same data (and as a layer) gives the same baseline as the CLI on the file.
cli("baseline", "--kind", "linear", "--split", SPLIT, "--out", T("cli_base.h5ad"), "--embeddings", EMB,
    "--missing", "drop", *flags(COLS))
dense = anndata.AnnData(X=adata.X.toarray().astype(np.float32), obs=adata.obs, var=pd.DataFrame(index=adata.var_names))
dense.layers["norm"] = dense.X
dense.obsm["X_copy"] = dense.X.astype(np.float64)
for x in (None, "layers/norm", "obsm/X_copy"):
    b = ptrag.baseline("linear", dense, split=SPLIT, embeddings=EMB, missing="drop", x=x, **COLS)
    check(np.array_equal(b.X, anndata.read_h5ad(T("cli_base.h5ad")).X), f"baseline from a dense AnnData (x={x}) == CLI's")
check(list(b.var_names[:2]) == ["0", "1"], "an obsm source's columns are named 0..d-1, as from a file")
b = ptrag.baseline("linear", DATA, split=SPLIT, embeddings=EMB, missing="drop", **COLS)
check(np.array_equal(b.X, anndata.read_h5ad(T("cli_base.h5ad")).X), "baseline from a path == CLI's")

# ---- 2. zero copy ----
s = ptrag._source.from_anndata(dense)
check(s.copied is None and np.shares_memory(s.arrays[0], dense.X) and s.arrays[0].ctypes.data == dense.X.ctypes.data,
      "dense float32 X: the C reader gets X's own buffer")
s.close()
s = ptrag._source.from_anndata(adata)
check(s.copied is None and s.arrays[0].ctypes.data == adata.X.data.ctypes.data
      and s.arrays[2].ctypes.data == adata.X.indptr.ctypes.data, "CSR X: data, indices, indptr buffers are X's own")
s.close()
s = ptrag._source.from_anndata(anndata.AnnData(X=sp.csc_matrix(adata.X), obs=adata.obs, var=adata.var, dtype=adata.X.dtype))
check(s.copied is not None and "CSC" in s.copied, f"CSC X is converted, and says so ({s.copied})")
s.close()


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# A large X: the real cells plus 200k filler cells (all values touched) of a
# perturbation without an embedding vector (dropped, so never resident).
n_fill, g = 200_000, adata.n_vars
big_x = np.ones((adata.n_obs + n_fill, g), dtype=np.float32)
big_x[: adata.n_obs] = adata.X.toarray()
fill_obs = pd.DataFrame({"perturbation": ["NOT_A_GENE"] * n_fill, "cell_type": ["A172"] * n_fill},
                        index=[f"fill{i}" for i in range(n_fill)])
obs = pd.concat([adata.obs[["perturbation", "cell_type"]].astype(str), fill_obs])
big = anndata.AnnData(X=big_x, obs=obs, var=pd.DataFrame(index=adata.var_names))
def peak_growth(call):
    """Peak RSS above the starting RSS while `call` runs (sampled by a
    thread, which runs because the C call releases the GIL)."""
    peak, stop = [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_bytes())
            time.sleep(0.005)

    before = rss_bytes()
    th = threading.Thread(target=sample, daemon=True)
    th.start()
    out = call()
    stop.set()
    th.join()
    return max(peak[0] - before, 0), out


small = anndata.AnnData(X=big_x[: adata.n_obs], obs=obs.iloc[: adata.n_obs], var=big.var)  # a view of big_x's rows
g_small, _ = peak_growth(lambda: ptrag.baseline("control", small, split=SPLIT, embeddings=EMB, missing="drop", **COLS))
g_big, b = peak_growth(lambda: ptrag.baseline("control", big, split=SPLIT, embeddings=EMB, missing="drop", **COLS))
fill_bytes = big_x.nbytes - small.X.nbytes
check(g_big - g_small < 0.1 * fill_bytes,
      f"baseline on a {big_x.nbytes / 2**20:.0f} MiB in-memory X: peak RSS +{g_big / 2**20:.1f} MiB, vs "
      f"+{g_small / 2**20:.1f} MiB without the {fill_bytes / 2**20:.0f} MiB of filler rows (no copy of X)")
check(b.n_obs == pred.n_obs, "the filler cells were not predicted")
del big, big_x

# ---- progress=True draws a tqdm bar when tqdm is importable (a stand-in here) ----
import types  # noqa: E402

bars = []


class FakeBar:
    def __init__(self, total, initial, unit, desc):
        self.total, self.n, self.unit, self.desc, self.closed = total, initial, unit, desc, False
        bars.append(self)

    def update(self, k):
        self.n += k

    def set_postfix(self, **kw):
        self.postfix = kw

    def close(self):
        self.closed = True


fake = types.ModuleType("tqdm")
fake.auto = types.ModuleType("tqdm.auto")
fake.auto.tqdm = FakeBar
sys.modules["tqdm"], sys.modules["tqdm.auto"] = fake, fake.auto
r = ptrag.train(adata, split=SPLIT, model="state", embeddings=EMB, out=T("tqdm_run"), **dict(TRAIN, steps=4))
r.predict()
del sys.modules["tqdm"], sys.modules["tqdm.auto"]
check(len(bars) == 2 and (bars[0].desc, bars[0].total, bars[0].n, bars[0].closed) == ("ptrag train", 4, 4, True)
      and "loss" in bars[0].postfix and bars[1].desc == "ptrag predict" and bars[1].n == bars[1].total,
      "progress=True: a tqdm bar for training (steps, loss) and one for prediction (sets)")

# ---- 3. errors carry the C message ----
try:
    ptrag.train(adata, split=SPLIT, embeddings=EMB, out=T("bad_run"), progress=False,
                **dict(TRAIN, celltype_col="no_such_column"))
    check(False, "a bad column name raises")
except ptrag.PtragError as e:
    check(e.status == "not found" and "obs/no_such_column: no such column" in str(e) and "perturbation" in str(e),
          f"bad column -> PtragError({e.status}): {e}")
try:
    ptrag.train(adata, split=SPLIT, out=T("bad_run2"), progress=False, no_such_flag=3)
    check(False, "an unknown option raises")
except ptrag.PtragError as e:
    check("unknown option '--no-such-flag'" in str(e), f"unknown option -> PtragError: {e}")

# ---- 4. Ctrl-C stops training at a step boundary, resumable ----
seen = []


def interrupt_at_5(step, total, loss):
    seen.append(step)
    if step == 5:
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C: Python raises it in this callback


try:
    ptrag.train(adata, split=SPLIT, model="ptrag", embeddings=EMB, out=T("int_run"), progress=interrupt_at_5, **TRAIN)
    check(False, "SIGINT interrupts training")
except KeyboardInterrupt as e:
    msg = getattr(e, "ptrag_message", "")
    check(seen == [1, 2, 3, 4, 5] and "stopped at step 5 of 12" in msg, f"KeyboardInterrupt after step {seen[-1]}: {msg}")
check(os.path.exists(T("int_run", "last.ckpt")), "the interrupted run has last.ckpt")
out = cli("train", "--resume", T("int_run"), "--steps", 12, "--quiet")
check("12 steps" in out, f"ptrag train --resume continues it: {out.strip()}")
check(same_file(T("int_run", "last.ckpt"), T("py_run", "last.ckpt")) and
      same_file(T("int_run", "best.ckpt"), T("py_run", "best.ckpt")),
      "interrupted + resumed == uninterrupted, checkpoints byte for byte")
import warnings  # noqa: E402

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    ptrag.Run.load(T("py_run")).predict(progress=False)
check(any("in-memory AnnData" in str(w.message) for w in caught),
      "Run.load(in-memory run).predict() without data= warns that it reads the split's file")
run2 = ptrag.Run.load(T("int_run"), data=adata)
run2.resume(16, progress=False)
check(int(run2.log["step"].iloc[-1]) == 16, "Run.resume() continues it from Python too")

# ---- simulate ----
SIM = dict(perts=20, cells=10, controls=50, modules=4, seed=3)
sim = ptrag.simulate(DATA, EMB, out=T("py_sim"), quiet=True, **SIM)
cli("simulate", "--source", DATA, "--embeddings", EMB, "--out", T("cli_sim"), "--quiet", *flags(SIM))
check(same_file(T("py_sim", "sim.h5ad"), T("cli_sim", "sim.h5ad")) and same_file(T("py_sim", "truth.h5ad"), T("cli_sim", "truth.h5ad")),
      f"simulate() == ptrag simulate, byte for byte ({sim.n_obs} cells)")
check(os.path.exists(sim.uns["ptrag_simulate"]["split_fewshot"]), "simulate() names its split files")

print(f"{len(failures)} failed" if failures else "python-api-ok")
sys.exit(1 if failures else 0)
