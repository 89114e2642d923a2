/* Elementwise activations (ReLU, exact GELU, SiLU), the SwiGLU gate and
 * counter-based dropout. */
#include "ptrag/nn.h"

#include <math.h>
#include <stddef.h>

void ptrag_relu_forward(float *y, const float *x, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void ptrag_relu_backward(float *dx, const float *dy, const float *x, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++)
        if (x[i] > 0.0f) dx[i] += dy[i];
}

#define INV_SQRT2 0.70710678118654752440f
#define INV_SQRT_2PI 0.39894228040143267794f

void ptrag_gelu_forward(float *y, const float *x, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * INV_SQRT2));
}

/* d/dx [x Phi(x)] = Phi(x) + x phi(x). */
void ptrag_gelu_backward(float *dx, const float *dy, const float *x, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        float v = x[i];
        float cdf = 0.5f * (1.0f + erff(v * INV_SQRT2));
        float pdf = INV_SQRT_2PI * expf(-0.5f * v * v);
        dx[i] += dy[i] * (cdf + v * pdf);
    }
}

static inline float sigmoidf(float v) { return 1.0f / (1.0f + expf(-v)); }

void ptrag_silu_forward(float *y, const float *x, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) y[i] = x[i] * sigmoidf(x[i]);
}

/* d/dx [x s(x)] = s(x) (1 + x (1 - s(x))). */
static inline float silu_grad(float v) {
    float s = sigmoidf(v);
    return s * (1.0f + v * (1.0f - s));
}

void ptrag_silu_backward(float *dx, const float *dy, const float *x, long n) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) dx[i] += dy[i] * silu_grad(x[i]);
}

void ptrag_swiglu_forward(float *h, const float *gu, int N, int F) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        const float *g = gu + (size_t)r * 2 * F, *u = g + F;
        float *hr = h + (size_t)r * F;
        for (int j = 0; j < F; j++) hr[j] = g[j] * sigmoidf(g[j]) * u[j];
    }
}

void ptrag_swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F) {
#pragma omp parallel for schedule(static)
    for (int r = 0; r < N; r++) {
        const float *g = gu + (size_t)r * 2 * F, *u = g + F;
        const float *d = dh + (size_t)r * F;
        float *dg = dgu + (size_t)r * 2 * F, *du = dg + F;
        for (int j = 0; j < F; j++) {
            float s = sigmoidf(g[j]);
            dg[j] += d[j] * u[j] * s * (1.0f + g[j] * (1.0f - s));
            du[j] += d[j] * g[j] * s;
        }
    }
}

static inline int dropout_keep(uint64_t seed, uint64_t stream, long i, float p) {
    return ptrag_hash_uniform(seed, stream, (uint64_t)i) >= (double)p;
}

void ptrag_dropout_forward(float *y, const float *x, long n, float p, uint64_t seed,
                           uint64_t stream) {
    if (p <= 0.0f) {
#pragma omp parallel for schedule(static)
        for (long i = 0; i < n; i++) y[i] = x[i];
        return;
    }
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) y[i] = dropout_keep(seed, stream, i, p) ? x[i] * scale : 0.0f;
}

void ptrag_dropout_backward(float *dx, const float *dy, long n, float p, uint64_t seed,
                            uint64_t stream) {
    if (p <= 0.0f) {
        ptrag_accumulate(dx, dy, n);
        return;
    }
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++)
        if (dropout_keep(seed, stream, i, p)) dx[i] += dy[i] * scale;
}
