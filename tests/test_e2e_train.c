/* End to end on the real PerturBench A172 split with GO embeddings:
 * ptrag train (state, rag, ptrag) -> the loss falls; N + resume N steps is
 * bit-identical to 2N steps; ptrag predict writes files anndata reads, with
 * the expected rows and labels; RETRIEVAL.tsv never lists a condition's own
 * perturbation; bad inputs give clear errors. */
#define _POSIX_C_SOURCE 200809L
/* Test paths are short; silence the warning about theoretical truncation. */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../src/run/run_internal.h"
#include "ptrag.h"
#include "testlib.h"

static char split[4096], emb[4096], dir[4096];

static const char *data_flags(void) {
    static char buf[8192];
    snprintf(buf, sizeof buf, "--split %s --embeddings %s --pert-col perturbation --control control --missing drop", split, emb);
    return buf;
}

/* Runs a ptrag command line; returns its exit status; stderr to `errfile`. */
static int ptrag(const char *args, const char *errfile) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "%s %s >/dev/null 2>%s", PTRAG_CLI, args, errfile ? errfile : "/dev/null");
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *slurp(const char *path) {
    char *text = NULL;
    if (ptrag_read_file(path, &text, NULL, NULL)) return NULL;
    return text;
}

/* train_log.csv without the wall-clock `seconds` column. */
static char *log_without_seconds(const char *path) {
    char *t = slurp(path);
    if (!t) return NULL;
    char *out = calloc(strlen(t) + 1, 1), *o = out;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        int field = 0;
        for (char *p = line; *p; p++) {
            if (*p == ',') field++;
            if (field == 3 && *p == ',') continue; /* drop the comma opening field 3 */
            if (field != 3) *o++ = *p;
        }
        *o++ = '\n';
    }
    free(t);
    return out;
}

static int file_equal(const char *a, const char *b) {
    char *x, *y;
    size_t nx, ny;
    if (ptrag_read_file(a, &x, &nx, NULL)) return 0;
    if (ptrag_read_file(b, &y, &ny, NULL)) {
        free(x);
        return 0;
    }
    int eq = nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return eq;
}

static void test_state_trains_and_resumes_bit_identically(void) {
    char args[16384], a[4096], b[4096], p1[4096], p2[4096];
    snprintf(a, sizeof a, "%s/state_full", dir);
    snprintf(b, sizeof b, "%s/state_resumed", dir);
    const char *small = "--hidden 16 --layers 1 --heads 2 --head-dim 8 --mlp 32 --set-size 16 --batch 4 --val-every 10 "
                        "--precision fp32";
    snprintf(args, sizeof args, "train %s --model state %s --steps 40 --out %s", data_flags(), small, a);
    CHECK_INT(ptrag(args, NULL), 0);
    snprintf(args, sizeof args, "train %s --model state %s --steps 20 --out %s", data_flags(), small, b);
    CHECK_INT(ptrag(args, NULL), 0);
    snprintf(args, sizeof args, "train --resume %s --steps 40", b);
    CHECK_INT(ptrag(args, NULL), 0);
    snprintf(p1, sizeof p1, "%s/last.ckpt", a);
    snprintf(p2, sizeof p2, "%s/last.ckpt", b);
    CHECK_MSG(file_equal(p1, p2), "last.ckpt of 40 steps differs from 20 + resume 20");
    snprintf(p1, sizeof p1, "%s/best.ckpt", a);
    snprintf(p2, sizeof p2, "%s/best.ckpt", b);
    CHECK_MSG(file_equal(p1, p2), "best.ckpt differs after resume");
    snprintf(p1, sizeof p1, "%s/train_log.csv", a);
    snprintf(p2, sizeof p2, "%s/train_log.csv", b);
    char *l1 = log_without_seconds(p1), *l2 = log_without_seconds(p2);
    CHECK(l1 && l2 && strcmp(l1, l2) == 0);
    /* The loss falls: first logged train loss above the last. */
    double first = 0, last = 0;
    int rows = 0;
    if (l1)
        for (char *line = strtok(l1, "\n"); line; line = strtok(NULL, "\n")) {
            if (rows++ == 0) continue;
            double v = strtod(strchr(line, ',') + 1, NULL);
            if (rows == 2) first = v;
            last = v;
        }
    CHECK_INT(rows, 5); /* header + steps 10, 20, 30, 40 */
    CHECK_MSG(last < first, "train loss did not fall: %g -> %g", first, last);
    free(l1);
    free(l2);
    /* A172 has no batch column: the batch embedding is one learned row (an
     * input bias), so a PT-RAG cell that drops every candidate never feeds a
     * zero vector to RMSNorm. */
    snprintf(p1, sizeof p1, "%s/config.txt", a);
    char *cfgtext = slurp(p1);
    CHECK_CONTAINS(cfgtext, "n_batches = 1\n");
    free(cfgtext);
    /* Every file a run promises is there. */
    const char *files[] = {"command.txt", "config.txt", "data.txt", "meta.txt", "genes.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p1, sizeof p1, "%s/%s", a, files[i]);
        CHECK_MSG(ptrag_path_exists(p1), "%s missing", p1);
    }
}

