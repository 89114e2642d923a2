/* Baselines written as predictions: each predicts the cells of a prediction
 * plan (include/ptrag/pred_plan.h) exactly as `ptrag predict` does, so the
 * same `ptrag eval` code scores them. A baseline predicts a per-condition
 * expression shift `delta(ct, p)` and moves each paired control cell by it:
 *
 *     pred_i = max(0, x[control_rows[i]] + delta(ct_i, p_i))
 *
 * (the clip only when the expression has no negative value, as log1p data;
 * control sets of the plan get delta = 0). Kinds (docs/evaluation.md):
 *  - control:   delta = 0 (cells stay as their paired controls);
 *  - pert-mean: the mean training shift of the cell type: mean over its
 *               training perturbed conditions c of (mean(c) - mean(controls
 *               of ct)); a cell type without any uses the mean shift over all
 *               training perturbed conditions of the other cell types;
 *  - linear:    ridge regression from perturbation embeddings to shifts with
 *               an unpenalised intercept per cell type (Ahlmann-Eltze et al.
 *               2025, adapted): delta(ct, p) = mean_shift(ct) +
 *               W^T (e_p - mean_e(ct)), W the ridge solution on training
 *               conditions centred within their cell type. With a huge ridge
 *               it equals pert-mean. Needs embeddings (not one-hot). */
#ifndef PTRAG_BASELINES_H
#define PTRAG_BASELINES_H

#include <stddef.h>
#include <stdint.h>

#include "ptrag/dataset.h"
#include "ptrag/error.h"
#include "ptrag/pred_plan.h"

typedef enum {
    PTRAG_BASELINE_CONTROL = 0,
    PTRAG_BASELINE_PERT_MEAN = 1,
    PTRAG_BASELINE_LINEAR = 2,
    PTRAG_BASELINE_COUNT
} ptrag_baseline_kind;

/* "control", "pert-mean", "linear" (or "?"). */
const char *ptrag_baseline_name(int kind);
/* Kind of a name, or -1. */
int ptrag_baseline_from_name(const char *name);

typedef struct ptrag_baseline_opts {
    int kind;     /* ptrag_baseline_kind */
    double ridge; /* linear: lambda in units of trace(Xc^T Xc) / E (default 1.0); >= 0 */
} ptrag_baseline_opts;

void ptrag_baseline_opts_default(ptrag_baseline_opts *o);

/* A baseline fitted on the training conditions of a dataset. It keeps a
 * pointer to the dataset, which must outlive it. */
typedef struct ptrag_baseline ptrag_baseline;

/* Errors (PTRAG_E_ARG, naming the split file): unknown kind, negative ridge,
 * no training perturbed condition, linear with one-hot features. */
int ptrag_baseline_fit(const ptrag_dataset *d, const ptrag_baseline_opts *o, ptrag_baseline **out,
                       ptrag_error *err);
void ptrag_baseline_free(ptrag_baseline *b);

/* delta (d->n_genes floats) for cell type `ct` and perturbation `pert`
 * (dataset codes); the control perturbation gives 0. */
int ptrag_baseline_delta(const ptrag_baseline *b, int ct, int pert, float *delta, ptrag_error *err);

/* pred (plan->n_cells x n_genes) for every cell of the plan. */
int ptrag_baseline_predict(const ptrag_baseline *b, const ptrag_pred_plan *plan, float *pred,
                           ptrag_error *err);

/* One line on what was fitted (training conditions, ridge, fallbacks). */
void ptrag_baseline_describe(const ptrag_baseline *b, char *buf, size_t n);

/* Writes the real cells of a plan (x[target_rows], obs names "real<i>"): the
 * file a prediction is scored against, row for row. */
int ptrag_plan_write_real(const ptrag_dataset *d, const ptrag_pred_plan *plan, const char *path,
                          ptrag_error *err);

/* The whole `ptrag baseline` command: fit, plan the test split with
 * (set_size, seed), predict, write pred_path (obs names "pred<i>") and, when
 * real_path is not NULL, the real cells. */
int ptrag_baseline_write(const ptrag_dataset *d, const ptrag_baseline_opts *o, int set_size, uint64_t seed,
                         const char *pred_path, const char *real_path, ptrag_error *err);

#endif
