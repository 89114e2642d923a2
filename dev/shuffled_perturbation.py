# Usage: /usr/bin/python3 dev/shuffled_perturbation.py PRED.h5ad REAL.h5ad [CONTROL_LABEL]
# (an experiment's runs/<run>/pred-expected.h5ad and real.h5ad; docs/model.md, Diagnosis).
# Does the prediction depend on the perturbation? pearson_delta of each
# condition's predicted shift against its own real shift, and against the real
# shift of every other held-out condition of its cell type (the perturbation
# "shuffled": the average over all reassignments). Shifts from each file's own
# control cells, as ptrag eval.
import sys, numpy as np, anndata as ad
pred_path, real_path = sys.argv[1], sys.argv[2]
ctrl = sys.argv[3] if len(sys.argv) > 3 else "control"
def means(path):
    a = ad.read_h5ad(path)
    X = a.X.toarray() if hasattr(a.X, "toarray") else np.asarray(a.X)
    out = {}
    pc = "perturbation" if "perturbation" in a.obs else "gene"
    keys = list(zip(a.obs["cell_type"].astype(str), a.obs[pc].astype(str)))
    import collections
    idx = collections.defaultdict(list)
    for i, k in enumerate(keys): idx[k].append(i)
    for k, ii in idx.items(): out[k] = X[ii].mean(0)
    return out
P, R = means(pred_path), means(real_path)
def corr(x, y):
    x = x - x.mean(); y = y - y.mean()
    d = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / d) if d > 0 else 0.0
cts = sorted({ct for ct, p in R if p != ctrl})
own, shuf, own_s, shuf_s = [], [], [], []
for ct in cts:
    conds = [p for c, p in R if c == ct and p != ctrl and (c, p) in P]
    pc, rc = P.get((ct, ctrl)), R.get((ct, ctrl))
    if pc is None or rc is None: continue
    ps = {p: P[(ct, p)] - pc for p in conds}
    rs = {p: R[(ct, p)] - rc for p in conds}
    pm = np.mean([ps[p] for p in conds], 0); rm = np.mean([rs[p] for p in conds], 0)
    for p in conds:
        own.append(corr(ps[p], rs[p])); own_s.append(corr(ps[p] - pm, rs[p] - rm))
        others = [q for q in conds if q != p]
        shuf.append(np.mean([corr(ps[q], rs[p]) for q in others]))
        shuf_s.append(np.mean([corr(ps[q] - pm, rs[p] - rm) for q in others]))
print(f"{len(own)} conditions: pearson_delta own {np.mean(own):.4f}, shuffled {np.mean(shuf):.4f}; "
      f"specific part own {np.mean(own_s):.4f}, shuffled {np.mean(shuf_s):.4f}")
