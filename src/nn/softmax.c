/* Softmax over the last axis, in place or not, and its backward (see
 * ptrag/nn.h). Serial: self-attention runs it per (set, head) and retrieval
 * per set, inside their parallel loops. */
#include "ptrag/nn.h"

#include <stddef.h>

#include "nn/fast_exp.h"

void ptrag_softmax_forward(float *y, const float *x, int N, int C) {
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * C;
        float *yi = y + (size_t)i * C;
        float mx = xi[0];
        for (int j = 1; j < C; j++) mx = xi[j] > mx ? xi[j] : mx;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < C; j++) {
            yi[j] = ptrag_fast_exp(xi[j] - mx);
            sum += yi[j];
        }
        float inv = 1.0f / sum;
        for (int j = 0; j < C; j++) yi[j] *= inv;
    }
}

void ptrag_softmax_backward(float *dx, const float *dy, const float *y, int N, int C, float scale) {
    for (int i = 0; i < N; i++) {
        const float *yi = y + (size_t)i * C, *dyi = dy + (size_t)i * C;
        float *dxi = dx + (size_t)i * C;
        float dot = 0.0f;
        for (int j = 0; j < C; j++) dot += yi[j] * dyi[j];
        for (int j = 0; j < C; j++) dxi[j] = yi[j] * (dyi[j] - dot) * scale;
    }
}
