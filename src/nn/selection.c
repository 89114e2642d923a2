/* The pieces of PT-RAG's stage-2 selection: score std-normalisation and the
 * hard straight-through Gumbel-softmax (reference-model.md section 3.3). */
#include "ptrag/nn.h"

#include <math.h>
#include <stddef.h>

#define STDNORM_MIN 1e-6

void ptrag_stdnorm_forward(float *y, ptrag_stdnorm_stats *st, const float *a, long n) {
    double sum = 0.0;
#pragma omp parallel for reduction(+ : sum) schedule(static)
    for (long i = 0; i < n; i++) sum += a[i];
    double mean = n > 0 ? sum / (double)n : 0.0;
    double ss = 0.0;
#pragma omp parallel for reduction(+ : ss) schedule(static)
    for (long i = 0; i < n; i++) {
        double d = a[i] - mean;
        ss += d * d;
    }
    double sd = n > 1 ? sqrt(ss / (double)(n - 1)) : 0.0;
    double sigma = sd > STDNORM_MIN ? sd : STDNORM_MIN;
    float inv = (float)(1.0 / sigma);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) y[i] = a[i] * inv;
    st->mean = mean;
    st->std = sd;
    st->sigma = sigma;
}

void ptrag_stdnorm_backward(float *da, const float *dy, const float *a,
                            const ptrag_stdnorm_stats *st, long n) {
    double sigma = st->sigma;
    /* The clamp passes the gradient only while std >= its floor (torch.clamp). */
    double coef = 0.0;
    if (n > 1 && st->std >= STDNORM_MIN) {
        double dot = 0.0;
#pragma omp parallel for reduction(+ : dot) schedule(static)
        for (long i = 0; i < n; i++) dot += (double)dy[i] * a[i];
        /* dL/dstd = -dot/sigma^2; dstd/da_i = (a_i - mean)/((n-1) std). */
        coef = -dot / (sigma * sigma) / ((double)(n - 1) * st->std);
    }
    float inv = (float)(1.0 / sigma), c = (float)coef, mean = (float)st->mean;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) da[i] += dy[i] * inv + c * (a[i] - mean);
}

void ptrag_gumbel_softmax_forward(float *y, float *soft, const float *logits, int N, int C,
                                  float tau, uint64_t seed, uint64_t stream) {
    float inv_tau = 1.0f / tau;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *li = logits + (size_t)i * C;
        float *si = soft + (size_t)i * C, *yi = y + (size_t)i * C;
        size_t base = (size_t)i * C;
        for (int c = 0; c < C; c++) {
            double u = ptrag_hash_uniform(seed, stream, base + c);
            float g = (float)(-log(-log(u)));
            si[c] = (li[c] + g) * inv_tau;
        }
        int arg = 0;
        for (int c = 1; c < C; c++)
            if (si[c] > si[arg]) arg = c;
        float mx = si[arg], sum = 0.0f;
        for (int c = 0; c < C; c++) {
            si[c] = expf(si[c] - mx);
            sum += si[c];
        }
        for (int c = 0; c < C; c++) {
            si[c] /= sum;
            yi[c] = c == arg ? 1.0f : 0.0f;
        }
    }
}

void ptrag_gumbel_softmax_backward(float *dlogits, const float *dy, const float *soft, int N,
                                   int C, float tau) {
    float inv_tau = 1.0f / tau;
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *si = soft + (size_t)i * C, *dyi = dy + (size_t)i * C;
        float *dl = dlogits + (size_t)i * C;
        float dot = 0.0f;
        for (int c = 0; c < C; c++) dot += dyi[c] * si[c];
        for (int c = 0; c < C; c++) dl[c] += si[c] * (dyi[c] - dot) * inv_tau;
    }
}
