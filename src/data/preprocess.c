/* Raw-count detection, normalisation and Seurat-v3 highly-variable genes on
 * dense row blocks: see include/ptrag/preprocess.h. */
#include "ptrag/preprocess.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ptrag_looks_like_counts(const float *x, long nrows, long ncols, long *bad_row, long *bad_col) {
    for (long i = 0; i < nrows; i++)
        for (long j = 0; j < ncols; j++) {
            float v = x[i * ncols + j];
            if (!isfinite(v) || v < 0.0f || v != floorf(v)) {
                if (bad_row) *bad_row = i;
                if (bad_col) *bad_col = j;
                return 0;
            }
        }
    if (bad_row) *bad_row = -1;
    if (bad_col) *bad_col = -1;
    return 1;
}

long ptrag_sample_rows(long n_obs, long n, long *rows) {
    if (n_obs <= 0 || n <= 0) return 0;
    if (n >= n_obs) {
        for (long i = 0; i < n_obs; i++) rows[i] = i;
        return n_obs;
    }
    for (long i = 0; i < n; i++)
        rows[i] = (long)(((unsigned long long)i * (unsigned long long)n_obs) / (unsigned long long)n);
    return n;
}

int ptrag_normalize_log1p(float *x, long nrows, long ncols, double target_sum, ptrag_error *err) {
    if (!(target_sum > 0.0) || !isfinite(target_sum))
        return ptrag_fail(err, PTRAG_E_ARG, "normalize: target sum must be > 0 (got %g)", target_sum);
    for (long i = 0; i < nrows; i++) {
        float *row = x + i * ncols;
        double total = 0.0;
        for (long j = 0; j < ncols; j++) {
            if (!isfinite(row[j]) || row[j] < 0.0f)
                return ptrag_fail(err, PTRAG_E_NUMERIC,
                                  "normalize: row %ld, column %ld: value %g is not a count "
                                  "(negative or not finite)",
                                  i, j, (double)row[j]);
            total += row[j];
        }
        if (total == 0.0) continue;
        double scale = target_sum / total;
        for (long j = 0; j < ncols; j++) row[j] = (float)log1p((double)row[j] * scale);
    }
    return 0;
}

/* ---- local regression ---- */

/* qsort has no context argument in C17: sort (value, index) pairs instead. */
typedef struct {
    double v;
    long i;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    const keyed *p = a, *q = b;
    if (p->v < q->v) return -1;
    if (p->v > q->v) return 1;
    return (p->i > q->i) - (p->i < q->i);
}

/* Solves the weighted least-squares normal equations of a polynomial in u of
 * `degree` (1 or 2) and returns the intercept; falls back to lower degrees
 * when the system is (nearly) singular. */
static double local_poly(const double s[5], const double t[3], int degree) {
    for (int d = degree; d >= 1; d--) {
        int m = d + 1;
        double a[3][4];
        for (int r = 0; r < m; r++) {
            for (int c = 0; c < m; c++) a[r][c] = s[r + c];
            a[r][m] = t[r];
        }
        int ok = 1;
        for (int c = 0; c < m && ok; c++) {
            int piv = c;
            for (int r = c + 1; r < m; r++)
                if (fabs(a[r][c]) > fabs(a[piv][c])) piv = r;
            if (fabs(a[piv][c]) <= 1e-12 * (fabs(s[0]) + 1e-300)) {
                ok = 0;
                break;
            }
            if (piv != c)
                for (int k = 0; k <= m; k++) {
                    double tmp = a[c][k];
                    a[c][k] = a[piv][k];
                    a[piv][k] = tmp;
                }
            for (int r = 0; r < m; r++) {
                if (r == c) continue;
                double f = a[r][c] / a[c][c];
                for (int k = c; k <= m; k++) a[r][k] -= f * a[c][k];
            }
        }
        if (ok) return a[0][m] / a[0][0];
    }
    return t[0] / s[0];
}

