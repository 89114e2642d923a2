/* Linear layer y = x W^T + b over N rows: one sgemm for the whole batch, so
 * OpenBLAS sees the biggest possible matrices. */
#include "ptrag/nn.h"

#include <cblas.h>
#include <stddef.h>
#include <string.h>

static void fill_rows_with_bias(float *y, const float *b, int N, int out) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) memcpy(y + (size_t)i * out, b, sizeof(float) * (size_t)out);
}

static void add_bias_to_rows(float *y, const float *b, int N, int out) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; i++) {
        float *row = y + (size_t)i * out;
        for (int j = 0; j < out; j++) row[j] += b[j];
    }
}

void ptrag_linear_forward(float *y, const float *x, const float *W, const float *b,
                          int N, int in, int out) {
    if (N <= 0 || out <= 0) return;
    float beta = 0.0f;
    if (b) {
        fill_rows_with_bias(y, b, N, out);
        beta = 1.0f;
    }
    if (in <= 0) {
        if (!b) memset(y, 0, sizeof(float) * (size_t)N * (size_t)out);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, in, 1.0f, x, in, W, in,
                beta, y, out);
}

void ptrag_linear_forward_acc(float *y, const float *x, const float *W, const float *b,
                              int N, int in, int out) {
    if (N <= 0 || out <= 0) return;
    if (b) add_bias_to_rows(y, b, N, out);
    if (in <= 0) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, out, in, 1.0f, x, in, W, in,
                1.0f, y, out);
}

/* db += column sums of dy. Threads own disjoint column blocks, so there is no
 * race and the summation order (over rows) is fixed. */
static void accumulate_column_sums(float *db, const float *dy, int N, int out) {
    enum { BLOCK = 64 };
    int nblocks = (out + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static)
    for (int blk = 0; blk < nblocks; blk++) {
        int j0 = blk * BLOCK, j1 = j0 + BLOCK < out ? j0 + BLOCK : out;
        float acc[BLOCK] = {0};
        for (int i = 0; i < N; i++) {
            const float *row = dy + (size_t)i * out;
            for (int j = j0; j < j1; j++) acc[j - j0] += row[j];
        }
        for (int j = j0; j < j1; j++) db[j] += acc[j - j0];
    }
}

void ptrag_linear_backward(float *dx, float *dW, float *db, const float *dy,
                           const float *x, const float *W, int N, int in, int out) {
    if (N <= 0 || out <= 0) return;
    if (dx && in > 0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, in, out, 1.0f, dy, out, W,
                    in, 1.0f, dx, in);
    if (dW && in > 0)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, N, 1.0f, dy, out, x, in,
                    1.0f, dW, in);
    if (db) accumulate_column_sums(db, dy, N, out);
}
