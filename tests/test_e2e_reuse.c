/* End to end on the A172 split: runs are never stale and never lost.
 * - experiment: an unchanged re-run reuses the run, its predictions and
 *   scores (the checkpoint and prediction are not rewritten); changed
 *   --steps/--lr stop with a message naming them and leave the old run;
 *   --overwrite retrains, and the new table (and its settings digest)
 *   differs from the first; a prediction replaced by hand, or a checkpoint
 *   changed by `train --resume`, is predicted and scored again.
 * - train: a reused --out is refused (offering --resume and --overwrite);
 *   --resume with flags it would not apply is refused, naming them;
 *   --overwrite with another --model leaves no file of the old run (not even
 *   the p.h5ad an earlier predict wrote there). */
#define _POSIX_C_SOURCE 200809L
#pragma GCC diagnostic ignored "-Wformat-truncation"
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ptrag.h"
#include "testlib.h"

static char split[4096], emb[4096], dir[4096], errf[4200];

/* The model is tiny so that every command takes well under a second. */
static const char *common(void) {
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "--split %s --pert-col perturbation --control control --preset small --threads 1 --hidden 16 "
             "--layers 1 --heads 2 --head-dim 8 --mlp 32 --set-size 16 --batch 4 --val-every 10 --quiet",
             split);
    return buf;
}

/* Runs a ptrag command line; stderr goes to errf, stdout to /dev/null. */
static int ptrag(const char *args) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 %s %s >/dev/null 2>%s", PTRAG_CLI, args, errf);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *slurp(const char *path) {
    char *text = NULL;
    if (ptrag_read_file(path, &text, NULL, NULL)) return NULL;
    return text;
}

