/* ptrag simulate: same seed gives the same bytes; the truth agrees with
 * large-sample condition means (counts and log1p outputs, with batches); the
 * split files load; per-cell-type files; the truth predictor reproduces
 * paired control + true shift; bad options fail with clear errors. Sources
 * are small synthetic files written here, so the test runs in about a second. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ptrag.h"
#include "sim/sim_internal.h"
#include "testlib.h"

enum { SRC_G = 40, SRC_CTRL = 80, EMB_N = 24, EMB_D = 8 };

/* A raw-counts source: 2 cell types of SRC_CTRL controls plus a few perturbed cells. */
static const char *write_source(int as_log1p) {
    const char *path = tl_tmp(as_log1p ? "sim_src_log1p.h5ad" : "sim_src_counts.h5ad");
    long n = 2 * (SRC_CTRL + 5);
    float *x = calloc((size_t)n * SRC_G, sizeof *x);
    const char **ct = malloc((size_t)n * sizeof *ct), **pe = malloc((size_t)n * sizeof *pe);
    double *lib = malloc((size_t)n * sizeof *lib);
    char gnames[SRC_G][16];
    const char *gp[SRC_G];
    ptrag_rng r;
    ptrag_rng_seed(&r, 5);
    for (long i = 0; i < n; i++) {
        ct[i] = i < n / 2 ? "A" : "B";
        pe[i] = i % (SRC_CTRL + 5) < SRC_CTRL ? "control" : "KD";
        double total = 0;
        for (int g = 0; g < SRC_G; g++) {
            double m = 0.5 + 20.0 * (g % 7) / 6.0 * (i < n / 2 ? 1.0 : 0.7) * (0.5 + ptrag_rng_uniform(&r));
            /* crude overdispersed counts: Poisson of a jittered mean (via inversion) */
            double u = ptrag_rng_uniform(&r), p = exp(-m), c = p;
            long k = 0;
            while (u > c && k < 500) p *= m / (double)++k, c += p;
            x[i * SRC_G + g] = (float)k;
            total += (double)k;
        }
        lib[i] = total * 3.0; /* the file's library counts genes beyond these */
        if (as_log1p)
            for (int g = 0; g < SRC_G; g++) x[i * SRC_G + g] = (float)log1p(x[i * SRC_G + g] * 1e4 / lib[i]);
    }
    for (int g = 0; g < SRC_G; g++) {
        snprintf(gnames[g], sizeof gnames[g], "%s%d", g == 3 ? "E" : "SG", g == 3 ? 2 : g); /* E2 is measured */
        gp[g] = gnames[g];
    }
    ptrag_h5ad_writer *w;
    ptrag_error err;
    int rc = ptrag_h5ad_writer_new(path, n, SRC_G, &w, &err);
    if (!rc) rc = ptrag_h5ad_writer_set_x(w, x, 1, &err);
    if (!rc) rc = ptrag_h5ad_writer_set_var_names(w, gp, &err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_categorical(w, "cell_type", ct, &err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_categorical(w, "perturbation", pe, &err);
    if (!rc) rc = ptrag_h5ad_writer_add_obs_numeric(w, "ncounts", lib, &err);
    if (!rc) rc = ptrag_h5ad_writer_commit(w, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    ptrag_h5ad_writer_free(w);
    free(x), free(ct), free(pe), free(lib);
    return path;
}

/* EMB_N genes E0.. in 3 well-separated groups of directions. */
static const char *write_embeddings(void) {
    const char *path = tl_tmp("sim_emb.tsv");
    FILE *f = fopen(path, "w");
    ptrag_rng r;
    ptrag_rng_seed(&r, 9);
    for (int i = 0; i < EMB_N; i++) {
        fprintf(f, "E%d", i);
        for (int j = 0; j < EMB_D; j++) fprintf(f, "\t%.5f", (j == i % 3 ? 3.0 : 0.0) + 0.2 * ptrag_rng_normal(&r));
        fprintf(f, "\n");
    }
    fclose(f);
    return path;
}

static void base_opts(ptrag_sim_opts *o, const char *src, const char *emb, const char *out) {
    ptrag_sim_opts_default(o);
    o->source = src;
    o->embeddings = emb;
    o->out_dir = out;
    o->n_perts = 12;
    o->n_modules = 3;
    o->cells_per_pert = 20;
    o->n_controls = 50;
    o->threads = 1;
}

static int same_file(const char *a, const char *b) {
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    ptrag_error err;
    int same = ptrag_read_file(a, &x, &nx, &err) == 0 && ptrag_read_file(b, &y, &ny, &err) == 0 && nx == ny &&
               memcmp(x, y, nx) == 0;
    free(x), free(y);
    return same;
}

static void test_same_seed_same_bytes(void) {
    const char *src = write_source(0), *emb = write_embeddings();
    char d1[4096], d2[4096], d3[4096], a[4200], b[4200];
    snprintf(d1, sizeof d1, "%s", tl_tmp("sim_det1"));
    snprintf(d2, sizeof d2, "%s", tl_tmp("sim_det2"));
    snprintf(d3, sizeof d3, "%s", tl_tmp("sim_det3"));
    ptrag_sim_opts o;
    ptrag_error err;
    ptrag_sim_summary s;
    base_opts(&o, src, emb, d1);
    o.n_batches = 2;
    int rc = ptrag_simulate(&o, &s, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    o.out_dir = d2;
    o.threads = 2; /* per-cell random streams: the thread count changes nothing */
    CHECK(ptrag_simulate(&o, &s, &err) == 0);
    o.out_dir = d3;
    o.seed = 2;
    CHECK(ptrag_simulate(&o, &s, &err) == 0);
    const char *files[] = {"sim.h5ad", "truth.h5ad", "split_fewshot.toml", "split_zeroshot.toml", "simulate.txt"};
    for (int i = 0; i < 5; i++) {
        snprintf(a, sizeof a, "%s/%s", d1, files[i]);
        snprintf(b, sizeof b, "%s/%s", d2, files[i]);
        CHECK_MSG(same_file(a, b), "%s differs between two runs with one seed", files[i]);
    }
    snprintf(a, sizeof a, "%s/sim.h5ad", d1);
    snprintf(b, sizeof b, "%s/sim.h5ad", d3);
    CHECK_MSG(!same_file(a, b), "another seed gave the same cells");
    CHECK(s.n_cells > 2 * 50 + 12); /* controls plus at least one cell per condition */
    CHECK_INT(s.n_perts, 12);
    CHECK_INT(s.n_celltypes, 2);
    CHECK_STR(s.heldout, "A");
}

/* Observed mean shifts of many cells against the truth, gene by gene:
 * |observed - true| within 4.5 standard errors for nearly all entries. */
static void check_truth_vs_sample(int as_log1p, int batches) {
    const char *src = write_source(as_log1p), *emb = write_embeddings();
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s", tl_tmp(as_log1p ? "sim_big_log1p" : "sim_big_counts"));
    ptrag_sim_opts o;
    base_opts(&o, src, emb, dir);
    o.n_perts = 3;
    o.n_modules = 2;
    o.cells_per_pert = 3000;
    o.cells_spread = 0;
    o.n_controls = 3000;
    o.output_log1p = as_log1p;
    o.n_batches = batches;
    o.batch_sd = 0.3;
    o.silent_frac = 0;
    ptrag_error err;
    ptrag_sim_summary s;
    int rc = ptrag_simulate(&o, &s, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    snprintf(path, sizeof path, "%s/truth.h5ad", dir);
    ptrag_sim_truth *t;
    rc = ptrag_sim_truth_load(path, &t, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK_INT(t->n_cond, 2 * 3);
    CHECK_INT(t->log1p, as_log1p);
    snprintf(path, sizeof path, "%s/sim.h5ad", dir);
    ptrag_h5ad *h;
    CHECK(ptrag_h5ad_open(path, NULL, &h, &err) == 0);
    long n = ptrag_h5ad_n_obs(h), G = ptrag_h5ad_n_vars(h);
    CHECK_INT(G, SRC_G);
    float *x = malloc((size_t)n * G * sizeof *x);
    CHECK(ptrag_h5ad_read_block(h, 0, n, x, &err) == 0);
    ptrag_column ct, pe;
    CHECK(ptrag_h5ad_read_obs(h, "cell_type", &ct, &err) == 0);
    CHECK(ptrag_h5ad_read_obs(h, "gene", &pe, &err) == 0);
    /* per (cell type, label) sums and sums of squares */
    int nl = pe.n_categories, nct = ct.n_categories;
    double *s1 = calloc((size_t)nct * nl * G, sizeof *s1), *s2 = calloc((size_t)nct * nl * G, sizeof *s2);
    long *cnt = calloc((size_t)nct * nl, sizeof *cnt);
    for (long i = 0; i < n; i++) {
        size_t k = (size_t)ct.codes[i] * nl + (size_t)pe.codes[i];
        cnt[k]++;
        for (long g = 0; g < G; g++) {
            double v = x[i * G + g];
            s1[k * G + g] += v;
            s2[k * G + g] += v * v;
        }
    }
    int ctrl = ptrag_column_find(&pe, "non-targeting");
    CHECK(ctrl >= 0);
    long bad = 0, total = 0, nonzero = 0;
    double max_z = 0;
    for (long r = 0; r < t->n_cond; r++) {
        int c = ptrag_column_find(&ct, t->celltype[r]), p = ptrag_column_find(&pe, t->pert[r]);
        CHECK(c >= 0 && p >= 0);
        if (c < 0 || p < 0) continue;
        size_t kp = (size_t)c * nl + p, kc = (size_t)c * nl + ctrl;
        for (long g = 0; g < G; g++) {
            double mp = s1[kp * G + g] / cnt[kp], mc = s1[kc * G + g] / cnt[kc];
            double vp = s2[kp * G + g] / cnt[kp] - mp * mp, vc = s2[kc * G + g] / cnt[kc] - mc * mc;
            double se = sqrt(vp / cnt[kp] + vc / cnt[kc]) + 1e-9;
            double tr = t->shift[r * G + g], z = fabs(mp - mc - tr) / se;
            if (z > max_z) max_z = z;
            bad += z > 4.5;
            total++;
            nonzero += fabs(tr) > 5 * se;
        }
    }
    CHECK_MSG(bad <= total / 100, "%ld of %ld true shifts outside 4.5 standard errors (max z %.1f)", bad, total, max_z);
    CHECK_MSG(nonzero >= total / 10, "only %ld of %ld true shifts are clearly non-zero", nonzero, total);
    printf("  %s, %d batch(es): %ld shifts, max |z| %.2f, %ld clearly non-zero\n", as_log1p ? "log1p" : "counts",
           batches, total, max_z, nonzero);
    free(s1), free(s2), free(cnt), free(x);
    ptrag_column_free(&ct), ptrag_column_free(&pe);
    ptrag_h5ad_close(h);
    ptrag_sim_truth_free(t);
}

static void test_truth_counts(void) { check_truth_vs_sample(0, 1); }
static void test_truth_log1p_batches(void) { check_truth_vs_sample(1, 3); }

static void test_split_files_load(void) {
    const char *src = write_source(1), *emb = write_embeddings();
    char dir[4096], path[4200];
    snprintf(dir, sizeof dir, "%s", tl_tmp("sim_split"));
    ptrag_sim_opts o;
    base_opts(&o, src, emb, dir);
    o.n_celltypes = 3; /* a third, jittered copy: zero-shot gets a validation cell type */
    o.heldout = "B";
    ptrag_error err;
    ptrag_sim_summary s;
    int rc = ptrag_simulate(&o, &s, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    CHECK_STR(s.heldout, "B");
    CHECK_INT(s.n_test, 8); /* round(0.65 * 12) */
    CHECK_INT(s.n_val, 1);
    ptrag_dataset_opts dop;
    ptrag_dataset_opts_default(&dop);
    dop.labels_only = 1;
    ptrag_dataset *d;
    snprintf(path, sizeof path, "%s/split_fewshot.toml", dir);
    rc = ptrag_dataset_load(path, &dop, &d, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (!rc) {
        CHECK_INT(d->n_ct, 3);
        CHECK_INT(d->assign->n_conditions_split[PTRAG_SPLIT_TEST], 8);
        CHECK_INT(d->assign->n_conditions_split[PTRAG_SPLIT_VAL], 1);
        ptrag_dataset_free(d);
    }
    snprintf(path, sizeof path, "%s/split_zeroshot.toml", dir);
    rc = ptrag_dataset_load(path, &dop, &d, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (!rc) {
        CHECK_INT(d->assign->n_conditions_split[PTRAG_SPLIT_TEST], 12);
        CHECK_INT(d->assign->n_conditions_split[PTRAG_SPLIT_VAL], 12);
        ptrag_dataset_free(d);
    }
    /* one file per cell type: a folder dataset (for STATE; ptrag reads one file) */
    o.per_celltype_files = 1;
    snprintf(dir, sizeof dir, "%s", tl_tmp("sim_split_per_ct"));
    o.out_dir = dir;
    rc = ptrag_simulate(&o, &s, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    ptrag_split_spec *spec;
    snprintf(path, sizeof path, "%s/split_fewshot.toml", dir);
    rc = ptrag_split_load(path, &spec, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (!rc) {
        CHECK_INT(spec->n_datasets, 1);
        CHECK_INT(spec->datasets[0].n_files, 3);
        CHECK_INT(spec->n_fewshot, 1);
        CHECK_INT(spec->fewshot[0].n_test, 8);
        ptrag_split_spec_free(spec);
    }
    /* cell names continue across the files (A, then B) */
    ptrag_h5ad *ha, *hb;
    snprintf(path, sizeof path, "%s/data/A.h5ad", dir);
    CHECK(ptrag_h5ad_open(path, NULL, &ha, &err) == 0);
    snprintf(path, sizeof path, "%s/data/B.h5ad", dir);
    CHECK(ptrag_h5ad_open(path, NULL, &hb, &err) == 0);
    char want[32];
    snprintf(want, sizeof want, "%ld", ptrag_h5ad_n_obs(ha));
    CHECK_STR(ptrag_h5ad_obs_name(hb, 0), want);
    ptrag_h5ad_close(ha);
    ptrag_h5ad_close(hb);
}

/* The truth predictor: each predicted cell is its paired control + the true shift. */
static void test_truth_baseline(void) {
    const char *src = write_source(1), *emb = write_embeddings();
    char dir[4096], split[4200], truth[4200], pred[4200], real[4200];
    snprintf(dir, sizeof dir, "%s", tl_tmp("sim_tb"));
    ptrag_sim_opts o;
    base_opts(&o, src, emb, dir);
    ptrag_error err;
    ptrag_sim_summary s;
    int rc = ptrag_simulate(&o, &s, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    snprintf(split, sizeof split, "%s/split_fewshot.toml", dir);
    snprintf(truth, sizeof truth, "%s/truth.h5ad", dir);
    snprintf(pred, sizeof pred, "%s/pred.h5ad", dir);
    snprintf(real, sizeof real, "%s/real.h5ad", dir);
    ptrag_dataset_opts dop;
    ptrag_dataset_opts_default(&dop);
    ptrag_dataset *d;
    rc = ptrag_dataset_load(split, &dop, &d, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    if (rc) return;
    for (int pairing = 0; pairing < PTRAG_PAIRING_COUNT; pairing++) {
        ptrag_pred_plan_opts po;
        ptrag_pred_plan_opts_default(&po);
        po.set_size = 16;
        po.pairing = pairing;
        rc = ptrag_truth_baseline_write(d, truth, &po, pred, real, &err);
        CHECK_MSG(rc == 0, "%s", err.msg);
        ptrag_pred_plan plan;
        ptrag_sim_truth *t;
        CHECK(ptrag_pred_plan_build(d, &po, &plan, &err) == 0);
        CHECK(ptrag_sim_truth_load(truth, &t, &err) == 0);
        ptrag_h5ad *h;
        CHECK(ptrag_h5ad_open(pred, NULL, &h, &err) == 0);
        long G = d->n_genes;
        float *p = malloc((size_t)plan.n_cells * G * sizeof *p);
        CHECK(ptrag_h5ad_read_block(h, 0, plan.n_cells, p, &err) == 0);
        double max_err = 0;
        long checked = 0;
        for (long sidx = 0; sidx < plan.n_sets; sidx++) {
            long row = plan.set_is_control[sidx] ? -1
                       : ptrag_sim_truth_find(t, d->ct_names[plan.set_ct[sidx]], d->pert_names[plan.set_pert[sidx]]);
            for (long i = plan.set_start[sidx]; i < plan.set_start[sidx + 1]; i++) {
                const float *x = ptrag_dataset_row(d, plan.control_rows[i]);
                for (long g = 0; g < G; g++) {
                    double want = x[g] + (row >= 0 ? t->shift[row * G + g] : 0.0);
                    if (want < 0) want = 0;
                    double e = fabs(p[i * G + g] - want);
                    if (e > max_err) max_err = e;
                    checked++;
                }
            }
        }
        CHECK(checked > 0);
        CHECK_MSG(max_err < 1e-5, "truth prediction differs from control + shift by %g", max_err);
        free(p);
        ptrag_h5ad_close(h);
        ptrag_sim_truth_free(t);
        ptrag_pred_plan_free(&plan);
    }
    ptrag_dataset_free(d);
}

static void test_retrieval_truth_score(void) {
    /* modules: P0,P1,P2 in 0; P3,P4 in 1 */
    char *ct[5] = {"A", "A", "A", "A", "A"}, *pe[5] = {"P0", "P1", "P2", "P3", "P4"};
    int mod[5] = {0, 0, 0, 1, 1};
    ptrag_sim_truth t = {0};
    t.n_cond = 5;
    t.celltype = ct;
    t.pert = pe;
    t.module = mod;
    const char *q[2] = {"P0", "P3"};
    const char *cand[6] = {"P1", "P3", "P2", /* P0: 2 of 3 same */ "P0", "P4", NULL /* P3: 1 of 2 */};
    double keep[6] = {0.9, 0.1, 0.5, 0.2, 0.8, NAN};
    ptrag_retrieval_truth r;
    ptrag_error err;
    CHECK(ptrag_retrieval_truth_score(&t, q, 2, cand, keep, 3, &r, &err) == 0);
    CHECK_INT(r.n_queries, 2);
    CHECK_NEAR(r.stage1_precision, (2.0 / 3 + 1.0 / 2) / 2, 1e-12);
    CHECK_NEAR(r.stage2_precision, ((0.9 + 0.5) / 1.5 + 0.8 / 1.0) / 2, 1e-12);
    CHECK_NEAR(r.stage2_auc, 1.0, 1e-12); /* same-module candidates always kept more */
    CHECK_INT(r.n_auc, 2);
    keep[0] = 0.05; /* P0: now one same-module candidate below the other-module one */
    CHECK(ptrag_retrieval_truth_score(&t, q, 2, cand, keep, 3, &r, &err) == 0);
    CHECK_NEAR(r.stage2_auc, (0.5 + 1.0) / 2, 1e-12);
    CHECK(ptrag_retrieval_truth_score(&t, q, 2, cand, NULL, 3, &r, &err) == 0);
    CHECK(isnan(r.stage2_auc) && isnan(r.stage2_precision));
}

static int run_cli(const char *args, char *out, size_t n) {
    char cmd[20000];
    snprintf(cmd, sizeof cmd, "%s %s 2>&1", PTRAG_CLI, args);
    FILE *p = popen(cmd, "r");
    size_t k = fread(out, 1, n - 1, p);
    out[k] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_bad_flags(void) {
    char src[4096], emb[4096]; /* tl_tmp's buffers rotate: keep copies */
    snprintf(src, sizeof src, "%s", write_source(0));
    snprintf(emb, sizeof emb, "%s", write_embeddings());
    char args[16384], out[4096];
    CHECK_INT(run_cli("simulate --embeddings x --out y", out, sizeof out), 2);
    CHECK_CONTAINS(out, "--source");
    snprintf(args, sizeof args, "simulate --source %s --embeddings %s --out %s --perts 1", src, emb, tl_tmp("sim_bad"));
    CHECK_INT(run_cli(args, out, sizeof out), 2);
    CHECK_CONTAINS(out, "--perts");
    snprintf(args, sizeof args, "simulate --source %s --embeddings %s --out %s --output tpm", src, emb, tl_tmp("sim_bad"));
    CHECK_INT(run_cli(args, out, sizeof out), 2);
    CHECK_CONTAINS(out, "log1p or counts");
    snprintf(args, sizeof args, "simulate --source %s --embeddings %s --out %s --perts 100", src, emb, tl_tmp("sim_bad"));
    CHECK_INT(run_cli(args, out, sizeof out), 1);
    CHECK_CONTAINS(out, "only 24 genes");
    snprintf(args, sizeof args, "simulate --source %s --embeddings %s --out %s --perts 10 --modules 11", src, emb,
             tl_tmp("sim_bad"));
    CHECK_INT(run_cli(args, out, sizeof out), 1);
    CHECK_CONTAINS(out, "--modules");
    snprintf(args, sizeof args, "simulate --source %s --embeddings %s --out %s --perts 10 --modules 3 --heldout Z", src,
             emb, tl_tmp("sim_bad"));
    CHECK_INT(run_cli(args, out, sizeof out), 1);
    CHECK_CONTAINS(out, "have: A, B");
    snprintf(args, sizeof args, "simulate --source %s --embeddings %s --out %s --source-control nope", src, emb,
             tl_tmp("sim_bad"));
    CHECK_INT(run_cli(args, out, sizeof out), 1);
    CHECK_CONTAINS(out, "no control label 'nope'");
    snprintf(args, sizeof args, "simulate --source %s --embeddings %s --out %s --perts 12 --modules 3 --cells 5 --quiet", src,
             emb, tl_tmp("sim_cli_ok"));
    CHECK_INT(run_cli(args, out, sizeof out), 0);
    CHECK_CONTAINS(out, "12 perturbations in 3 modules");
    char lsrc[4096];
    snprintf(lsrc, sizeof lsrc, "%s", write_source(1));
    snprintf(args, sizeof args, "simulate --source %s --embeddings %s --out %s --source-libsize-col nope", lsrc, emb,
             tl_tmp("sim_bad"));
    CHECK_INT(run_cli(args, out, sizeof out), 1);
    CHECK_CONTAINS(out, "nope");
    snprintf(args, sizeof args,
             "simulate --source %s --embeddings %s --out %s --source-libsize-col ncounts --perts 12 --modules 3 --quiet",
             lsrc, emb, tl_tmp("sim_cli_lib"));
    CHECK_INT(run_cli(args, out, sizeof out), 0);
    CHECK_INT(run_cli("baseline --kind truth --split x.toml --out y.h5ad", out, sizeof out), 2);
    CHECK_CONTAINS(out, "--truth FILE");
    /* a file that is not a truth file */
    snprintf(args, sizeof args, "baseline --kind truth --truth %s --split %s/split_fewshot.toml --out %s", src,
             tl_tmp("sim_cli_ok"), tl_tmp("sim_cli_ok/p.h5ad"));
    CHECK_INT(run_cli(args, out, sizeof out), 1);
    CHECK_CONTAINS(out, "is not a ptrag simulate truth file");
}

/* The negative-binomial sampler (gamma-Poisson; Poisson by inversion and PTRS)
 * has the mean and variance it should, and E[log1p(k y)] matches a Monte Carlo. */
static void test_nb_sampler(void) {
    const double cases[][2] = {{0.3, 0.5}, {5, 0}, {40, 0}, {300, 0}, {200, 0.1}, {8, 2.0}, {1000, 0.05}};
    ptrag_rng r;
    ptrag_rng_seed(&r, 3);
    enum { N = 40000 };
    for (int c = 0; c < 7; c++) {
        double m = cases[c][0], phi = cases[c][1], k = 0.7;
        double s1 = 0, s2 = 0, sl = 0;
        for (int i = 0; i < N; i++) {
            double y = (double)ptrag_sim_nb(&r, m, phi);
            s1 += y, s2 += y * y, sl += log1p(k * y);
        }
        double mean = s1 / N, var = s2 / N - mean * mean, want_var = m + phi * m * m;
        CHECK_MSG(fabs(mean - m) < 5 * sqrt(want_var / N), "NB(%g, %g): mean %g", m, phi, mean);
        CHECK_MSG(fabs(var / want_var - 1) < 0.08 + 6 * sqrt(2.0 / N) * (1 + 2 * phi), "NB(%g, %g): var %g, want %g",
                  m, phi, var, want_var);
        double e = ptrag_sim_nb_expect_log1p(m, phi, k);
        CHECK_MSG(fabs(e - sl / N) < 0.02 * (1 + e), "NB(%g, %g): E log1p(ky) %g, Monte Carlo %g", m, phi, e, sl / N);
    }
    CHECK_NEAR(ptrag_sim_nb_expect_log1p(0, 0.5, 1), 0.0, 0);
    CHECK_INT(ptrag_sim_nb(&r, 0, 0.5), 0);
}

int main(void) {
    RUN(test_nb_sampler);
    RUN(test_same_seed_same_bytes);
    RUN(test_truth_counts);
    RUN(test_truth_log1p_batches);
    RUN(test_split_files_load);
    RUN(test_truth_baseline);
    RUN(test_retrieval_truth_score);
    RUN(test_bad_flags);
    return TEST_SUMMARY();
}
