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
 * each forward makes (oneDNN reorders each once into its blocked layout, see
 * ptrag_bf16_gemm_weight); activations are packed once per product, in
 * column panels where a block would otherwise be a strided operand. Rows of
 * op(A) and, where both operands are packed, K are padded to PTRAG_BF16_PAD
 * with zeros, so batch-dependent sizes (the distinct candidates U) map to few
 * primitive shapes. */
#include <cblas.h>
#include <limits.h>
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

void ptrag_matmul_fail(ptrag_matmul *mm, int rc) {
    pthread_mutex_lock(&status_lock);
    if (!mm->status) mm->status = rc;
    pthread_mutex_unlock(&status_lock);
}

int ptrag_matmul_set_weights(ptrag_matmul *mm, const float *v, size_t n, ptrag_error *err) {
    if (!mm->bf16) return 0;
    if (mm->w16_base != v || mm->w16_n != n) {
        if (mm->w16) ptrag_bf16_forget_weights(mm->w16, mm->w16_n);
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
    ptrag_bf16_weights_changed();
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
    if (mm->w16) ptrag_bf16_forget_weights(mm->w16, mm->w16_n);
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

/* Packs stored [rows, cols] (ld) into *buf as [rows_p, cols_p] bf16 (zero
 * padding), growing *buf, cut into column panels of `panel` columns (the
 * last one narrower) stored one after the other: panel p starts at
 * rows_p * p * panel and has leading dimension its own width, so a block of
 * columns is a dense matrix (panel >= cols_p: plain row-major). Row blocks
 * in parallel when called outside a parallel region. */
static uint16_t *pack16(uint16_t **buf, size_t *have, const float *src, int rows, int cols, int ld, int rows_p,
                        int cols_p, int panel, int parallel) {
    size_t need = (size_t)rows_p * cols_p;
    if (need > *have) {
        uint16_t *q = aligned_alloc(64, (need * sizeof(uint16_t) + 63) / 64 * 64);
        if (!q) return NULL;
        free(*buf);
        *buf = q, *have = need;
    }
    uint16_t *dst = *buf;
    if (panel > cols_p) panel = cols_p;
    const int npanels = (cols_p + panel - 1) / panel;
    enum { ROWS = 64 };
    int nb = (rows + ROWS - 1) / ROWS;
#pragma omp parallel for schedule(static) if (parallel && nb > 1 && (long)rows * cols > PTRAG_NN_PAR_WORK)
    for (int b = 0; b < nb; b++) {
        int r0 = b * ROWS, r = rows - r0 < ROWS ? rows - r0 : ROWS;
        for (int q = 0; q < npanels; q++) {
            int c0 = q * panel, w = cols_p - c0 < panel ? cols_p - c0 : panel;
            int c = cols - c0 < w ? (cols > c0 ? cols - c0 : 0) : w;
            ptrag_bf16_pack(dst + (size_t)rows_p * c0 + (size_t)r0 * w, r, w, src + (size_t)r0 * ld + c0, r, c, ld);
        }
    }
    for (int q = 0; q < npanels && rows_p > rows; q++) {
        int c0 = q * panel, w = cols_p - c0 < panel ? cols_p - c0 : panel;
        memset(dst + (size_t)rows_p * c0 + (size_t)rows * w, 0, sizeof(uint16_t) * (size_t)(rows_p - rows) * w);
    }
    return dst;
}

/* Packed operands of one product: op(A) [Mp, Kp] and op(B) [Kp, N]; a_panel
 * (b_panel): the columns of stored A (B) per panel (see pack16), INT_MAX for
 * plain. */
typedef struct packed {
    const uint16_t *A, *B;
    int lda, ldb, Mp, Kp;
    int weight; /* B is the weight copy */
} packed;

static int pack_operands(const ptrag_matmul *mm, packed *p, uint16_t **abuf, size_t *an, uint16_t **bbuf,
                         size_t *bn, int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
                         int ldb, int a_panel, int b_panel, int parallel) {
    const uint16_t *w = weight16(mm, B);
    p->Mp = pad_up(M);
    p->Kp = w ? K : pad_up(K);
    p->A = ta ? pack16(abuf, an, A, K, M, lda, p->Kp, p->Mp, a_panel, parallel)
              : pack16(abuf, an, A, M, K, lda, p->Mp, p->Kp, INT_MAX, parallel);
    p->lda = ta ? (a_panel < p->Mp ? a_panel : p->Mp) : p->Kp;
    p->weight = w != NULL;
    if (w) {
        p->B = w, p->ldb = ldb;
    } else {
        p->B = tb ? pack16(bbuf, bn, B, N, K, ldb, N, p->Kp, INT_MAX, parallel)
                  : pack16(bbuf, bn, B, K, N, ldb, p->Kp, N, b_panel, parallel);
        p->ldb = tb ? p->Kp : (b_panel < N ? b_panel : N);
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
                           INT_MAX, INT_MAX, 0);
    if (!rc) rc = (p.weight ? ptrag_bf16_gemm_weight : ptrag_bf16_gemm)(transA, transB, M, p.Mp, N, p.Kp, p.A, p.lda,
                                                                       p.B, p.ldb, beta, C, ldc);
    if (rc) ptrag_matmul_fail(mm, rc);
}

/* oneDNN 2.6's brgemm matmul takes a transposed A or a plain B only when
 * dense (leading dimension = its rows or columns); a strided block of either
 * falls back to its generic gemm at about half the rate. So a transposed A
 * cut along M, and a packed plain B cut along N, are packed in panels of
 * GEMM_BLOCK columns, one dense matrix per block. */
static void gemm_bf16(ptrag_matmul *mm, int transA, int transB, int M, int N, int K, const float *A, int lda,
                      const float *B, int ldb, float beta, float *C, int ldc, int split_m, int len, int nblocks,
                      int par) {
    packed p;
    const int a_panel = split_m && transA ? GEMM_BLOCK : INT_MAX, b_panel = !split_m ? GEMM_BLOCK : INT_MAX;
    int rc = pack_operands(mm, &p, &mm->pack_a, &mm->pack_a_n, &mm->pack_b, &mm->pack_b_n, transA, transB, M, N,
                           K, A, lda, B, ldb, a_panel, b_panel, 1);
    if (rc) {
        ptrag_matmul_fail(mm, rc);
        return;
    }
    const int b_panels = !transB && !p.weight;
#pragma omp parallel for schedule(dynamic, 1) if (par)
    for (int blk = 0; blk < nblocks; blk++) {
        int lo = blk * GEMM_BLOCK, n = len - lo < GEMM_BLOCK ? len - lo : GEMM_BLOCK, r;
        if (split_m) {
            const uint16_t *Ab = transA ? p.A + (size_t)p.Kp * lo : p.A + (size_t)lo * p.lda;
            const int ldab = transA ? (p.Mp - lo < GEMM_BLOCK ? p.Mp - lo : GEMM_BLOCK) : p.lda;
            r = (p.weight ? ptrag_bf16_gemm_weight : ptrag_bf16_gemm)(transA, transB, n, pad_up(n), N, p.Kp, Ab, ldab,
                                                                      p.B, p.ldb, beta, C + (size_t)lo * ldc, ldc);
        } else {
            const uint16_t *Bb = transB ? p.B + (size_t)lo * p.ldb : b_panels ? p.B + (size_t)p.Kp * lo : p.B + lo;
            const int ldbb = b_panels ? n : p.ldb;
            r = ptrag_bf16_gemm(transA, transB, M, p.Mp, n, p.Kp, p.A, p.lda, Bb, ldbb, beta, C + lo, ldc);
        }
        if (r) ptrag_matmul_fail(mm, r);
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
