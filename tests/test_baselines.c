/* Baselines as prediction files, on the real PerturBench few-shot A172 split:
 * row layout identical to the real file, exact control copies, pert-mean
 * against a hand computation, linear limits (huge ridge = pert-mean, tiny
 * ridge interpolates training shifts), scoring by ptrag_eval_files, and bad
 * input. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ptrag.h"
#include "ptrag/baselines.h"
#include "ptrag/dataset.h"
#include "ptrag/eval_files.h"
#include "ptrag/pred_plan.h"
#include "testlib.h"

#define SPLIT "splits/perturbench_fewshot_a172.toml"
#define DATA "data/perturbench_devel_4celltypes/devel.h5ad"
#define EMB "data/go_svd128_embeddings/go_svd128_perturbation_genes.tsv"

/* Held out for A172 in the split file (val + test). */
static const char *const held_out[] = {"MAP4K5", "SGK1", "MAP2K3", "MAP3K21", "MAPK1", "PLK4", "TGFBR2"};

static ptrag_dataset *load(const char *split, const char *emb) {
    ptrag_dataset_opts o;
    ptrag_dataset_opts_default(&o);
    o.pert_col = "perturbation";
    o.control = "control";
    o.embeddings = emb;
    o.missing = PTRAG_MISSING_DROP; /* IER5L (a K562 training gene) has no GO vector */
    ptrag_dataset *d = NULL;
    ptrag_error err;
    int rc = ptrag_dataset_load(split, &o, &d, &err);
    CHECK_MSG(rc == 0, "%s", err.msg);
    return d;
}

static int is_held_out(const char *p) {
    for (size_t i = 0; i < sizeof held_out / sizeof held_out[0]; i++)
        if (strcmp(p, held_out[i]) == 0) return 1;
    return 0;
}

static void plan_opts(ptrag_pred_plan_opts *o, int pairing) {
    ptrag_pred_plan_opts_default(o);
    o->pairing = pairing;
}

static void eval_opts(ptrag_eval_files_opts *o) {
    ptrag_eval_files_opts_default(o);
    o->pert_col = "perturbation";
    o->control = "control";
    o->celltype_col = "cell_type";
}

/* Files of every kind with random pairing: planned row count, obs labels
 * equal to the real file row by row, scored by ptrag_eval_files with finite
 * metrics. */
