/* Model batches from dataset rows, shared by training and prediction: the
 * data-derived dims of a config, the host buffers of one batch and their
 * filling (control and target cells, perturbation features, batch ids,
 * stage-1 candidates and, with evidence, the candidates' shifts; with the
 * own slot, the query perturbation's own row as the last candidate). */
#include <stdlib.h>
#include <string.h>

#include "run_internal.h"

int ptrag_fill_data_dims(ptrag_config *cfg, const ptrag_dataset *d, ptrag_error *err) {
    cfg->n_genes = (int)d->n_genes;
    cfg->pert_dim = d->feat_dim;
    /* Without a batch column the embedding has one row: a learned bias of the
     * transformer input. PT-RAG needs it: a cell that drops every candidate
     * would otherwise feed an exact zero vector to RMSNorm, whose gradient
     * there (1/sqrt(eps)) explodes, and clipping then stalls training. The
     * published runs always had a batch embedding (gem_group). */
    cfg->n_batches = d->batch_code ? d->n_batches : 1;
    cfg->pert_onehot = d->onehot;
    return ptrag_config_validate_complete(cfg, err);
}

int ptrag_step_buffers_new(ptrag_step_buffers *b, const ptrag_config *cfg, int K, ptrag_error *err) {
    memset(b, 0, sizeof *b);
    size_t cells = (size_t)cfg->batch_sets * (size_t)cfg->set_size;
    b->x_ctrl = malloc(cells * (size_t)cfg->n_genes * sizeof(float));
    b->target = malloc(cells * (size_t)cfg->n_genes * sizeof(float));
    b->pert_feat = malloc((size_t)cfg->batch_sets * (size_t)cfg->pert_dim * sizeof(float) + 1);
    b->batch_id = malloc(cells * sizeof(int32_t));
    b->set_control = malloc((size_t)cfg->batch_sets);
    if (cfg->evidence)
        b->cand_shift = malloc((size_t)cfg->batch_sets * (size_t)K * (size_t)cfg->n_genes * sizeof(float) + 1);
    b->cand = malloc((size_t)cfg->batch_sets * (size_t)(K > 0 ? K : 1) * sizeof(int32_t));
    if (cfg->scorer_features)
        b->cand_feat = malloc((size_t)cfg->batch_sets * (size_t)K * PTRAG_CAND_FEATS * sizeof(float) + 1);
    if (!b->x_ctrl || !b->target || !b->pert_feat || !b->batch_id || !b->cand || !b->set_control ||
        (cfg->evidence && !b->cand_shift) || (cfg->scorer_features && !b->cand_feat)) {
        ptrag_step_buffers_free(b);
        return ptrag_fail(err, PTRAG_E_NOMEM, "out of memory for a batch of %zu cells", cells);
    }
    return 0;
}

void ptrag_step_buffers_free(ptrag_step_buffers *b) {
    free(b->x_ctrl);
    free(b->target);
    free(b->pert_feat);
    free(b->batch_id);
    free(b->cand);
    free(b->set_control);
    free(b->cand_shift);
    free(b->cand_feat);
    memset(b, 0, sizeof *b);
}

long ptrag_own_candidate(const ptrag_retrieval *r, const ptrag_evidence *ev, int ct, int pert) {
    if (!r || !r->own_slot || !ev || !ev->has_other || ct < 0 || ct >= ev->n_ct) return -1;
    const long row = r->pert_row[pert];
    return row >= 0 && ev->has_other[(size_t)ct * ev->P + row] ? row : -1;
}

int ptrag_fill_model_batch(const ptrag_dataset *d, const ptrag_config *cfg, const ptrag_retrieval *r,
                           const ptrag_evidence *ev, const int32_t *set_ct, const int32_t *set_pert, int n_sets, int set_len, const long *target_rows,
                           const long *control_rows, const int32_t *batch_ids, int faithful_batch,
                           ptrag_step_buffers *b, ptrag_model_batch *mb, ptrag_error *err) {
    long n = (long)n_sets * set_len;
    memset(mb, 0, sizeof *mb);
    mb->n_sets = n_sets;
    mb->set_len = set_len;
    ptrag_dataset_gather(d, control_rows, n, b->x_ctrl);
    mb->x_ctrl = b->x_ctrl;
    if (target_rows) {
        ptrag_dataset_gather(d, target_rows, n, b->target);
        mb->target = b->target;
    }
    for (int s = 0; s < n_sets; s++) b->set_control[s] = set_pert[s] == d->control_code;
    mb->set_control = b->set_control;
    if (d->onehot) {
        mb->pert_id = set_pert;
    } else {
        for (int s = 0; s < n_sets; s++)
            memcpy(b->pert_feat + (size_t)s * d->feat_dim, ptrag_dataset_pert_feature(d, set_pert[s]),
                   (size_t)d->feat_dim * sizeof(float));
        mb->pert_feat = b->pert_feat;
    }
    if (cfg->n_batches > 0 && batch_ids) {
        /* A cell without a batch label uses batch 0. */
        for (long i = 0; i < n; i++) b->batch_id[i] = batch_ids[i] >= 0 ? batch_ids[i] : 0;
        mb->batch_id = b->batch_id;
    }
    if (cfg->model != PTRAG_MODEL_STATE) {
        int rc = ptrag_retrieval_candidates(r, set_pert, n_sets, faithful_batch, b->cand, err);
        if (rc) return rc;
        mb->cand = b->cand;
        if (cfg->evidence && ev) {
            const size_t G = (size_t)ev->G;
            for (int s = 0; s < n_sets; s++) {
                /* Stage 1 by measured response, where the set has one. */
                if (ev->resp_has && !faithful_batch)
                    memcpy(b->cand + (size_t)s * r->K, ptrag_stage1_rows(r, ev, set_ct[s], set_pert[s], NULL),
                           (size_t)r->K * sizeof *b->cand);
                /* The own slot (last): the query's own row with its other
                 * cell types' shift, where there is one. */
                const long own = ptrag_own_candidate(r, ev, set_ct[s], set_pert[s]);
                if (own >= 0) b->cand[(size_t)s * r->K + r->K - 1] = (int32_t)own;
                for (int k = 0; k < r->K; k++) {
                    const long row = b->cand[(size_t)s * r->K + k];
                    const float *src = own >= 0 && k == r->K - 1 ? ev->other_ct + ((size_t)set_ct[s] * ev->P + row) * G
                                                                 : ev->shift + ((size_t)set_ct[s] * ev->P + row) * G;
                    memcpy(b->cand_shift + ((size_t)s * r->K + k) * G, src, G * sizeof(float));
                }
                if (cfg->scorer_features)
                    ptrag_candidate_features(d, r, ev, set_ct[s], set_pert[s], b->cand + (size_t)s * r->K, r->K,
                                             own >= 0, b->cand_feat + (size_t)s * r->K * PTRAG_CAND_FEATS);
            }
            mb->cand_shift = b->cand_shift;
            if (cfg->scorer_features) mb->cand_feat = b->cand_feat;
        }
    }
    return 0;
}
