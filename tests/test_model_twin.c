/* PyTorch parity of the whole model (state, rag, ptrag): the C model is built
 * with small dimensions, its initial weights perturbed so every tensor
 * matters; weights and a batch go to a scratch tensor file; Debian's
 * /usr/bin/python3 runs dev/twin_model_io.py (the twin of dev/twin_model.py)
 * on it and writes back the loss, the predictions, the keep weights and every
 * parameter gradient. Relative error of a tensor = max|C - torch| / max|torch|:
 *   loss and predictions <= 1e-4, every gradient <= 1e-3.
 * Cases: state / rag / ptrag, causal and bidirectional, one-hot state,
 * ptrag with fixed Gumbel noise (training draw, dropout off) and with the
 * "expected" inference selection, and a batch smaller than the arena.
 * Skips (exit 77) when /usr/bin/python3 cannot import torch. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag/config.h"
#include "ptrag/model.h"
#include "ptrag/params.h"
#include "ptrag/rng.h"
#include "testlib.h"
#include "twin_file.h"

#define FWD_TOL 1e-4
#define GRAD_TOL 1e-3
#define P_ROWS 10
#define MAX_CASES 16

typedef struct tcase {
    const char *name;
    ptrag_model_kind kind;
    int causal, onehot;
    int selection; /* -1: training draw; else a ptrag_selection at inference */
    int n_sets, set_len;
} tcase;

static const tcase CASES[] = {
    {"state_causal", PTRAG_MODEL_STATE, 1, 0, -1, 3, 5},
    {"state_bidirectional", PTRAG_MODEL_STATE, 0, 0, -1, 3, 5},
    {"state_onehot", PTRAG_MODEL_STATE, 1, 1, -1, 3, 5},
    {"rag_causal", PTRAG_MODEL_RAG, 1, 0, -1, 3, 5},
    {"rag_bidirectional", PTRAG_MODEL_RAG, 0, 0, -1, 3, 5},
    {"ptrag_causal", PTRAG_MODEL_PTRAG, 1, 0, -1, 3, 5},
    {"ptrag_bidirectional", PTRAG_MODEL_PTRAG, 0, 0, -1, 3, 5},
    {"ptrag_expected", PTRAG_MODEL_PTRAG, 1, 0, PTRAG_SELECT_EXPECTED, 3, 5},
    {"ptrag_threshold", PTRAG_MODEL_PTRAG, 1, 0, PTRAG_SELECT_THRESHOLD, 3, 5},
    {"ptrag_smaller_batch", PTRAG_MODEL_PTRAG, 1, 0, -1, 2, 3},
    {"rag_smaller_batch", PTRAG_MODEL_RAG, 0, 0, -1, 2, 4},
};
#define N_CASES ((int)(sizeof CASES / sizeof CASES[0]))

/* ------------------------------------------------------------ tensor file writer */

typedef struct twriter {
    FILE *f;
    uint32_t count;
} twriter;

static void put_u32(FILE *f, uint32_t v) {
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    fwrite(b, 1, 4, f);
}

static int tw_open(twriter *w, const char *path) {
    w->f = fopen(path, "wb");
    w->count = 0;
    if (!w->f) return -1;
    fwrite("PTRAGTW1", 1, 8, w->f);
    put_u32(w->f, 0); /* patched by tw_close */
    return 0;
}

static void tw_add(twriter *w, const char *name, int dtype, long n, const void *data) {
    put_u32(w->f, (uint32_t)strlen(name));
    fwrite(name, 1, strlen(name), w->f);
    put_u32(w->f, (uint32_t)dtype);
    put_u32(w->f, 1);
    put_u32(w->f, (uint32_t)n);
    fwrite(data, 4, (size_t)n, w->f); /* little-endian host (x86-64) */
    w->count++;
}

static void tw_close(twriter *w) {
    fseek(w->f, 8, SEEK_SET);
    put_u32(w->f, w->count);
    fclose(w->f);
}

/* ------------------------------------------------------------ one case */

typedef struct inputs {
    float *xc, *y, *pert, *db, *gumbel;
    int32_t *pert_id, *batch_idx, *cand;
} inputs;

static void fill_config(ptrag_config *c, const tcase *tc) {
    ptrag_config_default(c);
    c->model = tc->kind;
    c->n_genes = 40;
    c->pert_onehot = tc->onehot;
    c->pert_dim = tc->onehot ? 7 : 24;
    c->hidden = 16;
    c->layers = 2;
    c->heads = 2;
    c->head_dim = 8;
    c->mlp = 32;
    c->n_batches = 3;
    c->batch_sets = 3;
    c->set_size = 5;
    c->top_k = 4;
    c->attention = tc->causal ? PTRAG_ATTN_CAUSAL : PTRAG_ATTN_BIDIRECTIONAL;
    c->scorer_dropout = 0.0; /* parity: no dropout masks to share */
    c->residual = PTRAG_RESIDUAL_HIDDEN; /* the twin is the published model */
    c->mean_loss = 0.0;
    c->sparsity = 0.1;
    c->gumbel_tau = 0.5;
    c->selection = tc->selection >= 0 ? (ptrag_selection)tc->selection : PTRAG_SELECT_SAMPLE;
}

