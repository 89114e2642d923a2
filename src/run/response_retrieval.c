/* Stage 1 by measured response (config response_retrieval = w > 0; beyond
 * the paper). The published stage 1 ranks database rows by the cosine of
 * their gene embeddings alone. Where the query perturbation was measured in
 * training conditions of other cell types, its response there says far more
 * about which perturbations act alike than its embedding does (on the second
 * simulation, 75 % of the top 8 share the query's module against 60 % by
 * embedding; docs/model.md). Here each (cell type ct, perturbation q) of the
 * dataset's conditions gets its top K rows by
 *
 *     sim = (1 - w) cos(e_q, e_j) + w corr(o_q, v_j)
 *
 * with e the embeddings, o_q = q's mean training shift over the cell types
 * other than ct (ev->other_ct: never ct's own, so never a set's target or a
 * held-out condition) and v_j row j's response in the same basis: its
 * other-cell-type mean, or, for a row measured in ct only, its shift in ct.
 * corr is the cosine after centring each kind by its mean over the rows of
 * ct. Both terms are one dot product: every row is the unit vector
 * [sqrt(1-w) e_j/|e_j| ; sqrt(w) v_j/|v_j| ; pad_j] (pad_j completes the
 * norm where a part is missing and meets only zeros in a query), searched by
 * the exact cosine kNN of stage 1. A query without a response (zero-shot:
 * measured nowhere else) keeps the embedding ranking r->topk, as published.
 * The query's own row is always excluded. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/knn.h"
#include "run_internal.h"

const float *ptrag_row_response(const ptrag_evidence *ev, int ct, long j, const float **mean) {
    const size_t cj = (size_t)ct * ev->P + (size_t)j;
    const float *mu = ev->resp_mean + (size_t)ct * 2 * ev->G;
    if (ev->has_other[cj]) {
        *mean = mu;
        return ev->other_ct + cj * ev->G;
    }
    *mean = mu + ev->G;
    return ev->same_ct[cj] ? ev->shift + cj * ev->G : NULL;
}

int ptrag_response_means(ptrag_evidence *ev, ptrag_error *err) {
    const long P = ev->P, G = ev->G;
    ev->resp_mean = calloc((size_t)ev->n_ct * 2 * (size_t)G + 1, sizeof(float));
    double *acc = malloc(sizeof(double) * 2 * (size_t)G + 1);
    if (!ev->resp_mean || !acc) {
        free(acc);
        return ptrag_fail(err, PTRAG_E_NOMEM, "response means: out of memory (%d cell types x %ld genes)", ev->n_ct, G);
    }
    for (int ct = 0; ct < ev->n_ct; ct++) {
        long n[2] = {0, 0};
        memset(acc, 0, sizeof(double) * 2 * (size_t)G);
        for (long j = 0; j < P; j++) {
            const float *mu;
            const float *v = ptrag_row_response(ev, ct, j, &mu);
            if (!v) continue;
            const int kind = !ev->has_other[(size_t)ct * P + j]; /* 0: other cell types, 1: ct only */
            for (long g = 0; g < G; g++) acc[(size_t)kind * G + g] += v[g];
            n[kind]++;
        }
        for (int kind = 0; kind < 2; kind++)
            for (long g = 0; g < G; g++)
                ev->resp_mean[((size_t)ct * 2 + kind) * G + g] =
                    (float)(acc[(size_t)kind * G + g] / (double)(n[kind] ? n[kind] : 1));
    }
    free(acc);
    return 0;
}

/* out[0..n) = scale * (v - mu) / |v - mu| (zero when v is NULL or constant);
 * returns the squared norm written. */
static double unit_part(const float *v, const float *mu, long n, double scale, float *out) {
    if (!v) {
        memset(out, 0, sizeof(float) * (size_t)n);
        return 0.0;
    }
    double ss = 0;
    for (long i = 0; i < n; i++) {
        const double x = v[i] - (mu ? mu[i] : 0.0);
        ss += x * x;
    }
    if (!(ss > 0)) {
        memset(out, 0, sizeof(float) * (size_t)n);
        return 0.0;
    }
    const double f = scale / sqrt(ss);
    for (long i = 0; i < n; i++) out[i] = (float)((v[i] - (mu ? mu[i] : 0.0)) * f);
    return scale * scale;
}

