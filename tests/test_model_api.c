/* The model API around the math: bad batches and calls are refused with
 * messages that name the field; smaller batches reuse the arena (a set
 * predicted alone equals its rows in a full batch); the keep weights of each
 * selection mode; FLOP counts and the activation size. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/config.h"
#include "ptrag/model.h"
#include "ptrag/params.h"
#include "ptrag/rng.h"
#include "testlib.h"

enum { B = 3, S = 6, G = 30, E = 12, K = 4, P = 9, NB = 2 };

typedef struct fixture {
    ptrag_config cfg;
    ptrag_model *m;
    float xc[B * S * G], y[B * S * G], pert[B * E], db[P * E];
    int32_t pert_id[B], batch_id[B * S], cand[B * K];
    ptrag_model_batch b;
} fixture;

static void fixture_init(fixture *f, ptrag_model_kind kind, int onehot) {
    ptrag_error err;
    memset(f, 0, sizeof *f);
    ptrag_config *c = &f->cfg;
    ptrag_config_default(c);
    c->model = kind;
    c->n_genes = G;
    c->pert_dim = E;
    c->pert_onehot = onehot;
    c->hidden = 8;
    c->layers = 1;
    c->heads = 2;
    c->head_dim = 4;
    c->mlp = 16;
    c->n_batches = NB;
    c->batch_sets = B;
    c->set_size = S;
    c->top_k = K;
    CHECK_INT(ptrag_model_new(c, NULL, &f->m, &err), 0);
    CHECK_INT(ptrag_params_init(ptrag_model_params(f->m), 5, &err), 0);
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 9);
    for (int i = 0; i < B * S * G; i++) {
        f->xc[i] = (float)fabs(ptrag_rng_normal(&rng));
        f->y[i] = (float)fabs(ptrag_rng_normal(&rng));
    }
    for (int i = 0; i < B * E; i++) f->pert[i] = (float)ptrag_rng_normal(&rng);
    for (int i = 0; i < P * E; i++) f->db[i] = (float)ptrag_rng_normal(&rng);
    for (int i = 0; i < B; i++) f->pert_id[i] = i + 1;
    for (int i = 0; i < B * S; i++) f->batch_id[i] = i % NB;
    for (int i = 0; i < B * K; i++) f->cand[i] = (i * 5) % P;
    if (kind != PTRAG_MODEL_STATE) CHECK_INT(ptrag_model_set_database(f->m, f->db, P, &err), 0);
    f->b = (ptrag_model_batch){.n_sets = B, .set_len = S, .x_ctrl = f->xc, .target = f->y,
                               .pert_feat = onehot ? NULL : f->pert, .pert_id = onehot ? f->pert_id : NULL,
                               .batch_id = f->batch_id, .cand = kind != PTRAG_MODEL_STATE ? f->cand : NULL,
                               .noise_seed = 1, .training = 1};
}

static void expect_forward_error(fixture *f, const ptrag_model_batch *b, const char *needle) {
    ptrag_error err;
    int rc = ptrag_model_forward(f->m, b, NULL, &err);
    CHECK(rc < 0);
    if (rc < 0) CHECK_CONTAINS(err.msg, needle);
}

static void test_bad_batches_name_the_field(void) {
    fixture f;
    fixture_init(&f, PTRAG_MODEL_PTRAG, 0);
    ptrag_model_batch b = f.b;
    b.n_sets = 0;
    expect_forward_error(&f, &b, "model batch: n_sets");
    b = f.b, b.n_sets = B + 1;
    expect_forward_error(&f, &b, "n_sets: expected 1 .. 3");
    b = f.b, b.set_len = S + 1;
    expect_forward_error(&f, &b, "model batch: set_len");
    b = f.b, b.x_ctrl = NULL;
    expect_forward_error(&f, &b, "model batch: x_ctrl");
    b = f.b, b.pert_feat = NULL;
    expect_forward_error(&f, &b, "model batch: pert_feat");
    b = f.b, b.batch_id = NULL;
    expect_forward_error(&f, &b, "model batch: batch_id: missing");
    int32_t bad_ids[B * S];
    memcpy(bad_ids, f.batch_id, sizeof bad_ids);
    bad_ids[7] = NB;
    b = f.b, b.batch_id = bad_ids;
    expect_forward_error(&f, &b, "model batch: batch_id[7]: expected 0 .. 1, got 2");
    int32_t bad_cand[B * K];
    memcpy(bad_cand, f.cand, sizeof bad_cand);
    bad_cand[5] = P;
    b = f.b, b.cand = bad_cand;
    expect_forward_error(&f, &b, "model batch: cand[5]: expected 0 .. 8, got 9");
    b = f.b, b.cand = NULL;
    expect_forward_error(&f, &b, "model batch: cand: missing");
    ptrag_model_free(f.m);

    fixture_init(&f, PTRAG_MODEL_STATE, 1);
    int32_t bad_pert[B] = {0, E, 1};
    b = f.b, b.pert_id = bad_pert;
    expect_forward_error(&f, &b, "model batch: pert_id[1]: expected 0 .. 11, got 12");
    b = f.b, b.pert_id = NULL;
    expect_forward_error(&f, &b, "model batch: pert_id: missing");
    ptrag_model_free(f.m);

    /* evidence and scorer features need their arrays */
    ptrag_error err;
    fixture_init(&f, PTRAG_MODEL_PTRAG, 0);
    ptrag_model_free(f.m);
    f.cfg.evidence = 1;
    f.cfg.scorer_features = 1;
    CHECK_INT(ptrag_model_new(&f.cfg, NULL, &f.m, &err), 0);
    CHECK_INT(ptrag_params_init(ptrag_model_params(f.m), 5, &err), 0);
    CHECK_INT(ptrag_model_set_database(f.m, f.db, P, &err), 0);
    static float shift[B * K * G];
    b = f.b;
    expect_forward_error(&f, &b, "model batch: cand_shift: missing");
    b.cand_shift = shift;
    expect_forward_error(&f, &b, "model batch: cand_feat: missing (scorer_features = true)");
    ptrag_model_free(f.m);
}

