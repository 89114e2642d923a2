/* Train/val/test conditions of a STATE-format split file.
 *
 * Two steps:
 *  1. ptrag_split_load() reads and validates the TOML file (no data access):
 *       [datasets]  name = "path"    an .h5ad file, a folder of .h5ad/.h5 files or
 *                                    a glob; relative to the split file's folder;
 *                                    several datasets may be listed
 *       [training]  name = "train"   the whole dataset trains, unless overridden
 *       [zeroshot]  "name.celltype" = "val" | "test" | "train"
 *       [fewshot."name.celltype"]    val = [...], test = [...]  (perturbations)
 *     A key "name.celltype" splits at its FIRST dot (dataset names hold no dots,
 *     cell types may), as cell-load does.
 *  2. ptrag_split_assign() applies it to the per-cell labels of one dataset
 *     (codes + names, i.e. what an obs categorical column holds) and yields
 *     the (cell type, perturbation) conditions with their split and rows, and
 *     the control pools for pairing. Semantics (reference-model.md §2.2):
 *       - a cell type of a [training] dataset: every condition -> train;
 *       - zeroshot "ds.ct" = S: every perturbed condition of ct -> S; ct's
 *         control cells belong to S and to train;
 *       - fewshot "ds.ct": listed perturbations -> val/test, all other
 *         perturbations of ct -> train; ct's controls belong to every split;
 *       - a cell type of a dataset that is not in [training] and has no
 *         override is unused (split mask 0; not listed in the conditions).
 *     Control cells of a cell type are always the pairing pool of every cell
 *     of that cell type, whatever its split.
 *
 * Nothing here reads expression data or .h5ad files. */
#ifndef PTRAG_SPLIT_H
#define PTRAG_SPLIT_H

#include <stdint.h>

#include "ptrag/error.h"

enum { PTRAG_SPLIT_TRAIN = 0, PTRAG_SPLIT_VAL = 1, PTRAG_SPLIT_TEST = 2, PTRAG_SPLIT_COUNT = 3 };
/* Bit masks of splits: (1u << PTRAG_SPLIT_x). */
#define PTRAG_SPLIT_MASK(s) (1u << (s))
#define PTRAG_SPLIT_MASK_ALL 7u

/* "train", "val", "test" (or "?"). */
const char *ptrag_split_name(int split);
/* PTRAG_SPLIT_* for "train"/"val"/"test", -1 otherwise. */
int ptrag_split_from_name(const char *name);

/* ---- the split file ---- */

typedef struct ptrag_split_dataset {
    char *name;
    char *path;      /* as written in the file */
    char *resolved;  /* relative paths joined to the split file's folder */
    int is_dir;      /* 1 for a folder (or glob) of files */
    int n_files;     /* .h5ad/.h5 files: 1 for a file; sorted folder/glob matches */
    char **files;
    int in_training; /* listed in [training] */
    int line;
} ptrag_split_dataset;

typedef struct ptrag_split_zeroshot {
    char *dataset;
    char *celltype;
    int split;       /* PTRAG_SPLIT_* */
    int line;
} ptrag_split_zeroshot;

typedef struct ptrag_split_fewshot {
    char *dataset;
    char *celltype;
    int n_val, n_test;
    char **val;      /* perturbation names, file order */
    char **test;
    int line;
} ptrag_split_fewshot;

typedef struct ptrag_split_spec {
    char *path;      /* the split file */
    int n_datasets;
    ptrag_split_dataset *datasets;
    int n_zeroshot;
    ptrag_split_zeroshot *zeroshot;
    int n_fewshot;
    ptrag_split_fewshot *fewshot;
} ptrag_split_spec;

/* Reads and validates a split file. Errors (file name + line + what):
 * TOML syntax; an unknown section; a value of the wrong type; a split value
 * other than train/val/test ([training] accepts only "train"); a dataset
 * referenced in [training]/[zeroshot]/[fewshot] but absent from [datasets];
 * a dataset path that does not exist (the message names the resolved path);
 * a folder or glob with no .h5ad file; a key without "dataset.celltype"
 * form; a fewshot table key other than val/test; a perturbation listed twice
 * or both in val and test; a cell type both zeroshot and fewshot. */
int ptrag_split_load(const char *path, ptrag_split_spec **out, ptrag_error *err);
void ptrag_split_spec_free(ptrag_split_spec *spec);

/* Index into spec->datasets, or -1. */
int ptrag_split_find_dataset(const ptrag_split_spec *spec, const char *name);

/* ---- assignment of one dataset's cells ---- */

/* Per-cell labels of one dataset (rows 0..n_cells-1 of its obs). Codes index
 * the names arrays; code -1 means missing and the cell is ignored. A dataset
 * given as several files is one dataset here: the caller concatenates the
 * files' rows (and unifies the names) first. */