int ptrag_response_retrieval_build(const ptrag_dataset *d, const ptrag_retrieval *r, double w, ptrag_evidence *ev,
                                   ptrag_error *err) {
    const ptrag_assignment *a = d->assign;
    const long P = ev->P, G = ev->G;
    const int E = r->E, K = r->K, nct = ev->n_ct;
    const long D = (long)E + G + 1;
    const double se = sqrt(1.0 - w), sr = sqrt(w);
    ev->resp_K = K;
    ev->n_perts = d->n_perts;
    const size_t pairs = (size_t)nct * (size_t)d->n_perts;
    ev->resp_rows = malloc(pairs * (size_t)K * sizeof *ev->resp_rows + 1);
    ev->resp_sim = malloc(pairs * (size_t)K * sizeof *ev->resp_sim + 1);
    ev->resp_has = calloc(pairs + 1, 1);
    float *rows = malloc((size_t)P * (size_t)D * sizeof(float) + 1);
    float *queries = malloc((size_t)d->n_perts * (size_t)D * sizeof(float) + 1);
    int32_t *qpert = malloc((size_t)d->n_perts * sizeof *qpert + 1);
    long *excl_off = malloc(((size_t)d->n_perts + 1) * sizeof *excl_off);
    long *excl = malloc((size_t)d->n_perts * sizeof *excl + 1);
    long *idx = malloc((size_t)d->n_perts * (size_t)K * sizeof *idx + 1);
    float *sim = malloc((size_t)d->n_perts * (size_t)K * sizeof *sim + 1);
    unsigned char *asked = malloc((size_t)d->n_perts + 1);
    int rc = 0;
    if (!ev->resp_rows || !ev->resp_sim || !ev->resp_has || !rows || !queries || !qpert || !excl_off || !excl ||
        !idx || !sim || !asked) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM,
                        "response retrieval: out of memory (%ld rows x %ld dims, %d cell types x %d perturbations)",
                        P, D, nct, d->n_perts);
        goto done;
    }
    for (int ct = 0; ct < nct && !rc; ct++) {
        /* the database of ct: one unit vector per row */
        for (long j = 0; j < P; j++) {
            float *row = rows + (size_t)j * D;
            const float *mu;
            const float *v = ptrag_row_response(ev, ct, j, &mu);
            double n2 = unit_part(r->db + (size_t)j * E, NULL, E, se, row);
            n2 += unit_part(v, mu, G, sr, row + E);
            row[D - 1] = (float)sqrt(fmax(0.0, 1.0 - n2));
        }
        ptrag_knn_index *index = NULL;
        if ((rc = ptrag_knn_build(rows, P, (int)D, &index, err))) break;
        /* the queries of ct: its perturbed conditions (any split) whose
         * perturbation was measured in another cell type's training */
        memset(asked, 0, (size_t)d->n_perts);
        long nq = 0;
        excl_off[0] = 0;
        for (int c = 0; c < a->n_conditions; c++) {
            const ptrag_condition *cd = &a->conditions[c];
            if (cd->is_control || cd->ct != ct || asked[cd->pert] || r->pert_row[cd->pert] < 0) continue;
            asked[cd->pert] = 1;
            const long q = r->pert_row[cd->pert];
            const size_t cq = (size_t)ct * P + (size_t)q;
            if (!ev->has_other[cq]) continue;
            float *qv = queries + (size_t)nq * D;
            unit_part(r->db + (size_t)q * E, NULL, E, se, qv);
            unit_part(ev->other_ct + cq * G, ev->resp_mean + (size_t)ct * 2 * G, G, sr, qv + E);
            qv[D - 1] = 0.0f;
            qpert[nq] = cd->pert;
            excl[nq] = q; /* never its own row */
            excl_off[nq + 1] = nq + 1;
            nq++;
        }
        if (nq) rc = ptrag_knn_search(index, queries, nq, K, excl_off, excl, NULL, 0, idx, sim, err);
        ptrag_knn_free(index);
        for (long i = 0; !rc && i < nq; i++) {
            const size_t slot = (size_t)ct * d->n_perts + (size_t)qpert[i];
            for (int k = 0; k < K; k++) {
                ev->resp_rows[slot * K + k] = (int32_t)idx[(size_t)i * K + k];
                ev->resp_sim[slot * K + k] = sim[(size_t)i * K + k];
            }
            ev->resp_has[slot] = 1;
        }
    }
done:
    free(rows), free(queries), free(qpert), free(excl_off), free(excl), free(idx), free(sim), free(asked);
    return rc;
}

const int32_t *ptrag_stage1_rows(const ptrag_retrieval *r, const ptrag_evidence *ev, int ct, int pert,
                                 const float **sims) {
    if (ev && ev->resp_has && ct >= 0 && ct < ev->n_ct && pert >= 0 && pert < ev->n_perts &&
        ev->resp_has[(size_t)ct * ev->n_perts + pert]) {
        const size_t o = ((size_t)ct * ev->n_perts + pert) * (size_t)ev->resp_K;
        if (sims) *sims = ev->resp_sim + o;
        return ev->resp_rows + o;
    }
    if (sims) *sims = r->topk_sim + (size_t)pert * r->K;
    return r->topk + (size_t)pert * r->K;
}
