/* Small kernels the models share: thread-count-independent reductions, a
 * vectorisable exact GELU, a threaded matrix product with leading dimensions
 * (fp32 through OpenBLAS, bf16 through oneDNN), and the distinct-candidate
 * gather. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/bf16.h"
#include "ptrag/params.h"

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

/* ---------------------------------------------------------------- bf16
 * --precision bf16 (include/ptrag/bf16.h): operands rounded to bf16, oneDNN
 * per block, fp32 accumulation and output. Weights come from m->w16, the
 * copy of the whole parameter arena each forward makes; activations are
 * packed once per product. Rows of op(A) and, where both operands are
 * packed, K are padded to PTRAG_BF16_PAD with zeros, so batch-dependent
 * sizes (the distinct candidates U) map to few primitive shapes. */

static int pad_up(int n) { return (n + PTRAG_BF16_PAD - 1) / PTRAG_BF16_PAD * PTRAG_BF16_PAD; }

static void bf16_fail(ptrag_model *m, int rc) {
#pragma omp critical(ptrag_model_bf16_status)
    if (!m->bf16_status) m->bf16_status = rc;
}

int model_bf16_refresh(ptrag_model *m, ptrag_error *err) {
    if (!m->bf16) return 0;
    const float *v = ptrag_params_values(m->ps);
    size_t n = ptrag_params_total(m->ps);
    if (m->w16_base != v || m->w16_n != n) {
        free(m->w16);
        m->w16 = aligned_alloc(64, (n * sizeof(uint16_t) + 63) / 64 * 64 + 64);
        if (!m->w16) return ptrag_fail(err, PTRAG_E_NOMEM, "model: no memory for the bf16 weight copy (%zu values)", n);
        m->w16_base = v, m->w16_n = n;
    }
    enum { CHUNK = 1 << 16 };
    long nc = (long)((n + CHUNK - 1) / CHUNK);
#pragma omp parallel for schedule(static) if (nc > 1)
    for (long c = 0; c < nc; c++) {
        size_t lo = (size_t)c * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
        ptrag_bf16_round(m->w16 + lo, v + lo, (long)len);
    }
    m->bf16_status = 0;
    return 0;
}

int model_bf16_check(ptrag_model *m, ptrag_error *err) {
    if (!m->bf16_status) return 0;
    int rc = m->bf16_status;
    m->bf16_status = 0;
    return ptrag_fail(err, rc, "model: a bf16 matrix product failed (%s); --precision fp32 avoids oneDNN",
                      rc == PTRAG_E_NOMEM ? "out of memory" : "oneDNN rejected it");
}

/* The bf16 copy of B when B lies in the parameter arena, else NULL. */
static const uint16_t *weight16(const ptrag_model *m, const float *B) {
    if (!m->w16 || B < m->w16_base || B >= m->w16_base + m->w16_n) return NULL;
    return m->w16 + (B - m->w16_base);
}

/* Packs stored [rows, cols] (ld) into *buf as [rows_p, cols_p] bf16, growing
 * *buf; row blocks in parallel when called outside a parallel region. */
static uint16_t *pack16(uint16_t **buf, size_t *have, const float *src, int rows, int cols, int ld, int rows_p,
                        int cols_p, int parallel) {
    size_t need = (size_t)rows_p * cols_p;
    if (need > *have) {
        uint16_t *q = aligned_alloc(64, (need * sizeof(uint16_t) + 63) / 64 * 64);
        if (!q) return NULL;
        free(*buf);
        *buf = q, *have = need;
    }
    uint16_t *dst = *buf;
    enum { ROWS = 64 };
    int nb = (rows + ROWS - 1) / ROWS;
#pragma omp parallel for schedule(static) if (parallel && nb > 1 && (long)rows * cols > MODEL_PAR_WORK)
    for (int b = 0; b < nb; b++) {
        int r0 = b * ROWS, r = rows - r0 < ROWS ? rows - r0 : ROWS;
        ptrag_bf16_pack(dst + (size_t)r0 * cols_p, r, cols_p, src + (size_t)r0 * ld, r, cols, ld);
    }
    if (rows_p > rows) memset(dst + (size_t)rows * cols_p, 0, sizeof(uint16_t) * (size_t)(rows_p - rows) * cols_p);
    return dst;
}

/* Packed operands of one product: op(A) [Mp, Kp] and op(B) [Kp, N]. */
typedef struct packed {
    const uint16_t *A, *B;
    int lda, ldb, Mp, Kp;
} packed;

