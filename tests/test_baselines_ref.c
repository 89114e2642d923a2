/* Baselines against an independent numpy computation (tests/baselines_ref.py)
 * on the real PerturBench few-shot A172 split: pert-mean, celleval-mean and
 * context-mean profiles, perturb-mean and knn (K = 5, more than A172's two
 * training conditions, so the other cell lines fill in; and K = 1). Skips (77)
 * without the data or /usr/bin/python3 with numpy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ptrag/baselines.h"
#include "ptrag/dataset.h"
#include "ptrag/fsutil.h"
#include "testlib.h"

#define SPLIT "splits/perturbench_fewshot_a172.toml"
#define DATA "data/perturbench_devel_4celltypes/devel.h5ad"
#define EMB "data/go_svd128_embeddings/go_svd128_perturbation_genes.tsv"

static const char *const held_out[] = {"MAP4K5", "SGK1", "MAP2K3", "MAP3K21", "MAPK1", "PLK4", "TGFBR2"};
static const char *const queries[] = {"MAP2K3", "MAP3K21", "MAPK1", "PLK4", "TGFBR2"};
enum { NQ = 5 };

static void write_raw(const char *dir, const char *name, const void *p, size_t bytes) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(p, 1, bytes, f) == bytes);
    fclose(f);
}

/* Writes the inputs and every kind's output for the queries, runs numpy. */
static int compare_with_numpy(const ptrag_dataset *d, int knn_k, const char *dir) {
    ptrag_error err;
    long g = d->n_genes, n = 0;
    for (long r = 0; r < d->n_cells; r++) n += d->row_slot[r] >= 0;
    float *x = malloc((size_t)n * (size_t)g * sizeof *x);
    int32_t *ct = malloc((size_t)n * sizeof *ct), *pert = malloc((size_t)n * sizeof *pert);
    long k = 0;
    for (long r = 0; r < d->n_cells; r++) {
        if (d->row_slot[r] < 0) continue;
        memcpy(x + (size_t)k * g, ptrag_dataset_row(d, r), (size_t)g * sizeof *x);
        ct[k] = d->ct_code[r];
        pert[k++] = d->pert_code[r];
    }
    write_raw(dir, "x.f32", x, (size_t)n * (size_t)g * sizeof *x);
    write_raw(dir, "ct.i32", ct, (size_t)n * sizeof *ct);
    write_raw(dir, "pert.i32", pert, (size_t)n * sizeof *pert);
    float *feat = calloc((size_t)d->n_perts * (size_t)d->feat_dim, sizeof *feat);
    unsigned char *has = calloc((size_t)d->n_perts, 1);
    for (int p = 0; p < d->n_perts; p++) {
        has[p] = d->pert_has_feat[p] && p != d->control_code;
        if (has[p]) memcpy(feat + (size_t)p * d->feat_dim, ptrag_dataset_pert_feature(d, p), (size_t)d->feat_dim * sizeof *feat);
    }
    write_raw(dir, "feat.f32", feat, (size_t)d->n_perts * (size_t)d->feat_dim * sizeof *feat);
    write_raw(dir, "has_feat.u8", has, (size_t)d->n_perts);
    int a172 = ptrag_dataset_find_celltype(d, "A172"), q[NQ];
    char meta[4096];
    int w = snprintf(meta, sizeof meta, "shape %ld %ld\nfeat %d %d\ncontrol %d\nheld_ct %d\nknn_k %d\nheld_perts",
                     n, g, d->n_perts, d->feat_dim, d->control_code, a172, knn_k);
    for (size_t i = 0; i < sizeof held_out / sizeof held_out[0]; i++)
        w += snprintf(meta + w, sizeof meta - (size_t)w, " %d", ptrag_dataset_find_pert(d, held_out[i]));
    w += snprintf(meta + w, sizeof meta - (size_t)w, "\nqueries");
    for (int i = 0; i < NQ; i++) {
        q[i] = ptrag_dataset_find_pert(d, queries[i]);
        w += snprintf(meta + w, sizeof meta - (size_t)w, " %d", q[i]);
    }
    snprintf(meta + w, sizeof meta - (size_t)w, "\n");
    write_raw(dir, "meta.txt", meta, strlen(meta));

    const int kinds[] = {PTRAG_BASELINE_PERT_MEAN, PTRAG_BASELINE_CELLEVAL_MEAN, PTRAG_BASELINE_CONTEXT_MEAN,
                         PTRAG_BASELINE_PERTURB_MEAN, PTRAG_BASELINE_KNN};
    float *out = malloc((size_t)NQ * (size_t)g * sizeof *out);
    for (size_t t = 0; t < sizeof kinds / sizeof kinds[0]; t++) {
        ptrag_baseline_opts bo;
        ptrag_baseline_opts_default(&bo);
        bo.kind = kinds[t];
        bo.knn_k = knn_k;
        ptrag_baseline *b = NULL;
        CHECK_INT(ptrag_baseline_fit(d, &bo, &b, &err), 0);
        if (!b) continue;
        for (int i = 0; i < NQ; i++) {
            float *row = out + (size_t)i * g;
            CHECK_INT(ptrag_baseline_delta(b, a172, q[i], row, &err), 0);
            if (ptrag_baseline_is_profile(kinds[t])) {
                /* delta = profile - control mean: compare the profile itself. */
                double cm;
                for (long j = 0; j < g; j++) {
                    cm = 0;
                    long nc = 0;
                    for (long r = 0; r < n; r++)
                        if (ct[r] == a172 && pert[r] == d->control_code) cm += x[(size_t)r * g + j], nc++;
                    row[j] = (float)(row[j] + cm / nc);
                }
            }
        }
        char name[64];
        snprintf(name, sizeof name, "c_%s.f32", ptrag_baseline_name(kinds[t]));
        write_raw(dir, name, out, (size_t)NQ * (size_t)g * sizeof *out);
        ptrag_baseline_free(b);
    }
    free(out);
    free(x);
    free(ct);
    free(pert);
    free(feat);
    free(has);
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/baselines_ref.py %s", PTRAG_SOURCE_DIR, dir);
    return system(cmd);
}

static void test_against_numpy(void) {
    ptrag_dataset_opts o;
    ptrag_dataset_opts_default(&o);
    o.pert_col = "perturbation";
    o.control = "control";
    o.embeddings = tl_shared(EMB);
    o.missing = PTRAG_MISSING_DROP;
    ptrag_dataset *d = NULL;
    ptrag_error err;
    int rc = ptrag_dataset_load(tl_shared(SPLIT), &o, &d, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (!d) return;
    const char *dir = tl_tmp("test_baselines_ref");
    CHECK_INT(ptrag_mkdir_p(dir, &err), 0);
    CHECK_INT(compare_with_numpy(d, 5, dir), 0);
    CHECK_INT(compare_with_numpy(d, 1, dir), 0);
    ptrag_dataset_free(d);
}

int main(void) {
    if (access(tl_shared(DATA), R_OK) != 0 || access(tl_shared(EMB), R_OK) != 0) {
        printf("skipped: %s or %s not found\n", tl_shared(DATA), tl_shared(EMB));
        return 77;
    }
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) {
        printf("SKIP: /usr/bin/python3 with numpy is not available\n");
        return 77;
    }
    RUN(test_against_numpy);
    return TEST_SUMMARY();
}
