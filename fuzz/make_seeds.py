#!/usr/bin/python3
"""Regenerates the synthetic seeds of fuzz/corpus (h5ad and pickle); the
other seeds are small cuts of ../shared and run-directory files (see
docs/reliability.md). Run from the repository root with /usr/bin/python3."""
import gzip, pickle
import numpy as np
import scipy.sparse as sp
import anndata as ad
import pandas as pd

rng = np.random.default_rng(0)
def tiny(n_obs=6, n_vars=5):
    x = rng.poisson(1.0, size=(n_obs, n_vars)).astype(np.float32)
    obs = pd.DataFrame({
        "perturbation": pd.Categorical(["control", "A", "B", "A", "control", "B"][:n_obs]),
        "cell_type": pd.Categorical(["K562"] * n_obs),
        "n_counts": np.arange(n_obs, dtype=np.float64),
        "flag": np.array([True, False] * (n_obs // 2)),
        "name": [f"c{i}" for i in range(n_obs)],
    }, index=[f"cell{i}" for i in range(n_obs)])
    var = pd.DataFrame({"gene_symbol": [f"G{j}" for j in range(n_vars)]},
                       index=[f"ENSG{j:05d}" for j in range(n_vars)])
    return x, obs, var

out = "fuzz/corpus/h5ad/"
x, obs, var = tiny()
ad.AnnData(X=x, obs=obs, var=var).write_h5ad(out + "dense.h5ad")
a = ad.AnnData(X=sp.csr_matrix(x), obs=obs, var=var)
a.layers["counts"] = sp.csr_matrix(x)
a.obsm["X_pca"] = rng.normal(size=(x.shape[0], 2)).astype(np.float32)
a.write_h5ad(out + "csr_layers_obsm.h5ad")
ad.AnnData(X=sp.csc_matrix(x), obs=obs, var=var).write_h5ad(out + "csc.h5ad")
ad.AnnData(X=sp.csr_matrix(x), obs=obs, var=var).write_h5ad(out + "csr_gzip.h5ad", compression="gzip")

out = "fuzz/corpus/pickle/"
genes = {"TP53": np.array([0.5, -1.0, 2.0], dtype=np.float64),
         "MYC": np.array([1.0, 0.0, 3.5], dtype=np.float64)}
for proto in (2, 3, 4, 5):
    with open(out + f"ndarray_p{proto}.pkl", "wb") as f:
        pickle.dump(genes, f, protocol=proto)
with open(out + "list_p4.pkl", "wb") as f:
    pickle.dump({k: [float(t) for t in v] for k, v in genes.items()}, f, protocol=4)
with open(out + "float32_p4.pkl", "wb") as f:
    pickle.dump({k: v.astype(np.float32) for k, v in genes.items()}, f, protocol=4)
