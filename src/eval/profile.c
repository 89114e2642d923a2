/* Mean-profile metrics: pseudobulk means, Pearson of deltas, MSE/MAE. */
#include <math.h>

#include "ptrag/metrics.h"

void ptrag_col_means(const float *x, long n, long g, double *mean) {
    for (long j = 0; j < g; j++) mean[j] = 0.0;
    for (long i = 0; i < n; i++) {
        const float *row = x + i * g;
        for (long j = 0; j < g; j++) mean[j] += row[j];
    }
    double inv = n > 0 ? 1.0 / (double)n : NAN;
    for (long j = 0; j < g; j++) mean[j] *= inv;
}

double ptrag_pearson(const double *a, const double *b, long n, int *degenerate) {
    if (degenerate) *degenerate = 0;
    if (n < 2) {
        if (degenerate) *degenerate = 1;
        return 0.0;
    }
    double ma = 0, mb = 0;
    for (long i = 0; i < n; i++) {
        ma += a[i];
        mb += b[i];
    }
    ma /= (double)n;
    mb /= (double)n;
    double saa = 0, sbb = 0, sab = 0;
    for (long i = 0; i < n; i++) {
        double da = a[i] - ma, db = b[i] - mb;
        saa += da * da;
        sbb += db * db;
        sab += da * db;
    }
    if (!(saa > 0) || !(sbb > 0)) {
        if (degenerate) *degenerate = 1;
        return 0.0;
    }
    double r = sab / sqrt(saa * sbb);
    /* Rounding can push |r| a hair above 1. */
    if (r > 1.0) r = 1.0;
    if (r < -1.0) r = -1.0;
    return r;
}

/* A delta is "constant" when its spread is within float32 rounding of the
 * profiles it was computed from (see the header). */
static int delta_is_constant(const double *pert, const double *ctrl, long g) {
    double mean = 0, scale = 0;
    for (long j = 0; j < g; j++) {
        mean += pert[j] - ctrl[j];
        if (fabs(pert[j]) > scale) scale = fabs(pert[j]);
        if (fabs(ctrl[j]) > scale) scale = fabs(ctrl[j]);
    }
    mean /= (double)g;
    double spread = 0;
    for (long j = 0; j < g; j++) {
        double d = fabs(pert[j] - ctrl[j] - mean);
        if (d > spread) spread = d;
    }
    return spread <= 1e-6 * scale;
}

/* Pearson correlation across genes of the shifts pred - pred_ref and
 * real - real_ref; 0 with *degenerate = 1 when either shift is constant.
 * The shifts are not stored: two passes over the profiles avoid an allocation. */
static double pearson_of_shifts(const double *pred, const double *pred_ref, const double *real,
                                const double *real_ref, long g, int *degenerate) {
    *degenerate = 1;
    if (g < 2 || delta_is_constant(pred, pred_ref, g) || delta_is_constant(real, real_ref, g)) return 0.0;
    double mp = 0, mr = 0;
    for (long j = 0; j < g; j++) {
        mp += pred[j] - pred_ref[j];
        mr += real[j] - real_ref[j];
    }
    mp /= (double)g;
    mr /= (double)g;
    double spp = 0, srr = 0, spr = 0;
    for (long j = 0; j < g; j++) {
        double dp = pred[j] - pred_ref[j] - mp, dr = real[j] - real_ref[j] - mr;
        spp += dp * dp;
        srr += dr * dr;
        spr += dp * dr;
    }
    if (!(spp > 0) || !(srr > 0)) return 0.0;
    *degenerate = 0;
    double r = spr / sqrt(spp * srr);
    return r > 1.0 ? 1.0 : r < -1.0 ? -1.0 : r;
}

void ptrag_profile_scores_compute(const double *mean_pred, const double *mean_pred_ctrl,
                                  const double *mean_real, const double *mean_real_ctrl, long g,
                                  ptrag_profile_scores *out) {
    double se = 0, ae = 0, sed = 0, aed = 0;
    for (long j = 0; j < g; j++) {
        double e = mean_pred[j] - mean_real[j];
        double ed = (mean_pred[j] - mean_pred_ctrl[j]) - (mean_real[j] - mean_real_ctrl[j]);
        se += e * e;
        ae += fabs(e);
        sed += ed * ed;
        aed += fabs(ed);
    }
    out->mse = se / (double)g;
    out->mae = ae / (double)g;
    out->mse_delta = sed / (double)g;
    out->mae_delta = aed / (double)g;

    int degenerate;
    out->pearson_delta = pearson_of_shifts(mean_pred, mean_pred_ctrl, mean_real, mean_real_ctrl, g, &degenerate);
    out->pearson_degenerate = degenerate;
}

double ptrag_pearson_shift(const double *mean_pred, const double *mean_real, const double *ref, long g,
                           int *degenerate) {
    int deg;
    double r = pearson_of_shifts(mean_pred, ref, mean_real, ref, g, &deg);
    if (degenerate) *degenerate = deg;
    return r;
}
