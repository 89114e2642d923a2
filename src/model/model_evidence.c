/* Retrieval that brings evidence (beyond the paper; `evidence = true`).
 *
 * Each stage-1 candidate k of a set carries s_k, its measured mean shift
 * (batch.cand_shift, built from training conditions only). With the keep
 * weights w_ik of stage 2, cell i's prediction gets, in gene space,
 *     ev_i = sum_k w_ik s_k / (1 + sum_k w_ik)
 * before the output ReLU: a keep-weighted mean of the candidates' shifts,
 * shrunk towards zero by one pseudo-candidate of no shift (so a cell that
 * keeps nothing gets no evidence and the weights' gradient stays bounded).
 * Stage 2 then has a job it can learn from the loss: keep the candidates
 * whose responses match. Gradient: d ev_i / d w_ik = (s_k - ev_i) / W_i with
 * W_i = 1 + sum_k w_ik. */
#include <string.h>

#include "model/model_internal.h"

void ptrag_model_evidence_forward(ptrag_model *m, float *pre) {
    ptrag_acts *pt = &m->pt;
    const int K = m->K, S = m->set_len, G = m->G, N = m->N;
#pragma omp parallel for schedule(static) if (MODEL_BIG(m))
    for (int i = 0; i < N; i++) {
        const int b = i / S;
        const float *w = pt->w + (size_t)i * K;
        float W = 1.0f;
        for (int k = 0; k < K; k++) W += w[k];
        pt->evw[i] = W;
        float *ev = pt->ev + (size_t)i * G;
        memset(ev, 0, sizeof(float) * (size_t)G);
        for (int k = 0; k < K; k++) {
            if (w[k] == 0.0f) continue;
            const float *s = m->batch.cand_shift + ((size_t)b * K + k) * G;
            const float a = w[k] / W;
            for (int g = 0; g < G; g++) ev[g] += a * s[g];
        }
        float *p = pre + (size_t)i * G;
        for (int g = 0; g < G; g++) p[g] += ev[g];
    }
}

void ptrag_model_evidence_backward(ptrag_model *m, const float *dpre) {
    ptrag_acts *pt = &m->pt;
    const int K = m->K, S = m->set_len, G = m->G, N = m->N;
#pragma omp parallel for schedule(static) if (MODEL_BIG(m))
    for (int i = 0; i < N; i++) {
        const int b = i / S;
        const float *d = dpre + (size_t)i * G, *ev = pt->ev + (size_t)i * G;
        double dev = 0.0; /* d . ev */
        for (int g = 0; g < G; g++) dev += (double)d[g] * ev[g];
        for (int k = 0; k < K; k++) {
            const float *s = m->batch.cand_shift + ((size_t)b * K + k) * G;
            double ds = 0.0;
            for (int g = 0; g < G; g++) ds += (double)d[g] * s[g];
            pt->dw_ev[(size_t)i * K + k] = (float)((ds - dev) / pt->evw[i]);
        }
    }
}
