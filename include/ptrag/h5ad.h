/* Stage src/io of the pipeline (include/ptrag.h, README "Layout"): file formats (h5ad, pickle, TSV, TOML); uses core.
 *
 * AnnData .h5ad files (anndata >= 0.7 on-disk format) read and written with
 * libhdf5.
 *
 * Reading streams: opening a file reads only metadata (shape, var names,
 * encodings); expression rows are fetched on demand as dense float32 for any
 * list of rows and any subset of genes, by hyperslabs (CSR: through indptr),
 * with bounded memory. Expression can come from X (dense or CSR/CSC),
 * layers/<name> (dense or sparse) or obsm/<key> (dense). */
#ifndef PTRAG_H5AD_H
#define PTRAG_H5AD_H

#include <stddef.h>
#include <stdint.h>

#include "ptrag/error.h"

typedef struct ptrag_h5ad ptrag_h5ad;

typedef enum {
    PTRAG_STORAGE_DENSE = 0,
    PTRAG_STORAGE_CSR = 1,
    PTRAG_STORAGE_CSC = 2
} ptrag_storage;

typedef enum {
    PTRAG_COL_CATEGORICAL = 0, /* codes + categories */
    PTRAG_COL_STRING = 1,      /* one string per row */
    PTRAG_COL_NUMERIC = 2,     /* int or float, read as double */
    PTRAG_COL_BOOL = 3         /* read as double 0/1 */
} ptrag_col_type;

/* One obs (or var) column, fully in memory. For CATEGORICAL and STRING columns
 * `codes`/`categories` are always filled (a STRING column is factorised with
 * categories in order of first appearance); code -1 means missing (NaN).
 * For NUMERIC/BOOL columns `values` is filled (NaN where missing).
 * Every pointer (name, each category string, the arrays) is its own malloc;
 * ptrag_column_free frees them all and zeroes the struct. */
typedef struct ptrag_column {
    char *name;
    ptrag_col_type type;
    long n;              /* rows */
    int n_categories;
    char **categories;   /* n_categories strings */
    int32_t *codes;      /* n rows, or NULL */
    double *values;      /* n rows, or NULL */
} ptrag_column;

void ptrag_column_free(ptrag_column *col);
/* Index of a category label, or -1. */
int ptrag_column_find(const ptrag_column *col, const char *label);
/* Label of row i ("" for a missing value); only for CATEGORICAL/STRING. */
const char *ptrag_column_label(const ptrag_column *col, long i);

/* Opens `path`. `x_source` is "X" (or NULL), "layers/<name>" or "obsm/<key>".
 * Errors name the file, the object path inside it, and what was expected. */
int ptrag_h5ad_open(const char *path, const char *x_source, ptrag_h5ad **out, ptrag_error *err);
/* The same from an in-memory copy of a file (HDF5 core driver; `image` must
 * stay valid until close). `name` labels error messages. */
int ptrag_h5ad_open_image(const void *image, size_t len, const char *name, const char *x_source,
                          ptrag_h5ad **out, ptrag_error *err);
void ptrag_h5ad_close(ptrag_h5ad *h);

const char *ptrag_h5ad_path(const ptrag_h5ad *h);
long ptrag_h5ad_n_obs(const ptrag_h5ad *h);
/* Number of expression columns: n_vars for X/layers, the obsm width for obsm. */
long ptrag_h5ad_n_vars(const ptrag_h5ad *h);
const char *ptrag_h5ad_x_source(const ptrag_h5ad *h);
ptrag_storage ptrag_h5ad_x_storage(const ptrag_h5ad *h);
/* Name of expression column j: var index for X/layers; "0".."d-1" for obsm. */
const char *ptrag_h5ad_var_name(const ptrag_h5ad *h, long j);
/* obs index (cell barcode) of row i. */
const char *ptrag_h5ad_obs_name(const ptrag_h5ad *h, long i);
/* Index of the expression column named `name` (first match), or -1. */
long ptrag_h5ad_find_var(const ptrag_h5ad *h, const char *name);
/* Genes in /var (equals n_vars except for obsm sources). */
long ptrag_h5ad_file_n_vars(const ptrag_h5ad *h);
/* Stored entries of the expression source (n_obs * n_vars when dense). */
long ptrag_h5ad_x_nnz(const ptrag_h5ad *h);

