/* Elementwise activations (ReLU, exact GELU), the SwiGLU gate and
 * counter-based dropout. GELU, SwiGLU and dropout are serial: the model runs
 * them inside its own parallel loops (per tile, per candidate pair); their
 * exponentials go through ptrag_fast_exp so the loops vectorise (libm's expf
 * is a call per element). */
#include "ptrag/nn.h"

#include <math.h>
#include <stddef.h>

#include "nn/fast_exp.h"

void ptrag_relu_forward(float *y, const float *x, long n) {
#pragma omp parallel for schedule(static) if (n > PTRAG_NN_PAR_WORK)
    for (long i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void ptrag_relu_backward(float *dx, const float *dy, const float *y, long n) {
#pragma omp parallel for schedule(static) if (n > PTRAG_NN_PAR_WORK)
    for (long i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

/* ---------------------------------------------------------------- GELU */

/* Standard normal CDF Phi(x) = erfc(-x / sqrt2) / 2, with erfc(z), z >= 0, by
 * the Chebyshev fit t exp(-z^2 + P(t)), t = 1 / (1 + z/2) (Numerical Recipes
 * "erfcc", fractional error < 1.2e-7 everywhere). */
static inline float phi_cdf(float x) {
    float z = fabsf(x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float poly = -1.26551223f +
                 t * (1.00002368f +
                      t * (0.37409196f +
                           t * (0.09678418f +
                                t * (-0.18628806f +
                                     t * (0.27886807f +
                                          t * (-1.13520398f +
                                               t * (1.48851587f +
                                                    t * (-0.82215223f + t * 0.17087277f))))))));
    float half_erfc = 0.5f * t * ptrag_fast_exp(-z * z + poly);
    return x >= 0.0f ? 1.0f - half_erfc : half_erfc;
}

void ptrag_gelu_forward(float *y, const float *x, long n) {
#pragma omp simd
    for (long i = 0; i < n; i++) y[i] = x[i] * phi_cdf(x[i]);
}

/* d/dx [x Phi(x)] = Phi(x) + x phi(x). */
void ptrag_gelu_backward(float *dx, const float *dy, const float *x, long n) {
#pragma omp simd
    for (long i = 0; i < n; i++) {
        float v = x[i];
        dx[i] = dy[i] * (phi_cdf(v) + v * 0.39894228040143268f * ptrag_fast_exp(-0.5f * v * v));
    }
}

/* ---------------------------------------------------------------- SwiGLU */

/* h = silu(g) u over rows of gu = [gate | up] (F each). */
void ptrag_swiglu_forward(float *h, const float *gu, int N, int F) {
    for (int r = 0; r < N; r++) {
        const float *g = gu + (size_t)r * 2 * F, *u = g + F;
        float *hr = h + (size_t)r * F;
#pragma omp simd
        for (int j = 0; j < F; j++) hr[j] = g[j] * u[j] / (1.0f + ptrag_fast_exp(-g[j]));
    }
}

/* dgu = [dh u s (1 + g (1 - s)) | dh g s], s = sigmoid(g). */
void ptrag_swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F) {
    for (int r = 0; r < N; r++) {
        const float *g = gu + (size_t)r * 2 * F, *u = g + F, *d = dh + (size_t)r * F;
        float *dg = dgu + (size_t)r * 2 * F, *du = dg + F;
#pragma omp simd
        for (int j = 0; j < F; j++) {
            float s = 1.0f / (1.0f + ptrag_fast_exp(-g[j]));
            float gs = g[j] * s;
            dg[j] = d[j] * u[j] * (s + gs * (1.0f - s));
            du[j] = d[j] * gs;
        }
    }
}

/* ---------------------------------------------------------------- dropout */

static float keep_scale(float p) { return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; }

void ptrag_dropout_forward(float *y, unsigned char *keep, const float *x, long n, float p, uint64_t seed,
                           uint64_t stream, uint64_t first) {
    if (p <= 0.0f) {
        if (y != x)
            for (long i = 0; i < n; i++) y[i] = x[i];
        return;
    }
    const float scale = keep_scale(p);
    for (long i = 0; i < n; i++) {
        unsigned char k = ptrag_hash_uniform(seed, stream, first + (uint64_t)i) >= p;
        if (keep) keep[i] = k;
        y[i] = k ? x[i] * scale : 0.0f;
    }
}

void ptrag_dropout_backward(float *dx, const float *dy, const unsigned char *keep, long n, float p) {
    if (p <= 0.0f) {
        if (dx != dy)
            for (long i = 0; i < n; i++) dx[i] = dy[i];
        return;
    }
    const float scale = keep_scale(p);
    for (long i = 0; i < n; i++) dx[i] = keep[i] ? dy[i] * scale : 0.0f;
}
