/* Softmax and log-softmax over the last axis. */
#include "ptrag/nn.h"

#include <math.h>
#include <stddef.h>

void ptrag_softmax_forward(float *y, const float *x, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * C;
        float *yi = y + (size_t)i * C;
        float mx = xi[0];
        for (int j = 1; j < C; j++) mx = xi[j] > mx ? xi[j] : mx;
        float sum = 0.0f;
        for (int j = 0; j < C; j++) {
            yi[j] = expf(xi[j] - mx);
            sum += yi[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < C; j++) yi[j] *= inv;
    }
}

/* dx = y * (dy - sum(dy * y)). */
void ptrag_softmax_backward(float *dx, const float *dy, const float *y, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *yi = y + (size_t)i * C, *dyi = dy + (size_t)i * C;
        float *dxi = dx + (size_t)i * C;
        float dot = 0.0f;
        for (int j = 0; j < C; j++) dot += dyi[j] * yi[j];
        for (int j = 0; j < C; j++) dxi[j] += yi[j] * (dyi[j] - dot);
    }
}

void ptrag_log_softmax_forward(float *y, const float *x, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * C;
        float *yi = y + (size_t)i * C;
        float mx = xi[0];
        for (int j = 1; j < C; j++) mx = xi[j] > mx ? xi[j] : mx;
        float sum = 0.0f;
        for (int j = 0; j < C; j++) sum += expf(xi[j] - mx);
        float lse = mx + logf(sum);
        for (int j = 0; j < C; j++) yi[j] = xi[j] - lse;
    }
}

/* dx = dy - exp(y) * sum(dy). */
void ptrag_log_softmax_backward(float *dx, const float *dy, const float *y, int N, int C) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *yi = y + (size_t)i * C, *dyi = dy + (size_t)i * C;
        float *dxi = dx + (size_t)i * C;
        float sum = 0.0f;
        for (int j = 0; j < C; j++) sum += dyi[j];
        for (int j = 0; j < C; j++) dxi[j] += dyi[j] - expf(yi[j]) * sum;
    }
}
