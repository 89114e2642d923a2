#!/usr/bin/python3
"""Independent reference values for tests/test_baselines_ref.c.

Usage: baselines_ref.py DIR. The C test writes the loaded expression and
labels of a split (DIR/x.f32, ct.i32, pert.i32, feat.f32, has_feat.u8,
meta.txt) and its baselines' outputs (DIR/c_<kind>.f32, one row per query in
meta.txt). This script recomputes each baseline from its definition
(docs/evaluation.md) with numpy, grouping the cells by their labels, and
compares. Exits 1 with a message on a mismatch.
"""
import os
import sys

import numpy as np

d = sys.argv[1]
meta = {}
with open(os.path.join(d, "meta.txt")) as f:
    for line in f:
        k, *v = line.split()
        meta[k] = [int(x) for x in v]
n, g = meta["shape"]
n_perts, e = meta["feat"]
ctrl = meta["control"][0]
held_ct = meta["held_ct"][0]
held = set(meta["held_perts"])
queries = meta["queries"]  # pert codes, cell type held_ct
knn_k = meta["knn_k"][0]

x = np.fromfile(os.path.join(d, "x.f32"), dtype=np.float32).reshape(n, g).astype(np.float64)
ct = np.fromfile(os.path.join(d, "ct.i32"), dtype=np.int32)
pert = np.fromfile(os.path.join(d, "pert.i32"), dtype=np.int32)
feat = np.fromfile(os.path.join(d, "feat.f32"), dtype=np.float32).reshape(n_perts, e).astype(np.float64)
has_feat = np.fromfile(os.path.join(d, "has_feat.u8"), dtype=np.uint8)

cts = sorted(set(ct.tolist()))
ctrl_mean = {c: x[(ct == c) & (pert == ctrl)].mean(axis=0) for c in cts}

# Training conditions: every (cell type, perturbation) with cells, except the
# control, perturbations without a vector and the held-out cell type's
# held-out perturbations.
train = []
for c in cts:
    for p in sorted(set(pert[ct == c].tolist())):
        if p == ctrl or not has_feat[p] or (c == held_ct and p in held):
            continue
        train.append((c, p))
cond_mean = {cp: x[(ct == cp[0]) & (pert == cp[1])].mean(axis=0) for cp in train}
shift = {cp: cond_mean[cp] - ctrl_mean[cp[0]] for cp in train}


def pert_mean(c):
    own = [shift[cp] for cp in train if cp[0] == c]
    return np.mean(own if own else [shift[cp] for cp in train], axis=0)


def celleval_profile(c):
    groups = [ctrl_mean[c]] + [cond_mean[cp] for cp in train if cp[0] == c]
    return np.mean(groups, axis=0)


def context_profile(c):
    rows = np.zeros(len(ct), dtype=bool)
    for cp in train:
        if cp[0] == c:
            rows |= (ct == c) & (pert == cp[1])
    return x[rows].mean(axis=0) if rows.any() else ctrl_mean[c]


def perturb_mean(c, p):
    others = [shift[cp] for cp in train if cp[1] == p]
    return np.mean(others, axis=0) if others else pert_mean(c)


def unit(v):
    return v / max(np.linalg.norm(v), 1e-12)


def knn(c, p):
    q = unit(feat[p])
    sims = [float(unit(feat[cp[1]]) @ q) for cp in train]
    order = sorted(range(len(train)), key=lambda i: (-sims[i], i))
    own = [i for i in order if train[i][0] == c]
    other = [i for i in order if train[i][0] != c]
    pick = (own + other)[:knn_k] if len(own) < knn_k else own[:knn_k]
    return np.mean([shift[train[i]] for i in pick], axis=0), pick


expect = {
    "pert-mean": [pert_mean(held_ct) for p in queries],
    "celleval-mean": [celleval_profile(held_ct) for p in queries],
    "context-mean": [context_profile(held_ct) for p in queries],
    "perturb-mean": [perturb_mean(held_ct, p) for p in queries],
    "knn": [knn(held_ct, p)[0] for p in queries],
}
bad = 0
for kind, rows in expect.items():
    got = np.fromfile(os.path.join(d, "c_" + kind + ".f32"), dtype=np.float32).reshape(len(queries), g)
    want = np.array(rows)
    err = np.abs(got - want).max()
    scale = np.abs(want).max()
    ok = err <= 1e-6 * max(scale, 1.0)
    print(f"{kind}: max |C - numpy| = {err:.3g} (scale {scale:.3g}) {'ok' if ok else 'MISMATCH'}")
    bad += not ok
# The knn neighbours mix cell types when the held-out one has too few.
n_own = sum(1 for cp in train if cp[0] == held_ct)
print(f"held-out cell type trains on {n_own} condition(s); K = {knn_k}")
sys.exit(1 if bad else 0)
