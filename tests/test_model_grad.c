/* Whole-model gradient and behaviour checks (no PyTorch needed):
 *  - central finite differences of the float model for a few entries of every
 *    parameter tensor (state, rag, and ptrag through the smooth "expected"
 *    selection: the hard straight-through path has no derivative to check;
 *    its parity is in test_model_twin.c). out.b is biased positive so no
 *    ReLU kink lies within a step of the predictions;
 *  - a frozen backbone leaves exactly zero in every frozen gradient, and the
 *    trainable gradients equal those of the unfrozen model;
 *  - forward and backward are deterministic and give the same bits with 1 and
 *    2 OpenMP threads;
 *  - the loss falls over 30 Adam steps (with clipping) on a fixed batch. */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/config.h"
#include "ptrag/model.h"
#include "ptrag/optim.h"
#include "ptrag/params.h"
#include "ptrag/rng.h"
#include "testlib.h"

#define P_ROWS 12
#define FD_REL_TOL 2e-2
#define FD_LOSS_NOISE 3e-6

typedef struct fixture {
    ptrag_config cfg;
    ptrag_model *m;
    float *xc, *y, *pert, *db, *shift, *feat;
    int32_t *pert_id, *batch_id, *cand;
    ptrag_model_batch b;
} fixture;

static void small_config(ptrag_config *c, ptrag_model_kind kind, int G, int H, int B, int S) {
    ptrag_config_default(c);
    c->model = kind;
    c->n_genes = G;
    c->pert_dim = 20;
    c->hidden = H;
    c->layers = 2;
    c->heads = 2;
    c->head_dim = H / 2;
    c->mlp = 2 * H;
    c->n_batches = 3;
    c->batch_sets = B;
    c->set_size = S;
    c->top_k = 5;
    c->scorer_dropout = 0.1;
    c->residual = PTRAG_RESIDUAL_HIDDEN; /* the published head unless a case says otherwise */
    c->mean_loss = 0.0;
    c->evidence = 0;
}

static void fixture_new(fixture *f, const ptrag_config *cfg, uint64_t seed) {
    ptrag_error err;
    memset(f, 0, sizeof *f);
    f->cfg = *cfg;
    CHECK_INT(ptrag_model_new(cfg, NULL, &f->m, &err), 0);
    CHECK_INT(ptrag_params_init(ptrag_model_params(f->m), seed, &err), 0);
    const int B = cfg->batch_sets, S = cfg->set_size, N = B * S, G = cfg->n_genes, E = cfg->pert_dim;
    const int K = cfg->top_k;
    ptrag_rng rng;
    ptrag_rng_seed(&rng, seed + 100);
    f->xc = malloc(sizeof(float) * N * G);
    f->y = malloc(sizeof(float) * N * G);
    f->pert = malloc(sizeof(float) * B * E);
    f->db = malloc(sizeof(float) * P_ROWS * E);
    f->pert_id = malloc(sizeof(int32_t) * B);
    f->batch_id = malloc(sizeof(int32_t) * N);
    f->cand = malloc(sizeof(int32_t) * B * K);
    for (long i = 0; i < (long)N * G; i++) {
        f->xc[i] = (float)fabs(ptrag_rng_normal(&rng));
        f->y[i] = (float)fabs(ptrag_rng_normal(&rng)) + 0.5f;
    }
    for (long i = 0; i < (long)B * E; i++) f->pert[i] = (float)ptrag_rng_normal(&rng);
    for (long i = 0; i < (long)P_ROWS * E; i++) f->db[i] = (float)ptrag_rng_normal(&rng);
    for (int i = 0; i < B; i++) f->pert_id[i] = (int32_t)ptrag_rng_below(&rng, (uint64_t)E);
    for (int i = 0; i < N; i++) f->batch_id[i] = (int32_t)ptrag_rng_below(&rng, 3);
    for (int b = 0; b < B; b++) {
        int perm[P_ROWS];
        for (int j = 0; j < P_ROWS; j++) perm[j] = j;
        ptrag_rng_shuffle_int(&rng, perm, P_ROWS);
        for (int k = 0; k < K; k++) f->cand[b * K + k] = perm[k];
    }
    if (cfg->evidence) {
        f->shift = malloc(sizeof(float) * (size_t)B * K * G);
        for (long i = 0; i < (long)B * K * G; i++) f->shift[i] = (float)(0.7 * ptrag_rng_normal(&rng));
    }
    if (cfg->scorer_features) {
        f->feat = malloc(sizeof(float) * (size_t)B * K * PTRAG_CAND_FEATS);
        for (long i = 0; i < (long)B * K * PTRAG_CAND_FEATS; i++) f->feat[i] = (float)ptrag_rng_normal(&rng);
    }
    if (cfg->model != PTRAG_MODEL_STATE) CHECK_INT(ptrag_model_set_database(f->m, f->db, P_ROWS, &err), 0);
    f->b.n_sets = B;
    f->b.set_len = S;
    f->b.x_ctrl = f->xc;
    f->b.target = f->y;
    f->b.pert_feat = cfg->pert_onehot ? NULL : f->pert;
    f->b.pert_id = cfg->pert_onehot ? f->pert_id : NULL;
    f->b.batch_id = f->batch_id;
    f->b.cand = cfg->model != PTRAG_MODEL_STATE ? f->cand : NULL;
    f->b.cand_shift = f->shift;
    f->b.cand_feat = f->feat;
    f->b.noise_seed = 5;
    f->b.training = 1;
}

