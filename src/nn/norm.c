/* LayerNorm and RMSNorm over the last axis. Per-row work runs in parallel
 * over rows; weight gradients (a sum over rows) run in a second pass where
 * threads own column blocks, so they need no scratch and no atomics. */
#include "ptrag/nn.h"

#include <math.h>
#include <stddef.h>

enum { COLUMN_BLOCK = 32 };

void ptrag_layernorm_forward(float *y, float *mean, float *rstd, const float *x,
                             const float *w, const float *b, int N, int C, float eps) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * C;
        float *yi = y + (size_t)i * C;
        float m = 0.0f;
        for (int j = 0; j < C; j++) m += xi[j];
        m /= (float)C;
        float var = 0.0f;
        for (int j = 0; j < C; j++) {
            float d = xi[j] - m;
            var += d * d;
        }
        var /= (float)C;
        float r = 1.0f / sqrtf(var + eps);
        for (int j = 0; j < C; j++) {
            float v = (xi[j] - m) * r;
            if (w) v *= w[j];
            if (b) v += b[j];
            yi[j] = v;
        }
        mean[i] = m;
        rstd[i] = r;
    }
}

void ptrag_layernorm_backward(float *dx, float *dw, float *db, const float *dy,
                              const float *x, const float *w, const float *mean,
                              const float *rstd, int N, int C) {
    if (dx) {
#pragma omp parallel for schedule(static)
        for (int i = 0; i < N; i++) {
            const float *xi = x + (size_t)i * C, *dyi = dy + (size_t)i * C;
            float *dxi = dx + (size_t)i * C;
            float m = mean[i], r = rstd[i];
            float sum_g = 0.0f, sum_gx = 0.0f;
            for (int j = 0; j < C; j++) {
                float g = w ? dyi[j] * w[j] : dyi[j];
                sum_g += g;
                sum_gx += g * (xi[j] - m) * r;
            }
            sum_g /= (float)C;
            sum_gx /= (float)C;
            for (int j = 0; j < C; j++) {
                float g = w ? dyi[j] * w[j] : dyi[j];
                float xhat = (xi[j] - m) * r;
                dxi[j] += r * (g - sum_g - xhat * sum_gx);
            }
        }
    }
    if (dw || db) {
        int nblocks = (C + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
#pragma omp parallel for schedule(static)
        for (int blk = 0; blk < nblocks; blk++) {
            int j0 = blk * COLUMN_BLOCK, j1 = j0 + COLUMN_BLOCK < C ? j0 + COLUMN_BLOCK : C;
            float aw[COLUMN_BLOCK] = {0}, ab[COLUMN_BLOCK] = {0};
            for (int i = 0; i < N; i++) {
                const float *xi = x + (size_t)i * C, *dyi = dy + (size_t)i * C;
                float m = mean[i], r = rstd[i];
                for (int j = j0; j < j1; j++) {
                    aw[j - j0] += dyi[j] * (xi[j] - m) * r;
                    ab[j - j0] += dyi[j];
                }
            }
            for (int j = j0; j < j1; j++) {
                if (dw) dw[j] += aw[j - j0];
                if (db) db[j] += ab[j - j0];
            }
        }
    }
}

void ptrag_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w,
                           int N, int C, float eps) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        const float *xi = x + (size_t)i * C;
        float *yi = y + (size_t)i * C;
        float ss = 0.0f;
        for (int j = 0; j < C; j++) ss += xi[j] * xi[j];
        float r = 1.0f / sqrtf(ss / (float)C + eps);
        for (int j = 0; j < C; j++) yi[j] = w ? w[j] * (xi[j] * r) : xi[j] * r;
        rstd[i] = r;
    }
}

/* y_j = w_j x_j r with r = (mean x^2 + eps)^(-1/2):
 * dx_j = r w_j dy_j - x_j r^3 / C * sum_k w_k dy_k x_k. */
void ptrag_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                            const float *w, const float *rstd, int N, int C) {
    if (dx) {
#pragma omp parallel for schedule(static)
        for (int i = 0; i < N; i++) {
            const float *xi = x + (size_t)i * C, *dyi = dy + (size_t)i * C;
            float *dxi = dx + (size_t)i * C;
            float r = rstd[i];
            float dot = 0.0f;
            for (int j = 0; j < C; j++) dot += (w ? w[j] : 1.0f) * dyi[j] * xi[j];
            float k = dot * r * r * r / (float)C;
            for (int j = 0; j < C; j++) dxi[j] += r * (w ? w[j] : 1.0f) * dyi[j] - k * xi[j];
        }
    }
    if (dw) {
        int nblocks = (C + COLUMN_BLOCK - 1) / COLUMN_BLOCK;
#pragma omp parallel for schedule(static)
        for (int blk = 0; blk < nblocks; blk++) {
            int j0 = blk * COLUMN_BLOCK, j1 = j0 + COLUMN_BLOCK < C ? j0 + COLUMN_BLOCK : C;
            float aw[COLUMN_BLOCK] = {0};
            for (int i = 0; i < N; i++) {
                const float *xi = x + (size_t)i * C, *dyi = dy + (size_t)i * C;
                float r = rstd[i];
                for (int j = j0; j < j1; j++) aw[j - j0] += dyi[j] * xi[j] * r;
            }
            for (int j = j0; j < j1; j++) dw[j] += aw[j - j0];
        }
    }
}