/* Runs a ptrag command line with OMP_NUM_THREADS=threads (the config keeps
 * threads = 0, "all", so runs differ only in the thread count). */
static int ptrag_threads(int threads, const char *args) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=%d %s %s >/dev/null 2>/dev/null", threads, PTRAG_CLI, args);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* --precision bf16: stored in config.txt; 40 steps on one thread equal 20
 * steps on two threads + resume 20 on two, bit for bit (fixed blocks, one
 * single-threaded oneDNN call each); predict runs it. */
static void test_bf16_resumes_bit_identically_on_any_thread_count(void) {
    if (!ptrag_bf16_available()) {
        printf("  (skipped: no oneDNN in this build)\n");
        return;
    }
    char args[16384], a[4096], b[4096], p1[4096], p2[4096];
    snprintf(a, sizeof a, "%s/bf16_full", dir);
    snprintf(b, sizeof b, "%s/bf16_resumed", dir);
    const char *small = "--hidden 32 --layers 1 --heads 2 --head-dim 16 --mlp 64 --set-size 16 --batch 20 "
                        "--val-every 10 --precision bf16";
    snprintf(args, sizeof args, "train %s --model ptrag %s --steps 40 --out %s", data_flags(), small, a);
    CHECK_INT(ptrag_threads(1, args), 0);
    snprintf(args, sizeof args, "train %s --model ptrag %s --steps 20 --out %s", data_flags(), small, b);
    CHECK_INT(ptrag_threads(2, args), 0);
    snprintf(args, sizeof args, "train --resume %s --steps 40", b);
    CHECK_INT(ptrag_threads(2, args), 0);
    snprintf(p1, sizeof p1, "%s/last.ckpt", a);
    snprintf(p2, sizeof p2, "%s/last.ckpt", b);
    CHECK_MSG(file_equal(p1, p2), "bf16: last.ckpt of 40 steps (1 thread) differs from 20 + resume 20 (2 threads)");
    snprintf(p1, sizeof p1, "%s/config.txt", a);
    char *cfgtext = slurp(p1);
    CHECK_CONTAINS(cfgtext, "precision = bf16\n");
    free(cfgtext);
    snprintf(p1, sizeof p1, "%s/pred.h5ad", dir);
    snprintf(args, sizeof args, "predict --run %s --out %s --retrieval %s/bf16_retrieval.tsv", a, p1, dir);
    CHECK_INT(ptrag(args, NULL), 0);
}