/* obs column names in `column-order` (then any others), owned by the handle. */
int ptrag_h5ad_obs_columns(const ptrag_h5ad *h, const char *const **names, int *n);
/* Reads one obs column. Missing column: PTRAG_E_NOTFOUND, message lists the
 * available columns. */
int ptrag_h5ad_read_obs(ptrag_h5ad *h, const char *name, ptrag_column *out, ptrag_error *err);
/* The same for /var columns (file_n_vars rows), e.g. a gene-symbol column. */
int ptrag_h5ad_var_columns(const ptrag_h5ad *h, const char *const **names, int *n);
int ptrag_h5ad_read_var(ptrag_h5ad *h, const char *name, ptrag_column *out, ptrag_error *err);

/* Dense float32 copy of rows `rows[0..nrows)` (any order, repeats allowed)
 * restricted to columns `cols[0..ncols)` (NULL = all, in order) into
 * out[nrows * ncols], row-major. Bounded extra memory (about 8 MiB of
 * buffers plus 16 bytes per requested row). CSR and dense read only the
 * requested rows; CSC reads every entry of the requested columns per call.
 * Sparse indices are checked on the rows read (error names /X/indices).
 * A handle must not be used by two threads at once (libhdf5 is serial). */
int ptrag_h5ad_read_rows(ptrag_h5ad *h, const long *rows, long nrows, const long *cols, long ncols,
                         float *out, ptrag_error *err);

/* Streams rows [row0, row0+nrows) densely (all columns): a contiguous block. */
int ptrag_h5ad_read_block(ptrag_h5ad *h, long row0, long nrows, float *out, ptrag_error *err);

/* ---- in-memory sources (the Python binding's AnnData) ---- */

typedef enum {
    PTRAG_DTYPE_F32 = 0,
    PTRAG_DTYPE_F64 = 1,
    PTRAG_DTYPE_I32 = 2,
    PTRAG_DTYPE_I64 = 3
} ptrag_dtype;

/* An expression matrix and obs labels already in memory. The matrix buffers
 * are borrowed, not copied: rows are converted to float32 straight from them
 * on each read, so they must stay alive and unchanged until the handle is
 * closed. Names and obs columns are copied at open (they are small). */
typedef struct ptrag_h5ad_memory {
    const char *name;        /* stands for the file name in messages, e.g. "<AnnData>" */
    const char *x_source;    /* the source's label: "X", "layers/NAME", "obsm/KEY" */
    long n_obs, n_vars;
    ptrag_storage storage;   /* DENSE (C order, rows of n_vars) or CSR */
    ptrag_dtype value_dtype; /* F32 or F64 */
    const void *values;      /* dense: n_obs * n_vars; CSR: nnz values */
    ptrag_dtype index_dtype; /* CSR: I32 or I64, for both indices and indptr */
    const void *indices;     /* CSR: nnz column indices */
    const void *indptr;      /* CSR: n_obs + 1 offsets */
    const char *const *obs_names; /* n_obs */
    const char *const *var_names; /* n_vars */
    int n_obs_cols;
    const ptrag_column *obs_cols; /* CATEGORICAL (codes + categories) or NUMERIC */
} ptrag_h5ad_memory;

/* Opens an in-memory source with the same interface as a file: every
 * ptrag_h5ad_* reader works on it (var columns: none). Checks the shape, the
 * CSR offsets and the columns' lengths; errors name m->name. */