static void test_files_line_up_and_score(void) {
    ptrag_dataset *d = load(tl_shared(SPLIT), tl_shared(EMB));
    if (!d) return;
    ptrag_error err;
    const char *real = tl_tmp("test_baselines_real.h5ad");
    char ref[4096];
    snprintf(ref, sizeof ref, "%s", tl_tmp("test_baselines_pert_ref.h5ad"));
    CHECK_INT(ptrag_pert_reference_write(d, ref, &err), 0);
    for (int k = 0; k < PTRAG_BASELINE_COUNT; k++) {
        char pred[4096], name[128];
        snprintf(name, sizeof name, "test_baselines_%s.h5ad", ptrag_baseline_name(k));
        snprintf(pred, sizeof pred, "%s", tl_tmp(name));
        ptrag_baseline_opts bo;
        ptrag_baseline_opts_default(&bo);
        bo.kind = k;
        ptrag_pred_plan_opts po;
        plan_opts(&po, PTRAG_PAIRING_RANDOM);
        int rc = ptrag_baseline_write(d, &bo, &po, pred, k == 0 ? real : NULL, &err);
        CHECK_MSG(rc == 0, "%s", err.msg);
        if (rc) continue;
        ptrag_h5ad *hp = NULL, *hr = NULL;
        CHECK_INT(ptrag_h5ad_open(pred, "X", &hp, &err), 0);
        CHECK_INT(ptrag_h5ad_open(real, "X", &hr, &err), 0);
        if (!hp || !hr) {
            ptrag_h5ad_close(hp);
            ptrag_h5ad_close(hr);
            continue;
        }
        CHECK_INT(ptrag_h5ad_n_obs(hp), 409 + 100);
        CHECK_INT(ptrag_h5ad_n_obs(hr), 409 + 100);
        CHECK_INT(ptrag_h5ad_n_vars(hp), d->n_genes);
        const char *cols[2] = {"perturbation", "cell_type"};
        for (int c = 0; c < 2; c++) {
            ptrag_column a, b;
            CHECK_INT(ptrag_h5ad_read_obs(hp, cols[c], &a, &err), 0);
            CHECK_INT(ptrag_h5ad_read_obs(hr, cols[c], &b, &err), 0);
            long mismatches = 0, n_ctrl = 0;
            for (long i = 0; i < a.n && i < b.n; i++) {
                mismatches += strcmp(ptrag_column_label(&a, i), ptrag_column_label(&b, i)) != 0;
                n_ctrl += strcmp(ptrag_column_label(&a, i), "control") == 0;
                if (c == 1) CHECK_STR(ptrag_column_label(&a, i), "A172");
            }
            CHECK_INT(a.n, b.n);
            CHECK_INT(mismatches, 0);
            if (c == 0) CHECK_INT(n_ctrl, 100);
            ptrag_column_free(&a);
            ptrag_column_free(&b);
        }
        ptrag_h5ad_close(hp);
        ptrag_h5ad_close(hr);

        ptrag_eval_files_opts eo;
        eval_opts(&eo);
        eo.pert_ref = ref;
        eo.metrics.skip_de = k != PTRAG_BASELINE_CONTROL; /* not checked below; keeps the test fast */
        ptrag_eval_result res;
        rc = ptrag_eval_files(pred, real, &eo, &res, &err);
        CHECK_MSG(rc == 0, "%s", err.msg);
        if (rc) continue;
        CHECK_INT(res.n_conditions, 5);
        /* context-mean predicts the reference itself: a constant shift from it. */
        if (k == PTRAG_BASELINE_CONTEXT_MEAN) CHECK_NEAR(res.summary[PTRAG_M_PEARSON_DELTA_PERT].mean, 0, 0);
        else CHECK(isfinite(res.summary[PTRAG_M_PEARSON_DELTA_PERT].mean) &&
                   res.summary[PTRAG_M_PEARSON_DELTA_PERT].mean != 0);
        CHECK_INT(res.summary[PTRAG_M_PEARSON_DELTA_PERT].n, 5);
        const int keys[] = {PTRAG_M_PEARSON_DELTA, PTRAG_M_MSE, PTRAG_M_MAE, PTRAG_M_DISCRIMINATION_L1,
                            PTRAG_M_W1_PCA, PTRAG_M_ENERGY_GENES};
        for (size_t m = 0; m < sizeof keys / sizeof keys[0]; m++) {
            CHECK_MSG(isfinite(res.summary[keys[m]].mean), "%s of %s", ptrag_metric_info_of(keys[m])->name,
                      ptrag_baseline_name(k));
            CHECK_INT(res.summary[keys[m]].n, 5);
        }
        CHECK(res.summary[PTRAG_M_PEARSON_DELTA].mean <= 1.0);
        ptrag_eval_result_free(&res);
        if (k == PTRAG_BASELINE_CONTROL) {
            /* Without a reference the metric is NaN and nothing else changes. */
            eo.pert_ref = NULL;
            CHECK_INT(ptrag_eval_files(pred, real, &eo, &res, &err), 0);
            CHECK(isnan(res.summary[PTRAG_M_PEARSON_DELTA_PERT].mean));
            ptrag_eval_result_free(&res);
        }
    }
    /* The split-half ceiling of the real file: finite, reproducible, < 1. */
    ptrag_eval_files_opts eo;
    eval_opts(&eo);
    eo.pert_ref = ref;
    eo.metrics.skip_de = 1;
    ptrag_metric_summary c1[PTRAG_M_COUNT], c2[PTRAG_M_COUNT];
    CHECK_INT(ptrag_eval_files_ceiling(real, &eo, 2, 42, c1, &err), 0);
    CHECK_INT(ptrag_eval_files_ceiling(real, &eo, 2, 42, c2, &err), 0);
    CHECK(isfinite(c1[PTRAG_M_PEARSON_DELTA].mean) && c1[PTRAG_M_PEARSON_DELTA].mean < 0.9);
    CHECK(isfinite(c1[PTRAG_M_PEARSON_DELTA_PERT].mean));
    CHECK_INT(c1[PTRAG_M_PEARSON_DELTA].n, 2);
    CHECK(c1[PTRAG_M_MSE].mean == c2[PTRAG_M_MSE].mean && c1[PTRAG_M_MSE].mean > 0);
    ptrag_dataset_free(d);
}

/* The control baseline copies the paired control cells exactly; the other
 * shift kinds move them by their delta (clipped at 0); the profile kinds
 * write the real control cells and one constant profile per condition. Both
 * pairings. */
