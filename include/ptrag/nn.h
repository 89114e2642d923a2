/* Stage src/nn of the pipeline (include/ptrag.h, README "Layout"): the kernel library; uses core.
 *
 * The kernel library: every numerical op the network runs, as forward and
 * backward pairs over flat float32 arrays (src/nn). The model (src/model)
 * calls these and has no kernels of its own; the gradient tests
 * (tests/test_nn_grad.c) and the PyTorch twin (tests/test_nn_twin.c) check
 * these same functions, so what is tested is what runs.
 *
 * The fixed-block rule: results are bit-identical for any number of threads.
 * Work is split into blocks of a FIXED size (256 rows or columns of a product,
 * 4096 floats of a reduction, 32 or 64 columns of a weight-gradient sum, one
 * set of a set loss, one candidate pair of the selection), never one block
 * per thread, and partial results are combined in block order. Blocks
 * are handed to OpenMP threads dynamically (a core shared with another
 * process takes fewer blocks instead of holding the others up), and every
 * BLAS call inside a block runs single-threaded (ptrag_blas_serial_begin in
 * src/core/blas_serial.h): OpenBLAS rounds differently with different
 * numbers of its own threads, and its pool would oversubscribe OpenMP's.
 *
 * Conventions (every op below follows them unless its comment says otherwise):
 *  - Tensors are row-major float32. "N" is a number of rows (tokens), the last
 *    dimension is contiguous. Linear weights use PyTorch's layout W[out, in],
 *    so y = x W^T + b.
 *  - forward OVERWRITES its output. backward ACCUMULATES (+=) into every
 *    gradient it is given (inputs and parameters), so a tensor that feeds
 *    several branches (residuals, shared encoders) just receives several
 *    backward calls. A gradient pointer that is NULL is not computed. Ops
 *    whose gradient the model writes once (attention, SwiGLU, GELU, ReLU,
 *    dropout, softmax, Gumbel selection, std-normalisation,
 *    ptrag_linear_backward_dx) OVERWRITE it instead, as stated, so no
 *    zeroing pass is needed.
 *  - Nothing allocates (except the bf16 packing buffers of ptrag_matmul).
 *    Ops that keep state for backward write it into caller-provided buffers
 *    whose sizes are stated.
 *  - "Serial" ops run on the calling thread: the model runs them inside its
 *    own parallel loop over tiles. The others may start an OpenMP region; do
 *    not call them from inside your own parallel region.
 *  - Random ops (dropout, Gumbel noise) use the counter-based hash of
 *    ptrag/rng.h: the draw for element i is f(seed, stream, i), independent
 *    of threads.
 * Docs: docs/nn.md. */
#ifndef PTRAG_NN_H
#define PTRAG_NN_H

#include <stddef.h>
#include <stdint.h>

#include "ptrag/error.h"
#include "ptrag/rng.h"

/* Loops over less work than this (floats touched) run serially: a parallel
 * region costs a fork and a barrier, milliseconds when a core is busy. */
#define PTRAG_NN_PAR_WORK 32768L

/* ------------------------------------------------------------------------ */
/* Fixed-order reductions: blocks of 4096 summed in double, then the block
 * sums in block order (the same bits for any thread count). The clipping
 * norm uses dot; sum and sqdev (sum (x - mean)^2) have no caller outside
 * src/nn (the std-normalisation's two passes): they are public beside dot so
 * the tests check all three. */
double ptrag_sum_fixed(const float *x, long n);
double ptrag_dot_fixed(const float *x, const float *y, long n);
double ptrag_sqdev_fixed(const float *x, long n, double mean);

/* ------------------------------------------------------------------------ */
/* Matrix products. A ptrag_matmul says how products run: fp32 through
 * OpenBLAS (zero-initialised struct, or a NULL pointer), or bf16 (--precision
 * bf16, include/ptrag/bf16.h): operands rounded to bf16, oneDNN per block,
 * fp32 accumulation and output. Weights come from a bf16 copy of one weight
 * arena (ptrag_matmul_set_weights, once per forward); other operands are
 * packed once per product. */