/* Perturbs the initial weights so attention is far from uniform, the norms'
 * gains and the context LayerNorm's shift matter, and every gradient is
 * sizeable. */
static void perturb(ptrag_params *ps, ptrag_rng *rng) {
    for (int i = 0; i < ptrag_params_count(ps); i++) {
        const ptrag_param *t = ptrag_params_get(ps, i);
        float *v = ptrag_params_value(ps, i);
        int is_norm = strstr(t->name, "norm") != NULL;
        for (size_t k = 0; k < t->numel; k++) {
            if (is_norm)
                v[k] += (float)(0.2 * ptrag_rng_normal(rng));
            else if (strncmp(t->name, "backbone.", 9) == 0)
                v[k] *= 8.0f;
        }
    }
}

static void make_inputs(inputs *in, const ptrag_config *c, const tcase *tc, ptrag_rng *rng) {
    const int B = tc->n_sets, S = tc->set_len, N = B * S, G = c->n_genes, E = c->pert_dim, K = c->top_k;
    in->xc = malloc(sizeof(float) * N * G);
    in->y = malloc(sizeof(float) * N * G);
    in->pert = malloc(sizeof(float) * B * E);
    in->db = malloc(sizeof(float) * P_ROWS * E);
    in->gumbel = malloc(sizeof(float) * N * K * 2);
    in->pert_id = malloc(sizeof(int32_t) * B);
    in->batch_idx = malloc(sizeof(int32_t) * N);
    in->cand = malloc(sizeof(int32_t) * B * K);
    for (long i = 0; i < (long)N * G; i++) {
        in->xc[i] = (float)fabs(ptrag_rng_normal(rng));
        in->y[i] = (float)fabs(ptrag_rng_normal(rng)) + 0.3f;
    }
    for (long i = 0; i < (long)B * E; i++) in->pert[i] = (float)ptrag_rng_normal(rng);
    for (long i = 0; i < (long)P_ROWS * E; i++) in->db[i] = (float)ptrag_rng_normal(rng);
    for (long i = 0; i < (long)N * K * 2; i++) {
        double u = ptrag_rng_uniform(rng);
        if (u < 1e-10) u = 1e-10;
        in->gumbel[i] = (float)(-log(-log(u)));
    }
    for (int b = 0; b < B; b++) in->pert_id[b] = (int32_t)ptrag_rng_below(rng, (uint64_t)E);
    for (int i = 0; i < N; i++) in->batch_idx[i] = (int32_t)ptrag_rng_below(rng, 3);
    /* K distinct rows per set out of 10: sets share rows (exercises the
     * distinct-row encoding and its gradient scatter). */
    for (int b = 0; b < B; b++) {
        int perm[P_ROWS];
        for (int j = 0; j < P_ROWS; j++) perm[j] = j;
        ptrag_rng_shuffle_int(rng, perm, P_ROWS);
        for (int k = 0; k < K; k++) in->cand[b * K + k] = perm[k];
    }
}

static void free_inputs(inputs *in) {
    free(in->xc), free(in->y), free(in->pert), free(in->db), free(in->gumbel);
    free(in->pert_id), free(in->batch_idx), free(in->cand);
}

typedef struct cstate {
    ptrag_config cfg;
    ptrag_model *m;
    inputs in;
    ptrag_model_losses losses;
    char in_path[512], out_path[512];
} cstate;