static void test_rows_are_paired_controls_plus_delta(void) {
    ptrag_dataset *d = load(tl_shared(SPLIT), tl_shared(EMB));
    if (!d) return;
    for (int pairing = 0; pairing < PTRAG_PAIRING_COUNT; pairing++) {
    ptrag_error err;
    ptrag_pred_plan plan;
    ptrag_pred_plan_opts po;
    plan_opts(&po, pairing);
    CHECK_INT(ptrag_pred_plan_build(d, &po, &plan, &err), 0);
    CHECK_INT(plan.n_cells, pairing == PTRAG_PAIRING_RANDOM ? 509 : 600);
    CHECK_INT(plan.n_real, 509);
    long g = d->n_genes;
    float *pred = malloc((size_t)plan.n_cells * (size_t)g * sizeof *pred);
    float *delta = malloc((size_t)g * sizeof *delta);
    for (int k = 0; k < PTRAG_BASELINE_COUNT; k++) {
        ptrag_baseline_opts bo;
        ptrag_baseline_opts_default(&bo);
        bo.kind = k;
        ptrag_baseline *b = NULL;
        CHECK_INT(ptrag_baseline_fit(d, &bo, &b, &err), 0);
        if (!b) continue;
        CHECK_INT(ptrag_baseline_predict(b, &plan, pred, &err), 0);
        long bad = 0, moved = 0;
        int profile = ptrag_baseline_is_profile(k);
        for (long s = 0; s < plan.n_sets; s++) {
            CHECK_INT(ptrag_baseline_delta(b, plan.set_ct[s], plan.set_pert[s], delta, &err), 0);
            const float *first = pred + (size_t)plan.set_start[s] * g;
            for (long i = plan.set_start[s]; i < plan.set_start[s + 1]; i++) {
                const float *x = ptrag_dataset_row(d, plan.control_rows[i]);
                const float *real = ptrag_dataset_row(d, plan.target_rows[i]);
                for (long j = 0; j < g; j++) {
                    float want = plan.set_is_control[s] ? (profile ? real[j] : x[j])
                                 : profile              ? first[j]
                                                        : fmaxf(0.0f, x[j] + delta[j]);
                    bad += pred[(size_t)i * g + j] != want;
                    moved += pred[(size_t)i * g + j] != x[j];
                }
            }
        }
        CHECK_MSG(bad == 0, "%s, %s pairing: %ld values off", ptrag_baseline_name(k), ptrag_pairing_name(pairing), bad);
        if (k == PTRAG_BASELINE_CONTROL) CHECK_INT(moved, 0);
        else CHECK(moved > plan.n_cells); /* the shifts are not all zero */
        ptrag_baseline_free(b);
    }
    free(pred);
    free(delta);
    ptrag_pred_plan_free(&plan);
    }
    ptrag_dataset_free(d);
}

/* Pool pairing: every condition of a cell type is predicted from the same
 * control cells (the whole pool, same order, same sets), the control sets
 * are the pool itself, and the real cells are those of random pairing. */
