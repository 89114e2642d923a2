/* Baselines as predictions: see include/ptrag/baselines.h and
 * docs/evaluation.md for the exact definitions. */
#include "ptrag/baselines.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas_serial.h"
#include "ptrag/h5ad.h"
#include "ptrag/knn.h"

/* LAPACK Cholesky solve exported by Debian's OpenBLAS; the trailing size_t is
 * gfortran's hidden string length. */
extern void dposv_(const char *uplo, const int *n, const int *nrhs, double *a, const int *lda, double *b,
                   const int *ldb, int *info, size_t uplo_len);

static const char *const kind_names[PTRAG_BASELINE_COUNT] = {
    "control", "pert-mean", "linear", "celleval-mean", "context-mean", "perturb-mean", "knn", "oracle"};

const char *ptrag_baseline_name(int kind) {
    return kind >= 0 && kind < PTRAG_BASELINE_COUNT ? kind_names[kind] : "?";
}

int ptrag_baseline_from_name(const char *name) {
    for (int k = 0; name && k < PTRAG_BASELINE_COUNT; k++)
        if (strcmp(name, kind_names[k]) == 0) return k;
    return -1;
}

const char *ptrag_baseline_names(void) {
    return "control|pert-mean|linear|celleval-mean|context-mean|perturb-mean|knn|oracle";
}

int ptrag_baseline_is_profile(int kind) {
    return kind == PTRAG_BASELINE_CELLEVAL_MEAN || kind == PTRAG_BASELINE_CONTEXT_MEAN;
}

void ptrag_baseline_opts_default(ptrag_baseline_opts *o) {
    o->kind = PTRAG_BASELINE_PERT_MEAN;
    o->ridge = 1.0;
    o->knn_k = 5;
    o->faithful = 0;
}

struct ptrag_baseline {
    const ptrag_dataset *d;
    int kind;
    long g;
    int clip;            /* expression has no negative value: clip predictions at 0 */
    int n_train;         /* training perturbed conditions */
    int n_fallback_ct;   /* cell types without one */
    int *train;          /* [n_train] their condition indices */
    double *shift;       /* [n_train * g] their shifts from their cell type's control mean */
    double *ctrl_mean;   /* [n_ct * g] control mean of each cell type (0 without controls) */
    double *intercept;   /* [n_ct * g] mean training shift of each cell type (fallback: pooled) */
    double *profile;     /* [n_ct * g] celleval-mean / context-mean profile */
    double *pert_offset; /* [n_perts * g] perturb-mean: shift of p averaged over cell types */
    int *pert_n;         /* [n_perts] cell types averaged */
    int knn_k;
    int faithful;        /* perturb-mean: zero offset for an unmeasured perturbation */
    ptrag_knn_index *knn; /* knn: training conditions' perturbation features */
    /* linear only */
    int e;               /* feature dimension */
    double *mean_e;      /* [n_ct * e] mean training feature of each cell type (fallback: pooled) */
    double *wt;          /* [g * e] ridge weights, transposed (row g holds W[:, g]) */
    double ridge, lambda, trace_scale;
};

void ptrag_baseline_free(ptrag_baseline *b) {
    if (!b) return;
    free(b->train);
    free(b->shift);
    free(b->ctrl_mean);
    free(b->intercept);
    free(b->profile);
    free(b->pert_offset);
    free(b->pert_n);
    ptrag_knn_free(b->knn);
    free(b->mean_e);
    free(b->wt);
    free(b);
}

/* Adds the resident rows' sum to out[g] (double). */
static void rows_sum(const ptrag_dataset *d, const long *rows, long n, double *out) {
    long g = d->n_genes;
    for (long i = 0; i < n; i++) {
        const float *x = ptrag_dataset_row(d, rows[i]);
        for (long j = 0; j < g; j++) out[j] += x[j];
    }
}

static void rows_mean(const ptrag_dataset *d, const long *rows, long n, double *out) {
    memset(out, 0, (size_t)d->n_genes * sizeof *out);
    rows_sum(d, rows, n, out);
    for (long j = 0; j < d->n_genes; j++) out[j] /= (double)n;
}

static int all_resident(const ptrag_dataset *d, const long *rows, long n) {
    for (long i = 0; i < n; i++)
        if (d->row_slot[rows[i]] < 0) return 0;
    return 1;
}

