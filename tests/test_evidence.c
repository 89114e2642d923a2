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
    CHECK_INT(ptrag_retrieval_build(d, PTRAG_DB_ALL, 8, &r, &err), 0);
    ptrag_evidence ev;
    CHECK_INT(ptrag_evidence_build(d, r, &ev, &err), 0);
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

int main(void) {
    if (!ptrag_path_exists(tl_shared("splits/perturbench_fewshot_a172.toml"))) {
        printf("SKIP: shared data not found\n");
        return 77;
    }
    RUN(test_leakage_rules);
    return TEST_SUMMARY();
}
