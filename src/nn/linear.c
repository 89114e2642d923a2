/* Linear layers over ptrag_gemm (fixed blocks: see ptrag/nn.h). The bias
 * column sums run in fixed column blocks, rows in order. */
#include "ptrag/nn.h"

#include <string.h>

void ptrag_linear_forward(ptrag_matmul *mm, float *y, const float *x, const float *W, const float *b, int N,
                          int in, int out, int accumulate) {
    if (N <= 0 || out <= 0) return;
    float beta = accumulate ? 1.0f : 0.0f;
    if (b) {
#pragma omp parallel for schedule(static) if ((long)N * out > PTRAG_NN_PAR_WORK)
        for (int i = 0; i < N; i++) {
            float *row = y + (size_t)i * out;
            if (accumulate)
                for (int j = 0; j < out; j++) row[j] += b[j];
            else
                memcpy(row, b, sizeof(float) * (size_t)out);
        }
        beta = 1.0f;
    }
    ptrag_gemm(mm, 0, 1, N, out, in, 1.0f, x, in, W, in, beta, y, out);
}

void ptrag_linear_backward_dx(ptrag_matmul *mm, float *dx, const float *dy, const float *W, int N, int in,
                              int out) {
    if (N <= 0 || in <= 0) return;
    if (out <= 0) {
        memset(dx, 0, sizeof(float) * (size_t)N * in);
        return;
    }
    ptrag_gemm(mm, 0, 0, N, in, out, 1.0f, dy, out, W, in, 0.0f, dx, in);
}

void ptrag_linear_backward(ptrag_matmul *mm, float *dx, float *dW, float *db, const float *dy, const float *x,
                           const float *W, int N, int in, int out) {
    if (N <= 0 || out <= 0) return;
    if (dx) ptrag_gemm(mm, 0, 0, N, in, out, 1.0f, dy, out, W, in, 1.0f, dx, in);
    if (dW) ptrag_gemm(mm, 1, 0, out, in, N, 1.0f, dy, out, x, in, 1.0f, dW, in);
    if (db) {
        /* Column sums in row order: each column owned by one thread. */
        enum { COLS = 64 };
        int nb = (out + COLS - 1) / COLS;
#pragma omp parallel for schedule(static) if ((long)N * out > PTRAG_NN_PAR_WORK)
        for (int blk = 0; blk < nb; blk++) {
            int j0 = blk * COLS, j1 = j0 + COLS < out ? j0 + COLS : out;
            for (int i = 0; i < N; i++) {
                const float *row = dy + (size_t)i * out;
                for (int j = j0; j < j1; j++) db[j] += row[j];
            }
        }
    }
}
