"""numpy / pickle references for bench/knn.sh (run with /usr/bin/python3).

  knn N DIM Q K BLOCK     the same data as bench_knn (hash of row, column), cosine top-K
                          with one matmul per block of BLOCK queries + argpartition
  make-pickle PATH N DIM LAYOUT   a GenePT-layout pickle: dict symbol -> float64 array
                          (LAYOUT=ndarray) or list of floats (LAYOUT=list), protocol 4,
                          plus one alias key per 10 genes sharing the gene's object
  load PATH REPS          time pickle.load
"""
import pickle
import sys
import time

import numpy as np


def hash_matrix(n, dim, seed):
    out = np.empty((n, dim), dtype=np.float32)
    cols = np.arange(dim, dtype=np.uint64)
    for r0 in range(0, n, 4096):
        rows = np.arange(r0, min(n, r0 + 4096), dtype=np.uint64)
        h = ((rows[:, None] * np.uint64(dim) + cols[None, :] + np.uint64(seed * 0x9E3779B9))
             & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        h ^= h >> np.uint32(16)
        h *= np.uint32(0x85EBCA6B)
        h ^= h >> np.uint32(13)
        h *= np.uint32(0xC2B2AE35)
        h ^= h >> np.uint32(16)
        out[r0:r0 + len(rows)] = (h.astype(np.float64) / 4294967296.0 - 0.5).astype(np.float32)
    return out


def knn(n, dim, nq, k, block):
    db = hash_matrix(n, dim, 1)
    q = hash_matrix(nq, dim, 2)
    t0 = time.perf_counter()
    dbn = db / np.maximum(np.linalg.norm(db, axis=1, keepdims=True), 1e-12)
    t_build = time.perf_counter() - t0
    del db
    idx = np.empty((nq, k), dtype=np.int64)
    t0 = time.perf_counter()
    qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
    for b0 in range(0, nq, block):
        s = qn[b0:b0 + block] @ dbn.T
        part = np.argpartition(-s, k - 1, axis=1)[:, :k]
        vals = np.take_along_axis(s, part, 1)
        order = np.argsort(-vals, axis=1, kind="stable")
        idx[b0:b0 + block] = np.take_along_axis(part, order, 1)
    t_search = time.perf_counter() - t0
    check = 0
    for i in range(nq):
        check = (check + (i + 1) * int(idx[i, 0])) % 2305843009213693951
    print(f"numpy_knn n={n} dim={dim} queries={nq} k={k} block={block} build_s={t_build:.4f} "
          f"search_s={t_search:.4f} qps={nq / t_search:.1f} top1_checksum={check}")


def make_pickle(path, n, dim, layout):
    rng = np.random.default_rng(0)
    d = {}
    for i in range(n):
        v = rng.standard_normal(dim)
        v /= np.linalg.norm(v)
        d[f"GENE{i}"] = v if layout == "ndarray" else v.tolist()
    for i in range(0, n, 10):
        d[f"ALIAS{i}"] = d[f"GENE{i}"]
    with open(path, "wb") as f:
        pickle.dump(d, f, protocol=4)


def load(path, reps):
    best = 1e30
    for _ in range(reps):
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            d = pickle.load(f)
        best = min(best, time.perf_counter() - t0)
        n = len(d)
        del d
    print(f"python_load file={path} keys={n} best_s={best:.4f}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "knn":
        knn(*map(int, sys.argv[2:7]))
    elif cmd == "make-pickle":
        make_pickle(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif cmd == "load":
        load(sys.argv[2], int(sys.argv[3]))
