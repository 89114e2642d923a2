/* The LLaMA stack and the output head, forward and backward.
 *
 *   for each layer: h += Wo attn(rope(Wqkv rms(h)));  h += Wdown swiglu(Wgu rms(h))
 *   yc = rms_final(h) + c;  pred = ReLU(out(yc))
 *
 * Each block (attention; MLP) is one parallel loop over tiles of ~256 rows
 * (whole sets for attention): RMSNorm, the fused QKV or gate/up sgemm, RoPE
 * and attention per (set, head) or SwiGLU, and the output projection run on
 * a tile while it is in cache, and a tile is the unit of work a thread takes
 * (dynamically: a core shared with another process takes fewer). Tiles have
 * a fixed size, so the bits do not depend on the thread count. Weight
 * gradients need every row and run after the loop as whole-batch sgemms; a
 * frozen tensor skips them and only propagates dX. The normalised inputs and
 * the SwiGLU output are recomputed in backward instead of stored per layer. */
#include <math.h>
#include <string.h>

#include "model/model_internal.h"
#include "core/blas_serial.h"

#define RMS_EPS 1e-6f
/* Rows per MLP tile: the tile's [rows, 2F] gate/up block is still in cache
 * when SwiGLU and the down projection read it, and an sgemm of 256 rows
 * keeps ~97% of a full-size one's speed. Fixed, so the bits do not depend
 * on the thread count. */
#define MLP_TILE 256

/* Sets per attention tile: about MLP_TILE rows of whole sets. */
static int sets_per_tile(const ptrag_model *m) {
    int k = MLP_TILE / m->set_len;
    return k > 0 ? k : 1;
}

/* Tile t of whole sets: sets b0 .. b0+nb-1, rows r0 .. r0+rows-1. */
typedef struct set_tile {
    int b0, nb, r0, rows;
} set_tile;

static set_tile tile_of_sets(const ptrag_model *m, int t, int spt) {
    set_tile k;
    k.b0 = t * spt;
    k.nb = m->n_sets - k.b0 < spt ? m->n_sets - k.b0 : spt;
    k.r0 = k.b0 * m->set_len;
    k.rows = k.nb * m->set_len;
    return k;
}

/* Attention block of layer l over tiles of whole sets:
 * hmid = hs[l] + Wo attn(rope(Wqkv rms(hs[l]))). */
static void attention_forward(ptrag_model *m, int l) {
    backbone_acts *bb = &m->bb;
    const layer_params *lp = &m->layer[l];
    const int H = m->H, A = m->A, S = m->set_len, nh = m->nh, spt = sets_per_tile(m);
    const int ntiles = (m->n_sets + spt - 1) / spt, causal = m->cfg.attention == PTRAG_ATTN_CAUSAL;
    int token = ptrag_blas_serial_begin();
#pragma omp parallel for schedule(dynamic, 1) if (ntiles > 1 && MODEL_BIG(m))
    for (int t = 0; t < ntiles; t++) {
        const set_tile k = tile_of_sets(m, t, spt);
        const int b0 = k.b0, nb = k.nb, r0 = k.r0, rows = k.rows;
        const float *x = bb->hs[l] + (size_t)r0 * H;
        float *n = bb->nbuf + (size_t)r0 * H, *qkv = bb->qkv[l] + (size_t)r0 * 3 * A;
        float *out = bb->hmid[l] + (size_t)r0 * H;
        ptrag_rmsnorm_forward(n, bb->r1[l] + r0, x, lp->attn_norm.v, rows, H, RMS_EPS);
        ptrag_mm(&m->mm, 0, 1, rows, 3 * A, H, n, H, lp->wqkv.v, H, 0.0f, qkv, 3 * A);
        ptrag_rope_forward(qkv, bb->cos_t, bb->sin_t, nb, S, 2 * nh, m->dh, 3 * A);
        ptrag_attention_forward(&m->mm, bb->att[l] + (size_t)r0 * A, bb->probs[l] + (size_t)b0 * nh * S * S, qkv, nb, S,
                                nh, m->dh, causal);
        memcpy(out, x, sizeof(float) * (size_t)rows * H);
        ptrag_mm(&m->mm, 0, 1, rows, H, A, bb->att[l] + (size_t)r0 * A, A, lp->wo.v, A, 1.0f, out, H);
    }
    ptrag_blas_serial_end(token);
}

