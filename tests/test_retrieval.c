/* Stage-1 retrieval over the real A172 split: the database is the data's
 * perturbations with a vector, in sorted-name order; a set never retrieves
 * its own perturbation (fixed behaviour), while --faithful reproduces the
 * published exclusion of the batch's first set's perturbation instead. */
#include <math.h>
#include <string.h>

#include "ptrag.h"
#include "testlib.h"

static ptrag_dataset *load(ptrag_error *err) {
    ptrag_dataset_opts o;
    ptrag_dataset_opts_default(&o);
    o.pert_col = "perturbation";
    o.control = "control";
    o.embeddings = tl_shared("data/go_svd128_embeddings/go_svd128_perturbation_genes.tsv");
    o.missing = PTRAG_MISSING_DROP;
    o.labels_only = 1;
    ptrag_dataset *d = NULL;
    ptrag_dataset_load(tl_shared("splits/perturbench_fewshot_a172.toml"), &o, &d, err);
    return d;
}

static void test_database_and_self_exclusion(void) {
    ptrag_error err;
    ptrag_dataset *d = load(&err);
    CHECK_MSG(d != NULL, "%s", err.msg);
    if (!d) return;
    ptrag_retrieval *r = NULL;
    CHECK_INT(ptrag_retrieval_build(d, PTRAG_DB_ALL, 8, &r, &err), 0);
    if (!r) {
        ptrag_dataset_free(d);
        return;
    }
    CHECK_INT(r->K, 8);
    /* Rows in sorted-name order; only perturbations with a vector. */
    for (long i = 1; i < r->P; i++)
        CHECK(strcmp(d->pert_names[r->db_pert[i - 1]], d->pert_names[r->db_pert[i]]) < 0);
    for (long i = 0; i < r->P; i++) CHECK(d->pert_has_feat[r->db_pert[i]]);
    /* Fixed mode: no perturbation's candidates contain itself, and they are
     * sorted by decreasing cosine. */
    int checked = 0;
    for (int p = 0; p < d->n_perts; p++) {
        if (!d->pert_has_feat[p]) continue;
        int32_t cand[8];
        CHECK_INT(ptrag_retrieval_candidates(r, &p, 1, 0, cand, &err), 0);
        for (int k = 0; k < 8; k++) {
            CHECK(cand[k] >= 0 && cand[k] < r->P);
            CHECK_MSG(r->db_pert[cand[k]] != p, "%s retrieves itself", d->pert_names[p]);
            if (k) CHECK(r->topk_sim[(size_t)p * 8 + k] <= r->topk_sim[(size_t)p * 8 + k - 1]);
        }
        checked++;
    }
    CHECK(checked > 20);
    /* The control's query is zero: all similarities 0, lowest rows first. */
    const int32_t *ctrl = r->topk + (size_t)d->control_code * 8;
    int32_t own = r->pert_row[d->control_code], expect = 0;
    for (int k = 0; k < 8; k++, expect++) {
        if (expect == own) expect++;
        CHECK_INT(ctrl[k], expect);
        CHECK_NEAR(r->topk_sim[(size_t)d->control_code * 8 + k], 0, 0);
    }

    /* Faithful: a batch [MAPK1, MAP2K3, ...] excludes MAPK1 for every set, so
     * MAP2K3 retrieves itself first (cosine 1) and MAPK1 appears nowhere. */
    int mapk1 = ptrag_dataset_find_pert(d, "MAPK1"), map2k3 = ptrag_dataset_find_pert(d, "MAP2K3");
    int tgfbr2 = ptrag_dataset_find_pert(d, "TGFBR2");
    CHECK(mapk1 >= 0 && map2k3 >= 0 && tgfbr2 >= 0);
    int32_t batch[3] = {mapk1, map2k3, tgfbr2}, cand[3 * 8];
    CHECK_INT(ptrag_retrieval_candidates(r, batch, 3, 1, cand, &err), 0);
    for (int i = 0; i < 3 * 8; i++) CHECK(cand[i] != r->pert_row[mapk1]);
    CHECK_INT(cand[8], r->pert_row[map2k3]);
    CHECK_INT(cand[16], r->pert_row[tgfbr2]);
    /* ... while the fixed mode never does. */
    CHECK_INT(ptrag_retrieval_candidates(r, batch, 3, 0, cand, &err), 0);
    for (int b = 0; b < 3; b++)
        for (int k = 0; k < 8; k++) CHECK(cand[b * 8 + k] != r->pert_row[batch[b]]);
    ptrag_retrieval_free(r);

    /* train-only: A172's held-out perturbations are still in the database
     * through the other cell types, but none that only val/test cells carry. */
    CHECK_INT(ptrag_retrieval_build(d, PTRAG_DB_TRAIN_ONLY, 40, &r, &err), 0);
    if (r) {
        CHECK(r->K <= r->P - 1);
        ptrag_retrieval_free(r);
    }
    ptrag_dataset_free(d);
}

static void test_onehot_is_refused(void) {
    ptrag_dataset_opts o;
    ptrag_dataset_opts_default(&o);
    o.pert_col = "perturbation";
    o.control = "control";
    o.labels_only = 1;
    ptrag_error err;
    ptrag_dataset *d = NULL;
    CHECK_INT(ptrag_dataset_load(tl_shared("splits/perturbench_fewshot_a172.toml"), &o, &d, &err), 0);
    if (!d) return;
    ptrag_retrieval *r = NULL;
    CHECK(ptrag_retrieval_build(d, PTRAG_DB_ALL, 8, &r, &err) == PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "--embeddings");
    ptrag_dataset_free(d);
}

int main(void) {
    if (!ptrag_path_exists(tl_shared("splits/perturbench_fewshot_a172.toml"))) {
        printf("SKIP: shared data not found\n");
        return 77;
    }
    RUN(test_database_and_self_exclusion);
    RUN(test_onehot_is_refused);
    return TEST_SUMMARY();
}