int ptrag_h5ad_open_memory(const ptrag_h5ad_memory *m, ptrag_h5ad **out, ptrag_error *err);
/* 1 for a handle from ptrag_h5ad_open_memory, 0 for a file. */
int ptrag_h5ad_in_memory(const ptrag_h5ad *h);

/* ---- writing ---- */

typedef struct ptrag_h5ad_writer ptrag_h5ad_writer;

/* Starts a file of n_obs x n_vars. Nothing is written to `path` until commit,
 * which writes a temporary file and renames it. */
int ptrag_h5ad_writer_new(const char *path, long n_obs, long n_vars, ptrag_h5ad_writer **out,
                          ptrag_error *err);
/* X as dense float32 (row-major, copied) or as CSR (set `as_csr`: zeros dropped). */
int ptrag_h5ad_writer_set_x(ptrag_h5ad_writer *w, const float *x, int as_csr, ptrag_error *err);
int ptrag_h5ad_writer_set_var_names(ptrag_h5ad_writer *w, const char *const *names, ptrag_error *err);
int ptrag_h5ad_writer_set_obs_names(ptrag_h5ad_writer *w, const char *const *names, ptrag_error *err);
/* A numeric obs column stored as int64 (e.g. row indices). */
int ptrag_h5ad_writer_add_obs_int64(ptrag_h5ad_writer *w, const char *name, const int64_t *values,
                                    ptrag_error *err);
/* Without set_obs_names the obs names are "0".."n-1", as anndata's default;
 * this makes them "first".."first+n-1" (unique across files of one experiment). */
void ptrag_h5ad_writer_number_obs_from(ptrag_h5ad_writer *w, long first);
/* A categorical obs column from one label per row (categories sorted). */
int ptrag_h5ad_writer_add_obs_categorical(ptrag_h5ad_writer *w, const char *name,
                                          const char *const *labels, ptrag_error *err);
/* A plain string obs column, one value per row. */
int ptrag_h5ad_writer_add_obs_strings(ptrag_h5ad_writer *w, const char *name,
                                      const char *const *values, ptrag_error *err);
int ptrag_h5ad_writer_add_obs_numeric(ptrag_h5ad_writer *w, const char *name, const double *values,
                                      ptrag_error *err);
/* A categorical obs column given as codes (one per row, -1 = missing) into
 * `categories` (written in the order given): no string per row is held. */
int ptrag_h5ad_writer_add_obs_codes(ptrag_h5ad_writer *w, const char *name, const char *const *categories,
                                    int n_categories, const int32_t *codes, ptrag_error *err);

/* Streaming X in bounded memory, instead of set_x: begin_rows opens the
 * temporary file, append_rows writes the next `nrows` dense float32 rows
 * (row-major; as CSR, zeros dropped, when `as_csr`) straight to it, and commit
 * checks that all n_obs rows arrived, writes the rest and renames. Extra
 * memory: 8 bytes a row (CSR row pointers) plus an 8 MiB entry buffer.
 * Freeing the writer before commit removes the temporary file. */
int ptrag_h5ad_writer_begin_rows(ptrag_h5ad_writer *w, int as_csr, ptrag_error *err);
int ptrag_h5ad_writer_append_rows(ptrag_h5ad_writer *w, const float *rows, long nrows, ptrag_error *err);
/* A dense float32 obsm matrix (n_obs x ncols, e.g. "X_hvg") streamed beside X:
 * after begin_rows, begin_obsm creates /obsm/<key>; append_obsm_rows writes
 * its next rows; commit checks all n_obs arrived. One key per file. */
int ptrag_h5ad_writer_begin_obsm(ptrag_h5ad_writer *w, const char *key, long ncols, ptrag_error *err);
int ptrag_h5ad_writer_append_obsm_rows(ptrag_h5ad_writer *w, const float *rows, long nrows, ptrag_error *err);
int ptrag_h5ad_writer_commit(ptrag_h5ad_writer *w, ptrag_error *err);
void ptrag_h5ad_writer_free(ptrag_h5ad_writer *w);

#endif
