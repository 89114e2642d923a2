/* Building a model: parameter registration (names and shapes shared with the
 * PyTorch twin dev/twin_model.py and with checkpoints) and the activation
 * arena, allocated once for cfg batch_sets x set_size cells. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"
#include "ptrag/bf16.h"

/* ---------------------------------------------------------------- parameters */

typedef struct reg {
    ptrag_params *ps;
    ptrag_error *err;
    int rc;
} reg;

static int add(reg *r, const char *name, long long d0, long long d1, ptrag_init_kind init,
               double arg) {
    if (r->rc) return -1;
    long long shape[2] = {d0, d1};
    int ndim = d1 > 0 ? 2 : 1;
    int i = ptrag_params_add(r->ps, name, ndim, shape, init, arg, 0, r->err);
    if (i < 0) r->rc = i;
    return i;
}

/* PyTorch Linear(in -> out) with bias: "<prefix>.w" [out, in], "<prefix>.b" [out]. */
static void add_linear(reg *r, const char *prefix, long long in, long long out) {
    char name[PTRAG_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.w", prefix);
    add(r, name, out, in, PTRAG_INIT_KAIMING_UNIFORM, (double)in);
    snprintf(name, sizeof name, "%s.b", prefix);
    add(r, name, out, 0, PTRAG_INIT_KAIMING_UNIFORM, (double)in);
}

static int register_params(ptrag_model *m, ptrag_error *err) {
    const ptrag_config *c = &m->cfg;
    reg r = {m->ps, err, 0};
    const int H = m->H;
    add_linear(&r, "basal_enc", m->G, H);
    add_linear(&r, "pert_enc", m->E, H);
    if (m->NB > 0) add(&r, "batch_emb", m->NB, H, PTRAG_INIT_NORMAL, 1.0);
    if (c->model == PTRAG_MODEL_PTRAG) {
        add(&r, "ctx_norm.w", 3 * H, 0, PTRAG_INIT_ONES, 0);
        add(&r, "ctx_norm.b", 3 * H, 0, PTRAG_INIT_ZEROS, 0);
        add_linear(&r, "scorer1", 3 * H, H);
        add_linear(&r, "scorer2", H, 2);
        add_linear(&r, "ctx_proj", 3 * H, H);
        /* Starts at 0: step 0 selects as without the features. */
        if (c->scorer_features) add(&r, "scorer_feat.w", 1, PTRAG_CAND_FEATS, PTRAG_INIT_ZEROS, 0);
    } else if (c->model == PTRAG_MODEL_RAG) {
        add_linear(&r, "cand_proj", m->E, H);
        add_linear(&r, "rag_query", H, H);
        add_linear(&r, "rag_key", H, H);
        add_linear(&r, "rag_value", H, H);
    }
    for (int l = 0; l < m->L; l++) {
        char name[PTRAG_PARAM_NAME_MAX];
#define LAYER(suffix, d0, d1, init, arg)                                   \
    snprintf(name, sizeof name, "backbone.layer%d." suffix, l);            \
    add(&r, name, d0, d1, init, arg)
        LAYER("attn_norm", H, 0, PTRAG_INIT_ONES, 0);
        LAYER("wqkv", 3LL * m->A, H, PTRAG_INIT_NORMAL, 0.02);
        LAYER("wo", H, m->A, PTRAG_INIT_NORMAL, 0.02);
        LAYER("mlp_norm", H, 0, PTRAG_INIT_ONES, 0);
        LAYER("wgate_up", 2LL * m->F, H, PTRAG_INIT_NORMAL, 0.02);
        LAYER("wdown", H, m->F, PTRAG_INIT_NORMAL, 0.02);
#undef LAYER
    }
    add(&r, "backbone.final_norm", H, 0, PTRAG_INIT_ONES, 0);
    if (c->residual == PTRAG_RESIDUAL_GENES) {
        /* Gene-space residual: out starts at 0 (its bias is set to the mean
         * training shift by the trainer), so step 0 predicts control + shift. */
        add(&r, "out.w", m->G, H, PTRAG_INIT_ZEROS, 0);
        add(&r, "out.b", m->G, 0, PTRAG_INIT_ZEROS, 0);
    } else {
        add_linear(&r, "out", H, m->G);
    }
    if (r.rc) return r.rc;
    if (c->freeze_backbone) {
        /* The published run froze the whole LLaMA stack and project_out. */
        int rc = ptrag_params_set_frozen_prefix(m->ps, "backbone.", 1, err);
        if (rc < 0) return rc;
        rc = ptrag_params_set_frozen_prefix(m->ps, "out.", 1, err);
        if (rc < 0) return rc;
    }
    return ptrag_params_layout(m->ps, err);
}

static pref find(const ptrag_model *m, const char *name) {
    pref p = {NULL, NULL};
    int i = ptrag_params_find(m->ps, name);
    if (i < 0) return p;
    p.v = ptrag_params_value(m->ps, i);
    p.g = ptrag_params_get(m->ps, i)->frozen ? NULL : ptrag_params_grad(m->ps, i);
    return p;
}

static void resolve_params(ptrag_model *m) {
    m->basal_w = find(m, "basal_enc.w"), m->basal_b = find(m, "basal_enc.b");
    m->pert_w = find(m, "pert_enc.w"), m->pert_b = find(m, "pert_enc.b");
    m->batch_emb = find(m, "batch_emb");
    m->ctx_norm_w = find(m, "ctx_norm.w"), m->ctx_norm_b = find(m, "ctx_norm.b");
    m->scorer1_w = find(m, "scorer1.w"), m->scorer1_b = find(m, "scorer1.b");
    m->scorer2_w = find(m, "scorer2.w"), m->scorer2_b = find(m, "scorer2.b");
    m->ctx_proj_w = find(m, "ctx_proj.w"), m->ctx_proj_b = find(m, "ctx_proj.b");
    m->scorer_feat_w = find(m, "scorer_feat.w");
    m->cand_proj_w = find(m, "cand_proj.w"), m->cand_proj_b = find(m, "cand_proj.b");
    m->rag_q_w = find(m, "rag_query.w"), m->rag_q_b = find(m, "rag_query.b");
    m->rag_k_w = find(m, "rag_key.w"), m->rag_k_b = find(m, "rag_key.b");
    m->rag_v_w = find(m, "rag_value.w"), m->rag_v_b = find(m, "rag_value.b");
    for (int l = 0; l < m->L; l++) {
        char name[PTRAG_PARAM_NAME_MAX];
        layer_params *lp = &m->layer[l];
#define GET(field, suffix)                                          \
    snprintf(name, sizeof name, "backbone.layer%d." suffix, l);     \
    lp->field = find(m, name)
        GET(attn_norm, "attn_norm");
        GET(wqkv, "wqkv");
        GET(wo, "wo");
        GET(mlp_norm, "mlp_norm");
        GET(wgate_up, "wgate_up");
        GET(wdown, "wdown");
#undef GET
    }
    m->final_norm = find(m, "backbone.final_norm");
    m->out_w = find(m, "out.w"), m->out_b = find(m, "out.b");
}

/* ---------------------------------------------------------------- arena */

/* Two passes over the same carving code: the first (base NULL) only sums the
 * sizes, the second hands out pointers. Each buffer starts on 64 bytes. */
typedef struct carver {
    float *base;
    size_t off;
} carver;

static float *take(carver *cv, size_t n) {
    float *p = cv->base ? cv->base + cv->off : NULL;
    cv->off += (n + 15) & ~(size_t)15;
    return p;
}

static void carve(ptrag_model *m, carver *cv) {
    const size_t N = (size_t)m->Nmax, B = (size_t)m->Bmax, S = (size_t)m->Smax;
    const size_t H = (size_t)m->H, A = (size_t)m->A, F = (size_t)m->F, G = (size_t)m->G;
    const size_t K = (size_t)m->K, E = (size_t)m->E, NK = N * K, BK = B * K;
    const size_t probs = B * (size_t)m->nh * S * S;
    backbone_acts *bb = &m->bb;
    m->c = take(cv, N * H);
    m->p = take(cv, B * H);
    m->pred = take(cv, N * G);
    m->eloss = take(cv, B);
    m->dloss = take(cv, B);
    m->mloss = take(cv, B);
    m->escratch = take(cv, (size_t)ptrag_energy_scratch_floats(m->Bmax, m->Smax));
    m->dpred = take(cv, N * G);
    m->dc = take(cv, N * H);
    m->dp = take(cv, B * H);
    m->dx0 = take(cv, N * H);
    for (int l = 0; l <= m->L; l++) bb->hs[l] = take(cv, N * H);
    for (int l = 0; l < m->L; l++) {
        bb->hmid[l] = take(cv, N * H);
        bb->r1[l] = take(cv, N);
        bb->r2[l] = take(cv, N);
        bb->qkv[l] = take(cv, N * 3 * A);
        bb->att[l] = take(cv, N * A);
        bb->probs[l] = take(cv, probs);
        bb->gu[l] = take(cv, N * 2 * F);
    }
    bb->rf = take(cv, N);
    bb->yc = take(cv, N * H);
    bb->nbuf = take(cv, N * H);
    bb->cos_t = take(cv, S * (size_t)m->dh / 2);
    bb->sin_t = take(cv, S * (size_t)m->dh / 2);
    bb->dh = take(cv, N * H);
    bb->dyc = take(cv, N * H);
    if (m->L > 0) {
        bb->hm = take(cv, N * F);
        bb->dn = take(cv, N * H);
        bb->datt = take(cv, N * A);
        bb->dqkv = take(cv, N * 3 * A);
        bb->dgu = take(cv, N * 2 * F);
        bb->dhm = take(cv, N * F);
        bb->ascratch = take(cv, probs);
    }
    if (m->cfg.model == PTRAG_MODEL_PTRAG) {
        ptrag_acts *pt = &m->pt;
        pt->dbU = take(cv, BK * E);
        pt->R = take(cv, BK * H);
        pt->Wg = take(cv, 2 * H * 3 * H);
        pt->wg = take(cv, 2 * H);
        pt->cst = take(cv, 2 * H);
        pt->Pc = take(cv, N * 2 * H);
        pt->Pp = take(cv, B * 2 * H);
        pt->PR = take(cv, BK * 2 * H);
        pt->stat_c = take(cv, N * 2);
        pt->stat_p = take(cv, B * 2);
        pt->stat_r = take(cv, BK * 2);
        pt->mu = take(cv, NK);
        pt->rs = take(cv, NK);
        pt->h1 = take(cv, NK * H);
        pt->gd = take(cv, NK * H);
        pt->logits = take(cv, NK * 2);
        pt->soft = take(cv, NK * 2);
        pt->w = take(cv, NK);
        if (m->cfg.evidence) {
            pt->ev = take(cv, N * (size_t)m->G);
            pt->evw = take(cv, N);
            pt->dw_ev = take(cv, NK);
        }
        if (m->cfg.scorer_features) pt->fbias = take(cv, BK), pt->dfbias = take(cv, BK);
        pt->cell_s = take(cv, N * 8);
        pt->pair_s = take(cv, NK * 4);
        pt->slot_s = take(cv, BK * 2);
        pt->row_s = take(cv, BK * 2);
        pt->set_s = take(cv, B * 2);
        pt->Sz = take(cv, 2 * H);
        pt->Smu = take(cv, 2 * H);
        pt->dlog = take(cv, NK * 2);
        pt->dw = take(cv, NK);
        pt->Dc = take(cv, N * 2 * H);
        pt->Dp = take(cv, B * 2 * H);
        pt->DRs = take(cv, BK * 2 * H);
        pt->DRu = take(cv, BK * 2 * H);
        pt->Sc = take(cv, N * 2 * H);
        pt->Mx = take(cv, 2 * H * 3 * H);
        pt->dR = take(cv, BK * H);
        pt->dWg = take(cv, 2 * H * 3 * H);
    } else if (m->cfg.model == PTRAG_MODEL_RAG) {
        rag_acts *rg = &m->rg;
        rg->dbU = take(cv, BK * E);
        rg->R = take(cv, BK * H);
        rg->Ku = take(cv, BK * H);
        rg->Vu = take(cv, BK * H);
        rg->Ks = take(cv, BK * H);
        rg->Vs = take(cv, BK * H);
        rg->qin = take(cv, N * H);
        rg->q = take(cv, N * H);
        rg->att = take(cv, N * K);
        rg->dq = take(cv, N * H);
        rg->dqin = take(cv, N * H);
        rg->dKs = take(cv, BK * H);
        rg->dVs = take(cv, BK * H);
        rg->dKu = take(cv, BK * H);
        rg->dVu = take(cv, BK * H);
        rg->dR = take(cv, BK * H);
        rg->datt = take(cv, N * K);
    }
}

static int alloc_arena(ptrag_model *m, ptrag_error *err) {
    int L = m->L;
    backbone_acts *bb = &m->bb;
    bb->hs = calloc((size_t)L + 1, sizeof(float *));
    float ***per_layer[] = {&bb->hmid, &bb->r1, &bb->r2, &bb->qkv, &bb->att, &bb->probs, &bb->gu};
    int ok = bb->hs != NULL;
    for (size_t i = 0; i < sizeof per_layer / sizeof per_layer[0]; i++) {
        *per_layer[i] = calloc((size_t)(L > 0 ? L : 1), sizeof(float *));
        ok = ok && *per_layer[i];
    }
    carver cv = {NULL, 0};
    carve(m, &cv);
    m->arena_floats = cv.off;
    m->arena = ok ? aligned_alloc(64, cv.off * sizeof(float)) : NULL;
    size_t BK = (size_t)m->Bmax * (size_t)m->K;
    if (m->cfg.model != PTRAG_MODEL_STATE) {
        m->slot_row = malloc(BK * sizeof(int32_t));
        m->urow = malloc(BK * sizeof(int32_t));
        ok = ok && m->slot_row && m->urow;
    }
    size_t mask_bytes = 0;
    if (m->cfg.model == PTRAG_MODEL_PTRAG) {
        mask_bytes = (size_t)m->Nmax * (size_t)m->K * (size_t)m->H;
        m->pt.keepmask = malloc(mask_bytes);
        ok = ok && m->pt.keepmask;
    }
    if (!ok || !m->arena)
        return ptrag_fail(err, PTRAG_E_NOMEM,
                          "model: cannot allocate %.1f MiB of activations for %d sets x %d cells",
                          (double)m->arena_floats * 4.0 / 1048576.0, m->Bmax, m->Smax);
    /* Zero once: padding and never-written tails stay defined (sanitizers). */
    memset(m->arena, 0, cv.off * sizeof(float));
    cv.base = m->arena;
    cv.off = 0;
    carve(m, &cv);
    m->arena_bytes = m->arena_floats * sizeof(float) + mask_bytes + 2 * BK * sizeof(int32_t);
    return ptrag_rope_table(bb->cos_t, bb->sin_t, m->Smax, m->dh, 10000.0, err);
}

/* ---------------------------------------------------------------- public */

int ptrag_model_new(const ptrag_config *cfg, const ptrag_retrieval *r, ptrag_model **out, ptrag_error *err) {
    *out = NULL;
    int rc = ptrag_config_validate_complete(cfg, err);
    if (rc) {
        ptrag_error_prefix(err, "model");
        return rc;
    }
    if (cfg->model == PTRAG_MODEL_PTRAG && cfg->hidden > 512)
        return ptrag_fail(err, PTRAG_E_ARG, "model: hidden: ptrag supports up to 512, got %d", cfg->hidden);
    ptrag_precision prec = ptrag_precision_resolve(cfg->precision, NULL, 0);
    if (prec == PTRAG_PRECISION_BF16 && !ptrag_bf16_available())
        return ptrag_fail(err, PTRAG_E_UNSUPPORTED,
                          "model: precision: bf16 needs oneDNN, and this build has none (install libdnnl-dev "
                          "and reconfigure), or use precision fp32");
    ptrag_model *m = calloc(1, sizeof *m);
    if (!m) return ptrag_fail(err, PTRAG_E_NOMEM, "model: out of memory");
    m->cfg = *cfg;
    m->cfg.precision = prec; /* `auto` resolved once, for this machine */
    m->mm.bf16 = prec == PTRAG_PRECISION_BF16;
    m->G = cfg->n_genes, m->E = cfg->pert_dim, m->H = cfg->hidden, m->L = cfg->layers;
    m->nh = cfg->heads, m->dh = cfg->head_dim, m->A = cfg->heads * cfg->head_dim;
    m->F = cfg->mlp, m->NB = cfg->n_batches, m->onehot = cfg->pert_onehot;
    m->K = cfg->model == PTRAG_MODEL_STATE ? 0 : r ? r->K : cfg->top_k;
    m->Bmax = cfg->batch_sets, m->Smax = cfg->set_size;
    m->Nmax = (long)m->Bmax * m->Smax;
    m->layer = calloc((size_t)(m->L > 0 ? m->L : 1), sizeof *m->layer);
    if (!m->layer) rc = ptrag_fail(err, PTRAG_E_NOMEM, "model: out of memory");
    if (!rc) rc = ptrag_params_new(&m->ps, err);
    if (!rc) rc = register_params(m, err);
    if (!rc) {
        resolve_params(m);
        rc = alloc_arena(m, err);
    }
    if (!rc && r && cfg->model != PTRAG_MODEL_STATE) rc = ptrag_model_set_database(m, r->db, r->P, err);
    if (rc) {
        ptrag_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void ptrag_model_free(ptrag_model *m) {
    if (!m) return;
    ptrag_params_free(m->ps);
    backbone_acts *bb = &m->bb;
    free(bb->hs), free(bb->hmid), free(bb->r1), free(bb->r2), free(bb->qkv), free(bb->att);
    free(bb->probs), free(bb->gu);
    free(m->layer);
    free(m->arena);
    free(m->pt.keepmask);
    free(m->slot_row);
    free(m->urow);
    free(m->row_slot);
    free(m->db);
    ptrag_matmul_free(&m->mm);
    free(m);
}

ptrag_params *ptrag_model_params(ptrag_model *m) { return m->ps; }
const ptrag_config *ptrag_model_config(const ptrag_model *m) { return &m->cfg; }
size_t ptrag_model_activation_bytes(const ptrag_model *m) { return m->arena_bytes; }

int ptrag_model_set_database(ptrag_model *m, const float *db, long P, ptrag_error *err) {
    if (m->cfg.model == PTRAG_MODEL_STATE)
        return ptrag_fail(err, PTRAG_E_STATE, "model: database: model 'state' retrieves nothing");
    if (!db || P < 1 || P > INT32_MAX)
        return ptrag_fail(err, PTRAG_E_ARG,
                          "model: database: expected 1 .. 2^31-1 rows of %d features, got %ld",
                          m->E, P);
    size_t n = (size_t)P * (size_t)m->E;
    float *copy = malloc(n * sizeof(float));
    int32_t *map = malloc((size_t)P * sizeof(int32_t));
    if (!copy || !map) {
        free(copy), free(map);
        return ptrag_fail(err, PTRAG_E_NOMEM, "model: database: out of memory for %ld rows", P);
    }
    memcpy(copy, db, n * sizeof(float));
    for (long i = 0; i < P; i++) map[i] = -1;
    free(m->db), free(m->row_slot);
    m->db = copy, m->row_slot = map, m->P = P;
    m->have_forward = 0;
    return 0;
}

const float *ptrag_model_output(const ptrag_model *m) { return m->have_forward ? m->pred : NULL; }

const float *ptrag_model_keep(const ptrag_model *m) {
    return m->have_forward && m->cfg.model == PTRAG_MODEL_PTRAG ? m->pt.w : NULL;
}