static void test_pool_pairing_same_controls(void) {
    ptrag_dataset *d = load(tl_shared(SPLIT), tl_shared(EMB));
    if (!d) return;
    ptrag_error err;
    ptrag_pred_plan pool, rnd;
    ptrag_pred_plan_opts po;
    plan_opts(&po, PTRAG_PAIRING_POOL);
    CHECK_INT(ptrag_pred_plan_build(d, &po, &pool, &err), 0);
    plan_opts(&po, PTRAG_PAIRING_RANDOM);
    CHECK_INT(ptrag_pred_plan_build(d, &po, &rnd, &err), 0);
    int a172 = ptrag_dataset_find_celltype(d, "A172");
    const ptrag_control_pool *cp = &d->assign->ctrl[a172];
    CHECK_INT(cp->n_rows, 100);
    int n_cond = 0, n_ctrl_sets = 0;
    long bad = 0;
    for (long s = 0; s < pool.n_sets; s++) {
        CHECK_INT(pool.set_ct[s], a172);
        long off = pool.set_start[s] - pool.set_start[0];
        if (s == 0 || pool.set_condition[s] != pool.set_condition[s - 1]) n_cond++;
        /* Position within the condition's run of sets. */
        long s0 = s;
        while (s0 > 0 && pool.set_condition[s0 - 1] == pool.set_condition[s]) s0--;
        off = pool.set_start[s] - pool.set_start[s0];
        CHECK_INT(pool.set_start[s] - pool.set_start[s0], (s - s0) * 64);
        for (long i = pool.set_start[s]; i < pool.set_start[s + 1]; i++) {
            bad += pool.control_rows[i] != pool.control_rows[i - pool.set_start[s] + off];
            if (pool.set_is_control[s]) bad += pool.target_rows[i] != pool.control_rows[i];
            else bad += d->pert_code[pool.target_rows[i]] != pool.set_pert[s];
        }
        n_ctrl_sets += pool.set_is_control[s];
    }
    CHECK_INT(bad, 0);
    CHECK_INT(n_cond, 6); /* 5 test perturbations + the control sets */
    CHECK_INT(n_ctrl_sets, 2);
    CHECK_INT(pool.n_cells, 600);
    /* The first 100 input rows are the pool, each once. */
    long hits = 0;
    for (long i = 0; i < 100; i++)
        for (long j = 0; j < cp->n_rows; j++) hits += pool.control_rows[i] == cp->rows[j];
    CHECK_INT(hits, 100);
    for (long i = 0; i < pool.n_cells; i++) bad += pool.control_rows[i] != pool.control_rows[i % 100];
    CHECK_INT(bad, 0);
    /* Same real cells as random pairing (as a set). */
    CHECK_INT(pool.n_real, rnd.n_real);
    long found = 0;
    for (long i = 0; i < pool.n_real; i++)
        for (long j = 0; j < rnd.n_real; j++)
            if (pool.real_rows[i] == rnd.real_rows[j]) {
                found++;
                break;
            }
    CHECK_INT(found, pool.n_real);
    /* --pool-cells cuts the pool to its first N cells. */
    ptrag_pred_plan cut;
    plan_opts(&po, PTRAG_PAIRING_POOL);
    po.pool_cells = 10;
    CHECK_INT(ptrag_pred_plan_build(d, &po, &cut, &err), 0);
    CHECK_INT(cut.n_cells, 60);
    CHECK_INT(cut.n_real, 509);
    for (long i = 0; i < cut.n_cells; i++) bad += cut.control_rows[i] != pool.control_rows[i % 10];
    CHECK_INT(bad, 0);
    ptrag_pred_plan_free(&cut);
    po.pool_cells = -1;
    CHECK_INT(ptrag_pred_plan_build(d, &po, &cut, &err), PTRAG_E_ARG);
    ptrag_pred_plan_free(&pool);
    ptrag_pred_plan_free(&rnd);
    ptrag_dataset_free(d);
}

/* Mean over the cells of `ct` with perturbation `p` of gene j, by scanning
 * every row of the file (independent of the split's condition lists). */
static double cell_mean(const ptrag_dataset *d, int ct, int p, long j, long *count) {
    double s = 0;
    long n = 0;
    for (long r = 0; r < d->n_cells; r++)
        if (d->ct_code[r] == ct && d->pert_code[r] == p && d->row_slot[r] >= 0) {
            s += ptrag_dataset_row(d, r)[j];
            n++;
        }
    *count = n;
    return n ? s / n : NAN;
}

/* Mean shift of gene j over the training perturbed conditions of cell type
 * ct: every perturbation with cells and a feature vector, minus A172's
 * held-out ones. */
static double hand_shift(const ptrag_dataset *d, int ct, long j) {
    double sum = 0;
    int n = 0;
    long nc;
    double ctrl = cell_mean(d, ct, d->control_code, j, &nc);
    for (int p = 0; p < d->n_perts; p++) {
        if (p == d->control_code || !d->pert_has_feat[p]) continue;
        if (strcmp(d->ct_names[ct], "A172") == 0 && is_held_out(d->pert_names[p])) continue;
        long np;
        double m = cell_mean(d, ct, p, j, &np);
        if (!np) continue;
        sum += m - ctrl;
        n++;
    }
    return sum / n;
}

