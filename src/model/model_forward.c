/* Forward pass over a batch of cell sets: checks the batch, encodes cells and
 * perturbations, builds the transformer input x0 (state: c + p; rag/ptrag:
 * model_rag.c / model_ptrag.c), adds the batch embedding, runs the backbone
 * and the output head, and the energy loss. */
#include <math.h>
#include <string.h>

#include "model/model_internal.h"

static int check_batch(const ptrag_model *m, const ptrag_model_batch *b, ptrag_error *err) {
    const ptrag_config *c = &m->cfg;
    if (b->n_sets < 1 || b->n_sets > m->Bmax)
        return ptrag_fail(err, PTRAG_E_ARG, "model batch: n_sets: expected 1 .. %d (batch_sets), got %d",
                          m->Bmax, b->n_sets);
    if (b->set_len < 1 || b->set_len > m->Smax)
        return ptrag_fail(err, PTRAG_E_ARG, "model batch: set_len: expected 1 .. %d (set_size), got %d",
                          m->Smax, b->set_len);
    if (!b->x_ctrl) return ptrag_fail(err, PTRAG_E_ARG, "model batch: x_ctrl: missing");
    if (m->onehot) {
        if (!b->pert_id)
            return ptrag_fail(err, PTRAG_E_ARG, "model batch: pert_id: missing (one-hot features)");
        for (int s = 0; s < b->n_sets; s++)
            if (b->pert_id[s] < 0 || b->pert_id[s] >= m->E)
                return ptrag_fail(err, PTRAG_E_ARG,
                                  "model batch: pert_id[%d]: expected 0 .. %d, got %d", s, m->E - 1,
                                  (int)b->pert_id[s]);
    } else if (!b->pert_feat) {
        return ptrag_fail(err, PTRAG_E_ARG, "model batch: pert_feat: missing (embedding features)");
    }
    if (m->NB > 0) {
        if (!b->batch_id)
            return ptrag_fail(err, PTRAG_E_ARG,
                              "model batch: batch_id: missing, the model has a batch embedding of %d rows",
                              m->NB);
        long n = (long)b->n_sets * b->set_len;
        for (long i = 0; i < n; i++)
            if (b->batch_id[i] < 0 || b->batch_id[i] >= m->NB)
                return ptrag_fail(err, PTRAG_E_ARG, "model batch: batch_id[%ld]: expected 0 .. %d, got %d",
                                  i, m->NB - 1, (int)b->batch_id[i]);
    }
    if (c->evidence && !b->cand_shift)
        return ptrag_fail(err, PTRAG_E_ARG, "model batch: cand_shift: missing (evidence = true)");
    if (c->scorer_features && !b->cand_feat)
        return ptrag_fail(err, PTRAG_E_ARG, "model batch: cand_feat: missing (scorer_features = true)");
    if (c->model != PTRAG_MODEL_STATE) {
        if (!m->db)
            return ptrag_fail(err, PTRAG_E_STATE,
                              "model: database: not set (call ptrag_model_set_database before forward)");
        if (!b->cand) return ptrag_fail(err, PTRAG_E_ARG, "model batch: cand: missing (model %s)",
                                        ptrag_model_kind_name(c->model));
        long n = (long)b->n_sets * m->K;
        for (long i = 0; i < n; i++)
            if (b->cand[i] < 0 || b->cand[i] >= m->P)
                return ptrag_fail(err, PTRAG_E_ARG, "model batch: cand[%ld]: expected 0 .. %ld, got %d", i,
                                  m->P - 1, (int)b->cand[i]);
    }
    return 0;
}

/* p [n_sets, H]: a column lookup for one-hot ids (never a dense product with
 * one-hot vectors), else a Linear over the sets' feature vectors. */
static void encode_perturbations(ptrag_model *m, const ptrag_model_batch *b) {
    const int H = m->H, E = m->E;
    if (m->onehot) {
        for (int s = 0; s < b->n_sets; s++) {
            float *ps = m->p + (size_t)s * H;
            for (int h = 0; h < H; h++) ps[h] = m->pert_w.v[(size_t)h * E + b->pert_id[s]] + m->pert_b.v[h];
        }
    } else {
        ptrag_linear_forward(&m->mm, m->p, b->pert_feat, m->pert_w.v, m->pert_b.v, b->n_sets, E, H, 0);
    }
}