/* Backward of the attention block: dh holds d hmid and becomes d hs[l]. */
static void attention_backward(ptrag_model *m, int l) {
    backbone_acts *bb = &m->bb;
    const layer_params *lp = &m->layer[l];
    const int N = m->N, H = m->H, A = m->A, S = m->set_len, nh = m->nh, spt = sets_per_tile(m);
    const int ntiles = (m->n_sets + spt - 1) / spt;
    float *dh = bb->dh;
    if (lp->wo.g) memcpy(bb->dyc, dh, sizeof(float) * (size_t)N * H); /* d hmid, for dWo */
    const int keep_n = lp->wqkv.g != NULL;
    int token = ptrag_blas_serial_begin();
#pragma omp parallel for schedule(dynamic, 1) if (ntiles > 1 && MODEL_BIG(m))
    for (int t = 0; t < ntiles; t++) {
        const set_tile k = tile_of_sets(m, t, spt);
        const int b0 = k.b0, nb = k.nb, r0 = k.r0, rows = k.rows;
        const float *x = bb->hs[l] + (size_t)r0 * H;
        float *d = dh + (size_t)r0 * H, *datt = bb->datt + (size_t)r0 * A;
        float *dqkv = bb->dqkv + (size_t)r0 * 3 * A, *dn = bb->dn + (size_t)r0 * H;
        ptrag_mm(&m->mm, 0, 0, rows, A, H, d, H, lp->wo.v, A, 0.0f, datt, A);
        const size_t pofs = (size_t)b0 * nh * S * S;
        ptrag_attention_backward(&m->mm, dqkv, bb->ascratch + pofs, datt, bb->qkv[l] + (size_t)r0 * 3 * A,
                                 bb->probs[l] + pofs, nb, S, nh, m->dh);
        ptrag_rope_backward(dqkv, bb->cos_t, bb->sin_t, nb, S, 2 * nh, m->dh, 3 * A);
        /* The norm output, recomputed for dWqkv (rewrites the saved rstd with the same bits). */
        if (keep_n)
            ptrag_rmsnorm_forward(bb->nbuf + (size_t)r0 * H, bb->r1[l] + r0, x, lp->attn_norm.v, rows, H, RMS_EPS);
        ptrag_mm(&m->mm, 0, 0, rows, H, 3 * A, dqkv, 3 * A, lp->wqkv.v, H, 0.0f, dn, H);
        ptrag_rmsnorm_backward(d, NULL, dn, x, lp->attn_norm.v, bb->r1[l] + r0, rows, H);
    }
    ptrag_blas_serial_end(token);
    ptrag_linear_backward(&m->mm, NULL, lp->wo.g, NULL, bb->dyc, bb->att[l], NULL, N, A, H);
    ptrag_linear_backward(&m->mm, NULL, lp->wqkv.g, NULL, bb->dqkv, bb->nbuf, NULL, N, H, 3 * A);
    if (lp->attn_norm.g)
        ptrag_rmsnorm_backward(NULL, lp->attn_norm.g, bb->dn, bb->hs[l], lp->attn_norm.v, bb->r1[l], N, H);
}