static void test_predict_writes_files_anndata_reads(void) {
    char args[16384], run[4096], pred[4096], real[4096];
    snprintf(run, sizeof run, "%s/state_full", dir);
    snprintf(pred, sizeof pred, "%s/pred.h5ad", dir);
    snprintf(real, sizeof real, "%s/real.h5ad", dir);
    snprintf(args, sizeof args, "predict --run %s --out %s --write-real %s", run, pred, real);
    CHECK_INT(ptrag(args, NULL), 0);
    ptrag_h5ad *h;
    ptrag_error err;
    CHECK_INT(ptrag_h5ad_open(pred, "X", &h, &err), 0);
    if (h) {
        CHECK_INT(ptrag_h5ad_n_obs(h), 6 * 100); /* pool pairing: 5 test conditions + the controls, 100 each */
        CHECK_INT(ptrag_h5ad_n_vars(h), 500);
        ptrag_column c;
        CHECK_INT(ptrag_h5ad_read_obs(h, "cell_type", &c, &err), 0);
        CHECK_INT(c.n_categories, 1);
        CHECK_STR(c.categories[0], "A172");
        ptrag_column_free(&c);
        ptrag_h5ad_close(h);
    }
    /* The real file: every cell of the test conditions and A172's controls. */
    CHECK_INT(ptrag_h5ad_open(real, "X", &h, &err), 0);
    if (h) {
        CHECK_INT(ptrag_h5ad_n_obs(h), 509);
        ptrag_h5ad_close(h);
    }
    if (system("/usr/bin/python3 -c 'import anndata' 2>/dev/null") != 0) {
        printf("SKIP: anndata check (no python3-anndata)\n");
        return;
    }
    char cmd[16384];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -W error -c \"import anndata,sys; a=anndata.read_h5ad('%s'); r=anndata.read_h5ad('%s');"
             " assert a.shape==(600,500), a.shape; assert r.shape==(509,500), r.shape;"
             " assert sorted(a.obs['perturbation'].unique())=="
             "['MAP2K3','MAP3K21','MAPK1','PLK4','TGFBR2','control'], list(a.obs['perturbation'].unique());"
             " assert sorted(set(a.obs['perturbation']))==sorted(set(r.obs['perturbation']));"
             " assert (a.X>=0).all()\"",
             pred, real);
    CHECK_INT(system(cmd), 0);
}

/* Reads a RETRIEVAL.tsv: *lines counts its lines (header included); returns
 * how many rows list the query itself as a candidate, each of which must be
 * the own slot: rank own_rank with cosine 1 (own_rank 0: none expected).
 * -1 when the file cannot be read. */
static int retrieval_self_rows(const char *tsv, int own_rank, int *lines) {
    char *t = slurp(tsv);
    CHECK(t != NULL);
    if (!t) return -1;
    int self = 0;
    *lines = 0;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        (*lines)++;
        char ct[64], pert[64], cand[64];
        int rank;
        float cosine;
        if (sscanf(line, "%63[^\t]\t%63[^\t]\t%d\t%63[^\t]\t%f", ct, pert, &rank, cand, &cosine) == 5 &&
            strcmp(pert, cand) == 0) {
            self++;
            CHECK_INT(rank, own_rank);
            CHECK(cosine == 1.0f);
        }
    }
    free(t);
    return self;
}

/* Predicts `run` with `extra` flags into DIR/<tag>_pred.h5ad and
 * DIR/<tag>_RETRIEVAL.tsv, and checks the retrieval of a run with the own
 * slot (top 4 + own = 5): each of the 5 test conditions lists itself once,
 * at rank 5, among 5 x 5 candidate rows. */
static void check_own_slot_retrieval(const char *run, const char *tag, const char *extra) {
    char args[16384], pred[4096], tsv[4096];
    snprintf(pred, sizeof pred, "%s/%s_pred.h5ad", dir, tag);
    snprintf(tsv, sizeof tsv, "%s/%s_RETRIEVAL.tsv", dir, tag);
    snprintf(args, sizeof args, "predict --run %s %s --out %s --retrieval %s", run, extra, pred, tsv);
    CHECK_INT(ptrag(args, NULL), 0);
    int lines = 0;
    CHECK_INT(retrieval_self_rows(tsv, 5, &lines), 5);
    CHECK_INT(lines, 1 + 5 * 5);
}

static void test_ptrag_and_rag_train_predict_explain(void) {
    char args[16384], run[4096], pred[4096], tsv[4096];
    const char *small = "--hidden 16 --layers 1 --heads 2 --head-dim 8 --mlp 32 --set-size 16 --batch 4 --val-every 10 "
                        "--top-k 4 --steps 20";
    const char *kinds[] = {"ptrag", "rag"};
    for (int k = 0; k < 2; k++) {
        snprintf(run, sizeof run, "%s/%s", dir, kinds[k]);
        snprintf(args, sizeof args, "train %s --model %s %s --out %s", data_flags(), kinds[k], small, run);
        CHECK_INT(ptrag(args, NULL), 0);
        snprintf(pred, sizeof pred, "%s/%s_pred.h5ad", dir, kinds[k]);
        snprintf(tsv, sizeof tsv, "%s/%s_RETRIEVAL.tsv", dir, kinds[k]);
        snprintf(args, sizeof args, "predict --run %s --out %s --retrieval %s", run, pred, tsv);
        CHECK_INT(ptrag(args, NULL), 0);
        /* 5 test conditions x 4 candidates + header; never the own perturbation. */
        int lines = 0;
        CHECK_INT(retrieval_self_rows(tsv, 0, &lines), 0);
        CHECK_INT(lines, 1 + 5 * 4);
    }
    snprintf(run, sizeof run, "%s/ptrag", dir);
    snprintf(args, sizeof args, "explain --run %s --perturbation MAPK1 --cell-type A172", run);
    CHECK_INT(ptrag(args, NULL), 0);
    snprintf(args, sizeof args, "explain --run %s --perturbation NOPE --cell-type A172", run);
    CHECK_INT(ptrag(args, NULL), 1);
}