static int write_case(cstate *cs, const tcase *tc) {
    ptrag_error err;
    const ptrag_config *c = &cs->cfg;
    const int B = tc->n_sets, S = tc->set_len, N = B * S, K = c->top_k;
    twriter w;
    if (tw_open(&w, cs->in_path)) return -1;
    int32_t ci[16] = {(int32_t)c->model, c->n_genes, c->pert_dim, c->hidden, c->layers, c->heads,
                      c->head_dim, c->mlp, B, S, K, c->n_batches, c->attention == PTRAG_ATTN_CAUSAL,
                      P_ROWS, c->pert_onehot, tc->selection};
    float cr[2] = {(float)c->gumbel_tau, (float)c->sparsity};
    tw_add(&w, "config.int", 1, 16, ci);
    tw_add(&w, "config.real", 0, 2, cr);
    ptrag_params *ps = ptrag_model_params(cs->m);
    for (int i = 0; i < ptrag_params_count(ps); i++) {
        char name[PTRAG_PARAM_NAME_MAX + 8];
        snprintf(name, sizeof name, "param.%s", ptrag_params_get(ps, i)->name);
        tw_add(&w, name, 0, (long)ptrag_params_get(ps, i)->numel, ptrag_params_value(ps, i));
    }
    tw_add(&w, "in.xc", 0, (long)N * c->n_genes, cs->in.xc);
    tw_add(&w, "in.y", 0, (long)N * c->n_genes, cs->in.y);
    if (c->pert_onehot)
        tw_add(&w, "in.pert_id", 1, B, cs->in.pert_id);
    else
        tw_add(&w, "in.pert", 0, (long)B * c->pert_dim, cs->in.pert);
    tw_add(&w, "in.batch_idx", 1, N, cs->in.batch_idx);
    tw_add(&w, "in.db", 0, (long)P_ROWS * c->pert_dim, cs->in.db);
    tw_add(&w, "in.cand", 1, (long)B * K, cs->in.cand);
    tw_add(&w, "in.gumbel", 0, (long)N * K * 2, cs->in.gumbel);
    tw_close(&w);
    (void)err;
    return 0;
}

/* Builds the model, runs the C forward/backward, writes the twin's input. */
static int run_c(cstate *cs, const tcase *tc, int index) {
    ptrag_error err;
    fill_config(&cs->cfg, tc);
    if (ptrag_model_new(&cs->cfg, NULL, &cs->m, &err)) {
        fprintf(stderr, "%s: %s\n", tc->name, err.msg);
        return -1;
    }
    ptrag_params *ps = ptrag_model_params(cs->m);
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 1000 + (uint64_t)index);
    CHECK_INT(ptrag_params_init(ps, 7 + (uint64_t)index, &err), 0);
    perturb(ps, &rng);
    make_inputs(&cs->in, &cs->cfg, tc, &rng);
    if (tc->kind != PTRAG_MODEL_STATE)
        CHECK_INT(ptrag_model_set_database(cs->m, cs->in.db, P_ROWS, &err), 0);
    ptrag_model_batch b = {0};
    b.n_sets = tc->n_sets;
    b.set_len = tc->set_len;
    b.x_ctrl = cs->in.xc;
    b.target = cs->in.y;
    b.pert_feat = cs->cfg.pert_onehot ? NULL : cs->in.pert;
    b.pert_id = cs->cfg.pert_onehot ? cs->in.pert_id : NULL;
    b.batch_id = cs->in.batch_idx;
    b.cand = tc->kind != PTRAG_MODEL_STATE ? cs->in.cand : NULL;
    b.noise_seed = 99;
    b.training = tc->selection < 0;
    b.gumbel_noise = cs->in.gumbel;
    ptrag_params_zero_grad(ps);
    int rc = ptrag_model_forward(cs->m, &b, &cs->losses, &err);
    if (!rc) rc = ptrag_model_backward(cs->m, &err);
    if (rc) {
        fprintf(stderr, "%s: %s\n", tc->name, err.msg);
        return -1;
    }
    snprintf(cs->in_path, sizeof cs->in_path, "%s", tl_tmp("test_model_twin_in"));
    size_t len = strlen(cs->in_path);
    snprintf(cs->in_path + len, sizeof cs->in_path - len, "_%d.bin", index);
    snprintf(cs->out_path, sizeof cs->out_path, "%s", tl_tmp("test_model_twin_out"));
    len = strlen(cs->out_path);
    snprintf(cs->out_path + len, sizeof cs->out_path - len, "_%d.bin", index);
    return write_case(cs, tc);
}

/* max|c - t| / max(max|t|, floor). The floor matters only for a gradient
 * that is zero in exact arithmetic (rag_key.b: softmax ignores a shift that
 * is the same for every key), where both sides hold rounding noise. */
static double rel_err_floor(const float *c, const float *t, long n, double floor) {
    double md = 0.0, mt = floor;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)c[i] - t[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs(t[i]) > mt) mt = fabs(t[i]);
    }
    return mt > 0 ? md / mt : md;
}

static double rel_err(const float *c, const float *t, long n) { return rel_err_floor(c, t, n, 0.0); }

static double worst_fwd = 0, worst_grad = 0;

