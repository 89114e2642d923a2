/* The LLaMA stack and the output head, forward and backward.
 *
 *   for each layer: h += Wo attn(rope(Wqkv rms(h)));  h += Wdown swiglu(Wgu rms(h))
 *   yc = rms_final(h) + c;  pred = ReLU(out(yc))
 *
 * Every projection is one sgemm over all n_sets * set_len tokens (fused QKV
 * and gate/up); attention runs per (set, head) in parallel. The normalised
 * inputs of the projections and the SwiGLU output are recomputed in backward
 * (cheap elementwise work) instead of being stored per layer; a frozen tensor
 * skips its weight-gradient product and only propagates dX. */
#include <string.h>

#include "model/model_internal.h"

#define RMS_EPS 1e-6f

void model_backbone_forward(ptrag_model *m) {
    backbone_acts *bb = &m->bb;
    const int N = m->N, H = m->H, A = m->A, F = m->F;
    const int causal = m->cfg.attention == PTRAG_ATTN_CAUSAL;
    for (int l = 0; l < m->L; l++) {
        const layer_params *lp = &m->layer[l];
        ptrag_rmsnorm_forward(bb->nbuf, bb->r1[l], bb->hs[l], lp->attn_norm.v, N, H, RMS_EPS);
        model_linear_forward(bb->qkv[l], bb->nbuf, lp->wqkv.v, NULL, N, H, 3 * A, 0);
        ptrag_rope_forward(bb->qkv[l], bb->cos_t, bb->sin_t, m->n_sets, m->set_len, 2 * m->nh, m->dh,
                           3 * A);
        model_attention_forward(bb->att[l], bb->probs[l], bb->qkv[l], m->n_sets, m->set_len, m->nh,
                                m->dh, causal);
        memcpy(bb->hmid[l], bb->hs[l], sizeof(float) * (size_t)N * H);
        model_linear_forward(bb->hmid[l], bb->att[l], lp->wo.v, NULL, N, A, H, 1);
        ptrag_rmsnorm_forward(bb->nbuf, bb->r2[l], bb->hmid[l], lp->mlp_norm.v, N, H, RMS_EPS);
        model_linear_forward(bb->gu[l], bb->nbuf, lp->wgate_up.v, NULL, N, H, 2 * F, 0);
        model_swiglu_forward(bb->hm, bb->gu[l], N, F);
        memcpy(bb->hs[l + 1], bb->hmid[l], sizeof(float) * (size_t)N * H);
        model_linear_forward(bb->hs[l + 1], bb->hm, lp->wdown.v, NULL, N, F, H, 1);
    }
    ptrag_rmsnorm_forward(bb->yc, bb->rf, bb->hs[m->L], m->final_norm.v, N, H, RMS_EPS);
    ptrag_add_forward(bb->yc, bb->yc, m->c, (long)N * H);
    model_linear_forward(m->pred, bb->yc, m->out_w.v, m->out_b.v, N, H, m->G, 0);
    ptrag_relu_forward(m->pred, m->pred, (long)N * m->G);
}

/* From m->dpred (gradient of the loss w.r.t. the predictions) down to dx0
 * (overwritten) and the residual's share of m->dc (accumulated). */
void model_backbone_backward(ptrag_model *m, float *dx0) {
    backbone_acts *bb = &m->bb;
    const int N = m->N, H = m->H, A = m->A, F = m->F, G = m->G;
    const size_t NH = (size_t)N * H;
    /* pred = ReLU(pre) and pre > 0 iff pred > 0, so pred stands in for pre. */
    float *dpre = m->dpred;
#pragma omp parallel for schedule(static) if (MODEL_BIG(m))
    for (long i = 0; i < (long)N * G; i++)
        if (!(m->pred[i] > 0.0f)) dpre[i] = 0.0f;
    model_linear_dx(bb->dyc, dpre, m->out_w.v, N, H, G);
    model_linear_backward(NULL, m->out_w.g, m->out_b.g, dpre, bb->yc, NULL, N, H, G);
    ptrag_accumulate(m->dc, bb->dyc, (long)NH);
    float *dh = bb->dh;
    memset(dh, 0, sizeof(float) * NH);
    ptrag_rmsnorm_backward(dh, m->final_norm.g, bb->dyc, bb->hs[m->L], m->final_norm.v, bb->rf, N, H);
    for (int l = m->L - 1; l >= 0; l--) {
        const layer_params *lp = &m->layer[l];
        /* MLP: h_{l+1} = hmid + Wdown swiglu(Wgu rms(hmid)); dh becomes d hmid. */
        if (lp->wdown.g) model_swiglu_forward(bb->hm, bb->gu[l], N, F);
        model_linear_dx(bb->dhm, dh, lp->wdown.v, N, F, H);
        model_linear_backward(NULL, lp->wdown.g, NULL, dh, bb->hm, NULL, N, F, H);
        model_swiglu_backward(bb->dgu, bb->dhm, bb->gu[l], N, F);
        if (lp->wgate_up.g)
            ptrag_rmsnorm_forward(bb->nbuf, bb->r2[l], bb->hmid[l], lp->mlp_norm.v, N, H, RMS_EPS);
        model_linear_dx(bb->dn, bb->dgu, lp->wgate_up.v, N, H, 2 * F);
        model_linear_backward(NULL, lp->wgate_up.g, NULL, bb->dgu, bb->nbuf, NULL, N, H, 2 * F);
        ptrag_rmsnorm_backward(dh, lp->mlp_norm.g, bb->dn, bb->hmid[l], lp->mlp_norm.v, bb->r2[l], N, H);
        /* Attention: hmid = h_l + Wo attn(rope(Wqkv rms(h_l))); dh becomes d h_l. */
        model_linear_dx(bb->datt, dh, lp->wo.v, N, A, H);
        model_linear_backward(NULL, lp->wo.g, NULL, dh, bb->att[l], NULL, N, A, H);
        model_attention_backward(bb->dqkv, bb->ascratch, bb->datt, bb->qkv[l], bb->probs[l],
                                 m->n_sets, m->set_len, m->nh, m->dh);
        ptrag_rope_backward(bb->dqkv, bb->cos_t, bb->sin_t, m->n_sets, m->set_len, 2 * m->nh, m->dh,
                            3 * A);
        if (lp->wqkv.g)
            ptrag_rmsnorm_forward(bb->nbuf, bb->r1[l], bb->hs[l], lp->attn_norm.v, N, H, RMS_EPS);
        model_linear_dx(bb->dn, bb->dqkv, lp->wqkv.v, N, H, 3 * A);
        model_linear_backward(NULL, lp->wqkv.g, NULL, bb->dqkv, bb->nbuf, NULL, N, H, 3 * A);
        ptrag_rmsnorm_backward(dh, lp->attn_norm.g, bb->dn, bb->hs[l], lp->attn_norm.v, bb->r1[l], N, H);
    }
    memcpy(dx0, dh, sizeof(float) * NH);
}