static void test_pert_mean_by_hand(void) {
    ptrag_dataset *d = load(tl_shared(SPLIT), tl_shared(EMB));
    if (!d) return;
    ptrag_error err;
    int a172 = ptrag_dataset_find_celltype(d, "A172"), mapk1 = ptrag_dataset_find_pert(d, "MAPK1");
    CHECK(a172 >= 0 && mapk1 >= 0);
    ptrag_baseline_opts bo;
    ptrag_baseline_opts_default(&bo);
    bo.kind = PTRAG_BASELINE_PERT_MEAN;
    ptrag_baseline *b = NULL;
    CHECK_INT(ptrag_baseline_fit(d, &bo, &b, &err), 0);
    float *delta = malloc((size_t)d->n_genes * sizeof *delta);
    if (b) {
        CHECK_INT(ptrag_baseline_delta(b, a172, mapk1, delta, &err), 0);
        /* A172 trains on MAP2K6 and MAP4K3 only. */
        long genes[3] = {0, 7, d->n_genes - 1};
        for (int t = 0; t < 3; t++) {
            long j = genes[t], n1, n2, nc;
            int p1 = ptrag_dataset_find_pert(d, "MAP2K6"), p2 = ptrag_dataset_find_pert(d, "MAP4K3");
            double ctrl = cell_mean(d, a172, d->control_code, j, &nc);
            double want = ((cell_mean(d, a172, p1, j, &n1) - ctrl) + (cell_mean(d, a172, p2, j, &n2) - ctrl)) / 2;
            CHECK_INT(n1, 85);
            CHECK_INT(n2, 88);
            CHECK_NEAR(delta[j], want, 1e-6);
            CHECK_NEAR(delta[j], hand_shift(d, a172, j), 1e-6);
        }
        /* The control perturbation moves nothing. */
        CHECK_INT(ptrag_baseline_delta(b, a172, d->control_code, delta, &err), 0);
        CHECK(delta[0] == 0.0f && delta[d->n_genes - 1] == 0.0f);
        /* Out-of-range codes are an error. */
        CHECK_INT(ptrag_baseline_delta(b, d->n_ct, mapk1, delta, &err), PTRAG_E_ARG);
        CHECK_CONTAINS(err.msg, "out of range");
        ptrag_baseline_free(b);
    }
    free(delta);
    ptrag_dataset_free(d);
}

/* A172 zero-shot: no training perturbation of A172, so pert-mean uses the mean
 * shift over every training condition of the other three cell types. */
static void test_pert_mean_fallback_zeroshot(void) {
    const char *split = tl_tmp("test_baselines_zeroshot.toml");
    FILE *f = fopen(split, "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "[datasets]\nperturbench = \"%s\"\n[training]\nperturbench = \"train\"\n"
               "[zeroshot]\n\"perturbench.A172\" = \"test\"\n",
            tl_shared(DATA));
    fclose(f);
    ptrag_dataset *d = load(split, tl_shared(EMB));
    if (!d) return;
    ptrag_error err;
    int a172 = ptrag_dataset_find_celltype(d, "A172"), plk4 = ptrag_dataset_find_pert(d, "PLK4");
    ptrag_baseline_opts bo;
    ptrag_baseline_opts_default(&bo);
    ptrag_baseline *b = NULL;
    CHECK_INT(ptrag_baseline_fit(d, &bo, &b, &err), 0);
    float *delta = malloc((size_t)d->n_genes * sizeof *delta);
    if (b) {
        char desc[512];
        ptrag_baseline_describe(b, desc, sizeof desc);
        CHECK_CONTAINS(desc, "1 cell type(s) without a training perturbation");
        CHECK_INT(ptrag_baseline_delta(b, a172, plk4, delta, &err), 0);
        for (long j = 0; j < d->n_genes; j += 97) {
            double sum = 0;
            int n = 0;
            for (int c = 0; c < d->n_ct; c++) {
                if (c == a172) continue;
                long nc;
                double ctrl = cell_mean(d, c, d->control_code, j, &nc);
                for (int p = 0; p < d->n_perts; p++) {
                    long np;
                    if (p == d->control_code || !d->pert_has_feat[p]) continue;
                    double m = cell_mean(d, c, p, j, &np);
                    if (!np) continue;
                    sum += m - ctrl;
                    n++;
                }
            }
            CHECK_INT(n, 50); /* 9 + 9 + 33 conditions, minus IER5L (no vector) */
            CHECK_NEAR(delta[j], sum / n, 1e-6);
        }
        ptrag_baseline_free(b);
    }
    free(delta);
    ptrag_dataset_free(d);
}

static double max_abs_diff(const float *a, const float *b, long n);

/* perturb-mean's fallback: MAPK1 held out in all four cell lines is measured
 * in no training cell type, so it gets pert-mean's delta, or with faithful
 * STATE's zero offset; MAP2K3 (trained elsewhere) gets its transferred shift. */
