#!/usr/bin/python3
"""Independent reference values for tests/test_metrics_ref.c.

Usage: metrics_ref.py DIR. DIR/spec.txt lists "name rows cols" of float32
row-major matrices DIR/<name>.f32 written by the C test. Writes DIR/out.txt:
one line per result, "name v1 v2 ...", values printed with repr (exact).

Everything here is computed from the definitions with numpy/scipy, sharing
no code with the C implementation: scipy.stats.wasserstein_distance,
scipy.stats.mannwhitneyu(method="asymptotic"), scipy.stats.pearsonr, brute
force pairwise sums, numpy.linalg.eigh for PCA.
"""
import os
import sys

import numpy as np
from scipy import stats

d = sys.argv[1]
mats = {}
with open(os.path.join(d, "spec.txt")) as f:
    for line in f:
        name, r, c = line.split()
        a = np.fromfile(os.path.join(d, name + ".f32"), dtype=np.float32)
        mats[name] = a.reshape(int(r), int(c)).astype(np.float64)

out = []


def put(name, values):
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    out.append(name + " " + " ".join(repr(float(v)) for v in values))


def w2_exact(x, y):
    """True 1-D W2 from the quantile functions on the merged grid of breaks."""
    x, y = np.sort(x), np.sort(y)
    n, m = len(x), len(y)
    t = np.union1d(np.arange(1, n + 1) / n, np.arange(1, m + 1) / m)
    t = np.concatenate([[0.0], t])
    mid = (t[:-1] + t[1:]) / 2
    qx = x[np.minimum((mid * n).astype(int), n - 1)]
    qy = y[np.minimum((mid * m).astype(int), m - 1)]
    return np.sqrt(np.sum(np.diff(t) * (qx - qy) ** 2))


def energy_1d(x, y):
    xy = np.abs(x[:, None] - y[None, :]).mean()
    xx = np.abs(x[:, None] - x[None, :]).mean()
    yy = np.abs(y[:, None] - y[None, :]).mean()
    return max(0.0, 2 * xy - xx - yy)


def mmd_1d(x, y):
    if len(x) < 2 or len(y) < 2:
        return np.nan
    pooled = np.concatenate([x, y])
    pw = np.abs(pooled[:, None] - pooled[None, :])
    pos = pw[pw > 0]
    sigma = float(np.median(pos)) if pos.size else 0.0
    if sigma == 0:
        sigma = 1.0

    def k(a, b):
        return np.exp(-((a[:, None] - b[None, :]) ** 2) / (2 * sigma**2))

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    n, m = len(x), len(y)
    v = ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
         - 2 * kxy.sum() / (n * m))
    return max(0.0, v)


def feature_distances(prefix, x, y):
    cols = range(x.shape[1])
    put(prefix + "_w1", [stats.wasserstein_distance(x[:, c], y[:, c]) for c in cols])
    put(prefix + "_w2", [w2_exact(x[:, c], y[:, c]) for c in cols])
    put(prefix + "_energy", [energy_1d(x[:, c], y[:, c]) for c in cols])
    put(prefix + "_mmd", [mmd_1d(x[:, c], y[:, c]) for c in cols])


def bh(p):
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(adj[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(adj, 1.0)
    return q


def de(x, ctrl, prefix, eps=1e-9):
    p = np.array([stats.mannwhitneyu(x[:, j], ctrl[:, j], alternative="two-sided",
                                     use_continuity=True, method="asymptotic").pvalue
                  for j in range(x.shape[1])])
    p = np.where(np.isnan(p), 1.0, p)  # all-tied gene: scipy's 0/0 gives p = 1 or nan
    a = np.expm1(x.mean(axis=0))
    b = np.expm1(ctrl.mean(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        lfc = np.log2((a + eps) / (b + eps))
    lfc = np.where(np.isfinite(lfc), lfc, 0.0)
    put(prefix + "_p", p)
    put(prefix + "_q", bh(p))
    put(prefix + "_lfc", lfc)


def energy_nd(x, y):
    # exact Euclidean distances in float64, row by row (no Gram trick)
    def exact(a, b):
        return np.mean([np.sqrt(((a[i] - b) ** 2).sum(1)).mean() for i in range(len(a))])
    return max(0.0, 2 * exact(x, y) - exact(x, x) - exact(y, y))


# 1. per-feature 1-D distances on plain random matrices (with ties)
feature_distances("feat", mats["fx"], mats["fy"])

# 2. mean-profile metrics
R, P, Cr, Cp = mats["R"], mats["P"], mats["Cr"], mats["Cp"]
dr = R.mean(0) - Cr.mean(0)
dp = P.mean(0) - Cp.mean(0)
put("pearson_delta", stats.pearsonr(dp, dr)[0])
put("mse", np.mean((P.mean(0) - R.mean(0)) ** 2))
put("mae", np.mean(np.abs(P.mean(0) - R.mean(0))))
put("mse_delta", np.mean((dp - dr) ** 2))
put("mae_delta", np.mean(np.abs(dp - dr)))

# 3. DE real (R vs Cr) and pred (P vs Cp)
de(R, Cr, "de_real")
de(P, Cp, "de_pred")

# 4. energy distance in gene space
put("energy_genes", energy_nd(R, P))

# 5. PCA fitted on R: eigenvalues, components with the largest-|loading|
#    positive, projections; then per-PC distances on the C projections.
k = min(50, R.shape[0] - 1, R.shape[1] - 1)
mu = R.mean(0)
cov = np.cov(R, rowvar=False)
w, v = np.linalg.eigh(cov)
idx = np.argsort(w)[::-1][:k]
w, v = w[idx], v[:, idx]
for c in range(k):
    if v[np.argmax(np.abs(v[:, c])), c] < 0:
        v[:, c] = -v[:, c]
put("pca_var", w)
put("pca_total", np.trace(cov))
put("pca_comp", v.reshape(-1))  # row-major g x k
put("pca_proj_r", ((R - mu) @ v).reshape(-1))
feature_distances("pcafeat", mats["PR"], mats["PP"])

with open(os.path.join(d, "out.txt"), "w") as f:
    f.write("\n".join(out) + "\n")
