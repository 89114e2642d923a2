/* Std-normalisation of a whole tensor by one scalar (PT-RAG's stage-2 score
 * normalisation, reference-model.md section 3.3), statistics by the
 * fixed-order reductions so the bits do not depend on the thread count. */
#include "ptrag/nn.h"

#include <math.h>
#include <stddef.h>

#define STDNORM_MIN 1e-6

void ptrag_stdnorm_forward(float *y, ptrag_stdnorm_stats *st, const float *a, long n) {
    double mean = n > 0 ? ptrag_sum_fixed(a, n) / (double)n : 0.0;
    double sd = n > 1 ? sqrt(ptrag_sqdev_fixed(a, n, mean) / (double)(n - 1)) : 0.0;
    double sigma = sd > STDNORM_MIN ? sd : STDNORM_MIN;
    const float inv = (float)(1.0 / sigma);
#pragma omp parallel for schedule(static) if (n > PTRAG_NN_PAR_WORK)
    for (long i = 0; i < n; i++) y[i] = a[i] * inv;
    st->mean = mean;
    st->std = sd;
    st->sigma = sigma;
}

void ptrag_stdnorm_backward(float *da, const float *dy, const float *a, const ptrag_stdnorm_stats *st, long n) {
    const double sigma = st->sigma;
    /* The clamp passes the gradient only while std >= its floor (torch.clamp). */
    double coef = 0.0;
    if (n > 1 && st->std >= STDNORM_MIN) {
        /* dL/dstd = -dot/sigma^2; dstd/da_i = (a_i - mean)/((n-1) std). */
        double dot = ptrag_dot_fixed(dy, a, n);
        coef = -dot / (sigma * sigma) / ((double)(n - 1) * st->std);
    }
    const float inv = (float)(1.0 / sigma), c = (float)coef, mean = (float)st->mean;
#pragma omp parallel for schedule(static) if (n > PTRAG_NN_PAR_WORK)
    for (long i = 0; i < n; i++) da[i] = dy[i] * inv + c * (a[i] - mean);
}