static void test_perturb_mean_fallback(void) {
    const char *split = tl_tmp("test_baselines_mapk1.toml");
    FILE *f = fopen(split, "w");
    CHECK(f != NULL);
    if (!f) return;
    fprintf(f, "[datasets]\nperturbench = \"%s\"\n[training]\nperturbench = \"train\"\n[zeroshot]\n[fewshot]\n",
            tl_shared(DATA));
    ptrag_dataset *probe = load(tl_shared(SPLIT), tl_shared(EMB));
    if (!probe) {
        fclose(f);
        return;
    }
    for (int c = 0; c < probe->n_ct; c++)
        fprintf(f, "[fewshot.\"perturbench.%s\"]\ntest = [\"MAPK1\"%s]\n", probe->ct_names[c],
                strcmp(probe->ct_names[c], "A172") == 0 ? ", \"MAP2K3\"" : "");
    ptrag_dataset_free(probe);
    fclose(f);
    ptrag_dataset *d = load(split, tl_shared(EMB));
    if (!d) return;
    ptrag_error err;
    int a172 = ptrag_dataset_find_celltype(d, "A172"), mapk1 = ptrag_dataset_find_pert(d, "MAPK1"),
        map2k3 = ptrag_dataset_find_pert(d, "MAP2K3");
    long g = d->n_genes;
    float *pm = malloc((size_t)g * sizeof *pm), *pb = malloc((size_t)g * sizeof *pb),
          *pf = malloc((size_t)g * sizeof *pf), *t1 = malloc((size_t)g * sizeof *t1),
          *t2 = malloc((size_t)g * sizeof *t2);
    ptrag_baseline_opts bo;
    ptrag_baseline_opts_default(&bo);
    ptrag_baseline *mean = NULL, *pmb = NULL, *faith = NULL;
    CHECK_INT(ptrag_baseline_fit(d, &bo, &mean, &err), 0);
    bo.kind = PTRAG_BASELINE_PERTURB_MEAN;
    CHECK_INT(ptrag_baseline_fit(d, &bo, &pmb, &err), 0);
    bo.faithful = 1;
    CHECK_INT(ptrag_baseline_fit(d, &bo, &faith, &err), 0);
    if (mean && pmb && faith) {
        CHECK_INT(ptrag_baseline_delta(mean, a172, mapk1, pm, &err), 0);
        CHECK_INT(ptrag_baseline_delta(pmb, a172, mapk1, pb, &err), 0);
        CHECK_INT(ptrag_baseline_delta(faith, a172, mapk1, pf, &err), 0);
        CHECK_NEAR(max_abs_diff(pm, pb, g), 0, 0);
        double zmax = 0;
        for (long j = 0; j < g; j++) zmax = fmax(zmax, fabs(pf[j]));
        CHECK_NEAR(zmax, 0, 0);
        CHECK(max_abs_diff(pm, pf, g) > 1e-3);
        /* A perturbation trained in other lines: the same transferred shift either way. */
        CHECK_INT(ptrag_baseline_delta(pmb, a172, map2k3, t1, &err), 0);
        CHECK_INT(ptrag_baseline_delta(faith, a172, map2k3, t2, &err), 0);
        CHECK_NEAR(max_abs_diff(t1, t2, g), 0, 0);
        CHECK(max_abs_diff(t1, pm, g) > 1e-3);
    }
    ptrag_baseline_free(mean);
    ptrag_baseline_free(pmb);
    ptrag_baseline_free(faith);
    free(pm);
    free(pb);
    free(pf);
    free(t1);
    free(t2);
    ptrag_dataset_free(d);
}

static double max_abs_diff(const float *a, const float *b, long n) {
    double m = 0;
    for (long i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - b[i]));
    return m;
}

/* Residuals of the linear baseline on the training conditions, against the
 * least-squares optimality of the fixed-effects model shift(ct, p) ~ a_ct +
 * W^T e_p: per cell type the residuals sum to 0 (any ridge, checked), and
 * they are orthogonal to the features centred within their cell type (the
 * normal equations Xc^T R = lambda W, ~0 for a tiny ridge). Returns whether
 * the normal equations hold; check_normal_eq: fail the test when they don't.
 * Genes 0, 250, 499 (of 500). */
