/* Vanilla retrieval (reference-model.md §3.8a, done right): the K stage-1
 * candidates of a set are projected (cand_proj, once per distinct database
 * row), turned into keys and values, and each cell attends over them with the
 * query rag_query(c + p):
 *   x0_i = softmax_k(q_i . key_k / sqrt(H)) value_k
 * The attention output replaces c + p as the transformer input, in training
 * and at inference alike (the published code skipped retrieval at inference). */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "model/model_internal.h"
#include "core/blas_serial.h"

/* Per-slot rows gathered from the per-distinct-row ones. */
static void gather_slots(const ptrag_model *m, float *dst, const float *src) {
    const int H = m->H, BK = m->n_sets * m->K;
    for (int s = 0; s < BK; s++)
        memcpy(dst + (size_t)s * H, src + (size_t)m->slot_row[s] * H, sizeof(float) * (size_t)H);
}

void ptrag_model_rag_forward(ptrag_model *m, float *x0) {
    rag_acts *rg = &m->rg;
    const int H = m->H, K = m->K, S = m->set_len, N = m->N, B = m->n_sets;
    ptrag_model_gather_candidates(m, m->batch.cand, rg->dbU);
    const int U = m->U;
    ptrag_linear_forward(&m->mm, rg->R, rg->dbU, m->cand_proj_w.v, m->cand_proj_b.v, U, m->E, H, 0);
    ptrag_linear_forward(&m->mm, rg->Ku, rg->R, m->rag_k_w.v, m->rag_k_b.v, U, H, H, 0);
    ptrag_linear_forward(&m->mm, rg->Vu, rg->R, m->rag_v_w.v, m->rag_v_b.v, U, H, H, 0);
    gather_slots(m, rg->Ks, rg->Ku);
    gather_slots(m, rg->Vs, rg->Vu);
#pragma omp parallel for schedule(static) if (MODEL_BIG(m))
    for (int i = 0; i < N; i++) {
        const float *c = m->c + (size_t)i * H, *p = m->p + (size_t)(i / S) * H;
        float *q = rg->qin + (size_t)i * H;
        for (int h = 0; h < H; h++) q[h] = c[h] + p[h];
    }
    ptrag_linear_forward(&m->mm, rg->q, rg->qin, m->rag_q_w.v, m->rag_q_b.v, N, H, H, 0);
    const float scale = 1.0f / sqrtf((float)H);
    int token = ptrag_blas_serial_begin();
#pragma omp parallel for schedule(static) if (MODEL_BIG(m))
    for (int b = 0; b < B; b++) {
        const float *q = rg->q + (size_t)b * S * H;
        float *att = rg->att + (size_t)b * S * K;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, K, H, scale, q, H,
                    rg->Ks + (size_t)b * K * H, H, 0.0f, att, K);
        ptrag_softmax_forward(att, att, S, K);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, H, K, 1.0f, att, K,
                    rg->Vs + (size_t)b * K * H, H, 0.0f, x0 + (size_t)b * S * H, H);
    }
    ptrag_blas_serial_end(token);
}

void ptrag_model_rag_backward(ptrag_model *m, const float *dx0) {
    rag_acts *rg = &m->rg;
    const int H = m->H, K = m->K, S = m->set_len, N = m->N, B = m->n_sets, U = m->U;
    const float scale = 1.0f / sqrtf((float)H);
    int token = ptrag_blas_serial_begin();
#pragma omp parallel for schedule(static) if (MODEL_BIG(m))
    for (int b = 0; b < B; b++) {
        const float *d = dx0 + (size_t)b * S * H, *att = rg->att + (size_t)b * S * K;
        const float *Ks = rg->Ks + (size_t)b * K * H, *Vs = rg->Vs + (size_t)b * K * H;
        const float *q = rg->q + (size_t)b * S * H;
        float *datt = rg->datt + (size_t)b * S * K;
        /* dV = att^T dx0;  datt = dx0 V^T;  dscore = softmax' * scale */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, H, S, 1.0f, att, K, d, H, 0.0f,
                    rg->dVs + (size_t)b * K * H, H);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, S, K, H, 1.0f, d, H, Vs, H, 0.0f,
                    datt, K);
        ptrag_softmax_backward(datt, datt, att, S, K, scale);
        /* dq = dscore K;  dK = dscore^T q */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, S, H, K, 1.0f, datt, K, Ks, H, 0.0f,
                    rg->dq + (size_t)b * S * H, H);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, H, S, 1.0f, datt, K, q, H, 0.0f,
                    rg->dKs + (size_t)b * K * H, H);
    }
    ptrag_blas_serial_end(token);
    /* Slots back to distinct rows, in slot order (thread-count independent). */
    memset(rg->dKu, 0, sizeof(float) * (size_t)U * H);
    memset(rg->dVu, 0, sizeof(float) * (size_t)U * H);
    for (int s = 0; s < B * K; s++) {
        float *dk = rg->dKu + (size_t)m->slot_row[s] * H, *dv = rg->dVu + (size_t)m->slot_row[s] * H;
        const float *sk = rg->dKs + (size_t)s * H, *sv = rg->dVs + (size_t)s * H;
        for (int h = 0; h < H; h++) dk[h] += sk[h], dv[h] += sv[h];
    }
    memset(rg->dR, 0, sizeof(float) * (size_t)U * H);
    ptrag_linear_backward(&m->mm, rg->dR, m->rag_k_w.g, m->rag_k_b.g, rg->dKu, rg->R, m->rag_k_w.v, U, H, H);
    ptrag_linear_backward(&m->mm, rg->dR, m->rag_v_w.g, m->rag_v_b.g, rg->dVu, rg->R, m->rag_v_w.v, U, H, H);
    if (m->cand_proj_w.g || m->cand_proj_b.g)
        ptrag_linear_backward(&m->mm, NULL, m->cand_proj_w.g, m->cand_proj_b.g, rg->dR, rg->dbU,
                              m->cand_proj_w.v, U, m->E, H);
    /* query = rag_query(c + p): dc += dqin, dp_b += sum over the set's cells. */
    memset(rg->dqin, 0, sizeof(float) * (size_t)N * H);
    ptrag_linear_backward(&m->mm, rg->dqin, m->rag_q_w.g, m->rag_q_b.g, rg->dq, rg->qin, m->rag_q_w.v, N, H, H);
    ptrag_accumulate(m->dc, rg->dqin, (long)N * H);
    for (int i = 0; i < N; i++) {
        float *dp = m->dp + (size_t)(i / S) * H;
        const float *d = rg->dqin + (size_t)i * H;
        for (int h = 0; h < H; h++) dp[h] += d[h];
    }
}
