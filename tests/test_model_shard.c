/* The model's shard contract (model.h shard_*; data-parallel training,
 * docs/distributed.md), without MPI: a batch of 4 sets run as two shards of
 * 2 sets on two threads, each with its own model holding the same
 * parameters and a shard_sum that adds the two threads' values in order,
 * gives the whole batch's loss and gradient as the sums of the shards' -
 * with Gumbel selection, scorer dropout and PT-RAG's batch-wide logit std in
 * play - and an uneven split (1 + 3 sets) does too. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/config.h"
#include "ptrag/model.h"
#include "ptrag/params.h"
#include "ptrag/rng.h"
#include "testlib.h"

enum { B = 4, S = 6, G = 30, E = 12, K = 4, P = 9, NB = 2 };

static float xc[B * S * G], y[B * S * G], pert[B * E], db[P * E];
static int32_t batch_id[B * S], cand[B * K];

static void make_config(ptrag_config *c, ptrag_model_kind kind) {
    ptrag_config_default(c);
    c->model = kind;
    c->n_genes = G;
    c->pert_dim = E;
    c->hidden = 8;
    c->layers = 1;
    c->heads = 2;
    c->head_dim = 4;
    c->mlp = 16;
    c->n_batches = NB;
    c->batch_sets = B;
    c->set_size = S;
    c->top_k = K;
    c->scorer_dropout = 0.2; /* the dropout draws must follow the sets */
    c->sparsity = 0.05;
    c->mean_loss = 10.0;
}

static ptrag_model *make_model(const ptrag_config *c) {
    ptrag_error err;
    ptrag_model *m = NULL;
    CHECK_INT(ptrag_model_new(c, NULL, &m, &err), 0);
    if (!m) return NULL;
    CHECK_INT(ptrag_params_init(ptrag_model_params(m), 5, &err), 0);
    if (c->model != PTRAG_MODEL_STATE) CHECK_INT(ptrag_model_set_database(m, db, P, &err), 0);
    return m;
}

/* Sets first .. first + n - 1 of the whole batch (first, n = 0, 0: whole). */
static ptrag_model_batch batch_of(int first, int n, int kind_state) {
    ptrag_model_batch b;
    memset(&b, 0, sizeof b);
    b.n_sets = n ? n : B;
    b.set_len = S;
    b.x_ctrl = xc + (size_t)first * S * G;
    b.target = y + (size_t)first * S * G;
    b.pert_feat = pert + (size_t)first * E;
    b.batch_id = batch_id + (size_t)first * S;
    b.cand = kind_state ? NULL : cand + (size_t)first * K;
    b.noise_seed = 77;
    b.training = 1;
    if (n) {
        b.shard_first = first;
        b.shard_total_sets = B;
    }
    return b;
}

/* Two shards meeting in shard_sum: each writes its values, both add them
 * in shard order. */
typedef struct exchange {
    pthread_barrier_t bar;
    double v[2][2];
} exchange;

typedef struct shard_run {
    exchange *ex;
    int idx;
    ptrag_model *m;
    ptrag_model_batch b;
    ptrag_model_losses l;
    int rc, sums;
} shard_run;

static void shard_sum(void *ctx, double *v, int n) {
    shard_run *r = ctx;
    r->sums++;
    for (int i = 0; i < n; i++) r->ex->v[r->idx][i] = v[i];
    pthread_barrier_wait(&r->ex->bar);
    for (int i = 0; i < n; i++) v[i] = r->ex->v[0][i] + r->ex->v[1][i];
    pthread_barrier_wait(&r->ex->bar); /* both have read before the next call writes */
}

static void *run_shard(void *arg) {
    shard_run *r = arg;
    ptrag_error err;
    r->b.shard_sum = shard_sum;
    r->b.shard_ctx = r;
    ptrag_params_zero_grad(ptrag_model_params(r->m));
    r->rc = ptrag_model_forward(r->m, &r->b, &r->l, &err);
    if (!r->rc) r->rc = ptrag_model_backward(r->m, &err);
    return NULL;
}

