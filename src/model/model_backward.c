/* Backward pass of the last forward: energy loss -> output head -> backbone
 * -> transformer input (state / rag / ptrag) -> batch embedding and the two
 * encoders. Accumulates into the parameter gradients; frozen tensors have no
 * gradient slot here (pref.g == NULL) and their weight products are skipped. */
#include <string.h>

#include "model/model_internal.h"

int ptrag_model_backward(ptrag_model *m, ptrag_error *err) {
    if (!m->have_forward || !m->have_target)
        return ptrag_fail(err, PTRAG_E_STATE,
                          "model: backward needs a forward pass with a target just before it");
    if (m->backward_done)
        return ptrag_fail(err, PTRAG_E_STATE, "model: backward already ran for this forward pass");
    const ptrag_model_batch *bt = &m->batch;
    const int N = m->N, H = m->H, B = m->n_sets, S = m->set_len, E = m->E;
    memset(m->dpred, 0, sizeof(float) * (size_t)N * m->G);
    for (int b = 0; b < B; b++) m->dloss[b] = 1.0f / (float)B;
    ptrag_energy_backward(m->dpred, m->dloss, m->escratch, m->pred, bt->target, B, S, m->G);
    if (m->cfg.mean_loss > 0) {
        for (int b = 0; b < B; b++) m->dloss[b] = (float)(m->cfg.mean_loss / B);
        ptrag_set_mean_mse_backward(m->dpred, m->dloss, m->pred, bt->target, B, S, m->G);
    }
    memset(m->dc, 0, sizeof(float) * (size_t)N * H);
    memset(m->dp, 0, sizeof(float) * (size_t)B * H);
    ptrag_model_backbone_backward(m, m->dx0);
    if (m->NB > 0 && m->batch_emb.g)
        ptrag_embedding_backward(m->batch_emb.g, m->dx0, (const int *)bt->batch_id, N, H);
    switch (m->cfg.model) {
    case PTRAG_MODEL_STATE:
        ptrag_accumulate(m->dc, m->dx0, (long)N * H);
        for (int i = 0; i < N; i++) {
            float *dp = m->dp + (size_t)(i / S) * H;
            const float *d = m->dx0 + (size_t)i * H;
            for (int h = 0; h < H; h++) dp[h] += d[h];
        }
        break;
    case PTRAG_MODEL_RAG: ptrag_model_rag_backward(m, m->dx0); break;
    case PTRAG_MODEL_PTRAG: ptrag_model_ptrag_backward(m, m->dx0); break;
    }
    if (m->basal_w.g || m->basal_b.g)
        ptrag_linear_backward(&m->mm, NULL, m->basal_w.g, m->basal_b.g, m->dc, bt->x_ctrl, m->basal_w.v, N,
                              m->G, H);
    if (m->onehot) {
        /* The encoder is a column lookup, so its gradient is a column scatter. */
        for (int b = 0; b < B; b++) {
            const float *dp = m->dp + (size_t)b * H;
            for (int h = 0; h < H; h++) {
                if (m->pert_w.g) m->pert_w.g[(size_t)h * E + bt->pert_id[b]] += dp[h];
                if (m->pert_b.g) m->pert_b.g[h] += dp[h];
            }
        }
    } else if (m->pert_w.g || m->pert_b.g) {
        ptrag_linear_backward(&m->mm, NULL, m->pert_w.g, m->pert_b.g, m->dp, bt->pert_feat, m->pert_w.v, B, E, H);
    }
    int rc = ptrag_matmul_check(&m->mm, err);
    if (rc) return rc;
    m->backward_done = 1;
    return 0;
}