static void state_input(ptrag_model *m, float *x0) {
    const int H = m->H, S = m->set_len;
#pragma omp parallel for schedule(static) if (MODEL_BIG(m))
    for (int i = 0; i < m->N; i++) {
        const float *ci = m->c + (size_t)i * H, *ps = m->p + (size_t)(i / S) * H;
        float *xi = x0 + (size_t)i * H;
        for (int h = 0; h < H; h++) xi[h] = ci[h] + ps[h];
    }
}

int ptrag_model_forward(ptrag_model *m, const ptrag_model_batch *batch, ptrag_model_losses *out,
                        ptrag_error *err) {
    int rc = check_batch(m, batch, err);
    if (rc) return rc;
    m->have_forward = 0;
    m->backward_done = 0;
    m->batch = *batch;
    m->n_sets = batch->n_sets, m->set_len = batch->set_len;
    m->N = batch->n_sets * batch->set_len;
    m->have_target = batch->target != NULL;
    m->selection_used = batch->training ? -1 : (int)m->cfg.selection;
    const int H = m->H, N = m->N;
    float *x0 = m->bb.hs[0];
    rc = ptrag_matmul_set_weights(&m->mm, ptrag_params_values(m->ps), ptrag_params_total(m->ps), err);
    if (rc) return rc;

    ptrag_linear_forward(&m->mm, m->c, batch->x_ctrl, m->basal_w.v, m->basal_b.v, N, m->G, H, 0);
    encode_perturbations(m, batch);
    double sparsity = 0.0, kept = 0.0;
    switch (m->cfg.model) {
    case PTRAG_MODEL_STATE: state_input(m, x0); break;
    case PTRAG_MODEL_RAG: ptrag_model_rag_forward(m, x0); break;
    case PTRAG_MODEL_PTRAG: {
        ptrag_model_ptrag_forward(m, x0);
        long NK = (long)N * m->K;
        /* kept counts the exact ones (w is 0 or 1 unless `expected`). */
        sparsity = ptrag_sparsity_forward(m->pt.w, NK);
        /* A shard's share of the whole batch's mean (model.h shard_*). */
        const double NKt = (double)model_total_sets(m) * m->set_len * m->K;
        if (model_total_sets(m) != m->n_sets) sparsity *= (double)NK / NKt;
        long n_kept = 0;
        for (long i = 0; i < NK; i++) n_kept += m->pt.w[i] >= 0.5f;
        kept = (double)n_kept / NKt;
        break;
    }
    }
    if (m->NB > 0) ptrag_embedding_forward(x0, m->batch_emb.v, (const int *)batch->batch_id, N, H);
    ptrag_model_backbone_forward(m);
    if ((rc = ptrag_matmul_check(&m->mm, err))) return rc;
    m->have_forward = 1;

    if (out) memset(out, 0, sizeof *out);
    if (m->have_target) {
        ptrag_energy_forward(m->eloss, m->escratch, m->pred, batch->target, m->n_sets, m->set_len,
                             m->G);
        double e = 0.0;
        for (int s = 0; s < m->n_sets; s++) e += m->eloss[s];
        e /= model_total_sets(m); /* a shard: its share of the batch mean */
        double mm = 0.0;
        if (m->cfg.mean_loss > 0) {
            ptrag_set_mean_mse_forward(m->mloss, m->pred, batch->target, m->n_sets, m->set_len, m->G);
            for (int s = 0; s < m->n_sets; s++) mm += m->mloss[s];
            mm /= model_total_sets(m);
        }
        if (out) {
            out->energy = e;
            out->mean_mse = mm;
            out->sparsity = sparsity;
            out->kept_fraction = kept;
            out->loss = e + m->cfg.mean_loss * mm +
                        (m->cfg.model == PTRAG_MODEL_PTRAG ? m->cfg.sparsity * sparsity : 0.0);
        }
    } else if (out) {
        out->loss = out->energy = out->mean_mse = NAN;
        out->sparsity = sparsity;
        out->kept_fraction = kept;
    }
    return 0;
}