/* PT-RAG with the own-perturbation slot: K = top_k + 1 candidates, the last
 * one the query itself (every A172 test perturbation is measured in another
 * cell type) with cosine 1; the run's threshold.txt names best.ckpt's digest
 * and a keep_threshold in (0, 1), and predict --selection threshold applies
 * it to that checkpoint only. */
static void test_own_slot_and_calibrated_threshold(void) {
    char args[16384], run[4096], path[4096];
    snprintf(run, sizeof run, "%s/own", dir);
    snprintf(args, sizeof args,
             "train %s --model ptrag --hidden 16 --layers 1 --heads 2 --head-dim 8 --mlp 32 --set-size 16 --batch 4 "
             "--val-every 10 --top-k 4 --steps 20 --own-other-celltypes on --out %s",
             data_flags(), run);
    CHECK_INT(ptrag(args, NULL), 0);
    check_own_slot_retrieval(run, "own", "--selection threshold");
    snprintf(path, sizeof path, "%s/threshold.txt", run);
    char *th = slurp(path);
    CHECK(th != NULL && strstr(th, "keep_threshold = ") && strstr(th, "checkpoint = "));
    free(th);
    double v = -1;
    ptrag_error err;
    snprintf(path, sizeof path, "%s/best.ckpt", run);
    CHECK_INT(ptrag_run_calibrated_threshold(run, path, &v, &err), 1);
    CHECK(v > 0 && v < 1);
    /* another checkpoint's file: no calibration applies */
    char last[4096];
    snprintf(last, sizeof last, "%s/last.ckpt", run);
    CHECK_INT(ptrag_run_calibrated_threshold(run, last, &v, &err), file_equal(path, last) ? 1 : 0);
}

/* Stage 1 by measured response is ptrag's default (config.txt says 0.75),
 * off with --evidence off or --faithful and refused without evidence; with
 * the own slot and the scorer features on, a run trains and predicts, and its
 * RETRIEVAL.tsv lists the query only in the own slot (rank K). */
static void test_response_retrieval_and_scorer_features(void) {
    char args[16384], run[4096], path[4096], errf[4096];
    const char *tiny = "--model ptrag --hidden 16 --layers 1 --heads 2 --head-dim 8 --mlp 32 --set-size 16 --batch 4 "
                       "--val-every 10 --top-k 4 --steps 20";
    snprintf(run, sizeof run, "%s/resp", dir);
    snprintf(args, sizeof args, "train %s %s --own-other-celltypes on --scorer-features on --out %s", data_flags(),
             tiny, run);
    CHECK_INT(ptrag(args, NULL), 0);
    snprintf(path, sizeof path, "%s/config.txt", run);
    char *cfg = slurp(path);
    CHECK(cfg && strstr(cfg, "response_retrieval = 0.75\n") && strstr(cfg, "scorer_features = true\n"));
    free(cfg);
    check_own_slot_retrieval(run, "resp", "");
    /* off without evidence, refused when asked for without it */
    snprintf(run, sizeof run, "%s/resp_off", dir);
    snprintf(args, sizeof args, "train %s %s --evidence off --steps 1 --out %s", data_flags(), tiny, run);
    CHECK_INT(ptrag(args, NULL), 0);
    snprintf(path, sizeof path, "%s/config.txt", run);
    cfg = slurp(path);
    CHECK(cfg && strstr(cfg, "response_retrieval = 0\n"));
    free(cfg);
    snprintf(errf, sizeof errf, "%s/resp_err.txt", dir);
    snprintf(run, sizeof run, "%s/resp_bad", dir);
    snprintf(args, sizeof args, "train %s %s --evidence off --response-retrieval 0.5 --out %s", data_flags(), tiny, run);
    CHECK(ptrag(args, errf) != 0);
    char *msg = slurp(errf);
    CHECK(msg && strstr(msg, "response_retrieval"));
    free(msg);
}