static void compare_case(cstate *cs, const tcase *tc) {
    ptrag_error err;
    twin_file *tf = twin_file_read(cs->out_path, &err);
    if (!tf) {
        fprintf(stderr, "%s: %s\n", tc->name, err.msg);
        CHECK(0);
        return;
    }
    const int N = tc->n_sets * tc->set_len, G = cs->cfg.n_genes;
    const twin_tensor *t = twin_get(tf, "out.loss", 1, 0, &err);
    CHECK(t != NULL);
    double e_loss = 0, e_pred = 0, e_grad = 0, e_keep = 0;
    char worst_name[PTRAG_PARAM_NAME_MAX] = "-";
    if (t) {
        float tl = *(float *)t->data, cl = (float)cs->losses.loss;
        e_loss = rel_err(&cl, &tl, 1);
    }
    t = twin_get(tf, "out.pred", (long)N * G, 0, &err);
    CHECK(t != NULL);
    if (t) e_pred = rel_err(ptrag_model_output(cs->m), t->data, (long)N * G);
    if (tc->kind == PTRAG_MODEL_PTRAG) {
        long NK = (long)N * cs->cfg.top_k;
        t = twin_get(tf, "out.keep", NK, 0, &err);
        CHECK(t != NULL);
        if (t) e_keep = rel_err(ptrag_model_keep(cs->m), t->data, NK);
        /* Hard selections must agree exactly (up to the ulp of hard - soft + soft). */
        CHECK(e_keep <= (tc->selection == PTRAG_SELECT_EXPECTED ? FWD_TOL : 1e-6));
    }
    ptrag_params *ps = ptrag_model_params(cs->m);
    /* Gradient scale of the model: the largest torch gradient entry. */
    double gscale = 0.0;
    for (int i = 0; i < ptrag_params_count(ps); i++) {
        const ptrag_param *p = ptrag_params_get(ps, i);
        char name[PTRAG_PARAM_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", p->name);
        t = twin_get(tf, name, (long)p->numel, 0, &err);
        for (long k = 0; t && k < t->n; k++)
            if (fabs(((float *)t->data)[k]) > gscale) gscale = fabs(((float *)t->data)[k]);
    }
    for (int i = 0; i < ptrag_params_count(ps); i++) {
        const ptrag_param *p = ptrag_params_get(ps, i);
        char name[PTRAG_PARAM_NAME_MAX + 8];
        snprintf(name, sizeof name, "grad.%s", p->name);
        t = twin_get(tf, name, (long)p->numel, 0, &err);
        if (!t) {
            fprintf(stderr, "%s: %s\n", tc->name, err.msg);
            CHECK(0);
            continue;
        }
        double e = rel_err_floor(ptrag_params_grad(ps, i), t->data, (long)p->numel, 1e-4 * gscale);
        if (e > GRAD_TOL) fprintf(stderr, "  %s: gradient of %s: rel err %.3g\n", tc->name, p->name, e);
        if (e > e_grad) {
            e_grad = e;
            snprintf(worst_name, sizeof worst_name, "%s", p->name);
        }
    }
    printf("  %-22s loss %.6f  rel err: loss %.2e pred %.2e keep %.2e  grads %.2e (%s)\n", tc->name,
           cs->losses.loss, e_loss, e_pred, e_keep, e_grad, worst_name);
    CHECK(e_loss <= FWD_TOL);
    CHECK(e_pred <= FWD_TOL);
    CHECK(e_grad <= GRAD_TOL);
    if (e_loss > worst_fwd) worst_fwd = e_loss;
    if (e_pred > worst_fwd) worst_fwd = e_pred;
    if (e_grad > worst_grad) worst_grad = e_grad;
    twin_file_free(tf);
}

static int have_torch(void) {
    return system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
}

static void test_twin_parity(void) {
    static cstate cs[MAX_CASES];
    char cmd[16384];
    int len = snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/dev/twin_model_io.py", PTRAG_SOURCE_DIR);
    int ok = 1;
    for (int i = 0; i < N_CASES && ok; i++) {
        memset(&cs[i], 0, sizeof cs[i]);
        if (run_c(&cs[i], &CASES[i], i)) ok = 0;
        len += snprintf(cmd + len, sizeof cmd - (size_t)len, " %s %s", cs[i].in_path, cs[i].out_path);
    }
    CHECK(ok);
    if (ok) {
        int rc = system(cmd);
        CHECK_INT(rc, 0);
        if (rc == 0)
            for (int i = 0; i < N_CASES; i++) compare_case(&cs[i], &CASES[i]);
    }
    printf("worst relative error: forward %.2e (limit %.0e), gradients %.2e (limit %.0e)\n", worst_fwd,
           FWD_TOL, worst_grad, GRAD_TOL);
    for (int i = 0; i < N_CASES; i++) {
        ptrag_model_free(cs[i].m);
        free_inputs(&cs[i].in);
    }
}

int main(void) {
    if (!have_torch()) {
        printf("SKIP: /usr/bin/python3 cannot import torch\n");
        return 77;
    }
    RUN(test_twin_parity);
    return TEST_SUMMARY();
}
