/* Baselines written as predictions: each predicts the cells of a prediction
 * plan (include/ptrag/pred_plan.h) exactly as `ptrag predict` does, so the
 * same `ptrag eval` code scores them. Two shapes (docs/evaluation.md):
 *
 * Shift baselines predict a per-condition expression shift delta(ct, p) and
 * move each plan cell's input control cell by it:
 *
 *     pred_i = max(0, x[control_rows[i]] + delta(ct_i, p_i))
 *
 * (the clip only when the expression has no negative value, as log1p data;
 * control sets of the plan get delta = 0):
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
 *               it equals pert-mean. Needs embeddings (not one-hot);
 *  - perturb-mean: STATE's PerturbMean: the shift of perturbation p averaged
 *               over the cell types where (ct', p) is a training condition;
 *               pert-mean's delta when p has none (opts.faithful: 0, as
 *               STATE's code);
 *  - knn:       mean training shift of the K training conditions whose
 *               perturbation embedding is most cosine-similar to e_p: the
 *               cell type's own first, then (when it has fewer than K) the
 *               other cell types' ones. Needs embeddings;
 *  - oracle:    NOT a baseline: the true shift of the held-out condition
 *               (mean of its real cells - control mean). It reads the cells
 *               being predicted and measures what the protocol (pairing,
 *               clipping) costs a perfect mean-shift predictor.
 *
 * Profile baselines predict one constant expression profile per perturbed
 * condition for every one of its cells, and the real control cells
 * themselves (x[target_rows]) for the plan's control sets:
 *  - celleval-mean: cell-eval's baseline (`_baseline.py`): the mean of the
 *               per-perturbation mean profiles of the cell type's training
 *               cells, the control group included as one of the groups;
 *  - context-mean: STATE's ContextMean: the mean profile of all perturbed
 *               training cells of the cell type (cell-weighted); a cell type
 *               without any uses its control mean, as STATE does. */
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
    PTRAG_BASELINE_CELLEVAL_MEAN = 3,
    PTRAG_BASELINE_CONTEXT_MEAN = 4,
    PTRAG_BASELINE_PERTURB_MEAN = 5,
    PTRAG_BASELINE_KNN = 6,
    PTRAG_BASELINE_ORACLE = 7,
    PTRAG_BASELINE_COUNT
} ptrag_baseline_kind;

/* "control", "pert-mean", "linear", "celleval-mean", "context-mean",
 * "perturb-mean", "knn", "oracle" (or "?"). */
const char *ptrag_baseline_name(int kind);
/* Kind of a name, or -1. */
int ptrag_baseline_from_name(const char *name);
/* The names joined by '|' (for help and error messages). */
const char *ptrag_baseline_names(void);
/* 1 for celleval-mean and context-mean (a constant profile per condition). */
int ptrag_baseline_is_profile(int kind);

typedef struct ptrag_baseline_opts {
    int kind;     /* ptrag_baseline_kind */
    double ridge; /* linear: lambda in units of trace(Xc^T Xc) / E (default 1.0); >= 0 */
    int knn_k;    /* knn: neighbours (default 5); >= 1 */
    int faithful; /* perturb-mean: a perturbation measured in no training cell type
                     gets a zero offset, as STATE's code (default 0: pert-mean's delta) */
} ptrag_baseline_opts;

void ptrag_baseline_opts_default(ptrag_baseline_opts *o);

/* A baseline fitted on the training conditions of a dataset. It keeps a
 * pointer to the dataset, which must outlive it. */
typedef struct ptrag_baseline ptrag_baseline;

/* Errors (PTRAG_E_ARG, naming the split file): unknown kind, negative ridge,
 * knn_k < 1, no training perturbed condition, linear or knn with one-hot
 * features. */
int ptrag_baseline_fit(const ptrag_dataset *d, const ptrag_baseline_opts *o, ptrag_baseline **out,
                       ptrag_error *err);
void ptrag_baseline_free(ptrag_baseline *b);

/* delta (d->n_genes floats) for cell type `ct` and perturbation `pert`
 * (dataset codes); the control perturbation gives 0. For a profile baseline
 * it is the profile minus the cell type's control mean. */
int ptrag_baseline_delta(const ptrag_baseline *b, int ct, int pert, float *delta, ptrag_error *err);

/* pred (plan->n_cells x n_genes) for every cell of the plan. */
int ptrag_baseline_predict(const ptrag_baseline *b, const ptrag_pred_plan *plan, float *pred,
                           ptrag_error *err);

/* One line on what was fitted (training conditions, ridge, fallbacks). */
void ptrag_baseline_describe(const ptrag_baseline *b, char *buf, size_t n);

/* Writes the real cells of a plan (x[real_rows], obs names "real<i>"): the
 * file a prediction is scored against. */
int ptrag_plan_write_real(const ptrag_dataset *d, const ptrag_pred_plan *plan, const char *path,
                          ptrag_error *err);

/* Writes the reference profile of pearson_delta_pert (docs/metrics.md): one
 * row per cell type that has training perturbed cells, the mean of all of
 * them (cell-weighted), obs[celltype_col] = the cell type, obs names
 * "pert_ref<i>". `ptrag eval --pert-ref FILE` reads it. */
int ptrag_pert_reference_write(const ptrag_dataset *d, const char *path, ptrag_error *err);

/* The whole `ptrag baseline` command: fit, plan the split of `plan`,
 * predict, write pred_path (obs names "pred<i>") and, when real_path is not
 * NULL, the real cells. */
int ptrag_baseline_write(const ptrag_dataset *d, const ptrag_baseline_opts *o, const ptrag_pred_plan_opts *plan,
                         const char *pred_path, const char *real_path, ptrag_error *err);

#endif