static void fixture_free(fixture *f) {
    ptrag_model_free(f->m);
    free(f->xc), free(f->y), free(f->pert), free(f->db), free(f->shift), free(f->feat);
    free(f->pert_id), free(f->batch_id), free(f->cand);
}

static double loss_of(fixture *f) {
    ptrag_error err;
    ptrag_model_losses l;
    CHECK_INT(ptrag_model_forward(f->m, &f->b, &l, &err), 0);
    return l.loss;
}

/* ------------------------------------------------------------ finite differences */

/* learning: 0 = published head; 1 = gene-space residual + set-mean MSE
 * (+ evidence for ptrag), out.w drawn at random since it starts at zero. */
static void fd_check(ptrag_model_kind kind, const char *label, int learning) {
    ptrag_error err;
    ptrag_config c;
    small_config(&c, kind, 24, 8, 3, 4);
    if (learning) {
        c.residual = PTRAG_RESIDUAL_GENES;
        c.mean_loss = 3.0;
        c.evidence = kind == PTRAG_MODEL_PTRAG;
        c.scorer_features = kind == PTRAG_MODEL_PTRAG;
    }
    c.selection = PTRAG_SELECT_EXPECTED;
    fixture f;
    fixture_new(&f, &c, 11);
    f.b.training = 0; /* ptrag: "expected" selection, no dropout: a smooth loss */
    ptrag_params *ps = ptrag_model_params(f.m);
    /* Larger backbone weights (attention not uniform), out.b positive (no
     * ReLU kink near the predictions). */
    for (int i = 0; i < ptrag_params_count(ps); i++) {
        const ptrag_param *t = ptrag_params_get(ps, i);
        float *v = ptrag_params_value(ps, i);
        for (size_t k = 0; k < t->numel; k++) {
            if (!strncmp(t->name, "backbone.layer", 14) && strstr(t->name, "norm") == NULL) v[k] *= 8.0f;
            if (!strcmp(t->name, "out.b")) v[k] = 1.5f + 0.3f * v[k];
            if (learning && !strcmp(t->name, "out.w")) v[k] = 0.3f * (float)sin(1.0 + 7.0 * (double)k);
            if (!strcmp(t->name, "scorer_feat.w")) v[k] = 0.5f * (float)cos(2.0 + 3.0 * (double)k); /* starts at 0 */
        }
    }
    ptrag_params_zero_grad(ps);
    loss_of(&f);
    CHECK_INT(ptrag_model_backward(f.m, &err), 0);
    double worst = 0.0, worst_rel = 0.0;
    int n_large = 0;
    char worst_name[256] = "-";
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 3);
    int checked = 0;
    for (int i = 0; i < ptrag_params_count(ps); i++) {
        const ptrag_param *t = ptrag_params_get(ps, i);
        float *v = ptrag_params_value(ps, i);
        const float *g = ptrag_params_grad(ps, i);
        /* The entry with the largest gradient and two random ones. */
        size_t pick[3] = {0, ptrag_rng_below(&rng, t->numel), ptrag_rng_below(&rng, t->numel)};
        for (size_t k = 1; k < t->numel; k++)
            if (fabs(g[k]) > fabs(g[pick[0]])) pick[0] = k;
        for (int j = 0; j < 3; j++) {
            size_t k = pick[j];
            float v0 = v[k];
            float h = 1e-2f * (fabsf(v0) > 0.1f ? fabsf(v0) : 0.1f);
            v[k] = v0 + h;
            double lp = loss_of(&f);
            v[k] = v0 - h;
            double lm = loss_of(&f);
            v[k] = v0;
            double fd = (lp - lm) / (2.0 * ((double)(v0 + h) - (double)v0));
            /* Allowed: 2% of the gradient, plus the float loss's rounding
             * (~1e-6 absolute here) divided by the step. */
            double noise = FD_LOSS_NOISE / h;
            double e = fabs(fd - g[k]) / (FD_REL_TOL * fabs(g[k]) + noise);
            if (e > worst) {
                worst = e;
                snprintf(worst_name, sizeof worst_name, "%s[%zu] fd %.6g an %.6g", t->name, k, fd, g[k]);
            }
            if (fabs(g[k]) > 100 * noise) {
                double rel = fabs(fd - g[k]) / fabs(g[k]);
                if (rel > worst_rel) worst_rel = rel;
                n_large++;
            }
            checked++;
        }
    }
    printf("  %s: %d entries, worst error / allowance %.2f at %s; %d entries with a large gradient: "
           "worst relative error %.2e\n",
           label, checked, worst, worst_name, n_large, worst_rel);
    CHECK(worst <= 1.0);
    CHECK(n_large >= ptrag_params_count(ps) / 2);
    fixture_free(&f);
}