int ptrag_loess_fit(const double *x, const double *y, long n, double span, int degree,
                    double *fit, ptrag_error *err) {
    if (n < 2 || !(span > 0.0) || span > 1.0 || degree < 1 || degree > 2)
        return ptrag_fail(err, PTRAG_E_ARG,
                          "loess: needs n >= 2 points, 0 < span <= 1 and degree 1 or 2 (got n=%ld, "
                          "span=%g, degree=%d)",
                          n, span, degree);
    long q = (long)floor((double)n * span);
    if (q < degree + 1) q = degree + 1;
    if (q > n) q = n;
    keyed *k = malloc((size_t)n * sizeof *k);
    long *lo = malloc((size_t)n * sizeof *lo);
    if (!k || !lo) {
        free(k);
        free(lo);
        return ptrag_fail(err, PTRAG_E_NOMEM, "loess: out of memory");
    }
    for (long i = 0; i < n; i++) {
        if (!isfinite(x[i]) || !isfinite(y[i])) {
            free(k);
            free(lo);
            return ptrag_fail(err, PTRAG_E_NUMERIC, "loess: point %ld is not finite", i);
        }
        k[i].v = x[i];
        k[i].i = i;
    }
    qsort(k, (size_t)n, sizeof *k, cmp_keyed);
    /* the q nearest neighbours of a sorted point form a window [lo, lo+q)
     * that only moves right as the point does */
    long w = 0;
    for (long i = 0; i < n; i++) {
        while (w + q < n && k[w + q].v - k[i].v < k[i].v - k[w].v) w++;
        lo[i] = w;
    }
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        double x0 = k[i].v;
        long a = lo[i], b = lo[i] + q;
        double h = fmax(x0 - k[a].v, k[b - 1].v - x0);
        double s[5] = {0}, t[3] = {0};
        if (h <= 0.0) {
            /* the q nearest all sit at x0: the fit is the mean over every
             * point tied at x0 (a contiguous run of the sorted order) */
            long j0 = i, j1 = i;
            while (j0 > 0 && k[j0 - 1].v == x0) j0--;
            while (j1 + 1 < n && k[j1 + 1].v == x0) j1++;
            for (long j = j0; j <= j1; j++) {
                s[0] += 1.0;
                t[0] += y[k[j].i];
            }
            fit[k[i].i] = t[0] / s[0];
            continue;
        }
        for (long j = a; j < b; j++) {
            double u = (k[j].v - x0) / h, d = fabs(u);
            if (d >= 1.0) continue;
            double c = 1.0 - d * d * d, wt = c * c * c, yy = y[k[j].i];
            double u2 = u * u;
            s[0] += wt;
            s[1] += wt * u;
            s[2] += wt * u2;
            s[3] += wt * u2 * u;
            s[4] += wt * u2 * u2;
            t[0] += wt * yy;
            t[1] += wt * u * yy;
            t[2] += wt * u2 * yy;
        }
        fit[k[i].i] = local_poly(s, t, degree);
    }
    free(k);
    free(lo);
    return 0;
}

/* ---- highly variable genes ---- */

struct ptrag_hvg {
    long g;
    int pass;          /* 1 or 2; 3 once finished */
    long n1, n2;       /* rows seen in each pass */
    double *mean, *m2; /* pass 1 running mean and sum of squared deviations */
    double *bmean, *bm2; /* block scratch */
    double *var, *fit, *sd, *clip;
    double *sum, *sumsq; /* pass 2 */
    double *score;
    int have_stats, have_scores;
};

void ptrag_hvg_free(ptrag_hvg *h) {
    if (!h) return;
    free(h->mean);
    free(h->m2);
    free(h->bmean);
    free(h->bm2);
    free(h->var);
    free(h->fit);
    free(h->sd);
    free(h->clip);
    free(h->sum);
    free(h->sumsq);
    free(h->score);
    free(h);
}

int ptrag_hvg_new(long n_genes, ptrag_hvg **out, ptrag_error *err) {
    *out = NULL;
    if (n_genes < 2) return ptrag_fail(err, PTRAG_E_ARG, "hvg: needs at least 2 genes (got %ld)", n_genes);
    ptrag_hvg *h = calloc(1, sizeof *h);
    if (!h) return ptrag_fail(err, PTRAG_E_NOMEM, "hvg: out of memory");
    h->g = n_genes;
    h->pass = 1;
    size_t n = (size_t)n_genes;
    double **arrays[] = {&h->mean, &h->m2, &h->bmean, &h->bm2, &h->var, &h->fit,
                         &h->sd, &h->clip, &h->sum, &h->sumsq, &h->score};
    for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++) {
        *arrays[i] = calloc(n, sizeof(double));
        if (!*arrays[i]) {
            ptrag_hvg_free(h);
            return ptrag_fail(err, PTRAG_E_NOMEM, "hvg: out of memory");
        }
    }
    *out = h;
    return 0;
}

static int check_block(const float *x, long nrows, long g, long row0, ptrag_error *err) {
    for (long i = 0; i < nrows; i++)
        for (long j = 0; j < g; j++) {
            float v = x[i * g + j];
            if (!isfinite(v) || v < 0.0f)
                return ptrag_fail(err, PTRAG_E_NUMERIC,
                                  "hvg: row %ld, gene %ld: value %g is not a count (negative or "
                                  "not finite)",
                                  row0 + i, j, (double)v);
        }
    return 0;
}