static int check_least_squares(const ptrag_dataset *d, const ptrag_baseline *b, int check_normal_eq) {
    enum { NJ = 3, E = 128 };
    ptrag_error err;
    long g = d->n_genes, genes[NJ] = {0, 250, 499};
    int e = d->feat_dim, normal_eq_ok = 1;
    float *delta = malloc((size_t)g * sizeof *delta);
    double mean_e[E], grad[NJ][E] = {{0}}, gabs[NJ][E] = {{0}};
    for (int ct = 0; ct < d->n_ct; ct++) {
        int perts[64], n = 0;
        long np, nc;
        for (int p = 0; p < d->n_perts && n < 64; p++) {
            if (p == d->control_code || !d->pert_has_feat[p]) continue;
            if (strcmp(d->ct_names[ct], "A172") == 0 && is_held_out(d->pert_names[p])) continue;
            cell_mean(d, ct, p, 0, &np);
            if (np) perts[n++] = p;
        }
        CHECK(n >= 2);
        memset(mean_e, 0, sizeof mean_e);
        for (int t = 0; t < n; t++)
            for (int k = 0; k < e; k++) mean_e[k] += ptrag_dataset_pert_feature(d, perts[t])[k] / n;
        for (int jj = 0; jj < NJ; jj++) {
            long j = genes[jj];
            double ctrl = cell_mean(d, ct, d->control_code, j, &nc), rsum = 0, rabs = 0;
            for (int t = 0; t < n; t++) {
                CHECK_INT(ptrag_baseline_delta(b, ct, perts[t], delta, &err), 0);
                double r = cell_mean(d, ct, perts[t], j, &np) - ctrl - delta[j];
                rsum += r;
                rabs += fabs(r);
                for (int k = 0; k < e; k++) {
                    double xc = ptrag_dataset_pert_feature(d, perts[t])[k] - mean_e[k];
                    grad[jj][k] += xc * r;
                    gabs[jj][k] += fabs(xc * r);
                }
            }
            CHECK_MSG(fabs(rsum) < 1e-5 * rabs + 1e-7, "%s gene %ld: residuals sum to %g (|r| sum %g)",
                      d->ct_names[ct], j, rsum, rabs);
        }
    }
    /* The normal equations hold over all cell types together. */
    for (int jj = 0; jj < NJ; jj++)
        for (int k = 0; k < e; k++)
            if (!(fabs(grad[jj][k]) < 1e-3 * gabs[jj][k] + 1e-7)) {
                if (check_normal_eq)
                    CHECK_MSG(0, "gene %ld feature %d: Xc^T R = %g (scale %g)", genes[jj], k, grad[jj][k],
                              gabs[jj][k]);
                normal_eq_ok = 0;
            }
    free(delta);
    return normal_eq_ok;
}

/* Huge ridge: linear = pert-mean. Ridge 1: something else, still with
 * residuals summing to 0 per cell type. Tiny ridge: the least-squares fit. */
static void test_linear_limits(void) {
    ptrag_dataset *d = load(tl_shared(SPLIT), tl_shared(EMB));
    if (!d) return;
    ptrag_error err;
    long g = d->n_genes;
    CHECK_INT(d->feat_dim, 128);
    CHECK_INT(g, 500);
    int a172 = ptrag_dataset_find_celltype(d, "A172"), mapk1 = ptrag_dataset_find_pert(d, "MAPK1");
    float *pm = malloc((size_t)g * sizeof *pm), *lin = malloc((size_t)g * sizeof *lin);
    ptrag_baseline_opts bo;
    ptrag_baseline_opts_default(&bo);
    ptrag_baseline *pmb = NULL, *huge = NULL, *tiny = NULL, *one = NULL;
    CHECK_INT(ptrag_baseline_fit(d, &bo, &pmb, &err), 0);
    bo.kind = PTRAG_BASELINE_LINEAR;
    bo.ridge = 1e12;
    CHECK_INT(ptrag_baseline_fit(d, &bo, &huge, &err), 0);
    bo.ridge = 1e-8;
    CHECK_INT(ptrag_baseline_fit(d, &bo, &tiny, &err), 0);
    bo.ridge = 1.0;
    CHECK_INT(ptrag_baseline_fit(d, &bo, &one, &err), 0);
    if (pmb && huge && tiny && one) {
        CHECK_INT(ptrag_baseline_delta(pmb, a172, mapk1, pm, &err), 0);
        CHECK_INT(ptrag_baseline_delta(huge, a172, mapk1, lin, &err), 0);
        CHECK_NEAR(max_abs_diff(pm, lin, g), 0, 1e-6);
        CHECK_INT(ptrag_baseline_delta(one, a172, mapk1, lin, &err), 0);
        double off = max_abs_diff(pm, lin, g);
        CHECK_MSG(off > 1e-3, "ridge 1 moved delta by only %g from pert-mean", off);
        CHECK(!check_least_squares(d, one, 0)); /* ridge 1 shrinks W: not the plain LS fit */
        CHECK(check_least_squares(d, tiny, 1));
        char desc[512];
        ptrag_baseline_describe(one, desc, sizeof desc);
        CHECK_CONTAINS(desc, "128-d features, ridge 1 x");
    }
    ptrag_baseline_free(pmb);
    ptrag_baseline_free(huge);
    ptrag_baseline_free(tiny);
    ptrag_baseline_free(one);
    free(pm);
    free(lin);
    ptrag_dataset_free(d);
}