typedef struct ptrag_cell_labels {
    long n_cells;
    const int32_t *pert_code;          /* [n_cells] */
    const char *const *pert_names;     /* [n_perts] */
    int n_perts;
    const int32_t *ct_code;            /* [n_cells] */
    const char *const *ct_names;       /* [n_ct] */
    int n_ct;
    const int32_t *batch_code;         /* [n_cells] or NULL (no batch column) */
    int n_batches;                     /* 0 when batch_code is NULL */
    const int *ct_dataset;             /* [n_ct] index into spec->datasets of each cell
                                          type, or NULL: every cell type is of `dataset` */
} ptrag_cell_labels;

typedef struct ptrag_condition {
    int32_t ct;          /* cell-type code */
    int32_t pert;        /* perturbation code (the dataset's own codes) */
    int is_control;
    unsigned splits;     /* PTRAG_SPLIT_MASK bits: exactly one for a perturbed
                            condition; controls of held-out cell types have several */
    long n_rows;
    const long *rows;    /* ascending row indices (into the assignment's storage) */
} ptrag_condition;

/* Control cells of one cell type, optionally of one batch value. */
typedef struct ptrag_control_pool {
    long n_rows;
    const long *rows;    /* ascending */
} ptrag_control_pool;

typedef struct ptrag_assignment {
    char *dataset;
    long n_cells;
    int n_perts, n_ct, n_batches;
    char **pert_names;   /* copies of the inputs */
    char **ct_names;
    int32_t control_code;             /* code of the control label */
    int n_conditions;
    ptrag_condition *conditions;      /* sorted by (ct, pert); used conditions only */
    ptrag_control_pool *ctrl;         /* [n_ct] all controls of each cell type */
    ptrag_control_pool *ctrl_batch;   /* [n_ct * n_batches] or NULL:
                                         controls of (ct, batch) at [ct * n_batches + b] */
    int32_t *batch_code;              /* [n_cells] copy, or NULL */
    /* summary */
    long n_cells_split[PTRAG_SPLIT_COUNT];      /* perturbed cells per split */
    int n_conditions_split[PTRAG_SPLIT_COUNT];  /* perturbed conditions per split */
    long n_unused;                    /* cells of cell types this split does not use */
    long n_missing;                   /* cells with a missing (-1) label */
    long *row_storage;                /* internal */
} ptrag_assignment;

/* Assigns the conditions of dataset `dataset` (a name in [datasets]).
 * Errors (PTRAG_E_NOTFOUND unless stated), each naming the split file:
 *  - the control label is not a perturbation of the data (nearest names given);
 *  - a zeroshot/fewshot cell type that is not in the data (the cell types
 *    present are listed);
 *  - a fewshot perturbation with no cell of that cell type (the message names
 *    it and the nearest perturbation names of that cell type, by edit
 *    distance); the control label in a fewshot list (PTRAG_E_ARG);
 *  - a used cell type with perturbed cells but no control cell;
 *  - when the split file names exactly one dataset, or ct_dataset covers
 *    them all: an empty split (no perturbed condition in train, in test, or
 *    in val when the file lists val perturbations). With several datasets
 *    assigned one by one run ptrag_split_check_nonempty() over all their
 *    assignments instead.
 * With cells->ct_dataset, `dataset` only names the assignment (e.g. "a+b"),
 * and every [zeroshot]/[fewshot] cell type of every dataset must be found. */
int ptrag_split_assign(const ptrag_split_spec *spec, const char *dataset,
                       const ptrag_cell_labels *cells, const char *control_label,
                       ptrag_assignment **out, ptrag_error *err);
void ptrag_assignment_free(ptrag_assignment *a);

/* Fails (PTRAG_E_ARG) when, over all the given assignments, train or test has
 * no perturbed condition, or val has none although the split file lists val
 * perturbations or val zeroshot cell types. */
int ptrag_split_check_nonempty(const ptrag_split_spec *spec, const ptrag_assignment *const *as,
                               int n, ptrag_error *err);

/* Removes perturbed conditions whose perturbation code has keep[code] == 0
 * (e.g. perturbations without an embedding); controls always stay. Updates
 * the summary counts. */
void ptrag_assignment_keep_perts(ptrag_assignment *a, const unsigned char *keep);

/* Index of the condition (ct, pert), or -1. */
int ptrag_assignment_find(const ptrag_assignment *a, int32_t ct, int32_t pert);

/* ---- helpers ---- */

/* Levenshtein distance between two strings (byte-wise, case-sensitive). */
int ptrag_edit_distance(const char *a, const char *b);

/* Writes up to `k` names of `names` nearest to `query` (edit distance,
 * case-insensitive, ties by name order) as "A, B, C" into out. */
void ptrag_nearest_names(const char *query, const char *const *names, int n, int k, char *out,
                         size_t cap);

#endif