static void test_bad_inputs(void) {
    char args[16384], errf[4096], run[4096], *msg;
    snprintf(errf, sizeof errf, "%s/err.txt", dir);
    /* A run trained on the 500-gene PerturBench data cannot predict Datlinger's 2,000 genes. */
    snprintf(run, sizeof run, "%s/state_full", dir);
    snprintf(args, sizeof args, "predict --run %s --split %s/splits/datlinger_fewshot_stimulated.toml --out %s/x.h5ad",
             run, PTRAG_SHARED_DIR, dir);
    CHECK_INT(ptrag(args, errf), 1);
    msg = slurp(errf);
    CHECK_CONTAINS(msg, "genes");
    free(msg);
    /* A corrupted checkpoint is refused. */
    char ck[4096], copy[4096];
    snprintf(copy, sizeof copy, "%s/corrupt", dir);
    snprintf(args, sizeof args, "cp -r %s %s && printf 'XXXX' | dd of=%s/best.ckpt bs=1 seek=200 conv=notrunc 2>/dev/null",
             run, copy, copy);
    CHECK_INT(system(args), 0);
    snprintf(args, sizeof args, "predict --run %s --out %s/y.h5ad", copy, dir);
    CHECK_INT(ptrag(args, errf), 1);
    msg = slurp(errf);
    CHECK_CONTAINS(msg, "checksum");
    free(msg);
    snprintf(ck, sizeof ck, "%s/y.h5ad", dir);
    CHECK_MSG(!ptrag_path_exists(ck), "a failed predict left %s", ck);
    /* A split whose test set is empty. */
    char toml[4096];
    snprintf(toml, sizeof toml, "%s/empty_test.toml", dir);
    FILE *f = fopen(toml, "w");
    if (f) {
        fprintf(f, "[datasets]\npb = \"%s/data/perturbench_devel_4celltypes/devel.h5ad\"\n[training]\npb = \"train\"\n",
                PTRAG_SHARED_DIR);
        fclose(f);
    }
    snprintf(args, sizeof args, "train --split %s --embeddings %s --pert-col perturbation --control control --missing drop --model state "
             "--steps 2 --out %s/never", toml, emb, dir);
    CHECK_INT(ptrag(args, errf), 1);
    msg = slurp(errf);
    CHECK_CONTAINS(msg, "test");
    free(msg);
    /* A diverging run stops, naming the step, and keeps its last good checkpoint. */
    snprintf(args, sizeof args, "train %s --model state --hidden 8 --layers 1 --heads 1 --head-dim 8 --mlp 8 "
             "--set-size 8 --batch 2 --lr 1e30 --clip 0 --steps 50 --val-every 1 --out %s/diverge", data_flags(), dir);
    int rc = ptrag(args, errf);
    msg = slurp(errf);
    if (rc != 0) {
        CHECK_CONTAINS(msg, "diverged");
        snprintf(ck, sizeof ck, "%s/diverge/last.ckpt", dir);
        CHECK_MSG(ptrag_path_exists(ck), "no last good checkpoint kept");
    } else {
        printf("note: lr 1e30 did not diverge within 50 steps\n");
    }
    free(msg);
}

int main(void) {
    snprintf(split, sizeof split, "%s/splits/perturbench_fewshot_a172.toml", PTRAG_SHARED_DIR);
    snprintf(emb, sizeof emb, "%s/data/go_svd128_embeddings/go_svd128_perturbation_genes.tsv", PTRAG_SHARED_DIR);
    if (!ptrag_path_exists(split)) {
        printf("SKIP: %s not found\n", split);
        return 77;
    }
    snprintf(dir, sizeof dir, "%s", tl_tmp("test_e2e_train"));
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    if (system(cmd) != 0) return 1;
    RUN(test_state_trains_and_resumes_bit_identically);
    RUN(test_predict_writes_files_anndata_reads);
    RUN(test_bf16_resumes_bit_identically_on_any_thread_count);
    RUN(test_ptrag_and_rag_train_predict_explain);
    RUN(test_own_slot_and_calibrated_threshold);
    RUN(test_response_retrieval_and_scorer_features);
    RUN(test_bad_inputs);
    return TEST_SUMMARY();
}
