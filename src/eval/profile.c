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

    if (g < 2 || delta_is_constant(mean_pred, mean_pred_ctrl, g) ||
        delta_is_constant(mean_real, mean_real_ctrl, g)) {
        out->pearson_delta = 0.0;
        out->pearson_degenerate = 1;
        return;
    }
    /* The deltas are not stored: two passes over the profiles avoid an allocation. */
    double mp = 0, mr = 0;
    for (long j = 0; j < g; j++) {
        mp += mean_pred[j] - mean_pred_ctrl[j];
        mr += mean_real[j] - mean_real_ctrl[j];
    }
    mp /= (double)g;
    mr /= (double)g;
    double spp = 0, srr = 0, spr = 0;
    for (long j = 0; j < g; j++) {
        double dp = mean_pred[j] - mean_pred_ctrl[j] - mp;
        double dr = mean_real[j] - mean_real_ctrl[j] - mr;
        spp += dp * dp;
        srr += dr * dr;
        spr += dp * dr;
    }
    if (!(spp > 0) || !(srr > 0)) {
        out->pearson_delta = 0.0;
        out->pearson_degenerate = 1;
        return;
    }
    double r = spr / sqrt(spp * srr);
    if (r > 1.0) r = 1.0;
    if (r < -1.0) r = -1.0;
    out->pearson_delta = r;
    out->pearson_degenerate = 0;
}

double ptrag_pearson_shift(const double *mean_pred, const double *mean_real, const double *ref, long g,
                           int *degenerate) {
    if (degenerate) *degenerate = 1;
    if (g < 2 || delta_is_constant(mean_pred, ref, g) || delta_is_constant(mean_real, ref, g)) return 0.0;
    double mp = 0, mr = 0;
    for (long j = 0; j < g; j++) {
        mp += mean_pred[j] - ref[j];
        mr += mean_real[j] - ref[j];
    }
    mp /= (double)g;
    mr /= (double)g;
    double spp = 0, srr = 0, spr = 0;
    for (long j = 0; j < g; j++) {
        double dp = mean_pred[j] - ref[j] - mp, dr = mean_real[j] - ref[j] - mr;
        spp += dp * dp;
        srr += dr * dr;
        spr += dp * dr;
    }
    if (!(spp > 0) || !(srr > 0)) return 0.0;
    if (degenerate) *degenerate = 0;
    double r = spr / sqrt(spp * srr);
    return r > 1.0 ? 1.0 : r < -1.0 ? -1.0 : r;
}
