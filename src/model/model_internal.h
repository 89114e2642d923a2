/* The model's private state, shared by src/model/model_*.c (internal).
 *
 * Every activation and gradient buffer is carved out of one float arena at
 * ptrag_model_new, sized for cfg batch_sets x set_size cells; a smaller batch
 * uses a prefix of each buffer. Forward and backward never allocate. */
#ifndef PTRAG_MODEL_INTERNAL_H
#define PTRAG_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ptrag/model.h"
#include "ptrag/nn.h"

/* One parameter tensor: its values, and its gradient or NULL when frozen, so
 * a frozen tensor's weight-gradient product is skipped by passing NULL. */
typedef struct pref {
    float *v;
    float *g;
} pref;

typedef struct layer_params {
    pref attn_norm, wqkv, wo, mlp_norm, wgate_up, wdown;
} layer_params;

/* Activations of the LLaMA stack and the output head (per layer l). */
typedef struct backbone_acts {
    float **hs;    /* [L+1] residual stream entering layer l; hs[0] = x0 [N, H] */
    float **hmid;  /* [L] after the attention residual [N, H] */
    float **r1;    /* [L] RMSNorm rstd before attention [N] */
    float **r2;    /* [L] RMSNorm rstd before the MLP [N] */
    float **qkv;   /* [L] fused projections, RoPE applied to Q and K [N, 3A] */
    float **att;   /* [L] attention output, heads concatenated [N, A] */
    float **probs; /* [L] attention probabilities [B * nh * S * S] */
    float **gu;    /* [L] fused gate/up projection [N, 2F] */
    float *rf;     /* final RMSNorm rstd [N] */
    float *yc;     /* final norm output + c [N, H] (input of `out`) */
    float *nbuf;   /* recomputed norm outputs [N, H] */
    float *hm;     /* recomputed SwiGLU output [N, F] */
    float *cos_t, *sin_t; /* RoPE tables [S, dh/2] */
    /* gradients */
    float *dh, *dn, *datt, *dqkv, *dgu, *dhm, *ascratch, *dyc;
} backbone_acts;

/* PT-RAG stage 2 (model_ptrag.c). "Pairs" are (cell, candidate), NK of them;
 * "slots" are (set, candidate), BK of them; "rows" are the distinct database
 * rows among the slots, U <= BK of them. */
typedef struct ptrag_acts {
    float *dbU;      /* gathered distinct database rows [U, E] */
    float *R;        /* their encodings pert_enc(dbU) [U, H] */
    float *Wg;       /* [scorer1.w; ctx_proj.w] * ctx_norm.w, three blocks [2H, H] (c, p, R) */
    float *wg, *cst; /* [2H]: W gamma and W beta + b */
    float *Pc, *Pp, *PR; /* projections of the parts: [N, 2H], [B, 2H], [U, 2H] */
    float *stat_c, *stat_p, *stat_r; /* mean and centred sum of squares of each part [.., 2] */
    float *mu, *rs;  /* LayerNorm mean and rstd per pair [NK] */
    float *h1;       /* scorer hidden pre-activation [NK, H]; its gradient in backward */
    float *gd;       /* GELU + dropout output [NK, H] */
    unsigned char *keepmask; /* dropout mask [NK, H] */
    float *logits;   /* scorer logits a [NK, 2] */
    float *soft;     /* soft sample used by the gradient [NK, 2] */
    float *w;        /* keep weights [NK] */
    float *ev, *evw, *dw_ev; /* evidence: [N, G] shift, [N] 1 + sum w, [NK] its share of dw */
    double sig_mean, sig_std, sigma; /* std-normalisation statistics */
    double sig_n;                     /* logits they are over (every shard's) */
    float tau_eff;   /* temperature of the soft path (1 for "expected") */
    /* backward */
    float *cell_s;   /* per cell [N, 8] scalars (CELL_* in model_ptrag.c) */
    float *pair_s;   /* per pair [NK, 4] scalars */
    float *slot_s;   /* per slot [BK, 2], per row [U, 2], per set [B, 2]: kappa, rho */
    float *row_s, *set_s;
    float *Sz, *Smu; /* [2H] */
    float *dlog;     /* [NK, 2] */
    float *Dc, *Dp, *DRs, *DRu; /* aggregated r*dZ: [N,2H], [B,2H], [BK,2H], [U,2H] */
    float *Sc;       /* per cell sums of dz_s and r mu dz_s [N, 2H] */
    float *Mx;       /* weight-gradient blocks [2H, H] x 3 */
    float *dR;       /* gradient of R [U, H] */
    float *dWg;      /* [2H, 3H] */
} ptrag_acts;

