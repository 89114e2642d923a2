/* Small kernels the models share: thread-count-independent reductions, a
 * vectorisable exact GELU, a threaded sgemm with leading dimensions, and the
 * distinct-candidate gather. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "model/model_internal.h"
#include "nn/blas_threads.h"

/* ---------------------------------------------------------------- sums */

enum { SUM_BLOCK = 4096 };

/* Blocks of SUM_BLOCK summed in double, then the block sums in block order:
 * the same bits for any number of threads. */
double model_dot_fixed(const float *x, const float *y, long n) {
    long nb = (n + SUM_BLOCK - 1) / SUM_BLOCK;
    double total = 0.0;
    enum { CHUNK = 64 }; /* blocks per pass, so the partials fit on the stack */
    for (long b0 = 0; b0 < nb; b0 += CHUNK) {
        double part[CHUNK];
        long nbc = nb - b0 < CHUNK ? nb - b0 : CHUNK;
#pragma omp parallel for schedule(static) if (nbc > 1)
        for (long b = 0; b < nbc; b++) {
            long lo = (b0 + b) * SUM_BLOCK, hi = lo + SUM_BLOCK < n ? lo + SUM_BLOCK : n;
            double s = 0.0;
            if (y)
                for (long i = lo; i < hi; i++) s += (double)x[i] * y[i];
            else
                for (long i = lo; i < hi; i++) s += x[i];
            part[b] = s;
        }
        for (long b = 0; b < nbc; b++) total += part[b];
    }
    return total;
}

double model_sum_fixed(const float *x, long n) { return model_dot_fixed(x, NULL, n); }

double model_sqdev_fixed(const float *x, long n, double mean) {
    long nb = (n + SUM_BLOCK - 1) / SUM_BLOCK;
    double total = 0.0;
    enum { CHUNK = 64 };
    for (long b0 = 0; b0 < nb; b0 += CHUNK) {
        double part[CHUNK];
        long nbc = nb - b0 < CHUNK ? nb - b0 : CHUNK;
#pragma omp parallel for schedule(static) if (nbc > 1)
        for (long b = 0; b < nbc; b++) {
            long lo = (b0 + b) * SUM_BLOCK, hi = lo + SUM_BLOCK < n ? lo + SUM_BLOCK : n;
            double s = 0.0;
            for (long i = lo; i < hi; i++) {
                double d = x[i] - mean;
                s += d * d;
            }
            part[b] = s;
        }
        for (long b = 0; b < nbc; b++) total += part[b];
    }
    return total;
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
    float half_erfc = 0.5f * t * model_exp(-z * z + poly);
    return x >= 0.0f ? 1.0f - half_erfc : half_erfc;
}

void model_gelu_forward(float *y, const float *x, long n) {
#pragma omp simd
    for (long i = 0; i < n; i++) y[i] = x[i] * phi_cdf(x[i]);
}

float model_gelu_grad(float x) {
    return phi_cdf(x) + x * 0.39894228040143268f * model_exp(-0.5f * x * x);
}

void model_gelu_grad_mul(float *d, const float *x, long n) {
#pragma omp simd
    for (long i = 0; i < n; i++) {
        float v = x[i];
        d[i] *= phi_cdf(v) + v * 0.39894228040143268f * model_exp(-0.5f * v * v);
    }
}

/* ---------------------------------------------------------------- SwiGLU */

/* h = silu(g) u over rows of gu = [gate | up] (F each); the sigmoid through
 * model_exp so the loop vectorises (libm's expf is a call per element).
 * Serial: the backbone calls these inside its own parallel loop over tiles.
 * The backward (below) OVERWRITES dgu = [dh u s (1 + g (1 - s)) | dh g s]. */
void model_swiglu_rows(float *h, const float *gu, int N, int F) {
    for (int r = 0; r < N; r++) {
        const float *g = gu + (size_t)r * 2 * F, *u = g + F;
        float *hr = h + (size_t)r * F;
#pragma omp simd
        for (int j = 0; j < F; j++) hr[j] = g[j] * u[j] / (1.0f + model_exp(-g[j]));
    }
}

void model_swiglu_backward_rows(float *dgu, const float *dh, const float *gu, int N, int F) {
    for (int r = 0; r < N; r++) {
        const float *g = gu + (size_t)r * 2 * F, *u = g + F, *d = dh + (size_t)r * F;
        float *dg = dgu + (size_t)r * 2 * F, *du = dg + F;
#pragma omp simd
        for (int j = 0; j < F; j++) {
            float s = 1.0f / (1.0f + model_exp(-g[j]));
            float gs = g[j] * s;
            dg[j] = d[j] * u[j] * (s + gs * (1.0f - s));
            du[j] = d[j] * gs;
        }
    }
}


/* ---------------------------------------------------------------- sgemm */

