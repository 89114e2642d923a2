/* bf16 matrix products through oneDNN (issue 20): the `--precision bf16` path.
 *
 * Inputs are rounded to bfloat16 (8-bit mantissa, round to nearest even),
 * products are accumulated and returned in float32. OpenBLAS stays the fp32
 * path; this module is only the bf16 one. Every call is SINGLE-THREADED (the
 * model cuts its work into fixed blocks and calls this per block from its
 * own OpenMP threads), so the bits depend on the block shapes only, never on
 * the thread count. oneDNN primitives are created once per shape (a process-
 * wide cache) and reused, so no kernel is generated again after the first
 * step. Without oneDNN at build time (PTRAG_HAVE_DNNL undefined) the functions
 * still exist: ptrag_bf16_available() is 0 and the products fail with
 * PTRAG_E_UNSUPPORTED. */
#ifndef PTRAG_BF16_H
#define PTRAG_BF16_H

#include <stddef.h>
#include <stdint.h>

#include "ptrag/error.h"

/* Rows of the left operand and the inner dimension are padded to multiples
 * of this (zeros) by the callers' packing, which bounds the number of distinct
 * shapes (and so of primitives) when a dimension varies from batch to batch. */
#define PTRAG_BF16_PAD 16

/* 1 when this build links oneDNN. */
int ptrag_bf16_available(void);

/* 1 when the CPU computes bf16 natively (AVX512-BF16 or AMX-BF16, by CPUID);
 * `desc` (may be NULL) receives the features found, e.g. "avx512_bf16 amx_bf16". */
int ptrag_bf16_cpu_native(char *desc, size_t n);

/* A line about oneDNN for `ptrag doctor`: version, threading runtime, the ISA
 * it dispatches to and the implementation it picks for a model-shaped bf16
 * matmul; or why there is none. */
void ptrag_bf16_describe(char *buf, size_t n);

/* float32 -> bfloat16, round to nearest even (NaN stays NaN). */
uint16_t ptrag_bf16_from_float(float x);
float ptrag_bf16_to_float(uint16_t h);
void ptrag_bf16_round(uint16_t *dst, const float *src, long n);

/* Copies the row-major float matrix src[rows, cols] (leading dimension ld)
 * into dst[rows_p, cols_p] (rows_p >= rows, cols_p >= cols, leading dimension
 * cols_p) as bf16, zero in the padding. Serial. */
void ptrag_bf16_pack(uint16_t *dst, int rows_p, int cols_p, const float *src, int rows, int cols, int ld);

/* C[M,N] = op(A) op(B) + beta C with bf16 A, B and float32 C, serial.
 * op(A) is [M, K] (transA: A is stored [K, lda >= M] and transposed), op(B) is
 * [K, N] (transB: B is stored [N, ldb >= K]). A must have Mp >= M rows of
 * op(A) readable, rows M..Mp-1 zero (Mp a multiple of PTRAG_BF16_PAD, or = M):
 * a block whose M is not a multiple is computed Mp rows high into a per-thread
 * buffer and then added. Returns 0, PTRAG_E_NOMEM, or PTRAG_E_UNSUPPORTED
 * (no oneDNN, or it rejected the shape). */
int ptrag_bf16_gemm(int transA, int transB, int M, int Mp, int N, int K, const uint16_t *A, int lda,
                    const uint16_t *B, int ldb, float beta, float *C, int ldc);

/* The same with B a weight: the bf16 copy of a parameter that stays as it is
 * until the next ptrag_bf16_weights_changed(). Its reordering into oneDNN's
 * blocked layout is then made once and reused by every call (the bits are
 * those of a plain B: a reorder only moves values). */
int ptrag_bf16_gemm_weight(int transA, int transB, int M, int Mp, int N, int K, const uint16_t *A, int lda,
                           const uint16_t *B, int ldb, float beta, float *C, int ldc);
/* `batch` products C_b[M,N] = op(A_b) op(B_b) in one serial call, every
 * matrix dense and stored one after the other: A_b [M, K] (transA: [K, M]),
 * B_b [K, N] (transB: [N, K]), C_b [M, N] float32 (overwritten). For the
 * attention's many small per-(set, head) products, which cost less than one
 * call's fixed overhead each. Same returns as ptrag_bf16_gemm. */
int ptrag_bf16_bmm(int batch, int transA, int transB, int M, int N, int K, const uint16_t *A, const uint16_t *B,
                   float *C);

/* Every weight copy may have changed (after the copy is remade); and the
 * copy [base, base + n) goes away (frees its reordered layouts). */
void ptrag_bf16_weights_changed(void);
void ptrag_bf16_forget_weights(const uint16_t *base, size_t n);

/* Primitives in the cache (for tests and `ptrag doctor`). */
int ptrag_bf16_cached_primitives(void);

/* For benchmarks: FLOPs (2MNK) and thread CPU seconds spent in
 * ptrag_bf16_gemm since the last reset, summed over threads (CPU time, so a
 * shared machine's descheduling does not count); and oneDNN's own threaded
 * bf16 matmul rate on n^3 with `threads` threads, best of 3 (GFLOP/s; one
 * thread: by its CPU time; 0 without oneDNN). */
void ptrag_bf16_stats(double *flops, double *thread_seconds);
void ptrag_bf16_stats_reset(void);
/* The same for ptrag_bf16_bmm (reset together with the above). */
void ptrag_bf16_bmm_stats(double *flops, double *thread_seconds);
/* For benchmarks: each primitive executed since the last reset, its shape
 * (M x N x K of C = op(A) op(B); "b x [..]" for batched ones), FLOPs and
 * thread CPU seconds inside oneDNN, and oneDNN's rate on the same primitive
 * alone on cache-hot buffers (best of 3; GFLOP/s), which is what that shape
 * can reach here. Writes at most n; returns how many. */
typedef struct ptrag_bf16_shape {
    char desc[64];
    double flops, seconds, alone_gflops;
} ptrag_bf16_shape;
int ptrag_bf16_shapes(ptrag_bf16_shape *out, int n);
double ptrag_bf16_peak_gflops(int n, int threads);

#endif