/* Ridge fit of the linear baseline: Xc (n x e) and Yc (n x g) are the
 * training features and shifts centred within their cell type; solves
 * (Xc^T Xc + lambda I) W = Xc^T Yc by Cholesky. */
static int fit_ridge(ptrag_baseline *b, const double *xc, const double *yc, int n, ptrag_error *err) {
    int e = b->e;
    long g = b->g;
    double *a = calloc((size_t)e * (size_t)e, sizeof *a);
    b->wt = calloc((size_t)g * (size_t)e, sizeof *b->wt);
    if (!a || !b->wt) {
        free(a);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: linear baseline: out of memory", b->d->split_path);
    }
    int prev = ptrag_blas_serial_begin();
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, e, e, n, 1.0, xc, e, xc, e, 0.0, a, e);
    double trace = 0;
    for (int i = 0; i < e; i++) trace += a[(size_t)i * e + i];
    b->trace_scale = trace / e;
    int rc = 0;
    if (trace <= 0) {
        /* No spread of features within cell types: nothing to learn, W = 0. */
        b->lambda = 0;
    } else {
        b->lambda = b->ridge * b->trace_scale;
        for (int i = 0; i < e; i++) a[(size_t)i * e + i] += b->lambda;
        /* wt (g x e row-major) = Yc^T Xc, i.e. Xc^T Yc in column-major layout:
         * the right-hand sides dposv expects, one column per gene. */
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)g, e, n, 1.0, yc, (int)g, xc, e, 0.0, b->wt, e);
        int info = 0, ng = (int)g;
        dposv_("U", &e, &ng, a, &e, b->wt, &e, &info, 1);
        if (info != 0)
            rc = ptrag_fail(err, PTRAG_E_NUMERIC,
                            "%s: linear baseline: ridge system not positive definite (LAPACK dposv info %d); "
                            "use a --ridge above 0",
                            b->d->split_path, info);
    }
    ptrag_blas_serial_end(prev);
    free(a);
    return rc;
}

/* The profiles of celleval-mean and context-mean for every cell type. */
static void fit_profiles(ptrag_baseline *b, const int *ct_n) {
    const ptrag_dataset *d = b->d;
    const ptrag_assignment *as = d->assign;
    long g = b->g;
    for (int ct = 0; ct < d->n_ct; ct++) {
        double *pf = b->profile + (size_t)ct * g;
        const double *cm = b->ctrl_mean + (size_t)ct * g;
        if (b->kind == PTRAG_BASELINE_CELLEVAL_MEAN) {
            /* Mean over groups (the control group and each training
             * perturbation) of the group means: mean(s(c)) + control mean. */
            const double *ic = b->intercept + (size_t)ct * g;
            int has_ctrl = as->ctrl[ct].n_rows > 0;
            int groups = ct_n[ct] + has_ctrl;
            for (long j = 0; j < g; j++)
                pf[j] = groups ? (ct_n[ct] * (ic[j] + cm[j]) + has_ctrl * cm[j]) / groups : 0.0;
        } else {
            /* All perturbed training cells of the cell type, cell-weighted. */
            long cells = 0;
            for (int t = 0; t < b->n_train; t++) {
                const ptrag_condition *cd = &as->conditions[b->train[t]];
                if (cd->ct != ct) continue;
                rows_sum(d, cd->rows, cd->n_rows, pf);
                cells += cd->n_rows;
            }
            for (long j = 0; j < g; j++) pf[j] = cells ? pf[j] / (double)cells : cm[j];
        }
    }
}

/* perturb-mean: each training perturbation's shift averaged over the cell
 * types where it is a training condition. */
static void fit_pert_offsets(ptrag_baseline *b) {
    const ptrag_assignment *as = b->d->assign;
    long g = b->g;
    for (int t = 0; t < b->n_train; t++) {
        int p = as->conditions[b->train[t]].pert;
        double *o = b->pert_offset + (size_t)p * g;
        for (long j = 0; j < g; j++) o[j] += b->shift[(size_t)t * g + j];
        b->pert_n[p]++;
    }
    for (int p = 0; p < b->d->n_perts; p++)
        for (long j = 0; b->pert_n[p] && j < g; j++) b->pert_offset[(size_t)p * g + j] /= b->pert_n[p];
}