/* Modification time (ns) of a file, or -1. */
static long long mtime_ns(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    return (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
}

/* Field `col` (0-based) of the row of results.csv whose first field is `row`. */
static void csv_field(const char *csv_path, const char *row, int col, char *out, size_t n) {
    out[0] = '\0';
    char *t = slurp(csv_path);
    if (!t) return;
    for (char *line = strtok(t, "\n"); line; line = strtok(NULL, "\n")) {
        size_t rl = strlen(row);
        if (strncmp(line, row, rl) != 0 || line[rl] != ',') continue;
        char *f = line;
        for (int c = 0; c < col && f; c++) f = strchr(f, ',') ? strchr(f, ',') + 1 : NULL;
        if (f) snprintf(out, n, "%.*s", (int)strcspn(f, ","), f);
    }
    free(t);
}

/* The settings digest results.csv names for runs/state-seed42. */
static void run_digest(const char *csv, char *out, size_t n) {
    static const char tag[] = "runs/state-seed42 (settings ";
    char *t = slurp(csv);
    const char *at = t ? strstr(t, tag) : NULL;
    snprintf(out, n, "%.8s", at ? at + strlen(tag) : "");
    free(t);
}

static void test_experiment_reuses_only_identical_runs(void) {
    char args[16384], x[4200], ckpt[4300], pred[4300], csv[4300], cfg[4300];
    snprintf(x, sizeof x, "%s/exp", dir);
    snprintf(ckpt, sizeof ckpt, "%s/runs/state-seed42/best.ckpt", x);
    snprintf(pred, sizeof pred, "%s/runs/state-seed42/pred.h5ad", x);
    snprintf(csv, sizeof csv, "%s/results.csv", x);
    snprintf(cfg, sizeof cfg, "%s/runs/state-seed42/config.txt", x);
    const char *base = "--models state --seeds 1 --baselines control";
    snprintf(args, sizeof args, "experiment %s %s --steps 20 --out %s", common(), base, x);
    CHECK_INT(ptrag(args), 0);
    char p1[64], src1[256], b0[64];
    csv_field(csv, "state", 1, p1, sizeof p1);
    csv_field(csv, "baseline: control", 1, b0, sizeof b0);
    char *text = slurp(csv);
    CHECK_CONTAINS(text, ",sources\n");
    CHECK_CONTAINS(text, "runs/state-seed42 (settings ");
    CHECK_CONTAINS(text, "baselines/control (settings ");
    free(text);
    CHECK_MSG(p1[0] != '\0', "no state row in %s", csv);
    run_digest(csv, src1, sizeof src1);
    char mdp[4300];
    snprintf(mdp, sizeof mdp, "%s/results.md", x);
    char *md = slurp(mdp);
    CHECK_CONTAINS(md, "Rows from");
    CHECK_CONTAINS(md, src1);
    free(md);

    /* 1. The same command again: reuses the run, its prediction and scores. */
    long long t_ckpt = mtime_ns(ckpt), t_pred = mtime_ns(pred);
    char *ck_bytes = slurp(ckpt);
    double t0 = ptrag_monotonic_seconds();
    CHECK_INT(ptrag(args), 0);
    double t_rerun = ptrag_monotonic_seconds() - t0;
    char *msg = slurp(errf);
    CHECK_CONTAINS(msg, "reusing ");
    CHECK_CONTAINS(msg, src1);
    free(msg);
    CHECK_MSG(mtime_ns(ckpt) == t_ckpt, "an unchanged re-run rewrote %s", ckpt);
    CHECK_MSG(mtime_ns(pred) == t_pred, "an unchanged re-run predicted again (%s rewritten)", pred);
    char p_again[64];
    csv_field(csv, "state", 1, p_again, sizeof p_again);
    CHECK_STR(p_again, p1);
    printf("unchanged re-run: %.2f s\n", t_rerun);

    /* 2. New --steps and --lr into the same --out: refused, naming both; the
     * old run is left as it was. */
    snprintf(args, sizeof args, "experiment %s %s --steps 40 --lr 3e-3 --out %s", common(), base, x);
    CHECK_INT(ptrag(args), 1);
    msg = slurp(errf);
    CHECK_CONTAINS(msg, "runs/state-seed42 holds another run");
    CHECK_CONTAINS(msg, "lr: 0.001 -> 0.003");
    CHECK_CONTAINS(msg, "steps: 20 -> 40");
    CHECK_CONTAINS(msg, "--overwrite");
    free(msg);
    char *ck_now = slurp(ckpt);
    CHECK_MSG(ck_bytes && ck_now && strcmp(ck_bytes, ck_now) == 0 && mtime_ns(ckpt) == t_ckpt,
              "a refused experiment touched the old checkpoint");
    free(ck_now);

    /* 3. --overwrite: trains anew with the asked settings; predictions and
     * scores follow the new checkpoint. */
    snprintf(args, sizeof args, "experiment %s %s --steps 40 --lr 3e-3 --out %s --overwrite", common(), base, x);
    CHECK_INT(ptrag(args), 0);
    msg = slurp(errf);
    CHECK_CONTAINS(msg, "will be retrained");
    free(msg);
    char *c = slurp(cfg);
    CHECK_CONTAINS(c, "lr = 0.003\n");
    CHECK_CONTAINS(c, "steps = 40\n");
    free(c);
    CHECK_MSG(mtime_ns(pred) != t_pred, "the prediction was not recomputed for the new checkpoint");
    char p2[64], src2[256];
    csv_field(csv, "state", 1, p2, sizeof p2);
    CHECK_MSG(strcmp(p1, p2) != 0, "the new table repeats the old pearson_delta %s", p1);
    run_digest(csv, src2, sizeof src2);
    CHECK_MSG(strcmp(src1, src2) != 0, "the settings digest in results.csv did not change (%s)", src1);
    /* The control baseline does not depend on the model: same score. */
    char b1[64];
    csv_field(csv, "baseline: control", 1, b1, sizeof b1);
    CHECK_MSG(b1[0] != '\0', "no baseline row");
    CHECK_STR(b1, b0);
    printf("pearson_delta state: %s (20 steps, lr 1e-3) -> %s (40 steps, lr 3e-3); control %s\n", p1, p2, b1);
    free(ck_bytes);

    /* 4. A prediction replaced behind the experiment's back is not trusted. */
    ptrag_write_file_atomic(pred, "stale", 5, NULL);
    snprintf(args, sizeof args, "experiment %s %s --steps 40 --lr 3e-3 --out %s", common(), base, x);
    CHECK_INT(ptrag(args), 0);
    char p3[64];
    csv_field(csv, "state", 1, p3, sizeof p3);
    CHECK_STR(p3, p2);
    struct stat st;
    CHECK(stat(pred, &st) == 0 && st.st_size > 5);

    /* 5. The run resumed by hand to 60 steps is the run a 60-step experiment
     * asks for (resume is bit-identical, and the record says steps = 60): it
     * is reused, not retrained, but its new checkpoint is predicted and
     * scored again. */
    long long t_pred2 = mtime_ns(pred);
    snprintf(args, sizeof args, "train --resume %s/runs/state-seed42 --steps 60 --quiet", x);
    CHECK_INT(ptrag(args), 0);
    long long t_ckpt60 = mtime_ns(ckpt);
    snprintf(args, sizeof args, "experiment %s %s --steps 60 --lr 3e-3 --out %s", common(), base, x);
    CHECK_INT(ptrag(args), 0);
    msg = slurp(errf);
    CHECK_CONTAINS(msg, "reusing ");
    CHECK_CONTAINS(msg, "60 steps");
    free(msg);
    CHECK_MSG(mtime_ns(ckpt) == t_ckpt60, "the experiment retrained a run it could reuse");
    CHECK_MSG(mtime_ns(pred) != t_pred2, "a new checkpoint did not get a new prediction");
    char p4[64];
    csv_field(csv, "state", 1, p4, sizeof p4);
    CHECK_MSG(strcmp(p4, p2) != 0, "60 steps scored like 40 steps (%s)", p4);
}

/* Each entry of `run` is named by its record; returns how many are not. */
static int unrecorded_files(const char *run, char *first, size_t n) {
    ptrag_run_record rec;
    if (ptrag_run_record_read(run, &rec, NULL)) return -1;
    DIR *d = opendir(run);
    int bad = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "record.txt") == 0) continue;
        int found = 0;
        for (int i = 0; i < rec.n_files; i++) found |= strcmp(rec.files[i].name, e->d_name) == 0;
        if (!found && !bad++) snprintf(first, n, "%s", e->d_name);
    }
    if (d) closedir(d);
    ptrag_run_record_free(&rec);
    return bad;
}

