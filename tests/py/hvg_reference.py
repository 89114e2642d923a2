"""Reference for tests/test_preprocess.c, written directly with numpy (scanpy
and skmisc are not installed). It implements the documented algorithm of
include/ptrag/preprocess.h independently of the C code: Seurat-v3 standardised
variance with a direct loess (span 0.3, degree 2, tricube weights over the
nearest floor(0.3 n) points, evaluated at every point).

Matrix files: int64 rows, int64 cols, then float32 row-major values.

  hvg_reference.py dump-datlinger H5AD OUT STEP   every STEP-th row of X, dense
  hvg_reference.py ref IN NTOP OUT                means, variances, fits, scores
"""
import sys

import numpy as np


def read_matrix(path):
    with open(path, "rb") as f:
        n, g = np.frombuffer(f.read(16), dtype=np.int64)
        x = np.frombuffer(f.read(), dtype=np.float32).reshape(int(n), int(g))
    return x


def loess(x, y, span=0.3, degree=2):
    n = len(x)
    q = max(int(np.floor(n * span)), degree + 1)
    q = min(q, n)
    fit = np.empty(n)
    for i in range(n):
        d = np.abs(x - x[i])
        h = np.partition(d, q - 1)[q - 1]
        if h <= 0:
            fit[i] = y[d == 0].mean()
            continue
        u = (x - x[i]) / h
        w = np.where(np.abs(u) < 1, (1 - np.abs(u) ** 3) ** 3, 0.0)
        basis = np.vander(u, degree + 1, increasing=True)
        a = basis.T @ (w[:, None] * basis)
        b = basis.T @ (w * y)
        fit[i] = np.linalg.solve(a, b)[0]
    return fit


def reference(x, ntop):
    x = x.astype(np.float64)
    n = x.shape[0]
    mean = x.mean(axis=0)
    var = x.var(axis=0, ddof=1)
    fitted = np.zeros_like(mean)
    nc = var > 0
    fitted[nc] = loess(np.log10(mean[nc]), np.log10(var[nc]))
    sd = np.sqrt(10.0 ** fitted)
    clip = mean + sd * np.sqrt(n)
    xc = np.minimum(x, clip[None, :])
    s = xc.sum(axis=0)
    ss = (xc ** 2).sum(axis=0)
    score = (n * mean ** 2 + ss - 2 * s * mean) / ((n - 1) * sd ** 2)
    order = np.lexsort((np.arange(len(score)), -score))
    top = np.sort(order[:ntop])
    return mean, var, fitted, score, top


def main():
    if sys.argv[1] == "dump-datlinger":
        import anndata

        a = anndata.read_h5ad(sys.argv[2])
        step = int(sys.argv[4])
        x = a.X[::step]
        x = x.toarray() if hasattr(x, "toarray") else np.asarray(x)
        x = np.ascontiguousarray(x, dtype=np.float32)
        with open(sys.argv[3], "wb") as f:
            f.write(np.array(x.shape, dtype=np.int64).tobytes())
            f.write(x.tobytes())
    elif sys.argv[1] == "ref":
        x = read_matrix(sys.argv[2])
        mean, var, fitted, score, top = reference(x, int(sys.argv[3]))
        with open(sys.argv[4], "w") as f:
            f.write(" ".join(str(int(t)) for t in top) + "\n")
            for j in range(len(mean)):
                f.write("%r %r %r %r\n" % (mean[j], var[j], fitted[j], score[j]))
    else:
        sys.exit("unknown mode " + sys.argv[1])


if __name__ == "__main__":
    main()
