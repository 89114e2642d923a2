/* Aggregation over conditions: mean, sample sd and count, ignoring NaN. */
#include <math.h>

#include "ptrag/metrics.h"

void ptrag_metric_summarize(const double *v, long n, long stride, ptrag_metric_summary *out) {
    double sum = 0;
    long k = 0;
    for (long i = 0; i < n; i++) {
        double x = v[i * stride];
        if (isfinite(x)) {
            sum += x;
            k++;
        }
    }
    out->n = k;
    out->mean = k ? sum / (double)k : NAN;
    if (k < 2) {
        out->sd = NAN;
        return;
    }
    double ss = 0;
    for (long i = 0; i < n; i++) {
        double x = v[i * stride];
        if (isfinite(x)) ss += (x - out->mean) * (x - out->mean);
    }
    out->sd = sqrt(ss / (double)(k - 1));
}

void ptrag_eval_summarize(ptrag_eval_result *r) {
    for (int m = 0; m < PTRAG_M_COUNT; m++) {
        ptrag_metric_summary *out = &r->summary[m];
        double sum = 0, ss = 0;
        long k = 0;
        for (long i = 0; i < r->n_conditions; i++) {
            double x = r->conditions[i].v[m];
            if (isfinite(x)) {
                sum += x;
                k++;
            }
        }
        out->n = k;
        out->mean = k ? sum / (double)k : NAN;
        for (long i = 0; i < r->n_conditions && k >= 2; i++) {
            double x = r->conditions[i].v[m];
            if (isfinite(x)) ss += (x - out->mean) * (x - out->mean);
        }
        out->sd = k >= 2 ? sqrt(ss / (double)(k - 1)) : NAN;
    }
}