static void test_bad_calls_are_refused(void) {
    ptrag_error err;
    fixture f;
    fixture_init(&f, PTRAG_MODEL_STATE, 0);
    /* backward before any forward, after a forward without target, twice */
    CHECK(ptrag_model_backward(f.m, &err) == PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "forward pass with a target");
    ptrag_model_batch b = f.b;
    b.target = NULL;
    ptrag_model_losses l;
    CHECK_INT(ptrag_model_forward(f.m, &b, &l, &err), 0);
    CHECK(isnan(l.loss));
    CHECK(ptrag_model_output(f.m) != NULL);
    CHECK(ptrag_model_backward(f.m, &err) == PTRAG_E_STATE);
    CHECK_INT(ptrag_model_forward(f.m, &f.b, &l, &err), 0);
    CHECK_INT(ptrag_model_backward(f.m, &err), 0);
    CHECK(ptrag_model_backward(f.m, &err) == PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "already ran");
    CHECK(ptrag_model_set_database(f.m, f.db, P, &err) == PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "database");
    CHECK(ptrag_model_keep(f.m) == NULL);
    ptrag_model_free(f.m);

    /* rag without a database */
    ptrag_config c = f.cfg;
    c.model = PTRAG_MODEL_RAG;
    c.pert_onehot = 0;
    ptrag_model *m;
    CHECK_INT(ptrag_model_new(&c, NULL, &m, &err), 0);
    b = f.b;
    b.pert_feat = f.pert, b.pert_id = NULL, b.cand = f.cand;
    CHECK(ptrag_model_forward(m, &b, NULL, &err) == PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "database: not set");
    CHECK(ptrag_model_set_database(m, f.db, 0, &err) == PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "database");
    ptrag_model_free(m);

    /* configurations a model cannot be built from */
    c.n_genes = 0;
    CHECK(ptrag_model_new(&c, NULL, &m, &err) == PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "n_genes");
    CHECK(m == NULL);
    c.n_genes = G;
    c.model = PTRAG_MODEL_PTRAG;
    c.pert_onehot = 1;
    CHECK(ptrag_model_new(&c, NULL, &m, &err) == PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "pert_onehot");
}

/* Runs the full batch, then set 1 alone (a smaller batch in the same arena):
 * its predictions must match its rows of the full batch. */
