/* What stage 2 knows about each candidate besides its vector (config
 * scorer_features; beyond the paper). The published scorer sees
 * LayerNorm([c; p; R_k]) only, from which an MLP cannot easily tell how
 * similar the candidate is to the query; yet within a set's candidates the
 * similarities separate the query's module from the rest far better than
 * the scorer learns to (second simulation: AUC 0.9 from the similarity vs
 * 0.58 learned; docs/model.md). Per candidate k of a set (cell type ct,
 * perturbation q):
 *   0. cos(e_q, e_k) of the embeddings, standardised over the set's K;
 *   1. corr of q's response in the other cell types with k's (as in
 *      response_retrieval.c), standardised over the K; all 0 where q has no
 *      response there;
 *   2. 1 where k's evidence was measured in ct itself (same_ct), else 0;
 *   3. 1 for the own-perturbation slot, else 0.
 * The model adds scorer_feat.w . f to the keep logit. */
#include <math.h>
#include <string.h>

#include "run_internal.h"

/* cos of x - mx and y - my (mx, my may be NULL: no centring). */
static double centred_cosine(const float *x, const float *mx, const float *y, const float *my, long n) {
    double xy = 0, xx = 0, yy = 0;
    for (long i = 0; i < n; i++) {
        const double a = x[i] - (mx ? mx[i] : 0.0f), b = y[i] - (my ? my[i] : 0.0f);
        xy += a * b, xx += a * a, yy += b * b;
    }
    return xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : 0.0;
}

/* v[0..K) -> (v - mean) / sd over the K (population sd); all 0 when the sd
 * is below 1e-6 (nothing to tell apart). Stride: PTRAG_CAND_FEATS. */
static void standardise(float *v, int K) {
    double s = 0, ss = 0;
    for (int k = 0; k < K; k++) s += v[(size_t)k * PTRAG_CAND_FEATS];
    const double mean = s / K;
    for (int k = 0; k < K; k++) {
        const double d = v[(size_t)k * PTRAG_CAND_FEATS] - mean;
        ss += d * d;
    }
    const double sd = sqrt(ss / K);
    for (int k = 0; k < K; k++)
        v[(size_t)k * PTRAG_CAND_FEATS] =
            sd < 1e-6 ? 0.0f : (float)((v[(size_t)k * PTRAG_CAND_FEATS] - mean) / sd);
}

void ptrag_candidate_features(const ptrag_dataset *d, const ptrag_retrieval *r, const ptrag_evidence *ev, int ct,
                              int pert, const int32_t *rows, int K, int own_last, float *out) {
    memset(out, 0, sizeof(float) * (size_t)K * PTRAG_CAND_FEATS);
    if (pert == d->control_code || d->onehot || !d->pert_has_feat[pert]) return;
    const long G = ev->G, q = r->pert_row[pert];
    const float *eq = ptrag_dataset_pert_feature(d, pert);
    const float *oq = NULL;
    if (q >= 0 && ev->has_other[(size_t)ct * ev->P + (size_t)q]) oq = ev->other_ct + ((size_t)ct * ev->P + (size_t)q) * G;
    const float *mu_other = ev->resp_mean + (size_t)ct * 2 * G;
    for (int k = 0; k < K; k++) {
        float *f = out + (size_t)k * PTRAG_CAND_FEATS;
        const long j = rows[k];
        const int own = own_last && k == K - 1;
        f[0] = (float)centred_cosine(eq, NULL, r->db + (size_t)j * r->E, NULL, r->E);
        if (oq) {
            const float *mu = mu_other; /* the own slot: the query's own response, the same basis */
            const float *v = own ? oq : ptrag_row_response(ev, ct, j, &mu);
            f[1] = v ? (float)centred_cosine(oq, mu_other, v, mu, G) : 0.0f;
        }
        f[2] = !own && ev->same_ct[(size_t)ct * ev->P + (size_t)j] ? 1.0f : 0.0f;
        f[3] = own ? 1.0f : 0.0f;
    }
    standardise(out + 0, K);
    standardise(out + 1, K);
}
