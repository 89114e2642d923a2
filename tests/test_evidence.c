/* Evidence retrieval's leakage rules on the real A172 few-shot split
 * (train_response.c): the table is built from training conditions only; a
 * (cell type, perturbation) that is a training condition carries its own
 * measured shift; a held-out condition never does, it carries the mean of
 * the other cell types' shifts (same_ct = 0); and a set never retrieves its
 * own perturbation, so no set sees even that. Shifts are recomputed here
 * from the raw cells. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../src/run/run_internal.h"
#include "ptrag.h"
#include "testlib.h"

static ptrag_dataset *load(ptrag_error *err) {
    ptrag_dataset_opts o;
    ptrag_dataset_opts_default(&o);
    o.pert_col = "perturbation";
    o.control = "control";
    o.embeddings = tl_shared("data/go_svd128_embeddings/go_svd128_perturbation_genes.tsv");
    o.missing = PTRAG_MISSING_DROP;
    ptrag_dataset *d = NULL;
    ptrag_dataset_load(tl_shared("splits/perturbench_fewshot_a172.toml"), &o, &d, err);
    return d;
}

/* mean of the rows of a condition (or control pool) into out[G] */
static void mean_rows(const ptrag_dataset *d, const long *rows, long n, double *out) {
    const long G = d->n_genes;
    float *x = malloc(sizeof(float) * (size_t)G);
    memset(out, 0, sizeof(double) * (size_t)G);
    for (long i = 0; i < n; i++) {
        ptrag_dataset_gather(d, rows + i, 1, x);
        for (long g = 0; g < G; g++) out[g] += x[g] / (double)n;
    }
    free(x);
}

/* shift of (ct, pert) if it is a condition with the given split, else 0 */
static int cond_shift(const ptrag_dataset *d, int ct, int pert, unsigned split_mask, double *out) {
    const ptrag_assignment *a = d->assign;
    const long G = d->n_genes;
    for (int c = 0; c < a->n_conditions; c++) {
        const ptrag_condition *cd = &a->conditions[c];
        if (cd->ct != ct || cd->pert != pert || cd->is_control || !(cd->splits & split_mask)) continue;
        double *ctrl = malloc(sizeof(double) * (size_t)G);
        mean_rows(d, cd->rows, cd->n_rows, out);
        mean_rows(d, a->ctrl[ct].rows, a->ctrl[ct].n_rows, ctrl);
        for (long g = 0; g < G; g++) out[g] -= ctrl[g];
        free(ctrl);
        return 1;
    }
    return 0;
}