static void alone_vs_batch(ptrag_model_kind kind, int onehot, int training) {
    ptrag_error err;
    fixture f;
    fixture_init(&f, kind, onehot);
    f.b.training = training;
    f.b.target = NULL;
    CHECK_INT(ptrag_model_forward(f.m, &f.b, NULL, &err), 0);
    float full[B * S * G];
    memcpy(full, ptrag_model_output(f.m), sizeof full);
    ptrag_model_batch one = f.b;
    const int len = S - 2; /* a shorter set too: causal attention sees a prefix */
    float xc[S * G];
    memcpy(xc, f.xc + S * G, sizeof(float) * len * G);
    one.n_sets = 1, one.set_len = len, one.x_ctrl = xc;
    one.pert_feat = onehot ? NULL : f.pert + E;
    one.pert_id = onehot ? f.pert_id + 1 : NULL;
    one.batch_id = f.batch_id + S;
    one.cand = kind != PTRAG_MODEL_STATE ? f.cand + K : NULL;
    CHECK_INT(ptrag_model_forward(f.m, &one, NULL, &err), 0);
    double md = 0.0;
    for (int i = 0; i < len * G; i++) {
        double d = fabs((double)ptrag_model_output(f.m)[i] - full[S * G + i]);
        if (d > md) md = d;
    }
    CHECK(md < 1e-5);
    ptrag_model_free(f.m);
}

static void test_smaller_batches_reuse_the_arena(void) {
    alone_vs_batch(PTRAG_MODEL_STATE, 0, 1);
    alone_vs_batch(PTRAG_MODEL_STATE, 1, 1);
    alone_vs_batch(PTRAG_MODEL_RAG, 0, 1);
    /* PT-RAG's "threshold" keeps a1 > a0, independent of the batch's std. */
    ptrag_error err;
    fixture f;
    fixture_init(&f, PTRAG_MODEL_PTRAG, 0);
    ptrag_model_free(f.m);
    f.cfg.selection = PTRAG_SELECT_THRESHOLD;
    CHECK_INT(ptrag_model_new(&f.cfg, NULL, &f.m, &err), 0);
    CHECK_INT(ptrag_params_init(ptrag_model_params(f.m), 5, &err), 0);
    CHECK_INT(ptrag_model_set_database(f.m, f.db, P, &err), 0);
    f.b.training = 0, f.b.target = NULL;
    CHECK_INT(ptrag_model_forward(f.m, &f.b, NULL, &err), 0);
    float full[B * S * G];
    memcpy(full, ptrag_model_output(f.m), sizeof full);
    ptrag_model_batch one = f.b;
    one.n_sets = 1, one.x_ctrl = f.xc + S * G, one.pert_feat = f.pert + E;
    one.batch_id = f.batch_id + S, one.cand = f.cand + K;
    CHECK_INT(ptrag_model_forward(f.m, &one, NULL, &err), 0);
    double md = 0.0;
    for (int i = 0; i < S * G; i++) {
        double d = fabs((double)ptrag_model_output(f.m)[i] - full[S * G + i]);
        if (d > md) md = d;
    }
    CHECK(md < 1e-5);
    ptrag_model_free(f.m);
}