static int pack_operands(ptrag_model *m, packed *p, uint16_t **abuf, size_t *an, uint16_t **bbuf, size_t *bn,
                         int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                         int parallel) {
    const uint16_t *w = weight16(m, B);
    p->Mp = pad_up(M);
    p->Kp = w ? K : pad_up(K);
    p->A = ta ? pack16(abuf, an, A, K, M, lda, p->Kp, p->Mp, parallel)
              : pack16(abuf, an, A, M, K, lda, p->Mp, p->Kp, parallel);
    p->lda = ta ? p->Mp : p->Kp;
    if (w) {
        p->B = w, p->ldb = ldb;
    } else {
        p->B = tb ? pack16(bbuf, bn, B, N, K, ldb, N, p->Kp, parallel)
                  : pack16(bbuf, bn, B, K, N, ldb, p->Kp, N, parallel);
        p->ldb = tb ? p->Kp : N;
    }
    return p->A && p->B ? 0 : PTRAG_E_NOMEM;
}

static _Thread_local uint16_t *tile_a, *tile_b;
static _Thread_local size_t tile_an, tile_bn;

void model_mm(ptrag_model *m, int transA, int transB, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (!m->bf16) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N,
                    K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (M <= 0 || N <= 0) return;
    packed p;
    int rc = pack_operands(m, &p, &tile_a, &tile_an, &tile_b, &tile_bn, transA, transB, M, N, K, A, lda, B, ldb, 0);
    if (!rc) rc = ptrag_bf16_gemm(transA, transB, M, p.Mp, N, p.Kp, p.A, p.lda, p.B, p.ldb, beta, C, ldc);
    if (rc) bf16_fail(m, rc);
}

/* ---------------------------------------------------------------- gemm */

void model_gemm(ptrag_model *m, int transA, int transB, int M, int N, int K, float alpha, const float *A,
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
    const int par = nblocks > 1 && (long)M * N * K > MODEL_PAR_WORK;
    if (m->bf16 && alpha == 1.0f) {
        packed p;
        int rc = pack_operands(m, &p, &m->pack_a, &m->pack_a_n, &m->pack_b, &m->pack_b_n, transA, transB, M, N, K,
                               A, lda, B, ldb, 1);
        if (rc) {
            bf16_fail(m, rc);
            return;
        }
#pragma omp parallel for schedule(dynamic, 1) if (par)
        for (int blk = 0; blk < nblocks; blk++) {
            int lo = blk * GEMM_BLOCK, n = len - lo < GEMM_BLOCK ? len - lo : GEMM_BLOCK, r;
            if (split_m)
                r = ptrag_bf16_gemm(transA, transB, n, pad_up(n), N, p.Kp, transA ? p.A + lo : p.A + (size_t)lo * p.lda,
                                    p.lda, p.B, p.ldb, beta, C + (size_t)lo * ldc, ldc);
            else
                r = ptrag_bf16_gemm(transA, transB, M, p.Mp, n, p.Kp, p.A, p.lda,
                                    transB ? p.B + (size_t)lo * p.ldb : p.B + lo, p.ldb, beta, C + lo, ldc);
            if (r) bf16_fail(m, r);
        }
        return;
    }
    int token = blas_serial_begin();
#pragma omp parallel for schedule(dynamic, 1) if (par)
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

void model_linear_forward(ptrag_model *m, float *y, const float *x, const float *W, const float *b, int N, int in,
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
    model_gemm(m, 0, 1, N, out, in, 1.0f, x, in, W, in, beta, y, out);
}

void model_linear_dx(ptrag_model *m, float *dx, const float *dy, const float *W, int N, int in, int out) {
    if (N <= 0 || in <= 0) return;
    if (out <= 0) {
        memset(dx, 0, sizeof(float) * (size_t)N * in);
        return;
    }
    model_gemm(m, 0, 0, N, in, out, 1.0f, dy, out, W, in, 0.0f, dx, in);
}

void model_linear_backward(ptrag_model *m, float *dx, float *dW, float *db, const float *dy, const float *x,
                           const float *W, int N, int in, int out) {
    if (N <= 0 || out <= 0) return;
    if (dx) model_gemm(m, 0, 0, N, in, out, 1.0f, dy, out, W, in, 1.0f, dx, in);
    if (dW) model_gemm(m, 1, 0, out, in, N, 1.0f, dy, out, x, in, 1.0f, dW, in);
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