/* MLP block of layer l, tile by tile: hs[l+1] = hmid + Wdown swiglu(Wgu rms(hmid)). */
static void mlp_forward(ptrag_model *m, int l) {
    backbone_acts *bb = &m->bb;
    const layer_params *lp = &m->layer[l];
    const int N = m->N, H = m->H, F = m->F, ntiles = (N + MLP_TILE - 1) / MLP_TILE;
    int token = ptrag_blas_serial_begin();
#pragma omp parallel for schedule(dynamic, 1) if (ntiles > 1 && MODEL_BIG(m))
    for (int t = 0; t < ntiles; t++) {
        const int r0 = t * MLP_TILE, rows = N - r0 < MLP_TILE ? N - r0 : MLP_TILE;
        float *n = bb->nbuf + (size_t)r0 * H, *gu = bb->gu[l] + (size_t)r0 * 2 * F;
        float *hm = bb->hm + (size_t)r0 * F, *out = bb->hs[l + 1] + (size_t)r0 * H;
        const float *x = bb->hmid[l] + (size_t)r0 * H;
        ptrag_rmsnorm_forward(n, bb->r2[l] + r0, x, lp->mlp_norm.v, rows, H, RMS_EPS);
        ptrag_mm(&m->mm, 0, 1, rows, 2 * F, H, n, H, lp->wgate_up.v, H, 0.0f, gu, 2 * F);
        ptrag_swiglu_forward(hm, gu, rows, F);
        memcpy(out, x, sizeof(float) * (size_t)rows * H);
        ptrag_mm(&m->mm, 0, 1, rows, H, F, hm, F, lp->wdown.v, F, 1.0f, out, H);
    }
    ptrag_blas_serial_end(token);
}

/* Backward of the MLP block: dh holds d hs[l+1] and becomes d hmid. */
static void mlp_backward(ptrag_model *m, int l) {
    backbone_acts *bb = &m->bb;
    const layer_params *lp = &m->layer[l];
    const int N = m->N, H = m->H, F = m->F, ntiles = (N + MLP_TILE - 1) / MLP_TILE;
    float *dh = bb->dh;
    /* The down projection's weight gradient needs d hs[l+1] after dh moved on. */
    if (lp->wdown.g) memcpy(bb->dyc, dh, sizeof(float) * (size_t)N * H);
    const int keep_hm = lp->wdown.g != NULL, keep_n = lp->wgate_up.g != NULL;
    int token = ptrag_blas_serial_begin();
#pragma omp parallel for schedule(dynamic, 1) if (ntiles > 1 && MODEL_BIG(m))
    for (int t = 0; t < ntiles; t++) {
        const int r0 = t * MLP_TILE, rows = N - r0 < MLP_TILE ? N - r0 : MLP_TILE;
        const float *gu = bb->gu[l] + (size_t)r0 * 2 * F, *x = bb->hmid[l] + (size_t)r0 * H;
        const float *r2 = bb->r2[l] + r0;
        float *dhm = bb->dhm + (size_t)r0 * F, *dgu = bb->dgu + (size_t)r0 * 2 * F;
        float *dn = bb->dn + (size_t)r0 * H, *d = dh + (size_t)r0 * H;
        ptrag_mm(&m->mm, 0, 0, rows, F, H, d, H, lp->wdown.v, F, 0.0f, dhm, F);
        if (keep_hm) ptrag_swiglu_forward(bb->hm + (size_t)r0 * F, gu, rows, F);
        ptrag_swiglu_backward(dgu, dhm, gu, rows, F);
        if (keep_n)
            ptrag_rmsnorm_forward(bb->nbuf + (size_t)r0 * H, bb->r2[l] + r0, x, lp->mlp_norm.v, rows, H, RMS_EPS);
        ptrag_mm(&m->mm, 0, 0, rows, H, 2 * F, dgu, 2 * F, lp->wgate_up.v, H, 0.0f, dn, H);
        ptrag_rmsnorm_backward(d, NULL, dn, x, lp->mlp_norm.v, r2, rows, H);
    }
    ptrag_blas_serial_end(token);
    ptrag_linear_backward(&m->mm, NULL, lp->wdown.g, NULL, bb->dyc, bb->hm, NULL, N, F, H);
    ptrag_linear_backward(&m->mm, NULL, lp->wgate_up.g, NULL, bb->dgu, bb->nbuf, NULL, N, H, 2 * F);
    if (lp->mlp_norm.g)
        ptrag_rmsnorm_backward(NULL, lp->mlp_norm.g, bb->dn, bb->hmid[l], lp->mlp_norm.v, bb->r2[l], N, H);
}