int ptrag_hvg_add_block(ptrag_hvg *h, const float *x, long nrows, ptrag_error *err) {
    long g = h->g;
    if (nrows <= 0) return 0;
    if (h->pass == 3) return ptrag_fail(err, PTRAG_E_STATE, "hvg: already finished");
    int rc = check_block(x, nrows, g, h->pass == 1 ? h->n1 : h->n2, err);
    if (rc) return rc;
    if (h->pass == 1) {
        /* block mean and M2, then Chan's merge into the running values */
        memset(h->bmean, 0, (size_t)g * sizeof(double));
        memset(h->bm2, 0, (size_t)g * sizeof(double));
        for (long i = 0; i < nrows; i++)
            for (long j = 0; j < g; j++) h->bmean[j] += x[i * g + j];
        for (long j = 0; j < g; j++) h->bmean[j] /= (double)nrows;
        for (long i = 0; i < nrows; i++)
            for (long j = 0; j < g; j++) {
                double d = x[i * g + j] - h->bmean[j];
                h->bm2[j] += d * d;
            }
        double na = (double)h->n1, nb = (double)nrows, nt = na + nb;
        for (long j = 0; j < g; j++) {
            double delta = h->bmean[j] - h->mean[j];
            h->mean[j] += delta * nb / nt;
            h->m2[j] += h->bm2[j] + delta * delta * na * nb / nt;
        }
        h->n1 += nrows;
    } else {
        for (long i = 0; i < nrows; i++)
            for (long j = 0; j < g; j++) {
                double v = x[i * g + j];
                if (v > h->clip[j]) v = h->clip[j];
                h->sum[j] += v;
                h->sumsq[j] += v * v;
            }
        h->n2 += nrows;
    }
    return 0;
}

int ptrag_hvg_next_pass(ptrag_hvg *h, ptrag_error *err) {
    if (h->pass != 1) return ptrag_fail(err, PTRAG_E_STATE, "hvg: next_pass called twice");
    if (h->n1 < 2) return ptrag_fail(err, PTRAG_E_ARG, "hvg: needs at least 2 cells (got %ld)", h->n1);
    long g = h->g, m = 0;
    for (long j = 0; j < g; j++) {
        h->var[j] = h->m2[j] / (double)(h->n1 - 1);
        if (h->var[j] > 0.0) m++;
    }
    if (m < 2)
        return ptrag_fail(err, PTRAG_E_ARG, "hvg: needs at least 2 genes with non-zero variance (got %ld)", m);
    double *lx = malloc((size_t)m * sizeof *lx), *ly = malloc((size_t)m * sizeof *ly);
    double *lf = malloc((size_t)m * sizeof *lf);
    if (!lx || !ly || !lf) {
        free(lx);
        free(ly);
        free(lf);
        return ptrag_fail(err, PTRAG_E_NOMEM, "hvg: out of memory");
    }
    m = 0;
    for (long j = 0; j < g; j++)
        if (h->var[j] > 0.0) {
            lx[m] = log10(h->mean[j]);
            ly[m] = log10(h->var[j]);
            m++;
        }
    int rc = ptrag_loess_fit(lx, ly, m, 0.3, 2, lf, err);
    if (!rc) {
        m = 0;
        double sqrt_n = sqrt((double)h->n1);
        for (long j = 0; j < g; j++) {
            h->fit[j] = h->var[j] > 0.0 ? lf[m++] : 0.0;
            h->sd[j] = sqrt(pow(10.0, h->fit[j]));
            h->clip[j] = h->mean[j] + h->sd[j] * sqrt_n;
        }
        h->pass = 2;
        h->have_stats = 1;
    }
    free(lx);
    free(ly);
    free(lf);
    return rc;
}

static int cmp_long(const void *a, const void *b) {
    long i = *(const long *)a, j = *(const long *)b;
    return (i > j) - (i < j);
}

int ptrag_hvg_finish(ptrag_hvg *h, long n_top, long *genes, ptrag_error *err) {
    if (h->pass != 2) return ptrag_fail(err, PTRAG_E_STATE, "hvg: finish needs pass 2 (call next_pass first)");
    if (h->n2 != h->n1)
        return ptrag_fail(err, PTRAG_E_STATE, "hvg: pass 2 saw %ld rows, pass 1 saw %ld", h->n2, h->n1);
    if (n_top < 1 || n_top > h->g)
        return ptrag_fail(err, PTRAG_E_ARG, "hvg: asked for %ld genes out of %ld", n_top, h->g);
    double n = (double)h->n1;
    for (long j = 0; j < h->g; j++) {
        double mu = h->mean[j];
        h->score[j] = (n * mu * mu + h->sumsq[j] - 2.0 * h->sum[j] * mu) / ((n - 1.0) * h->sd[j] * h->sd[j]);
    }
    /* rank: score descending, ties by lower gene index */
    keyed *order = malloc((size_t)h->g * sizeof *order);
    if (!order) return ptrag_fail(err, PTRAG_E_NOMEM, "hvg: out of memory");
    for (long j = 0; j < h->g; j++) {
        order[j].v = -h->score[j];
        order[j].i = j;
    }
    qsort(order, (size_t)h->g, sizeof *order, cmp_keyed);
    for (long j = 0; j < n_top; j++) genes[j] = order[j].i;
    qsort(genes, (size_t)n_top, sizeof *genes, cmp_long);
    free(order);
    h->pass = 3;
    h->have_scores = 1;
    return 0;
}

const double *ptrag_hvg_means(const ptrag_hvg *h) { return h->have_stats ? h->mean : NULL; }
const double *ptrag_hvg_variances(const ptrag_hvg *h) { return h->have_stats ? h->var : NULL; }
const double *ptrag_hvg_fitted_log10_var(const ptrag_hvg *h) { return h->have_stats ? h->fit : NULL; }
const double *ptrag_hvg_scores(const ptrag_hvg *h) { return h->have_scores ? h->score : NULL; }
