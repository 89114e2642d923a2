/* Neural-network ops: plain forward/backward pairs over flat float32 arrays.
 *
 * Conventions (every op below follows them unless its comment says otherwise):
 *  - Tensors are row-major float32. "N" is a number of rows (tokens), the last
 *    dimension is contiguous. Linear weights use PyTorch's layout W[out, in],
 *    so y = x W^T + b.
 *  - forward OVERWRITES its output. backward ACCUMULATES (+=) into every
 *    gradient it is given (inputs and parameters), so a tensor that feeds
 *    several branches (residuals, shared encoders) just receives several
 *    backward calls. A gradient pointer that is NULL is not computed.
 *    Gradient outputs must not alias the upstream gradient or the inputs.
 *  - Nothing allocates. Ops that keep state for backward (normalisation
 *    statistics, attention probabilities, energy-loss coefficients, Gumbel soft
 *    samples) write it into caller-provided buffers whose sizes are stated.
 *  - Random ops (dropout, Gumbel noise) use the counter-based hash of
 *    ptrag/rng.h: the draw for element i is f(seed, stream, i), so results do
 *    not depend on the number of threads or their scheduling, and backward
 *    recomputes the same mask from the same (seed, stream).
 *
 * Threads: OpenMP is the only thread pool (OMP_NUM_THREADS). Ops that
 * multiply matrices split the work into one block per OpenMP thread and call
 * a single-threaded cblas_sgemm per block: linear layers split the rows of y
 * and dx and the longer side of dW; attention runs one (set, head) per
 * iteration; the energy loss one set per iteration. While an op runs, a
 * pthreads OpenBLAS is set to one thread and the caller's count is restored
 * afterwards, so OpenBLAS's own pool never runs (or spins) beside OpenMP's.
 * OPENBLAS_NUM_THREADS therefore only matters for BLAS calls the caller makes
 * itself. Consequently: do not call these ops from inside your own OpenMP
 * parallel region, and do not run BLAS from other threads concurrently. */
#ifndef PTRAG_NN_H
#define PTRAG_NN_H

#include <stdint.h>

#include "ptrag/error.h"
#include "ptrag/rng.h"

/* ------------------------------------------------------------------------ */
/* Linear layer: y[N,out] = x[N,in] W[out,in]^T + b[out]  (b may be NULL).    */

void ptrag_linear_forward(float *y, const float *x, const float *W, const float *b,
                          int N, int in, int out);
/* Same, but y += x W^T + b (adds into y; e.g. straight into a residual). */
void ptrag_linear_forward_acc(float *y, const float *x, const float *W, const float *b,
                              int N, int in, int out);
/* dx[N,in] += dy W;  dW[out,in] += dy^T x;  db[out] += column sums of dy.
 * Any of dx, dW, db may be NULL (frozen weights: pass dW = db = NULL). */
void ptrag_linear_backward(float *dx, float *dW, float *db, const float *dy,
                           const float *x, const float *W, int N, int in, int out);

/* ------------------------------------------------------------------------ */
/* Embedding lookup: y[i,:] = table[ids[i], :] for i < N (ids in [0, rows)). */
void ptrag_embedding_forward(float *y, const float *table, const int *ids, int N, int dim);
/* dtable[ids[i], :] += dy[i, :]. Repeated ids accumulate. */
void ptrag_embedding_backward(float *dtable, const float *dy, const int *ids, int N, int dim);

/* ------------------------------------------------------------------------ */
/* Elementwise add (residual): y = a + b over n floats. y may alias a or b. */
void ptrag_add_forward(float *y, const float *a, const float *b, long n);
/* da += dy; db += dy (either may be NULL). */
void ptrag_add_backward(float *da, float *db, const float *dy, long n);
/* dst += src over n floats (the building block of gradient accumulation). */
void ptrag_accumulate(float *dst, const float *src, long n);

/* ------------------------------------------------------------------------ */
/* LayerNorm over the last axis C (PyTorch nn.LayerNorm: biased variance, eps
 * inside the sqrt, e.g. 1e-5): y = (x - mean) * rstd * w + b.
 * Saves mean[N] and rstd[N] for backward. w/b may be NULL (no affine). */