static void test_finite_differences(void) {
    fd_check(PTRAG_MODEL_STATE, "state", 0);
    fd_check(PTRAG_MODEL_RAG, "rag", 0);
    fd_check(PTRAG_MODEL_PTRAG, "ptrag (expected)", 0);
    fd_check(PTRAG_MODEL_STATE, "state (gene residual, mean loss)", 1);
    fd_check(PTRAG_MODEL_PTRAG, "ptrag (expected, gene residual, mean loss, evidence, scorer features)", 1);
}

/* ------------------------------------------------------------ frozen backbone */

static void frozen_check(ptrag_model_kind kind) {
    ptrag_error err;
    ptrag_config c;
    small_config(&c, kind, 30, 16, 3, 5);
    fixture a, fz;
    fixture_new(&a, &c, 21);
    c.freeze_backbone = 1;
    fixture_new(&fz, &c, 21); /* same seed: each tensor's init depends on its name only */
    ptrag_params *pa = ptrag_model_params(a.m), *pf = ptrag_model_params(fz.m);
    ptrag_params_zero_grad(pa);
    ptrag_params_zero_grad(pf);
    loss_of(&a);
    loss_of(&fz);
    CHECK_INT(ptrag_model_backward(a.m, &err), 0);
    CHECK_INT(ptrag_model_backward(fz.m, &err), 0);
    int n_frozen = 0, nonzero = 0, differ = 0;
    for (int i = 0; i < ptrag_params_count(pf); i++) {
        const ptrag_param *t = ptrag_params_get(pf, i);
        const float *g = ptrag_params_grad(pf, i);
        int j = ptrag_params_find(pa, t->name);
        CHECK(j >= 0);
        int expect_frozen = !strncmp(t->name, "backbone.", 9) || !strncmp(t->name, "out.", 4);
        CHECK_INT(t->frozen, expect_frozen);
        if (t->frozen) {
            n_frozen++;
            for (size_t k = 0; k < t->numel; k++) nonzero += g[k] != 0.0f;
        } else {
            /* The dX path is the same arithmetic, so the same bits. */
            differ += memcmp(g, ptrag_params_grad(pa, j), t->numel * sizeof(float)) != 0;
        }
    }
    CHECK(n_frozen == 2 * 6 + 3);
    CHECK_INT(nonzero, 0);
    CHECK_INT(differ, 0);
    CHECK(ptrag_params_numel_trainable(pf) < ptrag_params_numel_trainable(pa));
    fixture_free(&a);
    fixture_free(&fz);
}

static void test_frozen_backbone(void) {
    frozen_check(PTRAG_MODEL_STATE);
    frozen_check(PTRAG_MODEL_RAG);
    frozen_check(PTRAG_MODEL_PTRAG);
}

/* ------------------------------------------------------------ determinism */

typedef struct run_bits {
    double loss;
    float *pred, *grads;
} run_bits;

static void run_once(fixture *f, run_bits *r) {
    ptrag_error err;
    ptrag_params *ps = ptrag_model_params(f->m);
    ptrag_params_zero_grad(ps);
    r->loss = loss_of(f);
    CHECK_INT(ptrag_model_backward(f->m, &err), 0);
    size_t np = (size_t)f->b.n_sets * f->b.set_len * f->cfg.n_genes;
    r->pred = malloc(np * sizeof(float));
    memcpy(r->pred, ptrag_model_output(f->m), np * sizeof(float));
    r->grads = malloc(ptrag_params_total(ps) * sizeof(float));
    memcpy(r->grads, ptrag_params_grads(ps), ptrag_params_total(ps) * sizeof(float));
}

