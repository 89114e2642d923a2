/* cell-eval's DE agreement metrics between the real and predicted DE results
 * of one condition. */
#include <math.h>

#include "ptrag/metrics.h"

static int sign_of(double v) { return (v > 0) - (v < 0); }

void ptrag_de_compare(const ptrag_de_result *real, const ptrag_de_result *pred,
                      ptrag_de_scores *out) {
    long kr = real->n_sig, kp = pred->n_sig;
    out->nsig_real = kr;
    out->nsig_pred = kp;

    /* overlap_at_N: k = kr; all real significant genes vs pred's top kr.
     * Undefined (NaN, left out of the mean) when the real condition has no
     * significant gene: cell-eval scores 0 there, which would make even a
     * perfect prediction score below 1. A prediction with no significant gene
     * against a real condition that has some scores 0. */
    out->overlap_at_n = kr > 0 ? 0.0 : NAN;
    out->precision_at_n = kr > 0 ? 0.0 : NAN;
    if (kr > 0 && kp > 0) {
        long k = kr, hit = 0;
        for (long t = 0; t < k && t < kp; t++) hit += real->sig[pred->ranked[t]];
        out->overlap_at_n = (double)hit / (double)k;
        /* precision_at_N: k = kp; real's top kp vs all pred significant genes. */
        k = kp;
        hit = 0;
        for (long t = 0; t < k && t < kr; t++) hit += pred->sig[real->ranked[t]];
        out->precision_at_n = (double)hit / (double)k;
    }

    if (kr == 0) {
        out->direction_match = NAN;
        out->sig_recall = NAN;
        return;
    }
    long same = 0, both = 0;
    for (long j = 0; j < real->g; j++) {
        if (!real->sig[j]) continue;
        same += sign_of(real->log2fc[j]) == sign_of(pred->log2fc[j]);
        both += pred->sig[j];
    }
    out->direction_match = (double)same / (double)kr;
    out->sig_recall = (double)both / (double)kr;
}
