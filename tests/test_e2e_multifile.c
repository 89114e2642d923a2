/* End to end on Replogle-Nadig's layout, small: `ptrag simulate --layout
 * replogle` writes one file per cell line (raw counts in X, log1p in
 * obsm/X_hvg, obs gene/cell_line/gem_group) and its few-shot split naming the
 * folder; the same cells named by a folder, a glob and several datasets give
 * the same split; PT-RAG trains a few steps on the glob split and predicts
 * every test condition of the held-out line (Jurkat). Seconds. */
#define _POSIX_C_SOURCE 200809L
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag.h"
#include "testlib.h"

static char dir[4096], emb[4096], src[4096];

static int ptrag(const char *args, const char *out) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>&1", PTRAG_CLI, args, out ? out : "/dev/null");
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *slurp(const char *path) {
    char *text = NULL;
    if (ptrag_read_file(path, &text, NULL, NULL)) return NULL;
    return text;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* The test perturbations of the simulated few-shot split: its test = [...] line. */
static char *test_list(void) {
    char path[4200];
    snprintf(path, sizeof path, "%s/split_fewshot.toml", dir);
    char *t = slurp(path);
    char *line = t ? strstr(t, "\ntest = [") : NULL;
    char *out = NULL;
    if (line) {
        line++;
        size_t n = strcspn(line, "\n");
        out = strndup(line, n);
    }
    free(t);
    return out;
}

static void test_layout(void) {
    const char *lines[4] = {"K562", "RPE1", "Jurkat", "HepG2"};
    for (int i = 0; i < 4; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/data/%s.h5ad", dir, lines[i]);
        ptrag_h5ad *h = NULL;
        ptrag_error err;
        CHECK_MSG(ptrag_h5ad_open(path, "obsm/X_hvg", &h, &err) == 0, "%s", err.msg);
        if (!h) continue;
        CHECK_INT(ptrag_h5ad_n_vars(h), 150);
        CHECK_INT(ptrag_h5ad_file_n_vars(h), 300);
        ptrag_column c;
        memset(&c, 0, sizeof c);
        CHECK(ptrag_h5ad_read_obs(h, "cell_line", &c, &err) == 0);
        CHECK_INT(c.n_categories, 1);
        if (c.n_categories == 1) CHECK_STR(c.categories[0], lines[i]);
        ptrag_column_free(&c);
        CHECK(ptrag_h5ad_read_obs(h, "gene", &c, &err) == 0);
        CHECK(ptrag_column_find(&c, "non-targeting") >= 0);
        ptrag_column_free(&c);
        ptrag_h5ad_close(h);
        /* X: raw counts, CSR */
        CHECK(ptrag_h5ad_open(path, "X", &h, &err) == 0);
        if (!h) continue;
        CHECK_INT(ptrag_h5ad_x_storage(h), PTRAG_STORAGE_CSR);
        float row[300];
        long r = 3;
        CHECK(ptrag_h5ad_read_rows(h, &r, 1, NULL, 300, row, &err) == 0);
        double sum = 0;
        int whole = 1;
        for (int j = 0; j < 300; j++) {
            sum += row[j];
            whole &= row[j] == (float)(long)row[j];
        }
        CHECK(whole);
        CHECK(sum > 0);
        ptrag_h5ad_close(h);
    }
}

/* `ptrag split --json` of a split file, as text. */
static char *split_json(const char *split, const char *name) {
    char args[8192], out[4200];
    snprintf(out, sizeof out, "%s/%s.json", dir, name);
    snprintf(args, sizeof args, "split --split %s --celltype-col cell_line --x obsm/X_hvg --json", split);
    int rc = ptrag(args, out);
    CHECK_INT(rc, 0);
    return slurp(out);
}

/* The "splits" part of split --json (the same cells whatever names the files). */
static const char *splits_part(const char *json) { return json ? strstr(json, "\"splits\"") : NULL; }

static void test_folder_glob_and_datasets_agree(void) {
    char *tests = test_list();
    CHECK(tests != NULL);
    if (!tests) return;
    char folder[4200], glob[4200], several[4200], text[200000];
    snprintf(folder, sizeof folder, "%s/split_fewshot.toml", dir);
    snprintf(glob, sizeof glob, "%s/split_glob.toml", dir);
    snprintf(several, sizeof several, "%s/split_several.toml", dir);
    snprintf(text, sizeof text,
             "[datasets]\nreplogle = \"data/*.h5ad\"\n[training]\nreplogle = \"train\"\n"
             "[fewshot.\"replogle.Jurkat\"]\n%s\n", tests);
    write_text(glob, text);
    snprintf(text, sizeof text,
             "[datasets]\njurkat = \"data/Jurkat.h5ad\"\nothers = \"data/[HKR]*.h5ad\"\n"
             "[training]\njurkat = \"train\"\nothers = \"train\"\n[fewshot.\"jurkat.Jurkat\"]\n%s\n", tests);
    write_text(several, text);
    free(tests);
    char *a = split_json(folder, "folder"), *b = split_json(glob, "glob"), *c = split_json(several, "several");
    CHECK_CONTAINS(a, "\"n_cells\": ");
    CHECK_CONTAINS(a, "data/RPE1.h5ad");
    CHECK_CONTAINS(b, "data/HepG2.h5ad");
    /* the folder split holds val perturbations too, so compare the glob and several-dataset splits */
    CHECK(splits_part(b) && splits_part(c) && strcmp(splits_part(b), splits_part(c)) == 0);
    CHECK_CONTAINS(b, "\"test\": {\"conditions\": ");
    CHECK(strstr(b, "\"test\": {\"conditions\": 0,") == NULL);
    free(a);
    free(b);
    free(c);
}

static void test_train_and_predict_on_glob(void) {
    char args[16384], out[4200], run[4200], pred[4200], real[4200];
    snprintf(run, sizeof run, "%s/run", dir);
    snprintf(pred, sizeof pred, "%s/pred.h5ad", dir);
    snprintf(real, sizeof real, "%s/real.h5ad", dir);
    snprintf(out, sizeof out, "%s/train.out", dir);
    snprintf(args, sizeof args,
             "train --split %s/split_glob.toml --celltype-col cell_line --x obsm/X_hvg --embeddings %s "
             "--missing drop --model ptrag --steps 3 --threads 1 --out %s",
             dir, emb, run);
    int rc = ptrag(args, out);
    CHECK_INT(rc, 0);
    if (rc) {
        char *t = slurp(out);
        fprintf(stderr, "%s\n", t ? t : "");
        free(t);
        return;
    }
    /* every data file is checksummed in the run's meta.txt */
    char meta[4200];
    snprintf(meta, sizeof meta, "%s/meta.txt", run);
    char *m = slurp(meta);
    CHECK_CONTAINS(m, "input.data4.path");
    free(m);
    snprintf(out, sizeof out, "%s/predict.out", dir);
    snprintf(args, sizeof args, "predict --run %s --out %s --write-real %s", run, pred, real);
    rc = ptrag(args, out);
    CHECK_INT(rc, 0);
    ptrag_h5ad *h = NULL;
    ptrag_error err;
    CHECK_MSG(ptrag_h5ad_open(pred, NULL, &h, &err) == 0, "%s", err.msg);
    if (!h) return;
    CHECK_INT(ptrag_h5ad_n_vars(h), 150);
    ptrag_column c;
    memset(&c, 0, sizeof c);
    CHECK(ptrag_h5ad_read_obs(h, "cell_line", &c, &err) == 0);
    CHECK_INT(c.n_categories, 1);
    if (c.n_categories == 1) CHECK_STR(c.categories[0], "Jurkat");
    ptrag_column_free(&c);
    CHECK(ptrag_h5ad_read_obs(h, "gene", &c, &err) == 0);
    CHECK(c.n_categories > 10); /* every test condition of Jurkat */
    ptrag_column_free(&c);
    ptrag_h5ad_close(h);
}

int main(void) {
    snprintf(src, sizeof src, "%s/data/perturbench_devel_4celltypes/devel.h5ad", PTRAG_SHARED_DIR);
    snprintf(emb, sizeof emb, "%s/data/go_svd128_embeddings/go_svd128_perturbation_genes.tsv", PTRAG_SHARED_DIR);
    if (!ptrag_path_exists(src) || !ptrag_path_exists(emb)) {
        printf("SKIP: %s or %s not found\n", src, emb);
        return 77;
    }
    snprintf(dir, sizeof dir, "%s", tl_tmp("test_e2e_multifile"));
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    if (system(cmd) != 0) return 1;
    snprintf(cmd, sizeof cmd,
             "simulate --source %s --embeddings %s --out %s --layout replogle --perts 80 --modules 8 --cells 12 "
             "--controls 120 --genes 300 --hvg-genes 150 --test-frac 0.3 --val-frac 0.05 --threads 1 --quiet",
             src, emb, dir);
    int rc = ptrag(cmd, NULL);
    CHECK_INT(rc, 0);
    if (rc) return TEST_SUMMARY();
    RUN(test_layout);
    RUN(test_folder_glob_and_datasets_agree);
    RUN(test_train_and_predict_on_glob);
    return TEST_SUMMARY();
}