static int fit_knn(ptrag_baseline *b, ptrag_error *err) {
    const ptrag_dataset *d = b->d;
    int e = d->feat_dim;
    float *f = malloc((size_t)b->n_train * (size_t)e * sizeof *f);
    if (!f) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: knn baseline: out of memory", d->split_path);
    for (int t = 0; t < b->n_train; t++)
        memcpy(f + (size_t)t * e, ptrag_dataset_pert_feature(d, d->assign->conditions[b->train[t]].pert),
               (size_t)e * sizeof *f);
    int rc = ptrag_knn_build(f, b->n_train, e, &b->knn, err);
    free(f);
    return rc;
}

int ptrag_baseline_fit(const ptrag_dataset *d, const ptrag_baseline_opts *o, ptrag_baseline **out,
                       ptrag_error *err) {
    *out = NULL;
    const char *split = d->split_path ? d->split_path : "split";
    if (o->kind < 0 || o->kind >= PTRAG_BASELINE_COUNT)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: baseline kind %d: expected %s", split, o->kind,
                          ptrag_baseline_names());
    if (!(o->ridge >= 0) || !isfinite(o->ridge))
        return ptrag_fail(err, PTRAG_E_ARG, "%s: linear baseline: --ridge must be a finite value >= 0, got %g",
                          split, o->ridge);
    if (o->knn_k < 1)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: knn baseline: --knn-k must be >= 1, got %d", split, o->knn_k);
    if ((o->kind == PTRAG_BASELINE_LINEAR || o->kind == PTRAG_BASELINE_KNN) && (d->onehot || !d->pert_feat))
        return ptrag_fail(err, PTRAG_E_ARG,
                          "%s: %s baseline: perturbation features are one-hot ids, so a held-out "
                          "perturbation has nothing to generalise from; give --embeddings FILE (or use "
                          "--kind pert-mean)",
                          split, ptrag_baseline_name(o->kind));
    if (!d->x && d->n_genes > 0)
        return ptrag_fail(err, PTRAG_E_STATE, "%s: baseline: the dataset was loaded without expression", split);

    const ptrag_assignment *as = d->assign;
    long g = d->n_genes;
    int n_ct = d->n_ct;
    ptrag_baseline *b = calloc(1, sizeof *b);
    if (!b) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: baseline: out of memory", split);
    b->d = d;
    b->kind = o->kind;
    b->g = g;
    b->ridge = o->ridge;
    b->knn_k = o->knn_k;
    b->faithful = o->faithful;
    b->clip = 1;
    for (size_t i = 0; i < (size_t)d->n_resident * (size_t)g && b->clip; i++) b->clip = d->x[i] >= 0;

    int rc = 0;
    size_t ctg = (size_t)n_ct * (size_t)g + 1;
    b->train = malloc((size_t)(as->n_conditions + 1) * sizeof *b->train);
    b->ctrl_mean = calloc(ctg, sizeof *b->ctrl_mean);
    unsigned char *has_ctrl = calloc((size_t)n_ct + 1, 1);
    int *ct_n = calloc((size_t)n_ct + 1, sizeof *ct_n);
    b->intercept = calloc(ctg, sizeof *b->intercept);
    b->profile = calloc(ctg, sizeof *b->profile);
    b->pert_offset = calloc((size_t)d->n_perts * (size_t)g + 1, sizeof *b->pert_offset);
    b->pert_n = calloc((size_t)d->n_perts + 1, sizeof *b->pert_n);
    double *pooled = calloc((size_t)g + 1, sizeof *pooled);
    if (!b->train || !b->ctrl_mean || !has_ctrl || !ct_n || !b->intercept || !b->profile || !b->pert_offset ||
        !b->pert_n || !pooled)
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: baseline: out of memory", split);

    /* Control means of every cell type that has resident controls. */
    for (int ct = 0; !rc && ct < n_ct; ct++) {
        const ptrag_control_pool *pool = &as->ctrl[ct];
        if (pool->n_rows < 1 || !all_resident(d, pool->rows, pool->n_rows)) continue;
        rows_mean(d, pool->rows, pool->n_rows, b->ctrl_mean + (size_t)ct * g);
        has_ctrl[ct] = 1;
    }
    /* Training perturbed conditions and their shifts from their control mean. */
    int n = 0;
    for (int c = 0; !rc && c < as->n_conditions; c++) {
        const ptrag_condition *cd = &as->conditions[c];
        if (cd->is_control || !(cd->splits & PTRAG_SPLIT_MASK(PTRAG_SPLIT_TRAIN)) || cd->n_rows < 1) continue;
        if (!has_ctrl[cd->ct] || !all_resident(d, cd->rows, cd->n_rows)) continue;
        b->train[n++] = c;
    }
    b->n_train = n;
    if (!rc && n == 0)
        rc = ptrag_fail(err, PTRAG_E_ARG, "%s: baseline: no training perturbed condition to fit on", split);
    if (!rc && !(b->shift = malloc((size_t)n * (size_t)g * sizeof *b->shift)))
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: baseline: out of memory", split);
    for (int t = 0; !rc && t < n; t++) {
        const ptrag_condition *cd = &as->conditions[b->train[t]];
        double *s = b->shift + (size_t)t * g;
        rows_mean(d, cd->rows, cd->n_rows, s);
        const double *cm = b->ctrl_mean + (size_t)cd->ct * g;
        for (long j = 0; j < g; j++) {
            s[j] -= cm[j];
            b->intercept[(size_t)cd->ct * g + j] += s[j];
            pooled[j] += s[j];
        }
        ct_n[cd->ct]++;
    }
    /* Per-cell-type mean shift; the pooled mean for cell types with none
     * (those are exactly the cell types no training condition belongs to, so
     * the pooled mean is the mean over the other cell types' conditions). */
    for (int ct = 0; !rc && ct < n_ct; ct++) {
        double *ic = b->intercept + (size_t)ct * g;
        if (ct_n[ct] == 0) b->n_fallback_ct += as->ctrl[ct].n_rows > 0;
        for (long j = 0; j < g; j++) ic[j] = ct_n[ct] ? ic[j] / ct_n[ct] : pooled[j] / n;
    }
    if (!rc && ptrag_baseline_is_profile(b->kind)) fit_profiles(b, ct_n);
    if (!rc && b->kind == PTRAG_BASELINE_PERTURB_MEAN) fit_pert_offsets(b);
    if (!rc && b->kind == PTRAG_BASELINE_KNN) rc = fit_knn(b, err);

    if (!rc && b->kind == PTRAG_BASELINE_LINEAR) {
        int e = b->e = d->feat_dim;
        double *xc = calloc((size_t)n * (size_t)e + 1, sizeof *xc);
        double *yc = malloc(((size_t)n * (size_t)g + 1) * sizeof *yc);
        double *pooled_e = calloc((size_t)e + 1, sizeof *pooled_e);
        b->mean_e = calloc((size_t)n_ct * (size_t)e + 1, sizeof *b->mean_e);
        if (!xc || !yc || !pooled_e || !b->mean_e)
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: baseline: out of memory", split);
        for (int t = 0; !rc && t < n; t++) {
            const ptrag_condition *cd = &as->conditions[b->train[t]];
            const float *f = ptrag_dataset_pert_feature(d, cd->pert);
            for (int k = 0; k < e; k++) {
                xc[(size_t)t * e + k] = f[k];
                b->mean_e[(size_t)cd->ct * e + k] += f[k];
                pooled_e[k] += f[k];
            }
        }
        for (int ct = 0; !rc && ct < n_ct; ct++)
            for (int k = 0; k < e; k++) {
                double *m = &b->mean_e[(size_t)ct * e + k];
                *m = ct_n[ct] ? *m / ct_n[ct] : pooled_e[k] / n;
            }
        /* Centre features and shifts within their cell type: the per-cell-type
         * intercepts are then unpenalised (fixed effects). */
        for (int t = 0; !rc && t < n; t++) {
            int ct = as->conditions[b->train[t]].ct;
            for (int k = 0; k < e; k++) xc[(size_t)t * e + k] -= b->mean_e[(size_t)ct * e + k];
            for (long j = 0; j < g; j++)
                yc[(size_t)t * g + j] = b->shift[(size_t)t * g + j] - b->intercept[(size_t)ct * g + j];
        }
        if (!rc) rc = fit_ridge(b, xc, yc, n, err);
        free(xc);
        free(yc);
        free(pooled_e);
    }
    free(has_ctrl);
    free(ct_n);
    free(pooled);
    if (rc) {
        ptrag_baseline_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* knn: mean shift of the K most similar training conditions, the cell
 * type's own first. */
static int knn_delta(const ptrag_baseline *b, int ct, int pert, double *out, ptrag_error *err) {
    const ptrag_dataset *d = b->d;
    long g = b->g;
    int n = b->n_train;
    long *idx = malloc((size_t)n * sizeof *idx);
    float *sim = malloc((size_t)n * sizeof *sim);
    int *pick = malloc((size_t)n * sizeof *pick);
    if (!idx || !sim || !pick) {
        free(idx);
        free(sim);
        free(pick);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: knn baseline: out of memory", d->split_path);
    }
    int rc = ptrag_knn_search(b->knn, ptrag_dataset_pert_feature(d, pert), 1, n, NULL, NULL, NULL, 0, idx, sim, err);
    int k = 0;
    for (int pass = 0; !rc && pass < 2 && k < b->knn_k; pass++)
        for (int i = 0; i < n && k < b->knn_k; i++) {
            if (idx[i] < 0) continue;
            int same = d->assign->conditions[b->train[idx[i]]].ct == ct;
            if (same == (pass == 0)) pick[k++] = (int)idx[i];
        }
    memset(out, 0, (size_t)g * sizeof *out);
    for (int i = 0; !rc && i < k; i++)
        for (long j = 0; j < g; j++) out[j] += b->shift[(size_t)pick[i] * g + j] / k;
    free(idx);
    free(sim);
    free(pick);
    return rc;
}

/* oracle: the held-out condition's own mean shift. */
static int oracle_delta(const ptrag_baseline *b, int ct, int pert, double *out, ptrag_error *err) {
    const ptrag_dataset *d = b->d;
    const ptrag_assignment *as = d->assign;
    for (int c = 0; c < as->n_conditions; c++) {
        const ptrag_condition *cd = &as->conditions[c];
        if (cd->ct != ct || cd->pert != pert || cd->n_rows < 1) continue;
        if (!all_resident(d, cd->rows, cd->n_rows)) break;
        rows_mean(d, cd->rows, cd->n_rows, out);
        for (long j = 0; j < b->g; j++) out[j] -= b->ctrl_mean[(size_t)ct * b->g + j];
        return 0;
    }
    return ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: oracle: no resident cells of cell type '%s', perturbation '%s'",
                      d->split_path, d->ct_names[ct], d->pert_names[pert]);
}

