/* Rotary position embedding (HF LLaMA rotate_half convention), in place. */
#include "ptrag/nn.h"

#include <math.h>
#include <stddef.h>

int ptrag_rope_table(float *cos_t, float *sin_t, int S, int dh, double theta,
                     ptrag_error *err) {
    if (S < 1 || dh < 2 || dh % 2 != 0)
        return ptrag_fail(err, PTRAG_E_ARG,
                          "rope table: S=%d, head_dim=%d: expected S >= 1 and an even "
                          "head_dim >= 2", S, dh);
    if (!(theta > 0.0))
        return ptrag_fail(err, PTRAG_E_ARG, "rope table: theta=%g: expected > 0", theta);
    int half = dh / 2;
    for (int s = 0; s < S; s++)
        for (int i = 0; i < half; i++) {
            double inv_freq = pow(theta, -2.0 * i / dh);
            double angle = s * inv_freq;
            cos_t[(size_t)s * half + i] = (float)cos(angle);
            sin_t[(size_t)s * half + i] = (float)sin(angle);
        }
    return 0;
}

/* Rotates every head of every row by +angle (dir = 1) or -angle (dir = -1):
 * the backward pass is the transpose of the rotation, i.e. its inverse.
 * Serial: the backbone rotates each tile of whole sets inside its loop. */
static void rope_apply(float *x, const float *cos_t, const float *sin_t, int nsets, int S,
                       int nheads, int dh, int ld, float dir) {
    const int half = dh / 2;
    const long rows = (long)nsets * S;
    for (long r = 0; r < rows; r++) {
        const int s = (int)(r % S);
        const float *c = cos_t + (size_t)s * half, *sn = sin_t + (size_t)s * half;
        float *row = x + (size_t)r * ld;
        for (int h = 0; h < nheads; h++) {
            float *a = row + (size_t)h * dh, *b = a + half;
#pragma omp simd
            for (int i = 0; i < half; i++) {
                float ai = a[i], bi = b[i], si = dir * sn[i];
                a[i] = ai * c[i] - bi * si;
                b[i] = bi * c[i] + ai * si;
            }
        }
    }
}

void ptrag_rope_forward(float *x, const float *cos_t, const float *sin_t, int nsets, int S,
                        int nheads, int dh, int ld) {
    rope_apply(x, cos_t, sin_t, nsets, S, nheads, dh, ld, 1.0f);
}

void ptrag_rope_backward(float *dx, const float *cos_t, const float *sin_t, int nsets, int S,
                         int nheads, int dh, int ld) {
    rope_apply(dx, cos_t, sin_t, nsets, S, nheads, dh, ld, -1.0f);
}
