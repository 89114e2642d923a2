"""An AnnData (or a path) as the data source of a command.

In memory, the expression matrix crosses without a copy when its layout is
one the C reader takes as is: a C-contiguous float32/float64 ndarray, or a
scipy CSR matrix with float32/float64 data and int32/int64 indices. Anything
else (CSC, Fortran order, other dtypes, a backed or lazy array) is converted
once, and `Source.copied` says why. Obs columns and names are small and are
copied into the C handle.
"""
import ctypes
import os

import numpy as np
import pandas as pd

from . import _lib


def _strings(values):
    enc = [str(v).encode("utf-8") for v in values]
    return (ctypes.c_char_p * (len(enc) + 1))(*enc, None), enc


def _matrix(adata, x):
    if x in (None, "", "X"):
        return adata.X, "X", None
    if x.startswith("layers/"):
        key = x[len("layers/"):]
        if key not in adata.layers:
            raise KeyError(f"AnnData: layers/{key}: no such layer (available: {', '.join(adata.layers) or 'none'})")
        return adata.layers[key], x, None
    if x.startswith("obsm/"):
        key = x[len("obsm/"):]
        if key not in adata.obsm:
            raise KeyError(f"AnnData: obsm/{key}: no such key (available: {', '.join(adata.obsm) or 'none'})")
        m = adata.obsm[key]
        if isinstance(m, pd.DataFrame):
            m = m.to_numpy()
        return m, x, [str(i) for i in range(m.shape[1])]
    raise ValueError(f"x={x!r}: expected 'X', 'layers/NAME' or 'obsm/KEY'")


class Source:
    """Holds the C handle and every buffer it borrows; close() (or garbage
    collection) releases the handle before the buffers."""

    def __init__(self, handle, keep=(), copied=None, arrays=()):
        self.handle = handle
        self._keep = keep
        self.copied = copied        # None: zero-copy; else why a copy was made
        self.arrays = arrays        # the arrays the C side reads (for checks)

    def close(self):
        if self.handle:
            _lib.close(self.handle)
            self.handle = None

    def __del__(self):
        self.close()


def from_path(path, x=None):
    return Source(_lib.open_file(os.fspath(path), x or "X"))


def from_anndata(adata, x=None, name=None):
    import scipy.sparse as sp

    m, x_source, var_names = _matrix(adata, x)
    if m is None:
        raise ValueError(f"AnnData: {x_source} is empty (None)")
    if var_names is None:
        var_names = adata.var_names
    copied = None
    spec = _lib.MemorySpec()
    spec.n_obs, spec.n_vars = int(m.shape[0]), int(m.shape[1])
    if spec.n_obs != adata.n_obs:
        raise ValueError(f"AnnData: {x_source}: {spec.n_obs} rows, expected {adata.n_obs} (one per cell)")
    if sp.issparse(m):
        if m.format != "csr":
            copied = f"{x_source} is {m.format.upper()}: converted to CSR"
            m = m.tocsr()
        data = m.data
        if data.dtype not in (np.float32, np.float64):
            copied = copied or f"{x_source} has dtype {data.dtype}: converted to float32"
            data = data.astype(np.float32)
        indices, indptr = m.indices, m.indptr
        if indices.dtype != indptr.dtype or indices.dtype not in (np.int32, np.int64):
            indices, indptr = indices.astype(np.int64), indptr.astype(np.int64)
        data, indices, indptr = (np.ascontiguousarray(a) for a in (data, indices, indptr))
        spec.storage = _lib.STORAGE_CSR
        spec.value_dtype = _lib.DTYPE_F64 if data.dtype == np.float64 else _lib.DTYPE_F32
        spec.values = data.ctypes.data if data.size else None
        spec.index_dtype = _lib.DTYPE_I64 if indices.dtype == np.int64 else _lib.DTYPE_I32
        spec.indices = indices.ctypes.data if indices.size else None
        spec.indptr = indptr.ctypes.data
        arrays = (data, indices, indptr)
    else:
        arr = m if isinstance(m, np.ndarray) else np.asarray(m)
        if arr is not m:
            copied = f"{x_source} is a {type(m).__name__}: read into memory"
        if arr.dtype not in (np.float32, np.float64) or not arr.flags.c_contiguous:
            why = f"dtype {arr.dtype}" if arr.dtype not in (np.float32, np.float64) else "not C-contiguous"
            copied = copied or f"{x_source} is {why}: converted to C-ordered float32"
            arr = np.ascontiguousarray(arr, dtype=np.float32 if arr.dtype not in (np.float32, np.float64) else arr.dtype)
        spec.storage = _lib.STORAGE_DENSE
        spec.value_dtype = _lib.DTYPE_F64 if arr.dtype == np.float64 else _lib.DTYPE_F32
        spec.values = arr.ctypes.data if arr.size else None
        arrays = (arr,)

    keep = [arrays]
    spec.name = (name or "<AnnData>").encode()
    spec.x_source = x_source.encode()
    obs_names, enc1 = _strings(adata.obs_names)
    var_arr, enc2 = _strings(var_names)
    spec.obs_names, spec.var_names = obs_names, var_arr
    keep += [obs_names, enc1, var_arr, enc2]

    cols = []
    for cname in adata.obs.columns:
        s = adata.obs[cname]
        c = _lib.Column()
        c.name = str(cname).encode()
        keep.append(c.name)
        c.n = len(s)
        if isinstance(s.dtype, pd.CategoricalDtype) or not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
            if isinstance(s.dtype, pd.CategoricalDtype):
                codes, cats = s.cat.codes.to_numpy(), list(s.cat.categories)
            else:  # strings: categories in order of first appearance, as the file reader does
                codes, uniq = pd.factorize(s, use_na_sentinel=True)
                cats = list(uniq)
            codes = np.ascontiguousarray(codes, dtype=np.int32)
            cat_arr, enc = _strings(cats)
            c.type = _lib.COL_CATEGORICAL
            c.n_categories = len(cats)
            c.categories = cat_arr
            c.codes = codes.ctypes.data if codes.size else None
            keep += [codes, cat_arr, enc]
        else:
            vals = np.ascontiguousarray(s.to_numpy(dtype=np.float64, na_value=np.nan))
            c.type = _lib.COL_BOOL if pd.api.types.is_bool_dtype(s) else _lib.COL_NUMERIC
            c.values = vals.ctypes.data if vals.size else None
            keep.append(vals)
        cols.append(c)
    col_arr = (_lib.Column * max(len(cols), 1))(*cols)
    keep.append(col_arr)
    spec.n_obs_cols = len(cols)
    spec.obs_cols = ctypes.cast(col_arr, ctypes.POINTER(_lib.Column))
    handle = _lib.open_memory(spec)
    # Obs columns and names are copied by the C side; only the matrix stays borrowed.
    return Source(handle, keep=(arrays,), copied=copied, arrays=arrays)