typedef struct ptrag_matmul {
    int bf16;                 /* set by the owner before use */
    uint16_t *w16;            /* bf16 copy of [w16_base, w16_base + w16_n) */
    const float *w16_base;
    size_t w16_n;
    uint16_t *pack_a, *pack_b; /* whole-operand packs of ptrag_gemm */
    size_t pack_a_n, pack_b_n;
    int status;               /* first failure of a bf16 product (0: none) */
} ptrag_matmul;

/* bf16: (re)makes the bf16 copy of the weights values[0, n). No-op for fp32. */
int ptrag_matmul_set_weights(ptrag_matmul *mm, const float *values, size_t n, ptrag_error *err);
/* Turns a failed bf16 product since the last call into an error (and clears it). */
int ptrag_matmul_check(ptrag_matmul *mm, ptrag_error *err);
void ptrag_matmul_free(ptrag_matmul *mm); /* frees the buffers, keeps bf16 */
/* Records a bf16 product's failure code (the first one wins; thread-safe). */
void ptrag_matmul_fail(ptrag_matmul *mm, int rc);

/* C[M,N] = alpha op(A) op(B) + beta C (row-major), cut into blocks of a fixed
 * size along the longer of M and N (never along K), one single-threaded
 * product per block, threaded over blocks. bf16 needs alpha 1 (else fp32). */
