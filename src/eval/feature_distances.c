/* GGE's per-feature distribution distances: each column (gene or principal
 * component) compared on its own, then averaged over columns. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include <omp.h>

#include "ptrag/metrics.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void sorted_column(const float *x, long n, long d, long c, double *col) {
    for (long i = 0; i < n; i++) col[i] = x[i * d + c];
    qsort(col, (size_t)n, sizeof *col, cmp_double);
}

/* nanmean of one field over the columns. */
static double nanmean(const ptrag_dist_scores *s, long d, size_t offset) {
    double sum = 0;
    long k = 0;
    for (long c = 0; c < d; c++) {
        double v = *(const double *)((const char *)&s[c] + offset);
        if (!isnan(v)) {
            sum += v;
            k++;
        }
    }
    return k ? sum / (double)k : NAN;
}

int ptrag_feature_distances(const float *x, long n, const float *y, long m, long d,
                            ptrag_dist_scores *mean, ptrag_dist_scores *per_feature,
                            ptrag_error *err) {
    mean->w1 = mean->w2 = mean->mmd = mean->energy = NAN;
    if (n < 1 || m < 1 || d < 1)
        return ptrag_fail(err, PTRAG_E_ARG, "feature distances: need >= 1 row per side and >= 1 column (got %ld, %ld, %ld)", n, m, d);
    int threads = omp_get_max_threads();
    size_t per_thread = (size_t)(2 * (n + m));
    double *scratch = malloc((size_t)threads * per_thread * sizeof *scratch);
    ptrag_dist_scores *pf = per_feature ? per_feature : malloc((size_t)d * sizeof *pf);
    if (!scratch || !pf) {
        free(scratch);
        if (pf != per_feature) free(pf);
        return ptrag_fail(err, PTRAG_E_NOMEM, "feature distances: out of memory for %ld columns", d);
    }
    /* One column per iteration, written to its own slot: schedule-independent. */
#pragma omp parallel num_threads(threads)
    {
        double *xs = scratch + (size_t)omp_get_thread_num() * per_thread;
        double *ys = xs + n, *pooled = ys + m;
#pragma omp for schedule(dynamic, 1)
        for (long c = 0; c < d; c++) {
            sorted_column(x, n, d, c, xs);
            sorted_column(y, m, d, c, ys);
            pf[c].w1 = ptrag_w1_sorted(xs, n, ys, m);
            pf[c].w2 = ptrag_w2_sorted(xs, n, ys, m);
            pf[c].energy = ptrag_energy_1d_sorted(xs, n, ys, m);
            pf[c].mmd = ptrag_mmd_rbf_1d(xs, n, ys, m, pooled, NULL);
        }
    }
    mean->w1 = nanmean(pf, d, offsetof(ptrag_dist_scores, w1));
    mean->w2 = nanmean(pf, d, offsetof(ptrag_dist_scores, w2));
    mean->mmd = nanmean(pf, d, offsetof(ptrag_dist_scores, mmd));
    mean->energy = nanmean(pf, d, offsetof(ptrag_dist_scores, energy));
    free(scratch);
    if (pf != per_feature) free(pf);
    return 0;
}