int ptrag_baseline_delta(const ptrag_baseline *b, int ct, int pert, float *delta, ptrag_error *err) {
    const ptrag_dataset *d = b->d;
    long g = b->g;
    if (ct < 0 || ct >= d->n_ct || pert < 0 || pert >= d->n_perts)
        return ptrag_fail(err, PTRAG_E_ARG, "%s: baseline: cell type %d / perturbation %d out of range",
                          d->split_path, ct, pert);
    if (b->kind == PTRAG_BASELINE_CONTROL || pert == d->control_code) {
        memset(delta, 0, (size_t)g * sizeof *delta);
        return 0;
    }
    const double *ic = b->intercept + (size_t)ct * g;
    if (ptrag_baseline_is_profile(b->kind)) {
        for (long j = 0; j < g; j++)
            delta[j] = (float)(b->profile[(size_t)ct * g + j] - b->ctrl_mean[(size_t)ct * g + j]);
        return 0;
    }
    if (b->kind == PTRAG_BASELINE_PERTURB_MEAN) {
        const double *src = b->pert_n[pert] ? b->pert_offset + (size_t)pert * g : ic;
        for (long j = 0; j < g; j++) delta[j] = b->pert_n[pert] || !b->faithful ? (float)src[j] : 0.0f;
        return 0;
    }
    if (b->kind == PTRAG_BASELINE_PERT_MEAN || (b->kind == PTRAG_BASELINE_LINEAR && !b->wt)) {
        for (long j = 0; j < g; j++) delta[j] = (float)ic[j];
        return 0;
    }
    int e = b->e;
    double *v = malloc((size_t)(e ? e : 1) * sizeof *v), *out = malloc((size_t)(g ? g : 1) * sizeof *out);
    if (!v || !out) {
        free(v);
        free(out);
        return ptrag_fail(err, PTRAG_E_NOMEM, "%s: baseline: out of memory", d->split_path);
    }
    int rc = 0;
    if (b->kind == PTRAG_BASELINE_KNN) {
        rc = knn_delta(b, ct, pert, out, err);
    } else if (b->kind == PTRAG_BASELINE_ORACLE) {
        rc = oracle_delta(b, ct, pert, out, err);
    } else {
        const float *f = ptrag_dataset_pert_feature(d, pert);
        for (int k = 0; k < e; k++) v[k] = f[k] - b->mean_e[(size_t)ct * e + k];
        memcpy(out, ic, (size_t)g * sizeof *out);
        int prev = ptrag_blas_serial_begin();
        cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)g, e, 1.0, b->wt, e, v, 1, 1.0, out, 1);
        ptrag_blas_serial_end(prev);
    }
    for (long j = 0; !rc && j < g; j++) delta[j] = (float)out[j];
    free(v);
    free(out);
    return rc;
}

