/* Scoring a prediction file against a real file (both .h5ad): cells are
 * grouped into (cell type, perturbation) conditions by obs columns, the
 * control cells of each cell type are the reference for deltas and DE, and
 * every held-out condition present in the real file is scored with
 * ptrag_evaluate (include/ptrag/metrics.h). */
#ifndef PTRAG_EVAL_FILES_H
#define PTRAG_EVAL_FILES_H

#include <stdint.h>

#include "ptrag/error.h"
#include "ptrag/metrics.h"

typedef struct ptrag_eval_files_opts {
    const char *pert_col;     /* default "gene" */
    const char *control;      /* default "non-targeting" */
    const char *celltype_col; /* default "cell_type" */
    const char *pert_ref;     /* reference profiles of pearson_delta_pert (written by
                                 ptrag_pert_reference_write), or NULL: that metric is NaN */
    ptrag_eval_options metrics;
} ptrag_eval_files_opts;

void ptrag_eval_files_opts_default(ptrag_eval_files_opts *o);

/* Reads both files and scores every condition of the real file. Conditions
 * missing from the prediction are an error naming them; genes are matched by
 * name (the prediction may hold them in another order). */
int ptrag_eval_files(const char *pred_path, const char *real_path, const ptrag_eval_files_opts *o,
                     ptrag_eval_result *result, ptrag_error *err);

/* The split-half ceiling (ptrag_eval_ceiling) of the real file's conditions,
 * with the same grouping, genes and options. */
int ptrag_eval_files_ceiling(const char *real_path, const ptrag_eval_files_opts *o, int n_splits, uint64_t seed,
                             ptrag_metric_summary out[PTRAG_M_COUNT], ptrag_error *err);

/* The key of a score (an eval directory): "pred=<digest>,real=<digest>,
 * metrics=<crc32 of the metric names and the options that change values>". */
int ptrag_score_key(const char *pred, const char *real, const ptrag_eval_options *o, char *buf, size_t n,
                    ptrag_error *err);

#endif