void ptrag_gemm(ptrag_matmul *mm, int transA, int transB, int M, int N, int K, float alpha,
                const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* One single-threaded product with alpha 1 (serial: for the model's tiles). */
void ptrag_mm(ptrag_matmul *mm, int transA, int transB, int M, int N, int K, const float *A,
              int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* ------------------------------------------------------------------------ */
/* Linear layer: y[N,out] = x[N,in] W[out,in]^T + b[out]  (b may be NULL);
 * accumulate != 0: y += x W^T + b instead. Products by ptrag_gemm. */
void ptrag_linear_forward(ptrag_matmul *mm, float *y, const float *x, const float *W,
                          const float *b, int N, int in, int out, int accumulate);
/* dx[N,in] += dy W;  dW[out,in] += dy^T x;  db[out] += column sums of dy (in
 * row order). Any of dx, dW, db may be NULL (frozen weights: dW = db = NULL). */
void ptrag_linear_backward(ptrag_matmul *mm, float *dx, float *dW, float *db, const float *dy,
                           const float *x, const float *W, int N, int in, int out);
/* dx = dy W (OVERWRITES dx: no zeroing pass needed). */
void ptrag_linear_backward_dx(ptrag_matmul *mm, float *dx, const float *dy, const float *W,
                              int N, int in, int out);

/* ------------------------------------------------------------------------ */
/* Embedding lookup: y[i,:] += table[ids[i], :] for i < N (ADDS into y: the
 * batch embedding goes straight into the transformer input). */
void ptrag_embedding_forward(float *y, const float *table, const int *ids, int N, int dim);
/* dtable[ids[i], :] += dy[i, :]. Repeated ids accumulate (in row order). */
void ptrag_embedding_backward(float *dtable, const float *dy, const int *ids, int N, int dim);

/* Elementwise add (residual): y = a + b over n floats. y may alias a or b.
 * Its backward is ptrag_accumulate into each input's gradient. */
void ptrag_add_forward(float *y, const float *a, const float *b, long n);
/* dst += src over n floats (the building block of gradient accumulation). */
void ptrag_accumulate(float *dst, const float *src, long n);

/* ------------------------------------------------------------------------ */
/* RMSNorm over C (LLaMA, eps 1e-6): y = w * (x * rstd), rstd =
 * 1/sqrt(mean(x^2)+eps). Saves rstd[N]. w may be NULL (weight 1). Rows in
 * parallel above PTRAG_NN_PAR_WORK; callable inside a parallel region. */
void ptrag_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w,
                           int N, int C, float eps);
/* dx[N,C] += ..., dw[C] += ... (either may be NULL; dw sums rows in order). */
void ptrag_rmsnorm_backward(float *dx, float *dw, const float *dy, const float *x,
                            const float *w, const float *rstd, int N, int C);

/* ------------------------------------------------------------------------ */
/* Rotary position embedding, HuggingFace LLaMA convention: for head dim dh
 * (even), inv_freq_i = theta^(-2i/dh), i < dh/2; angle(s,i) = s * inv_freq_i;
 * x' = x*cos + rotate_half(x)*sin with rotate_half([a; b]) = [-b; a] on the two
 * halves of the head. The position s of a row is its index within its set
 * (0..S-1).
 *
 * ptrag_rope_table fills cos_t and sin_t, each [S, dh/2] (angles computed in
 * double). Fails with PTRAG_E_ARG when dh is odd or S, dh < 1. */
int ptrag_rope_table(float *cos_t, float *sin_t, int S, int dh, double theta,
                     ptrag_error *err);
/* Rotates x IN PLACE (serial). x holds nsets*S rows with row stride `ld`
 * floats; each row has `nheads` heads of dh floats starting at column 0 of
 * the view. For a fused QKV buffer [N, 3*nh*dh] call it with x = qkv,
 * nheads = 2*nh, ld = 3*nh*dh: Q and K are rotated, V is left alone. */
void ptrag_rope_forward(float *x, const float *cos_t, const float *sin_t,
                        int nsets, int S, int nheads, int dh, int ld);
/* In place on the gradient buffer: dx = R^T dy (the inverse rotation), so
 * d(rotated) becomes d(unrotated) in the same buffer. Same arguments. */
void ptrag_rope_backward(float *dx, const float *cos_t, const float *sin_t,
                         int nsets, int S, int nheads, int dh, int ld);

/* ------------------------------------------------------------------------ */
/* Softmax over the last axis C of [N, C] rows (serial; y may alias x):
 * y = exp(x - max) / sum, the exponential by a vectorisable polynomial
 * (relative error < 3e-9 before rounding). */
void ptrag_softmax_forward(float *y, const float *x, int N, int C);
/* dx = scale * y * (dy - sum(dy * y)) per row (OVERWRITES; dx may alias dy).
 * scale folds in the factor of the scores (1/sqrt(d) in attention). */
void ptrag_softmax_backward(float *dx, const float *dy, const float *y, int N, int C, float scale);

/* Multi-head self-attention within each of B sets of S tokens (serial: one
 * (set, head) after the other, small single-threaded sgemms on strided views;
 * with mm->bf16, all (set, head) pairs of the call in one batched bf16
 * product per step, see attention.c; mm may be NULL: fp32).
 * qkv [B*S, 3*A] with A = nh*dh: columns [0,A) are Q, [A,2A) K, [2A,3A) V, and
 * head h occupies columns h*dh..h*dh+dh-1 of each part (PyTorch's
 * view(B,S,nh,dh) of a fused projection). out [B*S, A] (heads concatenated).
 * Scores are Q K^T / sqrt(dh); causal != 0 masks key j > query i.
 * probs [B*nh*S*S] receives the softmax probabilities (kept for backward;
 * masked entries are exactly 0). */
void ptrag_attention_forward(ptrag_matmul *mm, float *out, float *probs, const float *qkv,
                             int B, int S, int nh, int dh, int causal);
/* dqkv [B*S, 3A] = gradient w.r.t. qkv (OVERWRITES: each block is written by
 * exactly one product). scratch: B*nh*S*S floats (any content; overwritten).
 * The mask is implied by the zeros in probs. */
void ptrag_attention_backward(ptrag_matmul *mm, float *dqkv, float *scratch, const float *dout,
                              const float *qkv, const float *probs,
                              int B, int S, int nh, int dh);

/* ------------------------------------------------------------------------ */
/* ReLU over n floats: y = max(x, 0) (y may alias x). */
void ptrag_relu_forward(float *y, const float *x, long n);
/* dx = dy where y > 0, else 0 (OVERWRITES; dx may alias dy). Takes the
 * OUTPUT y (y > 0 iff x > 0), so the input need not be kept. f'(0) = 0. */
void ptrag_relu_backward(float *dx, const float *dy, const float *y, long n);

/* Exact GELU, x Phi(x), with Phi by a Chebyshev fit of erfc (abs error
 * < 2e-7 against erf) so the loop vectorises. Serial. y may alias x. */
void ptrag_gelu_forward(float *y, const float *x, long n);
/* dx = dy * gelu'(x) (OVERWRITES; dx may alias dy). Serial. */
void ptrag_gelu_backward(float *dx, const float *dy, const float *x, long n);

/* SwiGLU gate (LLaMA MLP): gu [N, 2F] is the output of ONE fused projection
 * with weight [2F, H] = [W_gate; W_up] (gate columns first). h [N, F] =
 * silu(gate) * up. Serial. The MLP is linear(gu) -> swiglu -> linear(down). */
void ptrag_swiglu_forward(float *h, const float *gu, int N, int F);
/* dgu [N, 2F] = gradient (OVERWRITES). Serial. */
void ptrag_swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F);

/* Inverted dropout with probability p over n floats (serial; y may alias x):
 * element i is kept iff ptrag_hash_uniform(seed, stream, first + i) >= p,
 * kept values are scaled by 1/(1-p); keep[i] (may be NULL) receives the mask
 * for backward. p <= 0 is the identity (evaluation mode; keep untouched). */
void ptrag_dropout_forward(float *y, unsigned char *keep, const float *x, long n, float p,
                           uint64_t seed, uint64_t stream, uint64_t first);
/* dx = keep ? dy / (1-p) : 0 (OVERWRITES; dx may alias dy). p <= 0: dx = dy
 * (keep not read). */
void ptrag_dropout_backward(float *dx, const float *dy, const unsigned char *keep, long n,
                            float p);

/* ------------------------------------------------------------------------ */
/* Scalar statistics of a std-normalisation, kept for backward. */
typedef struct ptrag_stdnorm_stats {
    double count; /* entries, over every shard */
    double mean;  /* mean of all entries */
    double std;   /* unbiased standard deviation (n-1); 0 when n < 2 */
    double sigma; /* max(std, 1e-6): the divisor actually used */
} ptrag_stdnorm_stats;
/* y = a / max(std_unbiased(a over all n entries), 1e-6). One scalar for the
 * whole tensor, statistics by the fixed-order reductions; the gradient flows
 * through the std (not when it is clamped). y must not alias a (backward
 * needs a). */
void ptrag_stdnorm_forward(float *y, ptrag_stdnorm_stats *st, const float *a, long n);
/* da = dy/sigma - a * (sum(dy*a)/sigma^2) * dstd/da, dstd/da =
 * (a-mean)/((n-1) std) (OVERWRITES; da may alias dy). */
void ptrag_stdnorm_backward(float *da, const float *dy, const float *a,
                            const ptrag_stdnorm_stats *st, long n);
/* The same for a tensor split over processes (data-parallel training,
 * docs/distributed.md), a of this shard's n entries: sum(ctx, v, k) replaces
 * v[0..k-1] by their sums over every shard (2 calls in forward, 1 in
 * backward; every shard makes them). sum = NULL: the functions above. */
typedef void (*ptrag_shard_sum_fn)(void *ctx, double *v, int k);
void ptrag_stdnorm_forward_shards(float *y, ptrag_stdnorm_stats *st, const float *a, long n,
                                  ptrag_shard_sum_fn sum, void *ctx);
void ptrag_stdnorm_backward_shards(float *da, const float *dy, const float *a,
                                   const ptrag_stdnorm_stats *st, long n, ptrag_shard_sum_fn sum,
                                   void *ctx);

/* PT-RAG's keep/drop selection (reference-model.md 3.3): a two-way
 * Gumbel-softmax over n pairs of logits y [n, 2] (column 0 "drop", 1 "keep";
 * soft may alias y):
 *   z = (y + g) / tau,  soft = softmax(z)  (saved, [n, 2])
 *   w[i] = hard ? (z1 > z0 ? 1 : 0) : soft1  (exactly 0.0 or 1.0; ties drop)
 * g = 0 unless noisy; then g = noise[2i + c] when noise != NULL (a twin's
 * draws), else -log(-log(u)), u = ptrag_hash_uniform(seed, stream, 2i + c).
 * Hard, noisy, tau: training (torch F.gumbel_softmax(hard=True)); soft1 with
 * tau 1 and no noise: the expected weight. Class 1 is drawn with
 * probability sigmoid(y1 - y0) whatever tau is. */
void ptrag_gumbel_select_forward(float *w, float *soft, const float *y, long n, float tau, int hard,
                                 int noisy, const float *noise, uint64_t seed, uint64_t stream);
/* The same with the hashed draws counted from `first` (u = hash(seed,
 * stream, first + 2i + c)): a shard of a larger selection. */
void ptrag_gumbel_select_forward_at(float *w, float *soft, const float *y, long n, float tau, int hard,
                                    int noisy, const float *noise, uint64_t seed, uint64_t stream,
                                    uint64_t first);
/* Straight-through: the gradient of soft1, dy[i] = [-g, g] with
 * g = soft0 soft1 dw[i] / tau (OVERWRITES; dy may alias soft). */
void ptrag_gumbel_select_backward(float *dy, const float *dw, const float *soft, long n, float tau);

/* ------------------------------------------------------------------------ */
/* Losses. Forwards return the loss or fill loss[]; backwards take the
 * upstream gradient of the loss (1.0 for a plain loss, its weight in a sum). */

/* Sparsity mean(|w|) over n (fixed-order sum); dw += dloss * sign(w) / n with
 * sign(0) = 0, so an unselected (exactly zero) weight receives no gradient. */
double ptrag_sparsity_forward(const float *w, long n);
void ptrag_sparsity_backward(float *dw, double dloss, const float *w, long n);

/* Energy distance between point sets, geomloss SamplesLoss("energy")
 * convention (half the classical energy distance), batched over B sets of S
 * points in G dims, uniform weights 1/S:
 *   d(u,v) = sqrt(max(|u|^2 - 2 u.v + |v|^2, 1e-8))
 *   loss[b] = 1/S^2 sum_ij d(x_i,y_j) - 1/(2S^2) sum_ij d(x_i,x_j)
 *                                     - 1/(2S^2) sum_ij d(y_i,y_j)
 * X, Y [B*S, G]. Pairs whose squared distance is below 1e-8 (always including
 * the diagonal i=j of the self terms, which is set to exactly 0 before the
 * clamp) contribute the constant 1e-4 and no gradient. Gram matrices use one
 * single-threaded sgemm per set and term; sets run in parallel (a set is the
 * fixed block).
 * scratch: ptrag_energy_scratch_floats(B, S) floats; forward fills it with the
 * per-pair coefficients that backward needs. */
long ptrag_energy_scratch_floats(int B, int S);
void ptrag_energy_forward(float *loss, float *scratch, const float *X, const float *Y,
                          int B, int S, int G);
/* dX[B*S, G] += dloss[b]/S^2 * (sum_j (x_i-y_j)/d_xy - sum_j (x_i-x_j)/d_xx).
 * dloss [B] (e.g. 1/B each for the mean over sets). Y gets no gradient. */
void ptrag_energy_backward(float *dX, const float *dloss, const float *scratch,
                           const float *X, const float *Y, int B, int S, int G);

/* Squared distance of set means, averaged over the G dims, batched over B sets
 * of S points: loss[b] = 1/G sum_g (1/S sum_i X[b,i,g] - 1/S sum_i Y[b,i,g])^2.
 * The energy distance of sets of S cells in hundreds of genes is dominated by
 * cell-to-cell distances; this term rewards the mean shift directly.
 * Means are summed in double in a fixed order (any thread count, same bits). */
void ptrag_set_mean_mse_forward(float *loss, const float *X, const float *Y, int B, int S, int G);
/* dX[b*S+i, g] += dloss[b] * 2/(G S) * (mean X - mean Y)[b, g]. Y gets no gradient. */
void ptrag_set_mean_mse_backward(float *dX, const float *dloss, const float *X, const float *Y,
                                 int B, int S, int G);

/* ------------------------------------------------------------------------ */
/* Parameter initialisation (the one init path: ptrag_params_init calls
 * these), PyTorch's distributions, sequential draws from rng. */
void ptrag_init_const(float *w, long n, float value);
/* w ~ N(0, std^2): w = (float)(std * normal). */
void ptrag_init_normal(float *w, long n, double std, ptrag_rng *rng);
/* nn.Linear default (kaiming_uniform_(a=sqrt(5))): U(-1/sqrt(fan_in), +1/sqrt(fan_in)). */
void ptrag_init_kaiming_uniform(float *w, long n, double fan_in, ptrag_rng *rng);

#endif
