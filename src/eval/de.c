/* Differential expression of one condition against its cell type's control
 * cells: per-gene Mann-Whitney U, BH FDR across genes, log2 fold change. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "ptrag/metrics.h"

struct ptrag_de_reference {
    long n, g;
    float *sorted;      /* g x n: column j of the controls, sorted ascending */
    double *mean;       /* g: control means */
};

void ptrag_de_options_default(ptrag_de_options *o) {
    o->fdr = 0.05;
    o->log1p_input = 1;
    o->lfc_eps = 1e-9;
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Copies column j of x (n x g) into col and sorts it. */
static void sorted_column(const float *x, long n, long g, long j, float *col) {
    for (long i = 0; i < n; i++) col[i] = x[i * g + j];
    qsort(col, (size_t)n, sizeof *col, cmp_float);
}

int ptrag_de_reference_new(const float *ctrl, long n, long g, ptrag_de_reference **out,
                           ptrag_error *err) {
    *out = NULL;
    if (n < 1 || g < 1)
        return ptrag_fail(err, PTRAG_E_ARG, "DE reference: control cells: need >= 1 cell and gene (got %ld x %ld)", n, g);
    ptrag_de_reference *r = calloc(1, sizeof *r);
    if (!r) return ptrag_fail(err, PTRAG_E_NOMEM, "DE reference: out of memory");
    r->n = n;
    r->g = g;
    r->sorted = malloc((size_t)n * (size_t)g * sizeof *r->sorted);
    r->mean = malloc((size_t)g * sizeof *r->mean);
    if (!r->sorted || !r->mean) {
        ptrag_de_reference_free(r);
        return ptrag_fail(err, PTRAG_E_NOMEM, "DE reference: out of memory for %ld x %ld controls", n, g);
    }
    ptrag_col_means(ctrl, n, g, r->mean);
#pragma omp parallel for schedule(dynamic, 16)
    for (long j = 0; j < g; j++) sorted_column(ctrl, n, g, j, r->sorted + j * n);
    *out = r;
    return 0;
}

void ptrag_de_reference_free(ptrag_de_reference *ref) {
    if (!ref) return;
    free(ref->sorted);
    free(ref->mean);
    free(ref);
}

void ptrag_de_result_free(ptrag_de_result *r) {
    if (!r) return;
    free(r->pvalue);
    free(r->fdr);
    free(r->log2fc);
    free(r->sig);
    free(r->ranked);
    memset(r, 0, sizeof *r);
}

/* log2 fold change of condition vs control means, pdex/cell-eval style: on
 * expm1 of the log1p means when the input is log1p data. Undefined ratios
 * (e.g. negative values) give 0, as cell-eval's fill_nan(0). */
static double log2_fold_change(double mean_cond, double mean_ctrl, const ptrag_de_options *opt) {
    double a = opt->log1p_input ? expm1(mean_cond) : mean_cond;
    double b = opt->log1p_input ? expm1(mean_ctrl) : mean_ctrl;
    double ratio = (a + opt->lfc_eps) / (b + opt->lfc_eps);
    double l = log2(ratio);
    return isfinite(l) ? l : 0.0;
}

typedef struct {
    double key;
    long idx;
} ranked_gene;

static int by_abs_lfc_desc(const void *a, const void *b) {
    const ranked_gene *x = a, *y = b;
    if (x->key > y->key) return -1;
    if (x->key < y->key) return 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

int ptrag_de_test(const ptrag_de_reference *ref, const float *x, long n,
                  const ptrag_de_options *opt, ptrag_de_result *out, ptrag_error *err) {
    memset(out, 0, sizeof *out);
    if (n < 1) return ptrag_fail(err, PTRAG_E_ARG, "DE test: condition cells: need >= 1 cell");
    long g = ref->g;
    out->g = g;
    out->pvalue = malloc((size_t)g * sizeof(double));
    out->fdr = malloc((size_t)g * sizeof(double));
    out->log2fc = malloc((size_t)g * sizeof(double));
    out->sig = calloc((size_t)g, 1);
    double *mean = malloc((size_t)g * sizeof(double));
    long *order = malloc((size_t)g * sizeof(long));
    int threads = omp_get_max_threads();
    float *cols = malloc((size_t)threads * (size_t)n * sizeof(float));
    if (!out->pvalue || !out->fdr || !out->log2fc || !out->sig || !mean || !order || !cols) {
        free(mean);
        free(order);
        free(cols);
        ptrag_de_result_free(out);
        return ptrag_fail(err, PTRAG_E_NOMEM, "DE test: out of memory for %ld cells x %ld genes", n, g);
    }
    ptrag_col_means(x, n, g, mean);

    /* Each gene is independent: the result does not depend on the schedule. */
#pragma omp parallel num_threads(threads)
    {
        float *col = cols + (size_t)omp_get_thread_num() * (size_t)n;
#pragma omp for schedule(dynamic, 16)
        for (long j = 0; j < g; j++) {
            sorted_column(x, n, g, j, col);
            out->pvalue[j] = ptrag_mann_whitney_sorted(col, n, ref->sorted + j * ref->n, ref->n, NULL);
            out->log2fc[j] = log2_fold_change(mean[j], ref->mean[j], opt);
        }
    }
    free(cols);
    free(mean);

    ptrag_bh_fdr(out->pvalue, g, out->fdr, order);
    free(order);

    long n_sig = 0;
    for (long j = 0; j < g; j++) {
        out->sig[j] = out->fdr[j] < opt->fdr;
        n_sig += out->sig[j];
    }
    out->n_sig = n_sig;
    ranked_gene *rk = malloc((size_t)(n_sig ? n_sig : 1) * sizeof *rk);
    out->ranked = malloc((size_t)(n_sig ? n_sig : 1) * sizeof(long));
    if (!rk || !out->ranked) {
        free(rk);
        ptrag_de_result_free(out);
        return ptrag_fail(err, PTRAG_E_NOMEM, "DE test: out of memory");
    }
    long k = 0;
    for (long j = 0; j < g; j++)
        if (out->sig[j]) rk[k++] = (ranked_gene){fabs(out->log2fc[j]), j};
    qsort(rk, (size_t)n_sig, sizeof *rk, by_abs_lfc_desc);
    for (long t = 0; t < n_sig; t++) out->ranked[t] = rk[t].idx;
    free(rk);
    return 0;
}