/* Vanilla RAG (model_rag.c). */
typedef struct rag_acts {
    float *dbU, *R, *Ku, *Vu; /* [U, E], [U, H] x 3 */
    float *Ks, *Vs;           /* per slot [BK, H] */
    float *qin, *q;           /* c + p and its query projection [N, H] */
    float *att;               /* attention probabilities [N, K] */
    float *dq, *dqin, *dKs, *dVs, *dKu, *dVu, *dR, *datt; /* gradients */
} rag_acts;

struct ptrag_model {
    ptrag_config cfg;
    int G, E, H, L, nh, dh, A, F, K, NB;
    int Bmax, Smax;
    long Nmax;
    int onehot;
    ptrag_params *ps;

    pref basal_w, basal_b, pert_w, pert_b, batch_emb;
    pref ctx_norm_w, ctx_norm_b, scorer1_w, scorer1_b, scorer2_w, scorer2_b, ctx_proj_w, ctx_proj_b;
    pref cand_proj_w, cand_proj_b, rag_q_w, rag_q_b, rag_k_w, rag_k_b, rag_v_w, rag_v_b;
    layer_params *layer;
    pref final_norm, out_w, out_b;

    float *db; /* retrieval database [P, E] */
    long P;
    int32_t *row_slot; /* [P] scratch: db row -> distinct index, -1 when unused */

    /* the last forward */
    ptrag_model_batch batch;
    int n_sets, set_len, N, U;
    int have_forward, have_target, backward_done, selection_used; /* selection_used: -1 = training draw */
    int32_t *slot_row; /* [BK] distinct-row index of each slot */
    int32_t *urow;     /* [BK] database row of each distinct index */

    /* activations (one arena) */
    float *c, *p, *pred, *eloss, *escratch, *dloss, *mloss; /* mloss: set-mean MSE [B] */
    float *dpred, *dc, *dp, *dx0;
    backbone_acts bb;
    ptrag_acts pt;
    rag_acts rg;
    float *arena;
    size_t arena_floats;
    /* --precision bf16 (model_kernels.c): a bf16 copy of the parameter values,
     * refreshed by each forward; whole-operand packs of model_gemm; the first
     * error of a bf16 product, reported by forward / backward. */
    int bf16;
    uint16_t *w16;
    const float *w16_base;
    size_t w16_n;
    uint16_t *pack_a, *pack_b;
    size_t pack_a_n, pack_b_n;
    int bf16_status;
    size_t arena_bytes; /* everything allocated for activations, masks and ids */
};

/* Parallel loops cost a fork and a barrier (milliseconds when a core is busy
 * with another process); loops over less work than this run serially. */
#define MODEL_PAR_WORK 32768L
#define MODEL_BIG(m) ((long)(m)->N * (m)->H * ((m)->K > 0 ? (m)->K : 1) > MODEL_PAR_WORK)

/* e^x without calls or branches, so loops over it vectorise: x = n ln2 + r
 * with |r| <= ln2/2, e^r by its degree-7 Taylor polynomial (relative error
 * < 3e-9 before rounding), 2^n assembled in the exponent bits. */
static inline float model_exp(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    const float round_magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    float n = (x * 1.44269504088896341f + round_magic) - round_magic;
    float r = x - n * 0.693145751953125f;
    r = r - n * 1.428606765330187045e-06f;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    union {
        int32_t i;
        float f;
    } s;
    s.i = ((int32_t)n + 127) << 23;
    return p * s.f;
}

/* Thread-count-independent sums: fixed blocks reduced in a fixed order. */
double model_sum_fixed(const float *x, long n);
double model_dot_fixed(const float *x, const float *y, long n);
double model_sqdev_fixed(const float *x, long n, double mean); /* sum (x - mean)^2 */

/* Vectorisable exact-GELU pieces (abs error < 2e-7 vs erf). */
void model_gelu_forward(float *y, const float *x, long n);
float model_gelu_grad(float x); /* d/dx [x Phi(x)] */
void model_gelu_grad_mul(float *d, const float *x, long n); /* d[i] *= gelu'(x[i]) */

