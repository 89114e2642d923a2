#!/usr/bin/python3
"""What stage 1 could retrieve on a `ptrag simulate` folder (issue 13, docs/model.md).

For each validation and test condition of the held-out cell type (few-shot split), ranks the
training perturbations by
    s = (1 - w) cos(embeddings) + w corr(responses in the other cell types)
(the query's mean training shift over the other cell types against each candidate's, both centred
by their mean over perturbations; w = 0 is the published stage 1) and reports, for the top K:
  same    the share in the query's module (simulation truth),
  pd      pearson_delta of the plain mean of the candidates' evidence shifts (their shift in the
          held-out cell type where that is a training condition, else their mean over the other
          cell types) against the condition's real shift,
  auc_sim / auc_cos  within-condition AUC (same module vs other) of s and of the embedding cosine
          alone among the K retrieved.
This is numpy over the cells, independent of the C code: a check of what response_retrieval.c
can gain, not of the model.

    /usr/bin/python3 dev/stage1_by_response.py SIM_FOLDER [--k 8] [--w 0,0.25,0.5,0.75,1]
"""
import argparse
import re

import anndata as ad
import numpy as np
from scipy.stats import rankdata


def auc(y, s):
    y = np.asarray(y, bool)
    r = rankdata(s)
    n1 = y.sum()
    n0 = len(y) - n1
    return (r[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
    ap.add_argument("--k", type=int, default=8)
    ap.add_argument("--w", default="0,0.25,0.5,0.75,1")
    ap.add_argument("--embeddings", default="../shared/data/go_svd128_embeddings/go_svd128_perturbation_genes.tsv")
    a = ap.parse_args()
    d = a.folder
    sim = ad.read_h5ad(d + "/sim.h5ad")
    X = sim.X.toarray() if hasattr(sim.X, "toarray") else np.asarray(sim.X)
    truth = ad.read_h5ad(d + "/truth.h5ad")
    module = {p: int(m) for p, m in zip(truth.obs.perturbation, truth.obs.module) if m == m}
    txt = open(d + "/split_fewshot.toml").read()
    held = re.search(r'\[fewshot\."[^.]+\.([^"]+)"\]', txt).group(1)

    def names(key):
        return re.findall(r'"([^"]+)"', re.search(key + r" = \[(.*?)\]", txt, re.S).group(1))

    val, test = names("val"), names("test")
    emb = {}
    for line in open(a.embeddings):
        f = line.rstrip("\n").split("\t")
        try:
            emb[f[0]] = np.array(f[1:], float)
        except ValueError:
            pass  # header
    gene, ct = sim.obs.gene.values, sim.obs.cell_type.values
    cts = sorted(set(ct))
    shift = {}
    for c in cts:
        m = ct == c
        ctrl = X[m & (gene == "non-targeting")].mean(0)
        for p in set(gene[m]) - {"non-targeting"}:
            shift[(c, p)] = X[m & (gene == p)].mean(0) - ctrl
    heldout = set(val) | set(test)
    train = {k: v for k, v in shift.items() if not (k[0] == held and k[1] in heldout)}
    other = {}
    for p in {p for _, p in train}:
        o = [train[(c, p)] for c in cts if c != held and (c, p) in train]
        if o and p in emb:
            other[p] = np.mean(o, 0)
    cand = sorted(other)
    mean_other = np.mean([other[p] for p in cand], 0)
    Z = np.array([other[p] - mean_other for p in cand])
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    Ec = np.array([emb[p] / np.linalg.norm(emb[p]) for p in cand])

    def evidence(p):
        return train[(held, p)] if (held, p) in train else other[p]

    for split, qs in (("val", val), ("test", test)):
        for w in [float(x) for x in a.w.split(",")]:
            same, pd, auc_s, auc_c = [], [], [], []
            for q in qs:
                if q not in other or (held, q) not in shift:
                    continue
                zq = other[q] - mean_other
                zq /= np.linalg.norm(zq)
                cos = Ec @ (emb[q] / np.linalg.norm(emb[q]))
                s = (1 - w) * cos + w * (Z @ zq)
                s[[p == q for p in cand]] = -np.inf
                top = np.argsort(-s)[: a.k]
                sm = np.array([module.get(cand[i]) == module.get(q) for i in top])
                same.append(sm.mean())
                S = np.array([evidence(cand[i]) for i in top])
                pd.append(np.corrcoef(S.mean(0), shift[(held, q)])[0, 1])
                if sm.any() and not sm.all():
                    auc_s.append(auc(sm, s[top]))
                    auc_c.append(auc(sm, cos[top]))
            print(f"{split:4s} w={w:.2f}: same {np.mean(same):.3f}  pd {np.nanmean(pd):.3f}  "
                  f"auc_sim {np.mean(auc_s):.3f}  auc_cos {np.mean(auc_c):.3f}  ({len(same)} conditions)")


if __name__ == "__main__":
    main()