static double max_diff(const float *a, const double *b, long n) {
    double m = 0;
    for (long i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

static void test_leakage_rules(void) {
    ptrag_error err;
    ptrag_dataset *d = load(&err);
    CHECK_MSG(d != NULL, "%s", err.msg);
    if (!d) return;
    ptrag_retrieval *r = NULL;
    CHECK_INT(ptrag_retrieval_build(d, PTRAG_DB_ALL, 8, 0, &r, &err), 0);
    ptrag_evidence ev;
    CHECK_INT(ptrag_evidence_build(d, r, NULL, &ev, &err), 0);
    const ptrag_assignment *a = d->assign;
    const long G = d->n_genes;
    double *own = malloc(sizeof(double) * (size_t)G), *acc = malloc(sizeof(double) * (size_t)G);
    int n_train = 0, n_held = 0;
    const unsigned TRAIN = PTRAG_SPLIT_MASK(PTRAG_SPLIT_TRAIN);
    const unsigned HELD = PTRAG_SPLIT_MASK(PTRAG_SPLIT_VAL) | PTRAG_SPLIT_MASK(PTRAG_SPLIT_TEST);
    for (long row = 0; row < r->P; row++) {
        int p = r->db_pert[row];
        if (p == d->control_code) continue;
        for (int ct = 0; ct < a->n_ct; ct++) {
            const float *s = ev.shift + ((size_t)ct * r->P + row) * G;
            int same = ev.same_ct[(size_t)ct * r->P + row];
            if (cond_shift(d, ct, p, TRAIN, own)) {
                /* a training condition: its own measured shift */
                CHECK(same == 1);
                CHECK_MSG(max_diff(s, own, G) < 1e-4, "train %s/%s", a->ct_names[ct], d->pert_names[p]);
                n_train++;
                continue;
            }
            CHECK_MSG(same == 0, "%s/%s is not a training condition but marked measured", a->ct_names[ct],
                      d->pert_names[p]);
            /* not a training condition: the mean of the other cell types' training shifts ... */
            int n = 0;
            memset(acc, 0, sizeof(double) * (size_t)G);
            for (int c2 = 0; c2 < a->n_ct; c2++)
                if (c2 != ct && cond_shift(d, c2, p, TRAIN, own)) {
                    for (long g = 0; g < G; g++) acc[g] += own[g];
                    n++;
                }
            for (long g = 0; g < G; g++) acc[g] = n ? acc[g] / n : 0.0;
            CHECK_MSG(max_diff(s, acc, G) < 1e-4, "fallback %s/%s", a->ct_names[ct], d->pert_names[p]);
            /* ... and never the held-out response itself */
            if (cond_shift(d, ct, p, HELD, own)) {
                CHECK_MSG(max_diff(s, own, G) > 1e-2, "held-out %s/%s leaks its own response", a->ct_names[ct],
                          d->pert_names[p]);
                n_held++;
            }
        }
    }
    printf("  %d training entries measured in their cell type, %d held-out conditions never leak\n", n_train, n_held);
    CHECK(n_train > 50);
    CHECK_INT(n_held, 7); /* A172: 2 validation + 5 test perturbations */
    /* a set never retrieves its own perturbation, so never its own entry */
    for (int p = 0; p < d->n_perts; p++) {
        if (!d->pert_has_feat[p]) continue;
        int32_t cand[8];
        CHECK_INT(ptrag_retrieval_candidates(r, &p, 1, 0, cand, &err), 0);
        for (int k = 0; k < 8; k++) CHECK(r->db_pert[cand[k]] != p);
    }
    free(own), free(acc);
    ptrag_evidence_free(&ev);
    ptrag_retrieval_free(r);
    ptrag_dataset_free(d);
}

/* The own-perturbation candidate (own_other_celltypes): one extra slot whose
 * shift is the mean of the query perturbation's training shifts in the OTHER
 * cell types only. Checked for every condition of every split: the slot holds
 * the own row exactly when another cell type measured it in training, its
 * shift is that mean (recomputed from the cells), a held-out condition's own
 * response never enters (nor, for a training set, its own target), and the
 * other K - 1 slots never hold the query itself. */
static void test_own_candidate(void) {
    ptrag_error err;
    ptrag_dataset *d = load(&err);
    CHECK_MSG(d != NULL, "%s", err.msg);
    if (!d) return;
    ptrag_retrieval *r = NULL;
    CHECK_INT(ptrag_retrieval_build(d, PTRAG_DB_ALL, 8, 1, &r, &err), 0);
    CHECK_INT(r->K, 9); /* the one K: top_k + the own slot */
    CHECK_INT(r->own_slot, 1);
    ptrag_evidence ev;
    CHECK_INT(ptrag_evidence_build(d, r, NULL, &ev, &err), 0);
    ptrag_config cfg;
    ptrag_config_default(&cfg);
    cfg.model = PTRAG_MODEL_PTRAG;
    cfg.evidence = 1;
    cfg.own_other_celltypes = 1;
    cfg.batch_sets = 1;
    cfg.set_size = 2;
    CHECK_INT(ptrag_fill_data_dims(&cfg, d, &err), 0);
    ptrag_step_buffers b;
    CHECK_INT(ptrag_step_buffers_new(&b, &cfg, r->K, &err), 0);
    const ptrag_assignment *a = d->assign;
    const long G = d->n_genes;
    const int K = r->K;
    double *own = malloc(sizeof(double) * (size_t)G), *acc = malloc(sizeof(double) * (size_t)G);
    const unsigned TRAIN = PTRAG_SPLIT_MASK(PTRAG_SPLIT_TRAIN);
    const unsigned ALL = TRAIN | PTRAG_SPLIT_MASK(PTRAG_SPLIT_VAL) | PTRAG_SPLIT_MASK(PTRAG_SPLIT_TEST);
    int n_offered = 0, n_spare = 0, n_held_offered = 0;
    for (int c = 0; c < a->n_conditions; c++) {
        const ptrag_condition *cd = &a->conditions[c];
        if (cd->is_control || !d->pert_has_feat[cd->pert] || cd->n_rows < 2) continue;
        const int32_t ct = cd->ct, p = cd->pert;
        const long rows[2] = {cd->rows[0], cd->rows[1]};
        const long ctrl[2] = {a->ctrl[ct].rows[0], a->ctrl[ct].rows[1]};
        ptrag_model_batch mb;
        CHECK_INT(ptrag_fill_model_batch(d, &cfg, r, &ev, &ct, &p, 1, 2, rows, ctrl, NULL, 0, &b, &mb, &err), 0);
        for (int k = 0; k < K - 1; k++) CHECK(r->db_pert[mb.cand[k]] != p);
        /* expected: the mean over the other cell types' training conditions */
        int n = 0;
        memset(acc, 0, sizeof(double) * (size_t)G);
        for (int c2 = 0; c2 < a->n_ct; c2++)
            if (c2 != ct && cond_shift(d, c2, p, TRAIN, own)) {
                for (long g = 0; g < G; g++) acc[g] += own[g];
                n++;
            }
        const float *slot = mb.cand_shift + (size_t)(K - 1) * G;
        if (!n) { /* nothing measured elsewhere: the spare neighbour stays */
            CHECK(r->db_pert[mb.cand[K - 1]] != p);
            CHECK(ptrag_own_candidate(r, &ev, ct, p) < 0);
            n_spare++;
            continue;
        }
        CHECK_MSG(r->db_pert[mb.cand[K - 1]] == p, "%s/%s: own slot not offered", a->ct_names[ct],
                  d->pert_names[p]);
        for (long g = 0; g < G; g++) acc[g] /= n;
        CHECK_MSG(max_diff(slot, acc, G) < 1e-4, "own slot shift %s/%s", a->ct_names[ct], d->pert_names[p]);
        /* the condition's own response (held-out or, for training, the
         * target itself) is not what the slot carries */
        if (cond_shift(d, ct, p, ALL, own))
            CHECK_MSG(max_diff(slot, own, G) > 1e-2, "%s/%s: own slot carries its own response", a->ct_names[ct],
                      d->pert_names[p]);
        n_offered++;
        if (!(cd->splits & TRAIN)) n_held_offered++;
    }
    printf("  own slot offered to %d conditions (%d held out), spare neighbour for %d\n", n_offered,
           n_held_offered, n_spare);
    CHECK(n_offered >= 30 && n_spare > 0); /* both cases occur on this split */
    CHECK_INT(n_held_offered, 7); /* few-shot: every A172 held-out perturbation is measured elsewhere */
    /* without the slot, the same retrieval has 8 candidates and no own table */
    ptrag_retrieval *r0 = NULL;
    ptrag_evidence ev0;
    CHECK_INT(ptrag_retrieval_build(d, PTRAG_DB_ALL, 8, 0, &r0, &err), 0);
    CHECK_INT(r0->K, 8);
    CHECK_INT(ptrag_evidence_build(d, r0, NULL, &ev0, &err), 0);
    CHECK(ev0.other_ct == NULL && ptrag_own_candidate(r0, &ev0, 0, a->conditions[0].pert) < 0);
    /* the config refuses the slot without evidence */
    cfg.evidence = 0;
    CHECK(ptrag_config_validate(&cfg, &err) == PTRAG_E_ARG);
    ptrag_config_apply_faithful(&cfg);
    CHECK_INT(cfg.own_other_celltypes, 0);
    ptrag_evidence_free(&ev0);
    ptrag_retrieval_free(r0);
    ptrag_step_buffers_free(&b);
    free(own), free(acc);
    ptrag_evidence_free(&ev);
    ptrag_retrieval_free(r);
    ptrag_dataset_free(d);
}

/* Stage 1 by measured response (response_retrieval.c), recomputed here in
 * double from the cells: the query's response is the mean of its training
 * shifts in the other cell types (so a held-out condition's own response,
 * or a training set's target, never enters), each row's the same basis,
 * both centred; the ranking is (1-w) cos(embedding) + w corr(response); a
 * set never retrieves its own row; without a response the embedding order
 * stays; w = 0 is the published stage 1. */
static double cosine_d(const double *x, const double *y, long n) {
    double xy = 0, xx = 0, yy = 0;
    for (long i = 0; i < n; i++) xy += x[i] * y[i], xx += x[i] * x[i], yy += y[i] * y[i];
    return xx > 0 && yy > 0 ? xy / sqrt(xx * yy) : 0.0;
}

static int cmp_desc(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void test_response_retrieval(void) {
    ptrag_error err;
    ptrag_dataset *d = load(&err);
    CHECK_MSG(d != NULL, "%s", err.msg);
    if (!d) return;
    const double w = 0.75;
    ptrag_retrieval *r = NULL;
    CHECK_INT(ptrag_retrieval_build(d, PTRAG_DB_ALL, 8, 0, &r, &err), 0);
    ptrag_evidence ev, ev0;
    ptrag_config wc;
    ptrag_config_default(&wc);
    wc.model = PTRAG_MODEL_PTRAG;
    wc.evidence = 1;
    wc.response_retrieval = w;
    CHECK_INT(ptrag_evidence_build(d, r, &wc, &ev, &err), 0);
    CHECK_INT(ptrag_evidence_build(d, r, NULL, &ev0, &err), 0);
    CHECK(ev.resp_rows != NULL && ev0.resp_rows == NULL);
    const ptrag_assignment *a = d->assign;
    const long G = d->n_genes, P = r->P;
    const int K = r->K, E = r->E;
    const unsigned TRAIN = PTRAG_SPLIT_MASK(PTRAG_SPLIT_TRAIN);
    double *vec = malloc(sizeof(double) * (size_t)P * (size_t)G), *mu = malloc(sizeof(double) * 2 * (size_t)G);
    double *q = malloc(sizeof(double) * (size_t)G), *acc = malloc(sizeof(double) * (size_t)G);
    double *score = malloc(sizeof(double) * (size_t)P), *sorted = malloc(sizeof(double) * (size_t)P);
    double *ea = malloc(sizeof(double) * (size_t)E), *eb = malloc(sizeof(double) * (size_t)E);
    int *kind = malloc(sizeof(int) * (size_t)P);
    int n_resp = 0, n_plain = 0;
    for (int ct = 0; ct < a->n_ct; ct++) {
        /* rows' responses in the basis of ct, and each kind's mean */
        long nk[3] = {0, 0, 0};
        memset(mu, 0, sizeof(double) * 2 * (size_t)G);
        for (long j = 0; j < P; j++) {
            const int pj = r->db_pert[j];
            int n = 0;
            memset(acc, 0, sizeof(double) * (size_t)G);
            for (int c2 = 0; c2 < a->n_ct; c2++)
                if (c2 != ct && cond_shift(d, c2, pj, TRAIN, q)) {
                    for (long g = 0; g < G; g++) acc[g] += q[g];
                    n++;
                }
            kind[j] = n ? 1 : cond_shift(d, ct, pj, TRAIN, acc) ? 2 : 0;
            for (long g = 0; g < G; g++) vec[(size_t)j * G + g] = kind[j] == 1 ? acc[g] / n : kind[j] == 2 ? acc[g] : 0;
            if (kind[j])
                for (long g = 0; g < G; g++) mu[(size_t)(kind[j] - 1) * G + g] += vec[(size_t)j * G + g];
            nk[kind[j]]++;
        }
        for (int k = 1; k <= 2; k++)
            for (long g = 0; g < G; g++) mu[(size_t)(k - 1) * G + g] /= (double)(nk[k] ? nk[k] : 1);
        for (long j = 0; j < P; j++)
            if (kind[j])
                for (long g = 0; g < G; g++) vec[(size_t)j * G + g] -= mu[(size_t)(kind[j] - 1) * G + g];
        for (int c = 0; c < a->n_conditions; c++) {
            const ptrag_condition *cd = &a->conditions[c];
            if (cd->is_control || cd->ct != ct || !d->pert_has_feat[cd->pert]) continue;
            const long self = r->pert_row[cd->pert];
            const float *sims = NULL;
            const int32_t *rows = ptrag_stage1_rows(r, &ev, ct, cd->pert, &sims);
            const int has = kind[self] == 1; /* measured in another cell type's training */
            if (!has) { /* no response: the embedding ranking, as published */
                CHECK(rows == r->topk + (size_t)cd->pert * K);
                n_plain++;
                continue;
            }
            for (int k = 0; k < K; k++) CHECK(rows[k] >= 0 && rows[k] != self);
            for (long g = 0; g < G; g++) q[g] = vec[(size_t)self * G + g];
            for (int i = 0; i < E; i++) ea[i] = r->db[(size_t)self * E + i];
            for (long j = 0; j < P; j++) {
                for (int i = 0; i < E; i++) eb[i] = r->db[(size_t)j * E + i];
                score[j] = (1 - w) * cosine_d(ea, eb, E) + (kind[j] ? w * cosine_d(q, vec + (size_t)j * G, G) : 0.0);
                sorted[j] = j == self ? -HUGE_VAL : score[j];
            }
            qsort(sorted, (size_t)P, sizeof *sorted, cmp_desc);
            double worst = 0;
            for (int k = 0; k < K; k++) {
                worst = fmax(worst, fabs(sims[k] - sorted[k]));          /* the k-th best value */
                worst = fmax(worst, fabs(score[rows[k]] - sorted[k]));   /* held by the row listed */
            }
            CHECK_MSG(worst < 1e-4, "%s/%s: ranking off by %g", a->ct_names[ct], d->pert_names[cd->pert], worst);
            n_resp++;
        }
    }
    printf("  response ranking for %d conditions, embedding order for %d\n", n_resp, n_plain);
    CHECK(n_resp >= 30 && n_plain > 0);
    /* the batch takes the response ranking */
    ptrag_config cfg;
    ptrag_config_default(&cfg);
    cfg.model = PTRAG_MODEL_PTRAG;
    cfg.evidence = 1;
    cfg.response_retrieval = w;
    cfg.batch_sets = 1;
    cfg.set_size = 2;
    CHECK_INT(ptrag_fill_data_dims(&cfg, d, &err), 0);
    ptrag_step_buffers b;
    CHECK_INT(ptrag_step_buffers_new(&b, &cfg, K, &err), 0);
    int n_diff = 0;
    for (int c = 0; c < a->n_conditions; c++) {
        const ptrag_condition *cd = &a->conditions[c];
        if (cd->is_control || !d->pert_has_feat[cd->pert] || cd->n_rows < 2) continue;
        const int32_t ct = cd->ct, p = cd->pert;
        const long rows[2] = {cd->rows[0], cd->rows[1]}, ctrl[2] = {a->ctrl[ct].rows[0], a->ctrl[ct].rows[1]};
        ptrag_model_batch mb;
        CHECK_INT(ptrag_fill_model_batch(d, &cfg, r, &ev, &ct, &p, 1, 2, rows, ctrl, NULL, 0, &b, &mb, &err), 0);
        const int32_t *want = ptrag_stage1_rows(r, &ev, ct, p, NULL);
        for (int k = 0; k < K; k++) CHECK(mb.cand[k] == want[k]);
        n_diff += memcmp(want, r->topk + (size_t)p * K, sizeof(int32_t) * (size_t)K) != 0;
    }
    CHECK(n_diff >= 10); /* the response changes what is retrieved */
    /* the config refuses it without evidence; --faithful turns it off */
    cfg.evidence = 0;
    CHECK(ptrag_config_validate(&cfg, &err) == PTRAG_E_ARG);
    ptrag_config_apply_faithful(&cfg);
    CHECK(cfg.response_retrieval == 0.0);
    ptrag_step_buffers_free(&b);
    free(vec), free(mu), free(q), free(acc), free(score), free(sorted), free(ea), free(eb), free(kind);
    ptrag_evidence_free(&ev);
    ptrag_evidence_free(&ev0);
    ptrag_retrieval_free(r);
    ptrag_dataset_free(d);
}

int main(void) {
    if (!ptrag_path_exists(tl_shared("splits/perturbench_fewshot_a172.toml"))) {
        printf("SKIP: shared data not found\n");
        return 77;
    }
    RUN(test_leakage_rules);
    RUN(test_own_candidate);
    RUN(test_response_retrieval);
    return TEST_SUMMARY();
}
