/* Stage-1 retrieval over a dataset's perturbations: see include/ptrag/retrieval.h. */
#include "ptrag/retrieval.h"

#include <stdlib.h>
#include <string.h>

/* A database row while it is sorted by name (qsort has no context pointer). */
typedef struct {
    const char *name;
    int32_t pert;
} named_pert;

static int cmp_pert_name(const void *a, const void *b) {
    return strcmp(((const named_pert *)a)->name, ((const named_pert *)b)->name);
}

/* Orders the database rows by perturbation name, as the published code does. */
static int sort_by_name(const ptrag_dataset *d, int32_t *rows, long n, ptrag_error *err) {
    named_pert *v = malloc((size_t)n * sizeof *v + 1);
    if (!v) return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    for (long i = 0; i < n; i++) v[i] = (named_pert){d->pert_names[rows[i]], rows[i]};
    qsort(v, (size_t)n, sizeof *v, cmp_pert_name);
    for (long i = 0; i < n; i++) rows[i] = v[i].pert;
    free(v);
    return 0;
}

/* Perturbation codes used by training conditions (controls included). */
static void mark_train(const ptrag_dataset *d, unsigned char *in_train) {
    for (int c = 0; c < d->assign->n_conditions; c++) {
        const ptrag_condition *cd = &d->assign->conditions[c];
        if (cd->splits & (1u << PTRAG_SPLIT_TRAIN)) in_train[cd->pert] = 1;
    }
    in_train[d->control_code] = 1;
}

int ptrag_retrieval_build(const ptrag_dataset *d, ptrag_db mode, int K, ptrag_retrieval **out,
                          ptrag_error *err) {
    *out = NULL;
    if (d->onehot)
        return ptrag_fail(err, PTRAG_E_ARG,
                          "retrieval (models rag and ptrag) needs perturbation embeddings: pass --embeddings");
    ptrag_retrieval *r = calloc(1, sizeof *r);
    unsigned char *allowed = calloc((size_t)d->n_perts + 1, 1);
    if (!r || !allowed) {
        free(r);
        free(allowed);
        return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    }
    r->n_perts = d->n_perts;
    r->E = d->feat_dim;
    r->pert_feat = d->pert_feat;
    if (mode == PTRAG_DB_TRAIN_ONLY) mark_train(d, allowed);
    else memset(allowed, 1, (size_t)d->n_perts);
    r->db_pert = malloc((size_t)d->n_perts * sizeof *r->db_pert + 1);
    r->pert_row = malloc((size_t)d->n_perts * sizeof *r->pert_row + 1);
    int rc = (!r->db_pert || !r->pert_row) ? ptrag_fail(err, PTRAG_E_NOMEM, "out of memory") : 0;
    for (int p = 0; !rc && p < d->n_perts; p++) {
        r->pert_row[p] = -1;
        if (allowed[p] && d->pert_has_feat[p]) r->db_pert[r->P++] = p;
    }
    free(allowed);
    if (!rc && r->P < 2)
        rc = ptrag_fail(err, PTRAG_E_ARG, "%s: the retrieval database has %ld perturbation(s); at least 2 are needed",
                        d->h5ad_path, r->P);
    if (!rc) rc = sort_by_name(d, r->db_pert, r->P, err);
    if (rc) goto fail;
    r->db = malloc((size_t)r->P * (size_t)r->E * sizeof *r->db);
    if (!r->db) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
        goto fail;
    }
    for (long i = 0; i < r->P; i++) {
        r->pert_row[r->db_pert[i]] = (int32_t)i;
        memcpy(r->db + (size_t)i * r->E, ptrag_dataset_pert_feature(d, r->db_pert[i]), (size_t)r->E * sizeof(float));
    }
    r->K = K < r->P - 1 ? K : (int)(r->P - 1);
    if ((rc = ptrag_knn_build(r->db, r->P, r->E, &r->index, err))) goto fail;

    /* Every perturbation with a vector queries once; its own row is excluded. */
    r->topk = malloc((size_t)d->n_perts * (size_t)r->K * sizeof *r->topk + 1);
    r->topk_sim = malloc((size_t)d->n_perts * (size_t)r->K * sizeof *r->topk_sim + 1);
    float *q = malloc((size_t)d->n_perts * (size_t)r->E * sizeof *q + 1);
    long *excl_off = malloc(((size_t)d->n_perts + 1) * sizeof *excl_off);
    long *excl_idx = malloc(((size_t)d->n_perts + 1) * sizeof *excl_idx);
    long *idx = malloc((size_t)d->n_perts * (size_t)r->K * sizeof *idx + 1);
    int32_t *qp = malloc((size_t)d->n_perts * sizeof *qp + 1);
    if (!r->topk || !r->topk_sim || !q || !excl_off || !excl_idx || !idx || !qp) {
        rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
    } else {
        long nq = 0, ne = 0;
        excl_off[0] = 0;
        for (int p = 0; p < d->n_perts; p++) {
            for (int k = 0; k < r->K; k++) r->topk[(size_t)p * r->K + k] = -1;
            if (!d->pert_has_feat[p]) continue;
            memcpy(q + (size_t)nq * r->E, ptrag_dataset_pert_feature(d, p), (size_t)r->E * sizeof *q);
            if (r->pert_row[p] >= 0) excl_idx[ne++] = r->pert_row[p];
            qp[nq++] = p;
            excl_off[nq] = ne;
        }
        float *sim = malloc((size_t)nq * (size_t)r->K * sizeof *sim + 1);
        if (!sim) rc = ptrag_fail(err, PTRAG_E_NOMEM, "out of memory");
        if (!rc)
            rc = ptrag_knn_search(r->index, q, nq, r->K, excl_off, excl_idx, NULL, 0, idx, sim, err);
        for (long i = 0; !rc && i < nq; i++)
            for (int k = 0; k < r->K; k++) {
                r->topk[(size_t)qp[i] * r->K + k] = (int32_t)idx[(size_t)i * r->K + k];
                r->topk_sim[(size_t)qp[i] * r->K + k] = sim[(size_t)i * r->K + k];
            }
        free(sim);
    }
    free(q);
    free(excl_off);
    free(excl_idx);
    free(idx);
    free(qp);
    if (rc) goto fail;
    *out = r;
    return 0;