/* Threaded matrix product (row-major), C[M,N] = alpha op(A) op(B) + beta C:
 * fixed-size blocks along M or N, one single-threaded product each, so
 * results do not depend on the thread count. fp32: OpenBLAS sgemm; bf16
 * (m->bf16, alpha 1): both operands rounded to bf16 once per call (weights:
 * the per-forward copy), oneDNN per block, fp32 accumulation and output. */
void model_gemm(ptrag_model *m, int transA, int transB, int M, int N, int K, float alpha, const float *A,
                int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* One single-threaded product with alpha 1, for use inside the model's own
 * parallel loops (the backbone's tiles); same precision rule as model_gemm. */
void model_mm(ptrag_model *m, int transA, int transB, int M, int N, int K, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);

/* bf16: sets up and refreshes m->w16 from the parameter values (each forward). */
int model_bf16_refresh(ptrag_model *m, ptrag_error *err);
/* Turns a failed bf16 product (m->bf16_status) into an error. */
int model_bf16_check(ptrag_model *m, ptrag_error *err);

/* Linear layers as ptrag_linear_* (nn.h) but cut into fixed blocks (see
 * model_gemm), so the bits do not depend on the thread count. */
void model_linear_forward(ptrag_model *m, float *y, const float *x, const float *W, const float *b, int N,
                          int in, int out, int accumulate);
void model_linear_backward(ptrag_model *m, float *dx, float *dW, float *db, const float *dy, const float *x,
                           const float *W, int N, int in, int out);

/* dx = dy W (OVERWRITES dx: no zeroing pass needed). */
void model_linear_dx(ptrag_model *m, float *dx, const float *dy, const float *W, int N, int in, int out);

/* SwiGLU over gu = [gate | up] rows (nn.h semantics), vectorised and serial
 * (for use inside a parallel region); the backward OVERWRITES dgu. */
void model_swiglu_rows(float *h, const float *gu, int N, int F);
void model_swiglu_backward_rows(float *dgu, const float *dh, const float *gu, int N, int F);

/* Self-attention of one (set b, head h) (nn.h layout and math), serial: the
 * backbone runs them inside its own parallel loop. The backward OVERWRITES
 * its blocks of dqkv. RoPE on rows [r0, r0 + rows) (dir 1, or -1 for the
 * backward), serial. */
void model_attention_head_forward(float *out, float *probs, const float *qkv, int b, int h, int S, int nh,
                                  int dh, int causal);
void model_attention_head_backward(float *dqkv, float *scratch, const float *dout, const float *qkv,
                                   const float *probs, int b, int h, int S, int nh, int dh);
void model_rope_rows(float *x, const float *cos_t, const float *sin_t, int r0, int rows, int S, int nheads,
                     int dh, int ld, float dir);

/* Distinct database rows of the batch's candidates (m->slot_row, m->urow,
 * m->U) and their features gathered into dbU [U, E]. */
void model_gather_candidates(ptrag_model *m, const int32_t *cand, float *dbU);

/* Stage pieces. x0 is overwritten; backward accumulates into dx-style
 * buffers (m->dc, m->dp) and parameter gradients. */
void model_ptrag_forward(ptrag_model *m, float *x0);
void model_ptrag_backward(ptrag_model *m, const float *dx0);
void model_rag_forward(ptrag_model *m, float *x0);
void model_rag_backward(ptrag_model *m, const float *dx0);
/* Evidence (model_evidence.c): ev_i = sum_k w_ik s_k / (1 + sum_k w_ik) added
 * to the pre-activation predictions; backward fills pt.dw_ev from dpre. */
void model_evidence_forward(ptrag_model *m, float *pre);
void model_evidence_backward(ptrag_model *m, const float *dpre);
void model_backbone_forward(ptrag_model *m);             /* hs[0] -> yc, pred */
void model_backbone_backward(ptrag_model *m, float *dx0); /* dpred -> dx0 (overwritten), dc */

/* Sets of the whole batch this forward is part of (model.h shard_*): the
 * denominator of the loss means. */
static inline int model_total_sets(const ptrag_model *m) {
    return m->batch.shard_total_sets > 0 ? m->batch.shard_total_sets : m->n_sets;
}

#endif
