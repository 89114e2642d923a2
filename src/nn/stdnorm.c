/* Std-normalisation of a whole tensor by one scalar (PT-RAG's stage-2 score
 * normalisation, reference-model.md section 3.3), statistics by the
 * fixed-order reductions so the bits do not depend on the thread count. */
#include "ptrag/nn.h"

#include <math.h>
#include <stddef.h>

#define STDNORM_MIN 1e-6

void ptrag_stdnorm_forward(float *y, ptrag_stdnorm_stats *st, const float *a, long n) {
    ptrag_stdnorm_forward_shards(y, st, a, n, NULL, NULL);
}

void ptrag_stdnorm_forward_shards(float *y, ptrag_stdnorm_stats *st, const float *a, long n, ptrag_shard_sum_fn sum,
                                  void *ctx) {
    /* Shards: the count and the sum, then the squared deviations from the
     * common mean, each summed over the shards. */
    double v[2] = {n > 0 ? ptrag_sum_fixed(a, n) : 0.0, (double)n};
    if (sum) sum(ctx, v, 2);
    const double count = v[1];
    double mean = count > 0 ? v[0] / count : 0.0;
    double q = n > 0 ? ptrag_sqdev_fixed(a, n, mean) : 0.0;
    if (sum) sum(ctx, &q, 1);
    double sd = count > 1 ? sqrt(q / (count - 1)) : 0.0;
    double sigma = sd > STDNORM_MIN ? sd : STDNORM_MIN;
    const float inv = (float)(1.0 / sigma);
#pragma omp parallel for schedule(static) if (n > PTRAG_NN_PAR_WORK)
    for (long i = 0; i < n; i++) y[i] = a[i] * inv;
    st->count = count;
    st->mean = mean;
    st->std = sd;
    st->sigma = sigma;
}

void ptrag_stdnorm_backward(float *da, const float *dy, const float *a, const ptrag_stdnorm_stats *st, long n) {
    ptrag_stdnorm_backward_shards(da, dy, a, st, n, NULL, NULL);
}

void ptrag_stdnorm_backward_shards(float *da, const float *dy, const float *a, const ptrag_stdnorm_stats *st, long n,
                                   ptrag_shard_sum_fn sum, void *ctx) {
    const double sigma = st->sigma;
    /* The clamp passes the gradient only while std >= its floor (torch.clamp). */
    double coef = 0.0;
    if (st->count > 1 && st->std >= STDNORM_MIN) {
        /* dL/dstd = -dot/sigma^2; dstd/da_i = (a_i - mean)/((n-1) std), n
         * and the dot over every shard (each shard's dy is of the same loss). */
        double dot = n > 0 ? ptrag_dot_fixed(dy, a, n) : 0.0;
        if (sum) sum(ctx, &dot, 1);
        coef = -dot / (sigma * sigma) / ((st->count - 1) * st->std);
    }
    const float inv = (float)(1.0 / sigma), c = (float)coef, mean = (float)st->mean;
#pragma omp parallel for schedule(static) if (n > PTRAG_NN_PAR_WORK)
    for (long i = 0; i < n; i++) da[i] = dy[i] * inv + c * (a[i] - mean);
}