fail:
    ptrag_retrieval_free(r);
    return rc;
}

void ptrag_retrieval_free(ptrag_retrieval *r) {
    if (!r) return;
    free(r->db);
    free(r->db_pert);
    free(r->pert_row);
    free(r->topk);
    free(r->topk_sim);
    ptrag_knn_free(r->index);
    free(r);
}

int ptrag_retrieval_candidates(const ptrag_retrieval *r, const int32_t *set_pert, int n_sets, int faithful_batch,
                               int32_t *cand, ptrag_error *err) {
    if (!faithful_batch) {
        for (int b = 0; b < n_sets; b++) {
            const int32_t *t = r->topk + (size_t)set_pert[b] * r->K;
            if (t[0] < 0)
                return ptrag_fail(err, PTRAG_E_ARG, "perturbation code %d has no feature vector to retrieve with",
                                  set_pert[b]);
            memcpy(cand + (size_t)b * r->K, t, (size_t)r->K * sizeof *cand);
        }
        return 0;
    }
    /* Published behaviour: the excluded row is set 0's perturbation for all. */
    long excl_row = r->pert_row[set_pert[0]];
    long *off = malloc(((size_t)n_sets + 1) * sizeof *off);
    long *ex = malloc(((size_t)n_sets + 1) * sizeof *ex);
    float *qs = malloc((size_t)n_sets * (size_t)r->E * sizeof *qs + 1);
    long *idx = malloc((size_t)n_sets * (size_t)r->K * sizeof *idx + 1);
    float *sim = malloc((size_t)n_sets * (size_t)r->K * sizeof *sim + 1);
    int rc = (!off || !ex || !qs || !idx || !sim) ? ptrag_fail(err, PTRAG_E_NOMEM, "out of memory") : 0;
    if (!rc) {
        off[0] = 0;
        long ne = 0;
        for (int b = 0; b < n_sets; b++) {
            memcpy(qs + (size_t)b * r->E, r->pert_feat + (size_t)set_pert[b] * r->E, (size_t)r->E * sizeof *qs);
            if (excl_row >= 0) ex[ne++] = excl_row;
            off[b + 1] = ne;
        }
        rc = ptrag_knn_search(r->index, qs, n_sets, r->K, off, ex, NULL, 0, idx, sim, err);
        for (long i = 0; !rc && i < (long)n_sets * r->K; i++) cand[i] = (int32_t)idx[i];
    }
    free(off);
    free(ex);
    free(qs);
    free(idx);
    free(sim);
    return rc;
}