void ptrag_model_backbone_forward(ptrag_model *m) {
    backbone_acts *bb = &m->bb;
    const int N = m->N, H = m->H;
    for (int l = 0; l < m->L; l++) {
        attention_forward(m, l);
        mlp_forward(m, l);
    }
    ptrag_rmsnorm_forward(bb->yc, bb->rf, bb->hs[m->L], m->final_norm.v, N, H, RMS_EPS);
    ptrag_add_forward(bb->yc, bb->yc, m->c, (long)N * H);
    ptrag_linear_forward(&m->mm, m->pred, bb->yc, m->out_w.v, m->out_b.v, N, H, m->G, 0);
    if (m->cfg.evidence) ptrag_model_evidence_forward(m, m->pred);
    if (m->cfg.residual == PTRAG_RESIDUAL_GENES) {
        /* A control set's shift is zero by definition: it predicts its paired
         * control cells and sends no gradient into the head. */
        const long SG = (long)m->set_len * m->G;
        for (int s = 0; m->batch.set_control && s < m->n_sets; s++)
            if (m->batch.set_control[s]) memset(m->pred + (size_t)s * SG, 0, sizeof(float) * (size_t)SG);
        ptrag_add_forward(m->pred, m->pred, m->batch.x_ctrl, (long)N * m->G);
    }
    ptrag_relu_forward(m->pred, m->pred, (long)N * m->G);
}

/* From m->dpred (gradient of the loss w.r.t. the predictions) down to dx0
 * (overwritten) and the residual's share of m->dc (accumulated). */
void ptrag_model_backbone_backward(ptrag_model *m, float *dx0) {
    backbone_acts *bb = &m->bb;
    const int N = m->N, H = m->H, G = m->G;
    const size_t NH = (size_t)N * H;
    /* pred = ReLU(pre) and pre > 0 iff pred > 0, so pred stands in for pre. */
    float *dpre = m->dpred;
    ptrag_relu_backward(dpre, dpre, m->pred, (long)N * G);
    if (m->cfg.residual == PTRAG_RESIDUAL_GENES) {
        const long SG = (long)m->set_len * G;
        for (int s = 0; m->batch.set_control && s < m->n_sets; s++)
            if (m->batch.set_control[s]) memset(dpre + (size_t)s * SG, 0, sizeof(float) * (size_t)SG);
    }
    if (m->cfg.evidence) ptrag_model_evidence_backward(m, dpre);
    ptrag_linear_backward_dx(&m->mm, bb->dyc, dpre, m->out_w.v, N, H, G);
    ptrag_linear_backward(&m->mm, NULL, m->out_w.g, m->out_b.g, dpre, bb->yc, NULL, N, H, G);
    ptrag_accumulate(m->dc, bb->dyc, (long)NH);
    float *dh = bb->dh;
    memset(dh, 0, sizeof(float) * NH);
    ptrag_rmsnorm_backward(dh, m->final_norm.g, bb->dyc, bb->hs[m->L], m->final_norm.v, bb->rf, N, H);
    for (int l = m->L - 1; l >= 0; l--) {
        /* MLP: h_{l+1} = hmid + Wdown swiglu(Wgu rms(hmid)); dh becomes d hmid. */
        mlp_backward(m, l);
        /* Attention: hmid = h_l + Wo attn(rope(Wqkv rms(h_l))); dh becomes d h_l. */
        attention_backward(m, l);
    }
    memcpy(dx0, dh, sizeof(float) * NH);
}
