/* Linear layer y = x W^T + b over N rows.
 *
 * Threading: OpenMP only. Each thread runs ONE single-threaded sgemm on its
 * share of the output (rows of y and dx; the longer of the two dimensions of
 * dW), so every thread does one large, cache-blocked product, and OpenBLAS's
 * own thread pool never runs beside OpenMP's (a pthreads OpenBLAS pool spins
 * after each call and would steal the cores OpenMP's threads need). */
#include "ptrag/nn.h"

#include <cblas.h>
#include <omp.h>
#include <stddef.h>
#include <string.h>

#include "nn/blas_threads.h"

/* [lo, hi) of n items for part p of np (balanced static split). */
static void share(int n, int p, int np, int *lo, int *hi) {
    *lo = (int)((long)n * p / np);
    *hi = (int)((long)n * (p + 1) / np);
}

/* y[rows] (+)= x[rows] W^T (+ b) for this thread's block of rows. */
static void forward_rows(float *y, const float *x, const float *W, const float *b, int N,
                         int in, int out, int accumulate) {
    int token = blas_serial_begin();
#pragma omp parallel
    {
        int lo, hi;
        share(N, omp_get_thread_num(), omp_get_num_threads(), &lo, &hi);
        int rows = hi - lo;
        float *yb = y + (size_t)lo * out;
        float beta = accumulate ? 1.0f : 0.0f;
        if (rows > 0 && b) {
            for (int i = 0; i < rows; i++) {
                float *row = yb + (size_t)i * out;
                if (accumulate)
                    for (int j = 0; j < out; j++) row[j] += b[j];
                else
                    memcpy(row, b, sizeof(float) * (size_t)out);
            }
            beta = 1.0f;
        }
        if (rows > 0 && in > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in, 1.0f,
                        x + (size_t)lo * in, in, W, in, beta, yb, out);
        else if (rows > 0 && !accumulate && !b)
            memset(yb, 0, sizeof(float) * (size_t)rows * (size_t)out);
    }
    blas_serial_end(token);
}

void ptrag_linear_forward(float *y, const float *x, const float *W, const float *b,
                          int N, int in, int out) {
    if (N <= 0 || out <= 0) return;
    forward_rows(y, x, W, b, N, in, out, 0);
}

void ptrag_linear_forward_acc(float *y, const float *x, const float *W, const float *b,
                              int N, int in, int out) {
    if (N <= 0 || out <= 0) return;
    forward_rows(y, x, W, b, N, in, out, 1);
}

void ptrag_linear_backward(float *dx, float *dW, float *db, const float *dy,
                           const float *x, const float *W, int N, int in, int out) {
    if (N <= 0 || out <= 0) return;
    int token = blas_serial_begin();
#pragma omp parallel
    {
        int p = omp_get_thread_num(), np = omp_get_num_threads(), lo, hi;
        /* dx[rows] += dy[rows] W */
        if (dx && in > 0) {
            share(N, p, np, &lo, &hi);
            if (hi > lo)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, hi - lo, in, out, 1.0f,
                            dy + (size_t)lo * out, out, W, in, 1.0f, dx + (size_t)lo * in, in);
        }
        /* dW += dy^T x, split along its longer side so each block stays large */
        if (dW && in > 0) {
            if (out >= in) {
                share(out, p, np, &lo, &hi);
                if (hi > lo)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, hi - lo, in, N, 1.0f,
                                dy + lo, out, x, in, 1.0f, dW + (size_t)lo * in, in);
            } else {
                share(in, p, np, &lo, &hi);
                if (hi > lo)
                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, hi - lo, N, 1.0f,
                                dy, out, x + lo, in, 1.0f, dW + lo, in);
            }
        }
        /* db += column sums of dy; threads own column blocks (fixed order) */
        if (db) {
            share(out, p, np, &lo, &hi);
            for (int i = 0; i < N; i++) {
                const float *row = dy + (size_t)i * out;
                for (int j = lo; j < hi; j++) db[j] += row[j];
            }
        }
    }
    blas_serial_end(token);
}