static int run_cli(const char *args, char *out, size_t cap) {
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "%s baseline %s 2>&1", PTRAG_CLI, args);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_bad_input(void) {
    ptrag_dataset *d = load(tl_shared(SPLIT), NULL); /* one-hot features */
    if (!d) return;
    ptrag_error err;
    ptrag_baseline_opts bo;
    ptrag_baseline_opts_default(&bo);
    ptrag_baseline *b = NULL;
    bo.kind = PTRAG_BASELINE_LINEAR;
    CHECK_INT(ptrag_baseline_fit(d, &bo, &b, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "perturbench_fewshot_a172.toml: linear baseline: perturbation features are one-hot");
    CHECK_CONTAINS(err.msg, "--embeddings");
    CHECK(b == NULL);
    bo.kind = PTRAG_BASELINE_PERT_MEAN;
    bo.ridge = -1;
    CHECK_INT(ptrag_baseline_fit(d, &bo, &b, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "perturbench_fewshot_a172.toml: linear baseline: --ridge must be a finite value >= 0");
    bo.ridge = 1;
    bo.kind = 99;
    CHECK_INT(ptrag_baseline_fit(d, &bo, &b, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "baseline kind 99");
    bo.kind = PTRAG_BASELINE_KNN;
    CHECK_INT(ptrag_baseline_fit(d, &bo, &b, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "knn baseline: perturbation features are one-hot");
    bo.kind = PTRAG_BASELINE_PERT_MEAN;
    bo.knn_k = 0;
    CHECK_INT(ptrag_baseline_fit(d, &bo, &b, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "--knn-k must be >= 1");
    bo.knn_k = 5;
    CHECK_INT(ptrag_baseline_from_name("mean"), -1);
    CHECK_INT(ptrag_baseline_from_name("linear"), PTRAG_BASELINE_LINEAR);
    CHECK_STR(ptrag_baseline_name(PTRAG_BASELINE_PERT_MEAN), "pert-mean");
    ptrag_dataset_free(d);

    static char out[1 << 14];
    char args[4096];
    snprintf(args, sizeof args, "--kind median --split %s --out %s", tl_shared(SPLIT),
             tl_tmp("test_baselines_bad.h5ad"));
    CHECK_INT(run_cli(args, out, sizeof out), 2);
    CHECK_CONTAINS(out, "--kind: expected control|pert-mean|linear|celleval-mean|context-mean|perturb-mean|knn|oracle, "
                        "got 'median'");
    snprintf(args, sizeof args, "--kind linear --split %s --pert-col perturbation --control control --out %s",
             tl_shared(SPLIT), tl_tmp("test_baselines_bad.h5ad"));
    CHECK_INT(run_cli(args, out, sizeof out), 1);
    CHECK_CONTAINS(out, "linear baseline: perturbation features are one-hot");
    CHECK(access(tl_tmp("test_baselines_bad.h5ad"), F_OK) != 0);
    snprintf(args, sizeof args, "--kind control --split %s", tl_shared(SPLIT));
    CHECK_INT(run_cli(args, out, sizeof out), 2);
    CHECK_CONTAINS(out, "--out");
    /* The command itself works end to end. */
    snprintf(args, sizeof args,
             "--kind pert-mean --split %s --pert-col perturbation --control control --seed 3 --set-size 32 --out %s",
             tl_shared(SPLIT), tl_tmp("test_baselines_cli.h5ad"));
    CHECK_INT(run_cli(args, out, sizeof out), 0);
    CHECK(access(tl_tmp("test_baselines_cli.h5ad"), R_OK) == 0);
}

int main(void) {
    if (access(tl_shared(DATA), R_OK) != 0 || access(tl_shared(EMB), R_OK) != 0) {
        printf("skipped: %s or %s not found\n", tl_shared(DATA), tl_shared(EMB));
        return 77;
    }
    RUN(test_files_line_up_and_score);
    RUN(test_rows_are_paired_controls_plus_delta);
    RUN(test_pool_pairing_same_controls);
    RUN(test_perturb_mean_fallback);
    RUN(test_pert_mean_by_hand);
    RUN(test_pert_mean_fallback_zeroshot);
    RUN(test_linear_limits);
    RUN(test_bad_input);
    return TEST_SUMMARY();
}