void ptrag_layernorm_forward(float *y, float *mean, float *rstd, const float *x,
                             const float *w, const float *b, int N, int C, float eps);
/* dx[N,C] += ..., dw[C] += ..., db[C] += ... (any may be NULL). */
void ptrag_layernorm_backward(float *dx, float *dw, float *db, const float *dy,
                              const float *x, const float *w, const float *mean,
                              const float *rstd, int N, int C);

/* RMSNorm over C (LLaMA, eps 1e-6): y = w * x * rstd, rstd = 1/sqrt(mean(x^2)+eps).
 * Saves rstd[N]. w may be NULL (weight 1). */
void ptrag_rmsnorm_forward(float *y, float *rstd, const float *x, const float *w,
                           int N, int C, float eps);
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
/* Rotates x IN PLACE. x holds nsets*S rows with row stride `ld` floats; each
 * row has `nheads` heads of dh floats starting at column 0 of the view. For a
 * fused QKV buffer [N, 3*nh*dh] call it once with x = qkv, nheads = 2*nh,
 * ld = 3*nh*dh: Q and K are rotated, V is left alone. */
void ptrag_rope_forward(float *x, const float *cos_t, const float *sin_t,
                        int nsets, int S, int nheads, int dh, int ld);
/* In place on the gradient buffer: dx = R^T dy (the inverse rotation). Since
 * RoPE is applied in place, this converts d(rotated) into d(unrotated) in the
 * same buffer; nothing accumulates. Same arguments as forward. */
void ptrag_rope_backward(float *dx, const float *cos_t, const float *sin_t,
                         int nsets, int S, int nheads, int dh, int ld);

/* ------------------------------------------------------------------------ */
/* Multi-head self-attention within each of B sets of S tokens.
 * qkv [B*S, 3*A] with A = nh*dh: columns [0,A) are Q, [A,2A) K, [2A,3A) V, and
 * head h occupies columns h*dh..h*dh+dh-1 of each part (PyTorch's
 * view(B,S,nh,dh) of a fused projection). out [B*S, A] (heads concatenated).
 * Scores are Q K^T / sqrt(dh); causal != 0 masks key j > query i.
 * probs [B*nh*S*S] receives the softmax probabilities (kept for backward;
 * masked entries are exactly 0). */
void ptrag_attention_forward(float *out, float *probs, const float *qkv,
                             int B, int S, int nh, int dh, int causal);
/* dqkv [B*S, 3A] += gradient w.r.t. qkv. scratch: B*nh*S*S floats (any
 * content; overwritten). The mask is implied by the zeros in probs. */
void ptrag_attention_backward(float *dqkv, float *scratch, const float *dout,
                              const float *qkv, const float *probs,
                              int B, int S, int nh, int dh);

/* ------------------------------------------------------------------------ */
/* Activations over n floats: y = f(x); backward dx += f'(x) * dy. */
void ptrag_relu_forward(float *y, const float *x, long n);
void ptrag_relu_backward(float *dx, const float *dy, const float *x, long n);   /* f'(0)=0 */
void ptrag_gelu_forward(float *y, const float *x, long n);  /* exact: 0.5x(1+erf(x/sqrt2)) */
void ptrag_gelu_backward(float *dx, const float *dy, const float *x, long n);
void ptrag_silu_forward(float *y, const float *x, long n);  /* x * sigmoid(x) */
void ptrag_silu_backward(float *dx, const float *dy, const float *x, long n);

/* SwiGLU gate (LLaMA MLP): gu [N, 2F] is the output of ONE fused projection
 * with weight [2F, H] = [W_gate; W_up] (gate columns first). h [N, F] =
 * silu(gate) * up. The MLP is then linear(gu) -> swiglu -> linear(down). */
void ptrag_swiglu_forward(float *h, const float *gu, int N, int F);
/* dgu [N, 2F] += gradient. */
void ptrag_swiglu_backward(float *dgu, const float *dh, const float *gu, int N, int F);

/* Inverted dropout with probability p: element i is kept iff
 * ptrag_hash_uniform(seed, stream, i) >= p, and kept values are scaled by
 * 1/(1-p). p = 0 is the identity (evaluation mode). Use a fresh stream (or
 * seed) per call site and step. */
