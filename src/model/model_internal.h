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
    float *fbias, *dfbias;   /* scorer_features: [BK] scorer_feat.w . f per slot, and its gradient */
    ptrag_stdnorm_stats sig; /* std-normalisation of the logits */
    float tau_eff;   /* temperature of the soft path (1 for "expected") */
    /* backward */
    float *cell_s;   /* per cell [N, 8] scalars (CELL_* in model_ptrag.c) */
    float *pair_s;   /* per pair [NK, 4] scalars */
    float *slot_s;   /* per slot [BK, 2], per row [U, 2], per set [B, 2]: kappa, rho */
    float *row_s, *set_s;
    float *Sz, *Smu; /* [2H] */
    float *dlog;     /* [NK, 2] */
    float *dw;       /* gradient of the keep weights [NK] */
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
    pref ctx_norm_w, ctx_norm_b, scorer1_w, scorer1_b, scorer2_w, scorer2_b, ctx_proj_w, ctx_proj_b, scorer_feat_w;
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
    /* How the products run (--precision): fp32, or bf16 with a copy of the
     * parameter values refreshed by each forward (ptrag_matmul, nn.h). */
    ptrag_matmul mm;
    size_t arena_bytes; /* everything allocated for activations, masks and ids */
};

/* Parallel loops cost a fork and a barrier (milliseconds when a core is busy
 * with another process); loops over less work than this run serially. */
#define MODEL_PAR_WORK PTRAG_NN_PAR_WORK
#define MODEL_BIG(m) ((long)(m)->N * (m)->H * ((m)->K > 0 ? (m)->K : 1) > MODEL_PAR_WORK)

/* Internal to src/model, ptrag_-prefixed like every extern symbol of the
 * library. The numerical ops themselves are the kernel library's (nn.h).
 *
 * Distinct database rows of the batch's candidates (m->slot_row, m->urow,
 * m->U) and their features gathered into dbU [U, E]. */
void ptrag_model_gather_candidates(ptrag_model *m, const int32_t *cand, float *dbU);

/* Stage pieces. x0 is overwritten; backward accumulates into dx-style
 * buffers (m->dc, m->dp) and parameter gradients. */
void ptrag_model_ptrag_forward(ptrag_model *m, float *x0);
void ptrag_model_ptrag_backward(ptrag_model *m, const float *dx0);
void ptrag_model_rag_forward(ptrag_model *m, float *x0);
void ptrag_model_rag_backward(ptrag_model *m, const float *dx0);
/* Evidence (model_evidence.c): ev_i = sum_k w_ik s_k / (1 + sum_k w_ik) added
 * to the pre-activation predictions; backward fills pt.dw_ev from dpre. */
void ptrag_model_evidence_forward(ptrag_model *m, float *pre);
void ptrag_model_evidence_backward(ptrag_model *m, const float *dpre);
void ptrag_model_backbone_forward(ptrag_model *m);             /* hs[0] -> yc, pred */
void ptrag_model_backbone_backward(ptrag_model *m, float *dx0); /* dpred -> dx0 (overwritten), dc */

/* Sets of the whole batch this forward is part of (model.h shard_*): the
 * denominator of the loss means. */
static inline int model_total_sets(const ptrag_model *m) {
    return m->batch.shard_total_sets > 0 ? m->batch.shard_total_sets : m->n_sets;
}

#endif