/* Whole batch vs shards of n0 + (B - n0) sets. */
static void check_shards_sum_to_batch(ptrag_model_kind kind, int n0) {
    ptrag_config c;
    make_config(&c, kind);
    ptrag_model *w = make_model(&c), *m0 = make_model(&c), *m1 = make_model(&c);
    if (!w || !m0 || !m1) return;
    const int st = kind == PTRAG_MODEL_STATE;
    ptrag_error err;
    ptrag_model_batch whole = batch_of(0, 0, st);
    ptrag_model_losses lw;
    ptrag_params_zero_grad(ptrag_model_params(w));
    CHECK_INT(ptrag_model_forward(w, &whole, &lw, &err), 0);
    CHECK_INT(ptrag_model_backward(w, &err), 0);

    exchange ex;
    pthread_barrier_init(&ex.bar, NULL, 2);
    shard_run r[2] = {{.ex = &ex, .idx = 0, .m = m0, .b = batch_of(0, n0, st)},
                      {.ex = &ex, .idx = 1, .m = m1, .b = batch_of(n0, B - n0, st)}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, run_shard, &r[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&ex.bar);
    CHECK_INT(r[0].rc, 0);
    CHECK_INT(r[1].rc, 0);
    /* ptrag: 2 sums in forward, 1 in backward; the others none. */
    CHECK_INT(r[0].sums, kind == PTRAG_MODEL_PTRAG ? 3 : 0);
    CHECK_INT(r[1].sums, r[0].sums);

    double loss = r[0].l.loss + r[1].l.loss;
    CHECK_MSG(fabs(loss - lw.loss) <= 1e-6 * fabs(lw.loss), "%s %d+%d: loss %.9g vs whole %.9g", ptrag_model_kind_name(kind),
              n0, B - n0, loss, lw.loss);
    CHECK_NEAR(r[0].l.sparsity + r[1].l.sparsity, lw.sparsity, 1e-7);
    const long n = (long)ptrag_params_trainable(ptrag_model_params(w));
    const float *gw = ptrag_params_grads(ptrag_model_params(w)), *g0 = ptrag_params_grads(ptrag_model_params(m0)),
                *g1 = ptrag_params_grads(ptrag_model_params(m1));
    double gmax = 0, dmax = 0;
    for (long i = 0; i < n; i++) {
        gmax = fmax(gmax, fabs(gw[i]));
        dmax = fmax(dmax, fabs((double)g0[i] + g1[i] - gw[i]));
    }
    CHECK_MSG(gmax > 0 && dmax <= 1e-5 * gmax, "%s %d+%d: gradients differ by %g (largest %g)", ptrag_model_kind_name(kind),
              n0, B - n0, dmax, gmax);
    ptrag_model_free(w);
    ptrag_model_free(m0);
    ptrag_model_free(m1);
}

static void test_ptrag_even_and_uneven(void) {
    check_shards_sum_to_batch(PTRAG_MODEL_PTRAG, 2);
    check_shards_sum_to_batch(PTRAG_MODEL_PTRAG, 1);
}

static void test_state_and_rag(void) {
    check_shards_sum_to_batch(PTRAG_MODEL_STATE, 2);
    check_shards_sum_to_batch(PTRAG_MODEL_RAG, 3);
}

/* The check can fail: shards that draw their noise from position 0 (no
 * shard_first) do not add up to the batch. */
static void test_wrong_noise_offsets_differ(void) {
    ptrag_config c;
    make_config(&c, PTRAG_MODEL_PTRAG);
    ptrag_model *w = make_model(&c), *m0 = make_model(&c), *m1 = make_model(&c);
    if (!w || !m0 || !m1) return;
    ptrag_error err;
    ptrag_model_batch whole = batch_of(0, 0, 0);
    ptrag_model_losses lw;
    ptrag_params_zero_grad(ptrag_model_params(w));
    CHECK_INT(ptrag_model_forward(w, &whole, &lw, &err), 0);
    exchange ex;
    pthread_barrier_init(&ex.bar, NULL, 2);
    shard_run r[2] = {{.ex = &ex, .idx = 0, .m = m0, .b = batch_of(0, 2, 0)},
                      {.ex = &ex, .idx = 1, .m = m1, .b = batch_of(2, 2, 0)}};
    r[1].b.shard_first = 0;
    pthread_t t[2];
    for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, run_shard, &r[i]);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    pthread_barrier_destroy(&ex.bar);
    CHECK_MSG(fabs(r[0].l.loss + r[1].l.loss - lw.loss) > 1e-4 * fabs(lw.loss),
              "wrong noise offsets still gave the batch loss");
    ptrag_model_free(w);
    ptrag_model_free(m0);
    ptrag_model_free(m1);
}

int main(void) {
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 9);
    for (int i = 0; i < B * S * G; i++) {
        xc[i] = (float)fabs(ptrag_rng_normal(&rng));
        y[i] = (float)fabs(ptrag_rng_normal(&rng));
    }
    for (int i = 0; i < B * E; i++) pert[i] = (float)ptrag_rng_normal(&rng);
    for (int i = 0; i < P * E; i++) db[i] = (float)ptrag_rng_normal(&rng);
    for (int i = 0; i < B * S; i++) batch_id[i] = i % NB;
    for (int i = 0; i < B * K; i++) cand[i] = (i * 5 + i / K) % P;
    RUN(test_ptrag_even_and_uneven);
    RUN(test_state_and_rag);
    RUN(test_wrong_noise_offsets_differ);
    return TEST_SUMMARY();
}