static void test_train_refuses_reused_out(void) {
    char args[16384], r[4200], p[4300], ckpt[4300], cfg[4300];
    snprintf(r, sizeof r, "%s/R", dir);
    snprintf(p, sizeof p, "%s/p.h5ad", r);
    snprintf(ckpt, sizeof ckpt, "%s/best.ckpt", r);
    snprintf(cfg, sizeof cfg, "%s/config.txt", r);
    snprintf(args, sizeof args, "train %s --model state --steps 20 --out %s", common(), r);
    CHECK_INT(ptrag(args), 0);
    snprintf(args, sizeof args, "predict --run %s --out %s", r, p);
    CHECK_INT(ptrag(args), 0);
    char first[256] = "";
    CHECK_INT(unrecorded_files(r, first, sizeof first), 0); /* p.h5ad, RETRIEVAL-less state run: all recorded */
    /* --threads is an execution setting of every command, never a result:
     * predict on 1 and on 2 threads writes the same bytes. */
    char p1[4300], p2[4300], cmp[9000];
    snprintf(p1, sizeof p1, "%s/p_threads1.h5ad", dir);
    snprintf(p2, sizeof p2, "%s/p_threads2.h5ad", dir);
    snprintf(args, sizeof args, "predict --run %s --out %s --threads 1", r, p1);
    CHECK_INT(ptrag(args), 0);
    snprintf(args, sizeof args, "predict --run %s --out %s --threads 2", r, p2);
    CHECK_INT(ptrag(args), 0);
    snprintf(cmp, sizeof cmp, "cmp -s %s %s", p1, p2);
    CHECK_MSG(system(cmp) == 0, "predict --threads 1 and --threads 2 wrote different files");
    snprintf(args, sizeof args, "predict --run %s --out %s --threads many", r, p1);
    CHECK_INT(ptrag(args), 2);
    long long t_ckpt = mtime_ns(ckpt);

    /* Another --model into the same --out: refused, offering the ways out. */
    snprintf(args, sizeof args, "train %s --embeddings %s --missing drop --model rag --steps 20 --out %s", common(),
             emb, r);
    CHECK_INT(ptrag(args), 1);
    char *msg = slurp(errf);
    CHECK_CONTAINS(msg, "already exists and is not empty");
    CHECK_CONTAINS(msg, "--resume");
    CHECK_CONTAINS(msg, "--overwrite");
    free(msg);
    CHECK(mtime_ns(ckpt) == t_ckpt);

    /* --resume with settings it would not apply: refused, naming them. */
    snprintf(args, sizeof args, "train --resume %s --steps 30 --lr 3e-3 --model rag --quiet", r);
    CHECK_INT(ptrag(args), 2);
    msg = slurp(errf);
    CHECK_CONTAINS(msg, "lr: 0.001 -> 0.003");
    CHECK_CONTAINS(msg, "model: state -> rag");
    free(msg);
    snprintf(args, sizeof args, "train --resume %s --steps 30 --split %s/splits/datlinger_fewshot_stimulated.toml --quiet",
             r, PTRAG_SHARED_DIR);
    CHECK_INT(ptrag(args), 2);
    msg = slurp(errf);
    CHECK_CONTAINS(msg, "--split");
    free(msg);
    CHECK(mtime_ns(ckpt) == t_ckpt);
    /* ... while --steps (and --threads) resume as before. */
    snprintf(args, sizeof args, "train --resume %s --steps 30 --threads 1 --quiet", r);
    CHECK_INT(ptrag(args), 0);
    char *rec = NULL;
    {
        char rp[4300];
        snprintf(rp, sizeof rp, "%s/record.txt", r);
        rec = slurp(rp);
    }
    CHECK_CONTAINS(rec, "setting.steps = 30\n");
    free(rec);

    /* --overwrite: the old run's files are deleted first, p.h5ad included. */
    snprintf(args, sizeof args, "train %s --embeddings %s --missing drop --model rag --steps 20 --out %s --overwrite",
             common(), emb, r);
    CHECK_INT(ptrag(args), 0);
    CHECK_MSG(!ptrag_path_exists(p), "--overwrite left the old run's %s", p);
    char *c = slurp(cfg);
    CHECK_CONTAINS(c, "model = rag\n");
    free(c);
    first[0] = '\0';
    CHECK_MSG(unrecorded_files(r, first, sizeof first) == 0, "%s/%s is not a file of the new run", r, first);
    char rp[4300];
    snprintf(rp, sizeof rp, "%s/record.txt", r);
    rec = slurp(rp);
    CHECK_CONTAINS(rec, "setting.model = rag\n");
    CHECK_MSG(rec && !strstr(rec, "p.h5ad"), "the new record still names the old p.h5ad");
    free(rec);
}

int main(void) {
    snprintf(split, sizeof split, "%s/splits/perturbench_fewshot_a172.toml", PTRAG_SHARED_DIR);
    snprintf(emb, sizeof emb, "%s/data/go_svd128_embeddings/go_svd128_perturbation_genes.tsv", PTRAG_SHARED_DIR);
    if (!ptrag_path_exists(split)) {
        printf("SKIP: %s not found\n", split);
        return 77;
    }
    snprintf(dir, sizeof dir, "%s", tl_tmp("test_e2e_reuse"));
    snprintf(errf, sizeof errf, "%s/err.txt", dir);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "rm -rf %s && mkdir -p %s", dir, dir);
    if (system(cmd) != 0) return 1;
    RUN(test_experiment_reuses_only_identical_runs);
    RUN(test_train_refuses_reused_out);
    return TEST_SUMMARY();
}