void ptrag_dropout_forward(float *y, const float *x, long n, float p, uint64_t seed,
                           uint64_t stream);
/* dx += mask * dy / (1-p), the mask recomputed from (seed, stream). */
void ptrag_dropout_backward(float *dx, const float *dy, long n, float p, uint64_t seed,
                            uint64_t stream);

/* ------------------------------------------------------------------------ */
/* Softmax and log-softmax over the last axis C of [N, C]. */
void ptrag_softmax_forward(float *y, const float *x, int N, int C);
void ptrag_softmax_backward(float *dx, const float *dy, const float *y, int N, int C);
void ptrag_log_softmax_forward(float *y, const float *x, int N, int C);
void ptrag_log_softmax_backward(float *dx, const float *dy, const float *y, int N, int C);

/* Gumbel-softmax, hard, straight-through (torch F.gumbel_softmax(hard=True)),
 * over the last axis C of logits [N, C]:
 *   g = -log(-log(u)), u = ptrag_hash_uniform(seed, stream, i*C + c)
 *   soft = softmax((logits + g) / tau)                (saved, [N, C])
 *   y = one-hot(argmax soft)  (first maximum; exactly 0.0 and 1.0)
 * Backward passes through the soft sample: dlogits += J_soft^T dy with
 * J_soft = (diag(soft) - soft soft^T) / tau. */
void ptrag_gumbel_softmax_forward(float *y, float *soft, const float *logits, int N,
                                  int C, float tau, uint64_t seed, uint64_t stream);
void ptrag_gumbel_softmax_backward(float *dlogits, const float *dy, const float *soft,
                                   int N, int C, float tau);

/* Scalar statistics of a std-normalisation, kept for backward. */
typedef struct ptrag_stdnorm_stats {
    double mean;  /* mean of all entries */
    double std;   /* unbiased standard deviation (n-1); 0 when n < 2 */
    double sigma; /* max(std, 1e-6): the divisor actually used */
} ptrag_stdnorm_stats;
/* y = a / max(std_unbiased(a over all n entries), 1e-6). One scalar for the
 * whole tensor; the gradient flows through the std (not when it is clamped). */
void ptrag_stdnorm_forward(float *y, ptrag_stdnorm_stats *st, const float *a, long n);
/* da += dy/sigma - a * (sum(dy*a)/sigma^2) * dstd/da; dstd/da = (a-mean)/((n-1) std). */
void ptrag_stdnorm_backward(float *da, const float *dy, const float *a,
                            const ptrag_stdnorm_stats *st, long n);

/* ------------------------------------------------------------------------ */
/* Losses. Forwards return the loss; backwards take the upstream gradient of
 * that loss (1.0 for a plain loss, the loss weight in a weighted sum). */

/* mean((x - y)^2) over n; dx += dloss * 2 (x - y) / n (dy likewise, negated). */
double ptrag_mse_forward(const float *x, const float *y, long n);
void ptrag_mse_backward(float *dx, float *dy_target, double dloss, const float *x,
                        const float *y, long n);

/* Sparsity mean(|w|) over n; dw += dloss * sign(w) / n with sign(0) = 0, so an
 * unselected (exactly zero) weight receives no gradient. */
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
 * sgemm per set and term.
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
/* Parameter initialisation, same distributions as PyTorch (not bit-identical
 * draws). All draw sequentially from rng. */
void ptrag_init_uniform(float *w, long n, float lo, float hi, ptrag_rng *rng);
void ptrag_init_normal(float *w, long n, float mean, float std, ptrag_rng *rng);
void ptrag_init_const(float *w, long n, float value);
/* nn.Linear default: W, b ~ U(-1/sqrt(in), +1/sqrt(in)) (b may be NULL). */
void ptrag_init_linear(float *W, float *b, int in, int out, ptrag_rng *rng);
/* LLaMA (HF _init_weights): W ~ N(0, 0.02^2), b = 0 (b may be NULL). */
void ptrag_init_linear_llama(float *W, float *b, int in, int out, ptrag_rng *rng);
/* nn.Embedding default: N(0, 1). Norm layers: ptrag_init_const(w, C, 1),
 * ptrag_init_const(b, C, 0). */
void ptrag_init_embedding(float *table, int rows, int dim, ptrag_rng *rng);

#endif