static int resident_row(const ptrag_dataset *d, long row, const char *what, ptrag_error *err) {
    if (row < 0 || d->row_slot[row] < 0)
        return ptrag_fail(err, PTRAG_E_STATE, "%s: baseline: %s row %ld is not resident", d->split_path, what, row);
    return 0;
}

int ptrag_baseline_predict(const ptrag_baseline *b, const ptrag_pred_plan *plan, float *pred,
                           ptrag_error *err) {
    const ptrag_dataset *d = b->d;
    long g = b->g;
    int profile = ptrag_baseline_is_profile(b->kind);
    float *delta = malloc((size_t)(g ? g : 1) * sizeof *delta);
    if (!delta) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: baseline: out of memory", d->split_path);
    int rc = 0;
    for (long s = 0; !rc && s < plan->n_sets; s++) {
        int ct = plan->set_ct[s];
        if (profile) {
            /* Real control cells for the control sets, the constant profile
             * for every cell of a perturbed condition. */
            for (long i = plan->set_start[s]; !rc && i < plan->set_start[s + 1]; i++) {
                float *p = pred + (size_t)i * g;
                if (plan->set_is_control[s]) {
                    if (!(rc = resident_row(d, plan->target_rows[i], "real control", err)))
                        memcpy(p, ptrag_dataset_row(d, plan->target_rows[i]), (size_t)g * sizeof *p);
                } else {
                    for (long j = 0; j < g; j++) p[j] = (float)b->profile[(size_t)ct * g + j];
                }
            }
            continue;
        }
        if (plan->set_is_control[s])
            memset(delta, 0, (size_t)g * sizeof *delta);
        else if ((rc = ptrag_baseline_delta(b, ct, plan->set_pert[s], delta, err)))
            break;
        for (long i = plan->set_start[s]; !rc && i < plan->set_start[s + 1]; i++) {
            long row = plan->control_rows[i];
            if ((rc = resident_row(d, row, "paired control", err))) break;
            const float *x = ptrag_dataset_row(d, row);
            float *p = pred + (size_t)i * g;
            for (long j = 0; j < g; j++) {
                float v = x[j] + delta[j];
                p[j] = b->clip && v < 0 ? 0.0f : v;
            }
        }
    }
    free(delta);
    return rc;
}