static void test_keep_weights_by_selection(void) {
    ptrag_error err;
    const ptrag_selection modes[3] = {PTRAG_SELECT_EXPECTED, PTRAG_SELECT_THRESHOLD, PTRAG_SELECT_SAMPLE};
    float keep[3][B * S * K];
    for (int i = 0; i < 3; i++) {
        fixture f;
        fixture_init(&f, PTRAG_MODEL_PTRAG, 0);
        ptrag_model_free(f.m);
        f.cfg.selection = modes[i];
        CHECK_INT(ptrag_model_new(&f.cfg, NULL, &f.m, &err), 0);
        CHECK_INT(ptrag_params_init(ptrag_model_params(f.m), 5, &err), 0);
        CHECK_INT(ptrag_model_set_database(f.m, f.db, P, &err), 0);
        f.b.training = 0;
        ptrag_model_losses l;
        CHECK_INT(ptrag_model_forward(f.m, &f.b, &l, &err), 0);
        const float *w = ptrag_model_keep(f.m);
        CHECK(w != NULL);
        double mean = 0;
        for (int n = 0; n < B * S * K; n++) {
            keep[i][n] = w[n];
            mean += w[n];
            if (modes[i] == PTRAG_SELECT_EXPECTED)
                CHECK(w[n] > 0.0f && w[n] < 1.0f);
            else
                CHECK(w[n] == 0.0f || w[n] == 1.0f);
        }
        CHECK_NEAR(l.sparsity, mean / (B * S * K), 1e-6);
        if (modes[i] == PTRAG_SELECT_SAMPLE) {
            /* The same seed draws the same noise; another seed, other draws. */
            CHECK_INT(ptrag_model_forward(f.m, &f.b, NULL, &err), 0);
            CHECK(memcmp(w, keep[i], sizeof keep[i]) == 0);
            f.b.noise_seed = 12345;
            CHECK_INT(ptrag_model_forward(f.m, &f.b, NULL, &err), 0);
            CHECK(memcmp(ptrag_model_keep(f.m), keep[i], sizeof keep[i]) != 0);
        }
        ptrag_model_free(f.m);
    }
    /* threshold keeps exactly the pairs whose keep probability exceeds 1/2 */
    for (int n = 0; n < B * S * K; n++) CHECK((keep[1][n] == 1.0f) == (keep[0][n] > 0.5f));
    /* ... or keep_threshold (calibrated on validation, run/calibrate.c) */
    const double ts[2] = {0.3, 0.6};
    for (int j = 0; j < 2; j++) {
        fixture f;
        fixture_init(&f, PTRAG_MODEL_PTRAG, 0);
        ptrag_model_free(f.m);
        f.cfg.selection = PTRAG_SELECT_THRESHOLD;
        f.cfg.keep_threshold = ts[j];
        CHECK_INT(ptrag_model_new(&f.cfg, NULL, &f.m, &err), 0);
        CHECK_INT(ptrag_params_init(ptrag_model_params(f.m), 5, &err), 0);
        CHECK_INT(ptrag_model_set_database(f.m, f.db, P, &err), 0);
        f.b.training = 0;
        CHECK_INT(ptrag_model_forward(f.m, &f.b, NULL, &err), 0);
        const float *w = ptrag_model_keep(f.m);
        int mism = 0, kept = 0;
        for (int n = 0; n < B * S * K; n++) {
            /* away from the boundary (float rounding of the two sides) */
            if (fabs(keep[0][n] - ts[j]) > 1e-5) mism += (w[n] == 1.0f) != (keep[0][n] > ts[j]);
            kept += w[n] == 1.0f;
        }
        CHECK_INT(mism, 0);
        CHECK(kept > 0 && kept < B * S * K);
        ptrag_model_free(f.m);
    }
}

static void test_flops_and_memory(void) {
    ptrag_error err;
    ptrag_config c;
    ptrag_config_default(&c);
    CHECK_INT(ptrag_config_preset(&c, "paper", &err), 0);
    c.n_genes = 2000, c.pert_dim = 1536;
    c.model = PTRAG_MODEL_STATE;
    double fwd = ptrag_model_flops(&c, 64, 64, 2000, 0), step = ptrag_model_flops(&c, 64, 64, 2000, 1);
    /* reference-model.md §9.2: backbone 24.2 MFLOP per token forward */
    CHECK(fwd > 4096 * 24.2e6 && fwd < 4096 * 30e6);
    CHECK(step > 2.5 * fwd && step < 3.2 * fwd);
    c.freeze_backbone = 1;
    double frozen = ptrag_model_flops(&c, 64, 64, 2000, 1);
    CHECK(frozen < step && frozen > 1.8 * fwd);
    CHECK(ptrag_model_flops_dense(&c, 64, 64, 2000, 1) == frozen);
    c.model = PTRAG_MODEL_PTRAG;
    double pt = ptrag_model_flops(&c, 64, 64, 2000, 1), dense = ptrag_model_flops_dense(&c, 64, 64, 2000, 1);
    CHECK(pt > frozen && dense > pt);
    /* §9.3: about 300 GFLOP per step for the direct formulation */
    CHECK(dense > 250e9 && dense < 350e9);

    fixture f;
    fixture_init(&f, PTRAG_MODEL_PTRAG, 0);
    CHECK(ptrag_model_activation_bytes(f.m) > sizeof(float) * B * S * G * 2);
    ptrag_model_free(f.m);
}

int main(void) {
    RUN(test_bad_batches_name_the_field);
    RUN(test_bad_calls_are_refused);
    RUN(test_smaller_batches_reuse_the_arena);
    RUN(test_keep_weights_by_selection);
    RUN(test_flops_and_memory);
    return TEST_SUMMARY();
}
