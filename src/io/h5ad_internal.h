/* Internals shared by the .h5ad reader, row fetcher and writer (not public).
 *
 * All HDF5 calls here run with HDF5's automatic error printing switched off;
 * failures are turned into ptrag_error messages that name the file, the HDF5
 * object path and what was wrong, with HDF5's own innermost reason appended. */
#ifndef PTRAG_IO_H5AD_INTERNAL_H
#define PTRAG_IO_H5AD_INTERNAL_H

#include <hdf5.h>
#include <stdint.h>

#include "ptrag/h5ad.h"

/* Entries per buffer when streaming sparse data (values + indices): 1 Mi
 * entries = 8 MiB, the bound on extra memory of one row fetch. */
#define H5AD_BUF_ENTRIES (1L << 20)
/* The buffer size in use; tests shrink it to exercise the piecewise paths
 * (n <= 0 restores the default). Not for concurrent use. */
long ptrag_h5ad_buffer_entries(void);
void ptrag_h5ad_set_buffer_entries(long n);

/* Many strings in one allocation: s[i] points into buf. */
typedef struct h5_strings {
    long n;
    char **s;
    char *buf;
} h5_strings;

void ptrag_h5_strings_free(h5_strings *p);

/* For the rest of the enclosing block, HDF5's automatic error handler is one
 * that prints nothing and keeps HDF5's reason for our messages (ptrag_h5_reason);
 * the caller's handler (a host process such as h5py may have its own) is put
 * back on every way out of the block. Every public entry that calls libhdf5
 * opens with it. (The cleanup attribute: GCC and Clang.) */
typedef struct h5_quiet {
    H5E_auto2_t func;
    void *data;
} h5_quiet;
h5_quiet ptrag_h5_quiet_begin(void);
void ptrag_h5_quiet_end(h5_quiet *q);
#define H5_QUIET_SCOPE h5_quiet h5_quiet_scope_ __attribute__((cleanup(ptrag_h5_quiet_end), unused)) = ptrag_h5_quiet_begin()
/* " (HDF5: <innermost reason>)" for the last failed HDF5 call, or "". */
const char *ptrag_h5_reason(char *buf, size_t n);
/* 1 if `path` (relative to loc) names an existing object (intermediate
 * groups included), else 0. Never fails loudly. */
int ptrag_h5_exists(hid_t loc, const char *path);
/* H5O_TYPE_GROUP / H5O_TYPE_DATASET / -1 when absent. */
int ptrag_h5_obj_type(hid_t loc, const char *path);

/* String attribute (scalar or first element; vlen or fixed). Returns 1 when
 * found and read, 0 when absent or not a string. */
int ptrag_h5_attr_string(hid_t obj, const char *name, char *buf, size_t n);
/* 1-D string-array attribute into a pool (empty when absent or numeric and
 * empty, as anndata writes an empty column-order). */
int ptrag_h5_attr_strings(hid_t obj, const char *name, h5_strings *out, const char *file,
                    const char *objpath, ptrag_error *err);
/* Integer array attribute: up to `max` values. Returns the count, or -1. */
int ptrag_h5_attr_int64s(hid_t obj, const char *name, int64_t *vals, int max);

/* Number of elements of a 1-D dataset; -1 (with err) when not 1-D. */
long ptrag_h5_len1(hid_t ds, const char *file, const char *objpath, ptrag_error *err);

/* Reads a 1-D string dataset (variable-length or fixed-length; numeric
 * datasets are formatted as text, as pandas prints them) into a pool. */
int ptrag_h5_read_strings(hid_t ds, const char *file, const char *objpath, h5_strings *out,
                    ptrag_error *err);

/* Reads elements [lo, lo+n) of a 1-D dataset converted to `memtype`. */
int ptrag_h5_read_range(hid_t ds, hid_t memtype, long lo, long n, void *buf, const char *file,
                  const char *objpath, ptrag_error *err);

/* One expression matrix: X, layers/<name> (dense or sparse) or obsm/<key>. */
typedef struct h5ad_matrix {
    char objpath[512]; /* "/X", "/layers/counts", "/obsm/X_pca" */
    ptrag_storage storage;
    long n_rows, n_cols;
    hid_t dense;        /* dense: the 2-D dataset */
    hid_t data, indices;
    int64_t *indptr;    /* sparse: n_major + 1 offsets, read once at open */
    long nnz;
} h5ad_matrix;

struct ptrag_h5ad {
    char *path;
    hid_t file;
    char *x_source;
    h5ad_matrix m;
    long n_obs, n_vars, file_n_vars;
    h5_strings obs_names;
    h5_strings var_names;    /* expression column names */
    char **obs_cols;
    int n_obs_cols;
    char **var_cols;
    int n_var_cols;
    long *var_hash;          /* open addressing over var_names: index+1, 0 = empty */
    long var_hash_cap;
    /* In-memory sources only (ptrag_h5ad_open_memory; file < 0): the
     * borrowed matrix and copies of the obs columns. */
    int in_memory;
    ptrag_h5ad_memory mem;
    ptrag_column *mem_cols;  /* [n_obs_cols], names in obs_cols */
};

/* Builds var_hash over var_names; -1 when out of memory. */
int ptrag_h5ad_index_vars(ptrag_h5ad *h);

/* In-memory counterparts of the readers (src/io/h5ad_memory.c). */
int ptrag_h5ad_memory_read_rows(const ptrag_h5ad *h, const long *rows, long nrows, const long *cols,
                                long ncols, float *out, ptrag_error *err);
int ptrag_h5ad_memory_read_obs(const ptrag_h5ad *h, const char *name, ptrag_column *out, ptrag_error *err);
void ptrag_h5ad_memory_free(ptrag_h5ad *h);

/* Opens the matrix at `objpath` ("/X", ...); fills m (dims, storage, indptr). */
int ptrag_h5ad_matrix_open(hid_t file, const char *fname, const char *objpath, h5ad_matrix *m,
                     ptrag_error *err);
void ptrag_h5ad_matrix_close(h5ad_matrix *m);

/* Column names of a dataframe group in column-order, then any others. */
int ptrag_h5ad_frame_columns(hid_t file, const char *fname, const char *group, char ***names, int *n,
                       ptrag_error *err);
/* Reads column `name` of dataframe `group` ("obs"/"var") with n rows. */
int ptrag_h5ad_read_column(hid_t file, const char *fname, const char *group, const char *name, long n,
                     char *const *available, int n_available, ptrag_column *out, ptrag_error *err);

/* 64-bit FNV-1a, used by the string hash tables. */
uint64_t ptrag_h5ad_hash_str(const char *s);

#endif