void ptrag_baseline_describe(const ptrag_baseline *b, char *buf, size_t n) {
    int w = snprintf(buf, n, "%s baseline: %d training condition(s)", ptrag_baseline_name(b->kind), b->n_train);
    if (w < 0 || (size_t)w >= n) return;
    if (b->kind == PTRAG_BASELINE_LINEAR)
        w += snprintf(buf + w, n - (size_t)w, ", %d-d features, ridge %g x %.4g = lambda %.4g", b->e, b->ridge,
                      b->trace_scale, b->lambda);
    if (b->kind == PTRAG_BASELINE_KNN && w >= 0 && (size_t)w < n)
        w += snprintf(buf + w, n - (size_t)w, ", K = %d", b->knn_k);
    if (w < 0 || (size_t)w >= n) return;
    if (b->kind != PTRAG_BASELINE_CONTROL && b->kind != PTRAG_BASELINE_ORACLE && b->n_fallback_ct)
        snprintf(buf + w, n - (size_t)w, "; %d cell type(s) without a training perturbation use the %s",
                 b->n_fallback_ct, ptrag_baseline_is_profile(b->kind) ? "control mean" : "pooled mean shift");
}

int ptrag_plan_write_real(const ptrag_dataset *d, const ptrag_pred_plan *plan, const char *path,
                          ptrag_error *err) {
    size_t cells = (size_t)plan->n_real * (size_t)d->n_genes;
    float *x = malloc((cells ? cells : 1) * sizeof *x);
    if (!x) return ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory for %ld real cells", path, plan->n_real);
    ptrag_dataset_gather(d, plan->real_rows, plan->n_real, x);
    int rc = ptrag_dataset_write_cells(d, path, plan->real_rows, plan->n_real, x, "real", err);
    free(x);
    return rc;
}

