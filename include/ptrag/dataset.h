/* Stage src/data of the pipeline (include/ptrag.h, README "Layout"): from files to the cells and features a model sees; uses io, core.
 *
 * A split's data, ready for training and prediction: the split file read, the
 * obs labels of its .h5ad files (every file of every [datasets] entry, in
 * spec order, rows concatenated) assigned to train/val/test conditions, the
 * expression of the cells the split uses resident as float32 (normalised when
 * the file holds raw counts, optionally restricted to highly variable genes),
 * and a feature vector per perturbation (gene embeddings, or one-hot).
 *
 * Several files: they must have the same expression columns (names and
 * order; the error names the first file and column that differ), each its
 * own cell types (the cell-type column; a name in two datasets is an error),
 * and perturbation, cell-type and batch labels are merged by name (sorted
 * union). "Rows" below are rows of the concatenation: file k's row i is
 * file_row0[k] + i.
 *
 * Memory: only the cells of used conditions (and their controls) stay
 * resident, at n_genes * 4 bytes each plus 20 bytes of labels and index;
 * the files are streamed in row blocks, each open file holding ~40 bytes
 * a cell (obs names, CSR row pointers). */
#ifndef PTRAG_DATASET_H
#define PTRAG_DATASET_H

#include <stdint.h>

#include "ptrag/embeddings.h"
#include "ptrag/error.h"
#include "ptrag/h5ad.h"
#include "ptrag/split.h"

typedef struct ptrag_dataset_opts {
    const char *pert_col;     /* obs column of the perturbation (default "gene") */
    const char *control;      /* control label (default "non-targeting") */
    const char *celltype_col; /* default "cell_type" */
    const char *batch_col;    /* default "gem_group"; NULL or "" for none */
    int batch_col_required;   /* 0: a missing batch column just means no batches */
    const char *x_source;     /* "X", "layers/NAME", "obsm/KEY" (default "X") */
    int normalize;            /* -1 auto (raw counts detected), 0 never, 1 always */
    long hvg;                 /* > 0: keep this many highly variable genes */
    const char *embeddings;   /* gene embedding file, or NULL for one-hot features */
    const char *aliases;      /* NCBI gene_info table for symbol aliases, or NULL */
    ptrag_missing_policy missing; /* perturbations whose genes have no vector */
    int labels_only;          /* skip reading expression (describing a split) */
    ptrag_h5ad *source;       /* read this open handle (e.g. an in-memory AnnData, see
                                 ptrag_h5ad_open_memory) instead of the split's file;
                                 its own x_source applies; borrowed, not closed */
} ptrag_dataset_opts;

void ptrag_dataset_opts_default(ptrag_dataset_opts *o);

typedef struct ptrag_dataset {
    char *split_path;
    char *pert_col, *celltype_col, *batch_col; /* obs column names of the input (batch: NULL if none) */
    char *control;            /* control label */
    char *h5ad_path;          /* the (first) data file */
    int n_files;              /* data files (1 unless the split names several) */
    char **files;             /* [n_files] in spec order */
    long *file_row0;          /* [n_files + 1]: first row of each file; last = n_cells */
    ptrag_split_spec *spec;
    ptrag_assignment *assign;
    long n_cells;             /* rows of the file(s) */
    int n_perts, n_ct, n_batches;
    char **pert_names;        /* [n_perts] categories of the perturbation column */
    char **ct_names;          /* [n_ct] */
    char **batch_names;       /* [n_batches] (0 when no batch column) */
    int32_t *pert_code;       /* [n_cells] */
    int32_t *ct_code;         /* [n_cells] */
    int32_t *batch_code;      /* [n_cells] or NULL */
    int32_t control_code;
    long n_genes;             /* expression columns kept */
    char **gene_names;        /* [n_genes] */
    long n_resident;
    long *row_slot;           /* [n_cells]: row of `x` holding the cell, or -1 */
    float *x;                 /* [n_resident * n_genes] */
    int normalized;           /* 1 if counts were normalised (total 1e4 + log1p) */
    int onehot;               /* perturbation features are one-hot ids */
    int feat_dim;             /* embedding dim, or n_perts for one-hot */
    float *pert_feat;         /* [n_perts * feat_dim] embedding vectors (NULL for one-hot) */
    unsigned char *pert_has_feat; /* [n_perts] 1 when the perturbation has a vector */
    int n_dropped_perts;      /* perturbations removed by --missing drop */
    char dropped[512];        /* their names, comma separated (truncated) */
    int in_memory;            /* read from an in-memory source (no file to checksum) */
} ptrag_dataset;

int ptrag_dataset_load(const char *split_path, const ptrag_dataset_opts *opts, ptrag_dataset **out,
                       ptrag_error *err);
void ptrag_dataset_free(ptrag_dataset *d);

/* Writes n cells to an .h5ad in the dataset's gene space: X = x (n x n_genes),
 * obs columns named as in the input (perturbation, cell type, batch) holding
 * the labels of dataset rows src_rows[i], obs names "<prefix><i>". */
int ptrag_dataset_write_cells(const ptrag_dataset *d, const char *path, const long *src_rows, long n,
                              const float *x, const char *prefix, ptrag_error *err);
/* The same, plus a numeric obs column `control_index`: the row of the input
 * (.h5ad file or in-memory AnnData) of the control cell each predicted cell
 * was computed from, control_rows[i] (a prediction plan's pairing). */
int ptrag_dataset_write_predicted(const ptrag_dataset *d, const char *path, const long *src_rows,
                                  const long *control_rows, long n, const float *x, ptrag_error *err);

/* Expression of file row `row` (must be resident). */
const float *ptrag_dataset_row(const ptrag_dataset *d, long row);
/* Copies rows[0..n) into out[n * n_genes]; a row of -1 gives zeros. */
void ptrag_dataset_gather(const ptrag_dataset *d, const long *rows, long n, float *out);
/* Feature vector of perturbation code p (feat_dim floats; one-hot: NULL). */
const float *ptrag_dataset_pert_feature(const ptrag_dataset *d, int p);
/* Perturbation code of a label, or -1. */
int ptrag_dataset_find_pert(const ptrag_dataset *d, const char *name);
int ptrag_dataset_find_celltype(const ptrag_dataset *d, const char *name);

#endif
