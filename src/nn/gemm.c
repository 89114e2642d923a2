/* Matrix products of the kernel library (see ptrag/nn.h): fp32 through
 * OpenBLAS, bf16 through oneDNN (--precision bf16, include/ptrag/bf16.h).
 *
 * Work is cut into blocks of a FIXED size along the longer of M and N (never
 * along K), each one single-threaded product, handed out dynamically to the
 * OpenMP threads (a core shared with another process then simply takes fewer
 * blocks instead of holding the others up). OpenBLAS picks different kernels
 * for different block shapes (its small-matrix path), so blocks that depended
 * on the thread count would change the rounding; fixed blocks give the same
 * bits for any thread count.
 *
 * bf16: operands rounded to bf16, oneDNN per block, fp32 accumulation and
 * output. Weights come from mm->w16, the copy of the whole weight arena that
 * each forward makes; activations are packed once per product. Rows of op(A)
 * and, where both operands are packed, K are padded to PTRAG_BF16_PAD with
 * zeros, so batch-dependent sizes (the distinct candidates U) map to few
 * primitive shapes. */
#include <cblas.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/blas_serial.h"
#include "ptrag/bf16.h"
#include "ptrag/nn.h"

#define GEMM_BLOCK 256

static int pad_up(int n) { return (n + PTRAG_BF16_PAD - 1) / PTRAG_BF16_PAD * PTRAG_BF16_PAD; }

/* Records the first failure (a mutex, not a named OpenMP critical: those
 * define extern symbols). */
static pthread_mutex_t status_lock = PTHREAD_MUTEX_INITIALIZER;

static void bf16_fail(ptrag_matmul *mm, int rc) {
    pthread_mutex_lock(&status_lock);
    if (!mm->status) mm->status = rc;
    pthread_mutex_unlock(&status_lock);
}

int ptrag_matmul_set_weights(ptrag_matmul *mm, const float *v, size_t n, ptrag_error *err) {
    if (!mm->bf16) return 0;
    if (mm->w16_base != v || mm->w16_n != n) {
        free(mm->w16);
        mm->w16 = aligned_alloc(64, (n * sizeof(uint16_t) + 63) / 64 * 64 + 64);
        if (!mm->w16) {
            mm->w16_base = NULL, mm->w16_n = 0;
            return ptrag_fail(err, PTRAG_E_NOMEM, "model: no memory for the bf16 weight copy (%zu values)", n);
        }
        mm->w16_base = v, mm->w16_n = n;
    }
    enum { CHUNK = 1 << 16 };
    long nc = (long)((n + CHUNK - 1) / CHUNK);
#pragma omp parallel for schedule(static) if (nc > 1)
    for (long c = 0; c < nc; c++) {
        size_t lo = (size_t)c * CHUNK, len = n - lo < CHUNK ? n - lo : CHUNK;
        ptrag_bf16_round(mm->w16 + lo, v + lo, (long)len);
    }
    mm->status = 0;
    return 0;
}

int ptrag_matmul_check(ptrag_matmul *mm, ptrag_error *err) {
    if (!mm->status) return 0;
    int rc = mm->status;
    mm->status = 0;
    return ptrag_fail(err, rc, "model: a bf16 matrix product failed (%s); --precision fp32 avoids oneDNN",
                      rc == PTRAG_E_NOMEM ? "out of memory" : "oneDNN rejected it");
}

void ptrag_matmul_free(ptrag_matmul *mm) {
    free(mm->w16), free(mm->pack_a), free(mm->pack_b);
    mm->w16 = mm->pack_a = mm->pack_b = NULL;
    mm->w16_base = NULL;
    mm->w16_n = mm->pack_a_n = mm->pack_b_n = 0;
}

/* The bf16 copy of B when B lies in the weight arena, else NULL. */
static const uint16_t *weight16(const ptrag_matmul *mm, const float *B) {
    if (!mm->w16 || B < mm->w16_base || B >= mm->w16_base + mm->w16_n) return NULL;
    return mm->w16 + (B - mm->w16_base);
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
#pragma omp parallel for schedule(static) if (parallel && nb > 1 && (long)rows * cols > PTRAG_NN_PAR_WORK)
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

static int pack_operands(const ptrag_matmul *mm, packed *p, uint16_t **abuf, size_t *an, uint16_t **bbuf,
                         size_t *bn, int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                         int ldb, int parallel) {
    const uint16_t *w = weight16(mm, B);
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

/* Per-thread packs of ptrag_mm (it runs inside the callers' parallel loops). */
static _Thread_local uint16_t *tile_a, *tile_b;
static _Thread_local size_t tile_an, tile_bn;

void ptrag_mm(ptrag_matmul *mm, int transA, int transB, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
    if (!mm || !mm->bf16) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N,
                    K, 1.0f, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    if (M <= 0 || N <= 0) return;
    packed p;
    int rc = pack_operands(mm, &p, &tile_a, &tile_an, &tile_b, &tile_bn, transA, transB, M, N, K, A, lda, B, ldb,
                           0);
    if (!rc) rc = ptrag_bf16_gemm(transA, transB, M, p.Mp, N, p.Kp, p.A, p.lda, p.B, p.ldb, beta, C, ldc);
    if (rc) bf16_fail(mm, rc);
}

static void gemm_bf16(ptrag_matmul *mm, int transA, int transB, int M, int N, int K, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc, int split_m, int len, int nblocks,
                      int par) {
    packed p;
    int rc = pack_operands(mm, &p, &mm->pack_a, &mm->pack_a_n, &mm->pack_b, &mm->pack_b_n, transA, transB, M, N,
                           K, A, lda, B, ldb, 1);
    if (rc) {
        bf16_fail(mm, rc);
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
        if (r) bf16_fail(mm, r);
    }
}

void ptrag_gemm(ptrag_matmul *mm, int transA, int transB, int M, int N, int K, float alpha, const float *A,
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
    const int par = nblocks > 1 && (long)M * N * K > PTRAG_NN_PAR_WORK;
    if (mm && mm->bf16 && alpha == 1.0f) {
        gemm_bf16(mm, transA, transB, M, N, K, A, lda, B, ldb, beta, C, ldc, split_m, len, nblocks, par);
        return;
    }
    int token = ptrag_blas_serial_begin();
#pragma omp parallel for schedule(dynamic, 1) if (par)
    for (int blk = 0; blk < nblocks; blk++) {
        int lo = blk * GEMM_BLOCK, n = len - lo < GEMM_BLOCK ? len - lo : GEMM_BLOCK;
        if (split_m) {
            const float *Ab = transA ? A + lo : A + (size_t)lo * lda;
            cblas_sgemm(CblasRowMajor, ta, tb, n, N, K, alpha, Ab, lda, B, ldb, beta, C + (size_t)lo * ldc, ldc);
        } else {
            const float *Bb = transB ? B + (size_t)lo * ldb : B + lo;
            cblas_sgemm(CblasRowMajor, ta, tb, M, n, K, alpha, A, lda, Bb, ldb, beta, C + lo, ldc);
        }
    }
    ptrag_blas_serial_end(token);
}
