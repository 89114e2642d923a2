/* RMSNorm over the last axis. Per-row work runs in parallel over rows (above
 * PTRAG_NN_PAR_WORK; the backbone calls it per tile, inside its own loop);
 * the weight gradient (a sum over rows, in row order) runs in a second pass
 * where threads own fixed column blocks, so it needs no scratch and no
 * atomics and its bits do not depend on the thread count. (The PT-RAG
 * scorer's LayerNorm is folded into its projections: model_ptrag.c.) */
#include "ptrag/nn.h"

#include <math.h>
#include <omp.h>
#include <stddef.h>

enum { COLUMN_BLOCK = 32 };

void ptrag_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w,
                           int N, int C, float eps) {
#pragma omp parallel for schedule(static) if ((long)N * C > PTRAG_NN_PAR_WORK && !omp_in_parallel())
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
#pragma omp parallel for schedule(static) if ((long)N * C > PTRAG_NN_PAR_WORK && !omp_in_parallel())
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
#pragma omp parallel for schedule(static) if ((long)N * C > PTRAG_NN_PAR_WORK && !omp_in_parallel())
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
