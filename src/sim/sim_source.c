/* Control statistics of the source file, per cell type: each gene's mean
 * share of the library (q) and its negative-binomial dispersion (phi, by the
 * method of moments on counts scaled to the cell type's typical library), and
 * the log-normal library-size distribution.
 *
 * A log1p-normalised source (x = log1p(counts * T / N)) is taken back to
 * counts as expm1(x) * N / T. N is, by default, each cell's smallest step:
 * T / min over its non-zero entries of expm1(x), i.e. the smallest non-zero
 * count is taken to be 1 (on PerturBench's devel.h5ad this makes 99.999% of
 * the recovered counts whole numbers; its `ncounts` column is 1-13% off), or
 * the library-size column the caller names. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/h5ad.h"
#include "sim/sim_internal.h"

enum { MIN_CONTROLS = 10 };

void ptrag_sim_source_free(sim_source *s) {
    if (!s) return;
    for (int c = 0; c < s->n_ct; c++) free(s->ct_names[c]);
    for (long g = 0; g < s->n_genes; g++) free(s->gene_names[g]);
    free(s->ct_names);
    free(s->gene_names);
    free(s->frac);
    free(s->disp);
    free(s->loglib_mean);
    free(s->loglib_sd);
    free(s->n_controls);
    memset(s, 0, sizeof *s);
}

/* 1 when every sampled value is a whole number (a counts matrix). */
static int looks_integral(const float *x, size_t n, float *max_out) {
    int integral = 1;
    float mx = 0;
    for (size_t i = 0; i < n; i++) {
        if (x[i] > mx) mx = x[i];
        if (fabsf(x[i] - roundf(x[i])) > 1e-4f) integral = 0;
    }
    *max_out = mx;
    return integral;
}