/* Work is cut into blocks of a FIXED size along the longer of M and N (never
 * along K), each one single-threaded sgemm, handed out dynamically to the
 * OpenMP threads (a core shared with another process then simply takes fewer
 * blocks instead of holding the others up).
 * OpenBLAS picks different kernels for different block shapes (its small-
 * matrix path), so blocks that depended on the thread count would change the
 * rounding; fixed blocks give the same bits for any thread count. */
#define GEMM_BLOCK 256

void model_gemm(int transA, int transB, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] *= beta;
        return;
    }
    const enum CBLAS_TRANSPOSE ta = transA ? CblasTrans : CblasNoTrans;
    const enum CBLAS_TRANSPOSE tb = transB ? CblasTrans : CblasNoTrans;
    const int split_m = M >= N;
    const int len = split_m ? M : N;
    const int nblocks = (len + GEMM_BLOCK - 1) / GEMM_BLOCK;
    int token = blas_serial_begin();
#pragma omp parallel for schedule(dynamic, 1) if (nblocks > 1 && (long)M * N * K > MODEL_PAR_WORK)
    for (int blk = 0; blk < nblocks; blk++) {
        int lo = blk * GEMM_BLOCK, n = len - lo < GEMM_BLOCK ? len - lo : GEMM_BLOCK;
        if (split_m) {
            const float *Ab = transA ? A + lo : A + (size_t)lo * lda;
            cblas_sgemm(CblasRowMajor, ta, tb, n, N, K, alpha, Ab, lda, B, ldb, beta,
                        C + (size_t)lo * ldc, ldc);
        } else {
            const float *Bb = transB ? B + (size_t)lo * ldb : B + lo;
            cblas_sgemm(CblasRowMajor, ta, tb, M, n, K, alpha, A, lda, Bb, ldb, beta, C + lo, ldc);
        }
    }
    blas_serial_end(token);
}

void model_linear_forward(float *y, const float *x, const float *W, const float *b, int N, int in,
                          int out, int accumulate) {
    if (N <= 0 || out <= 0) return;
    float beta = accumulate ? 1.0f : 0.0f;
    if (b) {
#pragma omp parallel for schedule(static) if ((long)N * out > MODEL_PAR_WORK)
        for (int i = 0; i < N; i++) {
            float *row = y + (size_t)i * out;
            if (accumulate)
                for (int j = 0; j < out; j++) row[j] += b[j];
            else
                memcpy(row, b, sizeof(float) * (size_t)out);
        }
        beta = 1.0f;
    }
    model_gemm(0, 1, N, out, in, 1.0f, x, in, W, in, beta, y, out);
}

void model_linear_dx(float *dx, const float *dy, const float *W, int N, int in, int out) {
    if (N <= 0 || in <= 0) return;
    if (out <= 0) {
        memset(dx, 0, sizeof(float) * (size_t)N * in);
        return;
    }
    model_gemm(0, 0, N, in, out, 1.0f, dy, out, W, in, 0.0f, dx, in);
}

void model_linear_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                           const float *W, int N, int in, int out) {
    if (N <= 0 || out <= 0) return;
    if (dx) model_gemm(0, 0, N, in, out, 1.0f, dy, out, W, in, 1.0f, dx, in);
    if (dW) model_gemm(1, 0, out, in, N, 1.0f, dy, out, x, in, 1.0f, dW, in);
    if (db) {
        /* Column sums in row order: each column owned by one thread. */
        enum { COLS = 64 };
        int nb = (out + COLS - 1) / COLS;
#pragma omp parallel for schedule(static) if ((long)N * out > MODEL_PAR_WORK)
        for (int blk = 0; blk < nb; blk++) {
            int j0 = blk * COLS, j1 = j0 + COLS < out ? j0 + COLS : out;
            for (int i = 0; i < N; i++) {
                const float *row = dy + (size_t)i * out;
                for (int j = j0; j < j1; j++) db[j] += row[j];
            }
        }
    }
}

/* ---------------------------------------------------------------- candidates */

void model_gather_candidates(ptrag_model *m, const int32_t *cand, float *dbU) {
    const int BK = m->n_sets * m->K;
    int U = 0;
    for (int s = 0; s < BK; s++) {
        int32_t row = cand[s];
        if (m->row_slot[row] < 0) {
            m->row_slot[row] = U;
            m->urow[U++] = row;
        }
        m->slot_row[s] = m->row_slot[row];
    }
    for (int u = 0; u < U; u++) m->row_slot[m->urow[u]] = -1; /* ready for the next call */
    m->U = U;
    const size_t E = (size_t)m->E;
#pragma omp parallel for schedule(static) if ((long)U * m->E > MODEL_PAR_WORK)
    for (int u = 0; u < U; u++)
        memcpy(dbU + (size_t)u * E, m->db + (size_t)m->urow[u] * E, E * sizeof(float));
}