static void determinism_check(ptrag_model_kind kind, const char *label, int learning) {
    ptrag_config c;
    /* Large enough that the threaded sgemm paths split their work. */
    small_config(&c, kind, 300, 64, 8, 48); /* 384 rows: several tiles per block */
    if (learning) {
        c.residual = PTRAG_RESIDUAL_GENES;
        c.mean_loss = 3.0;
        c.evidence = kind == PTRAG_MODEL_PTRAG;
    }
    c.scorer_features = learning && kind == PTRAG_MODEL_PTRAG;
    c.top_k = 8; /* with H = 64: every parallel loop of the model runs in parallel */
    fixture f;
    fixture_new(&f, &c, 31);
    run_bits r1, r2, r3;
    omp_set_num_threads(1);
    run_once(&f, &r1);
    omp_set_num_threads(2);
    run_once(&f, &r2);
    run_once(&f, &r3);
    size_t np = (size_t)c.batch_sets * c.set_size * c.n_genes;
    size_t ng = ptrag_params_total(ptrag_model_params(f.m));
    int same_loss = memcmp(&r1.loss, &r2.loss, sizeof(double)) == 0;
    int same_pred = memcmp(r1.pred, r2.pred, np * sizeof(float)) == 0;
    int same_grad = memcmp(r1.grads, r2.grads, ng * sizeof(float)) == 0;
    int repeat = memcmp(&r2.loss, &r3.loss, sizeof(double)) == 0 &&
                 memcmp(r2.grads, r3.grads, ng * sizeof(float)) == 0;
    printf("  %s: 1 vs 2 threads: loss %s, predictions %s, gradients %s; repeat %s\n", label,
           same_loss ? "same bits" : "DIFFER", same_pred ? "same bits" : "DIFFER",
           same_grad ? "same bits" : "DIFFER", repeat ? "same bits" : "DIFFER");
    CHECK(same_loss);
    CHECK(same_pred);
    CHECK(same_grad);
    CHECK(repeat);
    free(r1.pred), free(r1.grads), free(r2.pred), free(r2.grads), free(r3.pred), free(r3.grads);
    fixture_free(&f);
}

static void test_thread_count_independence(void) {
    determinism_check(PTRAG_MODEL_STATE, "state", 0);
    determinism_check(PTRAG_MODEL_RAG, "rag", 0);
    determinism_check(PTRAG_MODEL_PTRAG, "ptrag", 0);
    determinism_check(PTRAG_MODEL_PTRAG, "ptrag (gene residual, mean loss, evidence, scorer features)", 1);
}

/* ------------------------------------------------------------ training */

static void training_check(ptrag_model_kind kind, const char *label) {
    ptrag_error err;
    ptrag_config c;
    small_config(&c, kind, 40, 16, 4, 8);
    c.lr = 3e-3;
    fixture f;
    fixture_new(&f, &c, 41);
    ptrag_params *ps = ptrag_model_params(f.m);
    ptrag_param_tensor all = {ptrag_params_values(ps), ptrag_params_grads(ps), ptrag_params_adam_m(ps),
                              ptrag_params_adam_v(ps), (long)ptrag_params_trainable(ps), 0};
    ptrag_adam_config ac = ptrag_adam_defaults((float)c.lr);
    double first = 0.0, last = 0.0;
    for (int step = 1; step <= 30; step++) {
        ptrag_model_losses l;
        f.b.noise_seed = (uint64_t)step;
        ptrag_params_zero_grad(ps);
        CHECK_INT(ptrag_model_forward(f.m, &f.b, &l, &err), 0);
        CHECK_INT(ptrag_model_backward(f.m, &err), 0);
        ptrag_clip_grad_norm(&all, 1, c.clip_norm);
        ptrag_adam_step(&all, 1, &ac, step);
        if (step == 1) first = l.energy;
        last = l.energy;
    }
    printf("  %s: energy %.4f -> %.4f after 30 Adam steps\n", label, first, last);
    CHECK(last < 0.8 * first);
    fixture_free(&f);
}

static void test_loss_falls_with_adam(void) {
    training_check(PTRAG_MODEL_STATE, "state");
    training_check(PTRAG_MODEL_RAG, "rag");
    training_check(PTRAG_MODEL_PTRAG, "ptrag");
}

int main(void) {
    /* One thread except where threads are the point: the results are the
     * same bits with any count (test_thread_count_independence), and many
     * tiny parallel regions only wait on each other on a busy machine. */
    int threads = omp_get_max_threads();
    omp_set_num_threads(1);
    RUN(test_finite_differences);
    RUN(test_frozen_backbone);
    RUN(test_loss_falls_with_adam);
    omp_set_num_threads(threads > 1 ? threads : 2);
    RUN(test_thread_count_independence);
    return TEST_SUMMARY();
}