int ptrag_sim_source_load(const ptrag_sim_opts *o, sim_source *s, ptrag_error *err) {
    memset(s, 0, sizeof *s);
    ptrag_h5ad *h = NULL;
    ptrag_column ct = {0}, pert = {0}, lib = {0};
    float *x = NULL;
    long *rows = NULL;
    int rc = ptrag_h5ad_open(o->source, o->x_source, &h, err);
    if (rc) return rc;
    const char *path = o->source;
    if ((rc = ptrag_h5ad_read_obs(h, o->celltype_col, &ct, err)) ||
        (rc = ptrag_h5ad_read_obs(h, o->pert_col, &pert, err)))
        goto done;
    if (ct.type != PTRAG_COL_CATEGORICAL && ct.type != PTRAG_COL_STRING) {
        rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: /obs/%s: expected a categorical cell-type column", path, o->celltype_col);
        goto done;
    }
    if (pert.type != PTRAG_COL_CATEGORICAL && pert.type != PTRAG_COL_STRING) {
        rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: /obs/%s: expected a categorical perturbation column", path, o->pert_col);
        goto done;
    }
    int ctrl = ptrag_column_find(&pert, o->control);
    if (ctrl < 0) {
        rc = ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: /obs/%s: no control label '%s' (use --source-control)", path,
                        o->pert_col, o->control);
        goto done;
    }
    long n_obs = ptrag_h5ad_n_obs(h), G = ptrag_h5ad_n_vars(h);
    s->n_genes = G;
    s->gene_names = calloc((size_t)G + 1, sizeof *s->gene_names);
    s->ct_names = calloc((size_t)ct.n_categories + 1, sizeof *s->ct_names);
    s->frac = calloc((size_t)ct.n_categories * (size_t)G + 1, sizeof *s->frac);
    s->disp = calloc((size_t)ct.n_categories * (size_t)G + 1, sizeof *s->disp);
    s->loglib_mean = calloc((size_t)ct.n_categories + 1, sizeof(double));
    s->loglib_sd = calloc((size_t)ct.n_categories + 1, sizeof(double));
    s->n_controls = calloc((size_t)ct.n_categories + 1, sizeof(long));
    rows = malloc(((size_t)n_obs + 1) * sizeof *rows);
    if (!s->gene_names || !s->ct_names || !s->frac || !s->disp || !s->loglib_mean || !s->loglib_sd ||
        !s->n_controls || !rows) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (long g = 0; g < G; g++)
        if (!(s->gene_names[g] = strdup(ptrag_h5ad_var_name(h, g)))) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
    /* Source scale. */
    int log1p_src;
    if (strcmp(o->source_scale, "counts") == 0) log1p_src = 0;
    else if (strcmp(o->source_scale, "log1p") == 0) log1p_src = 1;
    else if (strcmp(o->source_scale, "auto") == 0) {
        long nr = n_obs < 200 ? n_obs : 200;
        x = malloc(((size_t)nr * (size_t)G + 1) * sizeof *x);
        if (!x) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        if ((rc = ptrag_h5ad_read_block(h, 0, nr, x, err))) goto done;
        float mx;
        int integral = looks_integral(x, (size_t)nr * (size_t)G, &mx);
        free(x);
        x = NULL;
        if (integral) log1p_src = 0;
        else if (mx < 30.0f) log1p_src = 1;
        else {
            rc = ptrag_fail(err, PTRAG_E_FORMAT,
                            "%s: expression is neither whole counts nor log1p-scaled (max %.1f): pass --source-scale",
                            path, (double)mx);
            goto done;
        }
    } else {
        rc = ptrag_fail(err, PTRAG_E_ARG, "--source-scale: expected auto, counts or log1p, got '%s'", o->source_scale);
        goto done;
    }
    s->scale_log1p = log1p_src;
    if (log1p_src && o->libsize_col && *o->libsize_col) {
        s->had_libsize = 1;
        if ((rc = ptrag_h5ad_read_obs(h, o->libsize_col, &lib, err))) goto done;
        if (lib.type != PTRAG_COL_NUMERIC) {
            rc = ptrag_fail(err, PTRAG_E_FORMAT, "%s: /obs/%s: expected a numeric library-size column", path, o->libsize_col);
            goto done;
        }
    }
    double T = o->source_target_sum;
    for (int c = 0; c < ct.n_categories; c++) {
        long n = 0;
        for (long i = 0; i < n_obs; i++)
            if (ct.codes[i] == c && pert.codes[i] == ctrl) rows[n++] = i;
        if (n < MIN_CONTROLS) continue; /* too few controls to estimate from */
        int k = s->n_ct;
        double *q = s->frac + (size_t)k * (size_t)G, *phi = s->disp + (size_t)k * (size_t)G;
        x = malloc(((size_t)n * (size_t)G + 1) * sizeof *x);
        double *libs = malloc(((size_t)n + 1) * sizeof *libs);
        double *m2 = calloc((size_t)G + 1, sizeof *m2);
        if (!x || !libs || !m2) {
            free(libs);
            free(m2);
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        if ((rc = ptrag_h5ad_read_rows(h, rows, n, NULL, G, x, err))) {
            free(libs);
            free(m2);
            goto done;
        }
        double lm = 0, lv = 0;
        for (long i = 0; i < n; i++) {
            float *row = x + (size_t)i * (size_t)G;
            double N = 0;
            if (log1p_src) {
                if (s->had_libsize) {
                    N = lib.values[rows[i]];
                } else { /* smallest step: the least non-zero entry is one count */
                    double step = 0;
                    for (long g = 0; g < G; g++) {
                        double v = expm1((double)row[g]);
                        if (v > 0 && (step == 0 || v < step)) step = v;
                    }
                    N = step > 0 ? T / step : T;
                }
                if (!(N > 0)) N = T;
                for (long g = 0; g < G; g++) row[g] = (float)(expm1((double)row[g]) * N / T);
            } else {
                for (long g = 0; g < G; g++) N += row[g];
                if (N < 1) N = 1;
            }
            libs[i] = N;
            lm += log(N);
        }
        lm /= (double)n;
        for (long i = 0; i < n; i++) lv += (log(libs[i]) - lm) * (log(libs[i]) - lm);
        double N0 = exp(lm);
        /* moments of counts scaled to the typical library N0 */
        for (long i = 0; i < n; i++) {
            const float *row = x + (size_t)i * (size_t)G;
            double f = N0 / libs[i];
            for (long g = 0; g < G; g++) {
                double v = row[g] * f;
                q[g] += v;
                m2[g] += v * v;
            }
        }
        for (long g = 0; g < G; g++) {
            double mean = q[g] / (double)n;
            double var = (m2[g] - (double)n * mean * mean) / (double)(n - 1);
            if (mean <= 0) mean = 0.5 / (double)n; /* never seen: below one count in the sample */
            double d = (var - mean) / (mean * mean);
            phi[g] = d < 0.01 ? 0.01 : d > 5.0 ? 5.0 : d;
            q[g] = mean / N0;
        }
        s->loglib_mean[k] = lm;
        s->loglib_sd[k] = sqrt(lv / (double)(n - 1));
        s->n_controls[k] = n;
        s->ct_names[k] = strdup(ct.categories[c]);
        s->n_ct++;
        free(x);
        x = NULL;
        free(libs);
        free(m2);
        if (!s->ct_names[k]) {
            rc = ptrag_fail(err, PTRAG_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
    }
    if (s->n_ct == 0)
        rc = ptrag_fail(err, PTRAG_E_NOTFOUND, "%s: no cell type (column %s) has %d or more '%s' cells", path,
                        o->celltype_col, MIN_CONTROLS, o->control);
done:
    free(x);
    free(rows);
    ptrag_column_free(&ct);
    ptrag_column_free(&pert);
    ptrag_column_free(&lib);
    ptrag_h5ad_close(h);
    if (rc) ptrag_sim_source_free(s);
    return rc;
}