int ptrag_pert_reference_write(const ptrag_dataset *d, const char *path, ptrag_error *err) {
    ptrag_baseline_opts o;
    ptrag_baseline_opts_default(&o);
    o.kind = PTRAG_BASELINE_CONTEXT_MEAN;
    ptrag_baseline *b = NULL;
    int rc = ptrag_baseline_fit(d, &o, &b, err);
    if (rc) return ptrag_error_prefix(err, "%s: pert reference", path);
    long g = d->n_genes;
    int *has = calloc((size_t)d->n_ct + 1, sizeof *has), n = 0;
    float *x = malloc(((size_t)d->n_ct * (size_t)g + 1) * sizeof *x);
    const char **labels = calloc((size_t)d->n_ct + 1, sizeof *labels);
    char(*names)[32] = calloc((size_t)d->n_ct + 1, sizeof *names);
    const char **name_ptrs = calloc((size_t)d->n_ct + 1, sizeof *name_ptrs);
    if (!has || !x || !labels || !names || !name_ptrs) rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
    for (int t = 0; !rc && t < b->n_train; t++) has[d->assign->conditions[b->train[t]].ct] = 1;
    for (int ct = 0; !rc && ct < d->n_ct; ct++) {
        if (!has[ct]) continue;
        for (long j = 0; j < g; j++) x[(size_t)n * g + j] = (float)b->profile[(size_t)ct * g + j];
        labels[n] = d->ct_names[ct];
        snprintf(names[n], sizeof names[n], "pert_ref%d", n);
        name_ptrs[n] = names[n];
        n++;
    }
    ptrag_h5ad_writer *w = NULL;
    if (!rc) rc = ptrag_h5ad_writer_new(path, n, g, &w, err);
    if (!rc) rc = ptrag_h5ad_writer_set_x(w, x, 0, err);
    if (!rc) rc = ptrag_h5ad_writer_set_var_names(w, (const char *const *)d->gene_names, err);
    if (!rc) rc = ptrag_h5ad_writer_set_obs_names(w, name_ptrs, err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_categorical(w, d->celltype_col ? d->celltype_col : "cell_type", labels, err);
    if (!rc) rc = ptrag_h5ad_writer_commit(w, err);
    ptrag_h5ad_writer_free(w);
    free(has);
    free(x);
    free(labels);
    free(names);
    free(name_ptrs);
    ptrag_baseline_free(b);
    return rc;
}

int ptrag_baseline_write(const ptrag_dataset *d, const ptrag_baseline_opts *o, const ptrag_pred_plan_opts *po,
                         const char *pred_path, const char *real_path, ptrag_error *err) {
    ptrag_baseline *b = NULL;
    ptrag_pred_plan plan;
    memset(&plan, 0, sizeof plan);
    float *pred = NULL;
    int rc = ptrag_baseline_fit(d, o, &b, err);
    if (!rc) rc = ptrag_pred_plan_build(d, po, &plan, err);
    if (!rc) {
        size_t cells = (size_t)plan.n_cells * (size_t)d->n_genes;
        if (!(pred = malloc((cells ? cells : 1) * sizeof *pred)))
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory for %ld predicted cells", pred_path,
                            plan.n_cells);
    }
    if (!rc) rc = ptrag_baseline_predict(b, &plan, pred, err);
    if (!rc) rc = ptrag_dataset_write_predicted(d, pred_path, plan.target_rows, plan.control_rows, plan.n_cells, pred, err);
    if (!rc && real_path) rc = ptrag_plan_write_real(d, &plan, real_path, err);
    free(pred);
    ptrag_pred_plan_free(&plan);
    ptrag_baseline_free(b);
    return rc;
}
