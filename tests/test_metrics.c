/* Evaluation metrics: hand-worked cases for every building block (ties,
 * constant genes, identical sets), a perfect prediction scoring the best
 * value of every metric, the control-mean baseline's Pearson handling,
 * thread-count determinism, bad inputs, CSV files and tables. */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ptrag.h"
#include "testlib.h"

/* ---------- mean profiles ---------- */

static void test_pearson_and_profile_scores(void) {
    double a[3] = {1, 2, 3}, b[3] = {2, 4, 6}, c[3] = {3, 2, 1}, k[3] = {5, 5, 5};
    int deg = -1;
    CHECK_NEAR(ptrag_pearson(a, b, 3, &deg), 1.0, 1e-15);
    CHECK_INT(deg, 0);
    CHECK_NEAR(ptrag_pearson(a, c, 3, &deg), -1.0, 1e-15);
    CHECK_NEAR(ptrag_pearson(a, k, 3, &deg), 0.0, 0);
    CHECK_INT(deg, 1);

    /* pred delta (1,2,3), real delta (1,2,3); pred means off by -1 each. */
    double mp[3] = {1, 2, 3}, mpc[3] = {0, 0, 0}, mr[3] = {2, 3, 4}, mrc[3] = {1, 1, 1};
    ptrag_profile_scores s;
    ptrag_profile_scores_compute(mp, mpc, mr, mrc, 3, &s);
    CHECK_NEAR(s.pearson_delta, 1.0, 1e-15);
    CHECK_INT(s.pearson_degenerate, 0);
    CHECK_NEAR(s.mse, 1.0, 1e-15);
    CHECK_NEAR(s.mae, 1.0, 1e-15);
    CHECK_NEAR(s.mse_delta, 0.0, 1e-15);
    CHECK_NEAR(s.mae_delta, 0.0, 1e-15);
    /* pred delta (0,2,0) vs real (1,2,3): errors (-1,0,-3). */
    double mp2[3] = {0, 2, 0};
    ptrag_profile_scores_compute(mp2, mpc, mr, mrc, 3, &s);
    CHECK_NEAR(s.mse_delta, 10.0 / 3, 1e-14);
    CHECK_NEAR(s.mae_delta, 4.0 / 3, 1e-14);
    CHECK_NEAR(s.pearson_delta, 0.0, 1e-15); /* (0,2,0) is uncorrelated with (1,2,3) */
    CHECK_INT(s.pearson_degenerate, 0);

    /* A prediction that copies the control mean through float32 has a
     * rounding-noise delta: degenerate, scored 0 (not a noise correlation). */
    double ctrl[4] = {0.1, 1.0 / 3, 2.7182818, 5.5}, copy[4];
    for (int j = 0; j < 4; j++) copy[j] = (float)ctrl[j];
    double real[4] = {0.5, 0.2, 3.0, 5.0};
    ptrag_profile_scores_compute(copy, ctrl, real, ctrl, 4, &s);
    CHECK_INT(s.pearson_degenerate, 1);
    CHECK_NEAR(s.pearson_delta, 0.0, 0);
    CHECK(isfinite(s.mse) && s.mse > 0);

    float x[6] = {1, 2, 3, 5, 6, 7};
    double m[3];
    ptrag_col_means(x, 2, 3, m);
    CHECK_NEAR(m[0], 3, 0);
    CHECK_NEAR(m[1], 4, 0);
    CHECK_NEAR(m[2], 5, 0);
}

/* ---------- discrimination ---------- */

static void test_discrimination_l1(void) {
    /* real deltas r0 (2,0), r1 (1,-5), r2 (5,5) */
    double real[6] = {2, 0, 1, -5, 5, 5};
    /* p0 next to r0; p1 (1,1) is closer to r0 than to r1 unless gene B (its
     * own target) is dropped; p2 (0,1): r0 d=3, r1 d=7, r2 d=9 -> rank 2. */
    double pred[6] = {1.9, 0.1, 1, 1, 0, 1};
    double score[3];
    ptrag_discrimination_l1(pred, real, 3, 2, NULL, score);
    CHECK_NEAR(score[0], 1.0, 0);
    CHECK_NEAR(score[1], 1.0 - 1.0 / 3, 1e-15);
    CHECK_NEAR(score[2], 1.0 - 2.0 / 3, 1e-15);

    const char *genes[2] = {"A", "B"};
    unsigned char mask[6];
    CHECK_INT(ptrag_target_gene_mask("A", genes, 2, mask), 1);
    CHECK_INT(ptrag_target_gene_mask("B", genes, 2, mask + 2), 1);
    CHECK_INT(ptrag_target_gene_mask("C", genes, 2, mask + 4), 0);
    CHECK(mask[0] == 1 && mask[1] == 0 && mask[2] == 0 && mask[3] == 1 && mask[4] == 0 && mask[5] == 0);
    ptrag_discrimination_l1(pred, real, 3, 2, mask, score);
    CHECK_NEAR(score[1], 1.0, 0); /* only gene A: r1 at distance 0 */

    unsigned char m2[3];
    const char *genes3[3] = {"A", "AB", "B"};
    CHECK_INT(ptrag_target_gene_mask("A+B", genes3, 3, m2), 2);
    CHECK(m2[0] == 1 && m2[1] == 0 && m2[2] == 1);

    /* Ties: identical real deltas, the lower index wins the tie. */
    double real_t[4] = {1, 1, 1, 1}, pred_t[4] = {1, 1, 1, 1};
    ptrag_discrimination_l1(pred_t, real_t, 2, 2, NULL, score);
    CHECK_NEAR(score[0], 1.0, 0);
    CHECK_NEAR(score[1], 0.5, 0);
}

/* ---------- differential expression ---------- */

static void test_mann_whitney_hand_values(void) {
    /* scipy.stats.mannwhitneyu(x, y, method="asymptotic") */
    float x1[3] = {1, 2, 3}, y1[3] = {4, 5, 6};
    double u;
    CHECK_NEAR(ptrag_mann_whitney_sorted(x1, 3, y1, 3, &u), 0.08085559837005224, 1e-15);
    CHECK_NEAR(u, 0, 0);
    CHECK_NEAR(ptrag_mann_whitney_sorted(y1, 3, x1, 3, &u), 0.08085559837005224, 1e-15);
    CHECK_NEAR(u, 9, 0);
    /* ties across groups: pooled ranks 2,2,2,4,5.5,5.5; U1 = 2 */
    float x2[3] = {1, 1, 2}, y2[3] = {1, 3, 3};
    CHECK_NEAR(ptrag_mann_whitney_sorted(x2, 3, y2, 3, &u), 0.3457785861511603, 1e-15);
    CHECK_NEAR(u, 2, 0);
    /* every value tied: p = 1 */
    float x3[2] = {2, 2}, y3[3] = {2, 2, 2};
    CHECK_NEAR(ptrag_mann_whitney_sorted(x3, 2, y3, 3, &u), 1.0, 0);
    /* identical samples: U = mu, p = 1 after clipping */
    CHECK_NEAR(ptrag_mann_whitney_sorted(x1, 3, x1, 3, &u), 1.0, 0);
}

static void test_bh_fdr_hand_values(void) {
    double p[5] = {0.01, 0.04, 0.03, 0.2, 0.03}, q[5];
    long order[5];
    ptrag_bh_fdr(p, 5, q, order);
    /* sorted 0.01, .03, .03, .04, .2 -> *5/rank: .05, .075, .05, .05, .2;
     * running minimum from the top: .05, .05, .05, .05, .2 */
    CHECK_NEAR(q[0], 0.05, 1e-15);
    CHECK_NEAR(q[1], 0.05, 1e-15);
    CHECK_NEAR(q[2], 0.05, 1e-15);
    CHECK_NEAR(q[3], 0.2, 1e-15);
    CHECK_NEAR(q[4], 0.05, 1e-15);
    double p2[2] = {0.9, 0.8}, q2[2];
    ptrag_bh_fdr(p2, 2, q2, order);
    CHECK_NEAR(q2[0], 0.9, 1e-15);
    CHECK_NEAR(q2[1], 0.9, 1e-15);
}

/* Fills a DE result by hand (no test run). */
static void fake_de(ptrag_de_result *r, long g, const double *lfc, const unsigned char *sig,
                    const long *ranked, long n_sig) {
    memset(r, 0, sizeof *r);
    r->g = g;
    r->log2fc = (double *)lfc;
    r->sig = (unsigned char *)sig;
    r->ranked = (long *)ranked;
    r->n_sig = n_sig;
}

static void test_de_compare_hand_values(void) {
    /* real: genes 0,1,2 significant, |lfc| order 0,1,2; pred: 1,4 (order 1,4) */
    double lr[5] = {3, -2, 1, 0.1, 0}, lp[5] = {-1, -5, 0.5, 0, 4};
    unsigned char sr[5] = {1, 1, 1, 0, 0}, sp[5] = {0, 1, 0, 0, 1};
    long rr[3] = {0, 1, 2}, rp[2] = {1, 4};
    ptrag_de_result real, pred;
    fake_de(&real, 5, lr, sr, rr, 3);
    fake_de(&pred, 5, lp, sp, rp, 2);
    ptrag_de_scores s;
    ptrag_de_compare(&real, &pred, &s);
    CHECK_NEAR(s.overlap_at_n, 1.0 / 3, 1e-15);   /* k=3: {1,4} & {0,1,2} = {1} */
    CHECK_NEAR(s.precision_at_n, 1.0 / 2, 1e-15); /* k=2: {0,1} & {1,4} = {1} */
    CHECK_NEAR(s.direction_match, 2.0 / 3, 1e-15); /* gene 0 flips sign */
    CHECK_NEAR(s.sig_recall, 1.0 / 3, 1e-15);
    CHECK_INT(s.nsig_real, 3);
    CHECK_INT(s.nsig_pred, 2);
    /* identical results: everything 1 */
    ptrag_de_compare(&real, &real, &s);
    CHECK_NEAR(s.overlap_at_n, 1, 0);
    CHECK_NEAR(s.precision_at_n, 1, 0);
    CHECK_NEAR(s.direction_match, 1, 0);
    /* no real DE gene: every agreement metric is undefined (NaN) */
    unsigned char none[5] = {0};
    ptrag_de_result empty;
    fake_de(&empty, 5, lr, none, rr, 0);
    ptrag_de_compare(&empty, &pred, &s);
    CHECK(isnan(s.overlap_at_n) && isnan(s.precision_at_n));
    CHECK(isnan(s.direction_match) && isnan(s.sig_recall));
    /* real DE genes but none predicted: 0 */
    ptrag_de_compare(&real, &empty, &s);
    CHECK_NEAR(s.overlap_at_n, 0, 0);
    CHECK_NEAR(s.precision_at_n, 0, 0);
}

static void test_de_test_on_small_data(void) {
    enum { N = 30, G = 4 };
    float ctrl[N * G], cond[N * G];
    for (int i = 0; i < N; i++) {
        /* gene 0: strong up-shift; gene 1: same distribution; gene 2: constant
         * zero (all tied); gene 3: strong down-shift */
        ctrl[i * G + 0] = (float)log1p(1.0) + 0.01f * (float)(i % 5);
        cond[i * G + 0] = (float)log1p(3.0) + 0.01f * (float)(i % 5);
        ctrl[i * G + 1] = cond[i * G + 1] = 0.1f * (float)(i % 7);
        ctrl[i * G + 2] = cond[i * G + 2] = 0.0f;
        ctrl[i * G + 3] = 2.0f + 0.01f * (float)(i % 3);
        cond[i * G + 3] = 0.5f + 0.01f * (float)(i % 3);
    }
    ptrag_de_reference *ref;
    ptrag_error err;
    CHECK_INT(ptrag_de_reference_new(ctrl, N, G, &ref, &err), 0);
    ptrag_de_options opt;
    ptrag_de_options_default(&opt);
    ptrag_de_result r;
    CHECK_INT(ptrag_de_test(ref, cond, N, &opt, &r, &err), 0);
    CHECK_INT(r.n_sig, 2);
    CHECK(r.sig[0] && r.sig[3] && !r.sig[1] && !r.sig[2]);
    CHECK_NEAR(r.pvalue[1], 1.0, 0);
    CHECK_NEAR(r.pvalue[2], 1.0, 0);
    CHECK_NEAR(r.log2fc[2], 0.0, 0);
    CHECK_NEAR(r.log2fc[1], 0.0, 1e-12);
    /* up-shift: expm1 of the mean log1p value -> counts ~3 vs ~1 */
    CHECK(r.log2fc[0] > 1.5 && r.log2fc[0] < 1.7);
    CHECK(r.log2fc[3] < -2);
    /* ranked by |log2fc| descending: gene 3 (|lfc| ~ 2.6) before gene 0 */
    CHECK_INT(r.ranked[0], 3);
    CHECK_INT(r.ranked[1], 0);
    ptrag_de_result_free(&r);
    /* plain-mean fold changes when the input is not log1p */
    opt.log1p_input = 0;
    CHECK_INT(ptrag_de_test(ref, cond, N, &opt, &r, &err), 0);
    CHECK_NEAR(r.log2fc[3], log2((0.51 + 1e-9) / (2.01 + 1e-9)), 1e-3);
    ptrag_de_result_free(&r);
    ptrag_de_reference_free(ref);
}

/* ---------- distribution distances ---------- */

static void test_one_dimensional_distances(void) {
    double a0[1] = {0}, a1[1] = {1}, b01[2] = {0, 1}, c012[3] = {0, 1, 2}, c02[2] = {0, 2};
    CHECK_NEAR(ptrag_w1_sorted(a0, 1, a1, 1), 1, 0);
    CHECK_NEAR(ptrag_w1_sorted(b01, 2, a0, 1), 0.5, 1e-15);
    CHECK_NEAR(ptrag_w2_sorted(b01, 2, a0, 1), sqrt(0.5), 1e-15);
    /* quantile pieces: (1/3,1/2] and (1/2,2/3] each cost 1 */
    CHECK_NEAR(ptrag_w1_sorted(c012, 3, c02, 2), 1.0 / 3, 1e-15);
    CHECK_NEAR(ptrag_w2_sorted(c012, 3, c02, 2), sqrt(1.0 / 3), 1e-15);
    CHECK_NEAR(ptrag_w1_sorted(c012, 3, c012, 3), 0, 0);
    CHECK_NEAR(ptrag_w2_sorted(c012, 3, c012, 3), 0, 0);
    /* shift by 5: W1 = W2 = 5 */
    double s[3] = {5, 6, 7};
    CHECK_NEAR(ptrag_w1_sorted(c012, 3, s, 3), 5, 1e-15);
    CHECK_NEAR(ptrag_w2_sorted(c012, 3, s, 3), 5, 1e-15);

    CHECK_NEAR(ptrag_energy_1d_sorted(a0, 1, a1, 1), 2, 1e-15);
    CHECK_NEAR(ptrag_energy_1d_sorted(b01, 2, b01, 2), 0, 1e-15);
    CHECK_NEAR(ptrag_energy_1d_sorted(c02, 2, a1, 1), 1, 1e-15); /* 2*1 - 1 - 0 */

    double m1[3] = {0, 1, 3}, m2[4] = {0, 0, 1, 3}, m3[4] = {0, 1, 3, 7}, m4[3] = {2, 2, 2};
    CHECK_NEAR(ptrag_median_pairwise_distance(m1, 3), 2, 0);   /* 1,2,3 */
    CHECK_NEAR(ptrag_median_pairwise_distance(m2, 4), 2, 0);   /* 1,1,2,3,3 (zero dropped) */
    CHECK_NEAR(ptrag_median_pairwise_distance(m3, 4), 3.5, 0); /* 1,2,3,4,6,7 */
    CHECK_NEAR(ptrag_median_pairwise_distance(m4, 3), 0, 0);

    double pooled[8], sigma;
    /* identical sets: the unbiased estimate is e^-1/2 - 1 < 0, clipped to 0 */
    CHECK_NEAR(ptrag_mmd_rbf_1d(b01, 2, b01, 2, pooled, &sigma), 0, 0);
    CHECK_NEAR(sigma, 1, 0);
    /* x {0,1}, y {10,11}: sigma = median(1,1,9,10,10,11) = 9.5 */
    double y[2] = {10, 11};
    double gm = 1.0 / (2 * 9.5 * 9.5);
    double want = 2 * exp(-gm) / 2 + 2 * exp(-gm) / 2 -
                  2 * (exp(-gm * 100) + exp(-gm * 121) + exp(-gm * 81) + exp(-gm * 100)) / 4;
    CHECK_NEAR(ptrag_mmd_rbf_1d(b01, 2, y, 2, pooled, &sigma), want, 1e-14);
    CHECK_NEAR(sigma, 9.5, 0);
    /* all values equal: bandwidth falls back to 1 */
    double z[2] = {4, 4};
    CHECK_NEAR(ptrag_mmd_rbf_1d(z, 2, z, 2, pooled, &sigma), 0, 0);
    CHECK_NEAR(sigma, 1, 0);
    CHECK(isnan(ptrag_mmd_rbf_1d(a0, 1, b01, 2, pooled, NULL)));
}

static void test_feature_and_energy_distances(void) {
    /* two columns: column 0 shifted by 1, column 1 identical */
    float x[6] = {0, 5, 1, 5, 2, 5}, y[6] = {1, 5, 2, 5, 3, 5};
    ptrag_dist_scores mean, pf[2];
    ptrag_error err;
    CHECK_INT(ptrag_feature_distances(x, 3, y, 3, 2, &mean, pf, &err), 0);
    CHECK_NEAR(pf[0].w1, 1, 1e-15);
    CHECK_NEAR(pf[1].w1, 0, 0);
    CHECK_NEAR(mean.w1, 0.5, 1e-15);
    CHECK_NEAR(mean.w2, 0.5, 1e-15);
    CHECK_NEAR(pf[1].energy, 0, 0);
    CHECK_NEAR(pf[1].mmd, 0, 0);

    float p[2] = {0, 0}, q[2] = {3, 4}, pq[4] = {0, 0, 3, 4};
    double e;
    CHECK_INT(ptrag_energy_distance(p, 1, q, 1, 2, &e, &err), 0);
    CHECK_NEAR(e, 10, 1e-5); /* 2 * 5 */
    CHECK_INT(ptrag_energy_distance(pq, 2, p, 1, 2, &e, &err), 0);
    CHECK_NEAR(e, 2.5, 1e-5); /* 2*2.5 - 10/4 - 0 */
    CHECK_INT(ptrag_energy_distance(pq, 2, pq, 2, 2, &e, &err), 0);
    CHECK_NEAR(e, 0, 0);
    CHECK(ptrag_energy_distance(pq, 0, pq, 2, 2, &e, &err) == PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "energy distance");
}

/* ---------- PCA ---------- */

static void test_pca_hand_case(void) {
    /* (-1,0),(1,0),(0,-.5),(0,.5) + (10,20): var x 2/3, var y 1/6, cov 0.
     * k = min(50, 3, 1) = 1: the x axis, its loading made positive. */
    float x[8] = {9, 20, 11, 20, 10, 19.5f, 10, 20.5f};
    ptrag_pca pca;
    ptrag_error err;
    CHECK_INT(ptrag_pca_fit(x, 4, 2, 50, &pca, &err), 0);
    CHECK_INT(pca.k, 1);
    CHECK_NEAR(pca.mean[0], 10, 1e-12);
    CHECK_NEAR(pca.mean[1], 20, 1e-12);
    CHECK_NEAR(pca.variance[0], 2.0 / 3, 1e-6);
    CHECK_NEAR(pca.total_variance, 2.0 / 3 + 1.0 / 6, 1e-6);
    CHECK_NEAR(pca.components[0], 1, 1e-6);
    CHECK_NEAR(pca.components[1], 0, 1e-6);
    float pt[2] = {12, 20}, out[1];
    CHECK_INT(ptrag_pca_project(&pca, pt, 1, out, &err), 0);
    CHECK_NEAR(out[0], 2, 1e-5);
    ptrag_pca_free(&pca);

    /* streaming in two blocks equals one shot (the shift comes from block 1) */
    ptrag_pca_accum *acc;
    ptrag_pca one;
    CHECK_INT(ptrag_pca_accum_new(2, &acc, &err), 0);
    CHECK_INT(ptrag_pca_accum_add(acc, x, 1, &err), 0);
    CHECK_INT(ptrag_pca_accum_add(acc, x + 2, 3, &err), 0);
    CHECK_INT(ptrag_pca_accum_finish(acc, 5, &one, &err), 0);
    ptrag_pca_accum_free(acc);
    CHECK_NEAR(one.variance[0], 2.0 / 3, 1e-6);
    ptrag_pca_free(&one);

    CHECK(ptrag_pca_fit(x, 1, 2, 50, &pca, &err) == PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "PCA");
    CHECK_CONTAINS(err.msg, "rows");
}

/* ---------- whole evaluation ---------- */

enum { NG = 40, NCOND = 4, NCELL = 30, NCTRL = 40 };

typedef struct {
    float *ctrl;
    float *cells[NCOND];
    ptrag_eval_condition conds[NCOND];
    const char *genes[NG];
    char names[NG][8];
} synthetic;

/* Four conditions with distinct effects on a few genes each, noisy cells. */
static void make_synthetic(synthetic *s, uint64_t seed) {
    ptrag_rng rng;
    ptrag_rng_seed(&rng, seed);
    static const char *perts[NCOND] = {"G1", "G5", "G9+G13", "NOTAGENE"};
    for (int j = 0; j < NG; j++) {
        snprintf(s->names[j], sizeof s->names[j], "G%d", j);
        s->genes[j] = s->names[j];
    }
    s->ctrl = malloc(NCTRL * NG * sizeof(float));
    for (int i = 0; i < NCTRL * NG; i++) s->ctrl[i] = (float)(1.0 + 0.3 * ptrag_rng_normal(&rng));
    for (int c = 0; c < NCOND; c++) {
        s->cells[c] = malloc(NCELL * NG * sizeof(float));
        for (int i = 0; i < NCELL; i++)
            for (int j = 0; j < NG; j++) {
                double shift = (j % NCOND == c) ? (j % 2 ? 1.5 : -0.8) * (1 + c * 0.3) : 0.0;
                s->cells[c][i * NG + j] = (float)(1.0 + shift + 0.3 * ptrag_rng_normal(&rng));
            }
        s->conds[c] = (ptrag_eval_condition){perts[c], s->cells[c], NCELL, s->cells[c], NCELL};
    }
}

static void free_synthetic(synthetic *s) {
    free(s->ctrl);
    for (int c = 0; c < NCOND; c++) free(s->cells[c]);
}

static void test_perfect_prediction_scores_best(void) {
    synthetic s;
    make_synthetic(&s, 11);
    /* Reference of pearson_delta_pert: the mean of every perturbed cell. */
    static double ref[NG];
    for (int c = 0; c < NCOND; c++)
        for (long i = 0; i < NCELL; i++)
            for (long j = 0; j < NG; j++) ref[j] += s.cells[c][i * NG + j] / (double)(NCOND * NCELL);
    ptrag_eval_group grp = {"K562", s.ctrl, NCTRL, s.ctrl, NCTRL, s.conds, NCOND, ref};
    ptrag_eval_result res;
    ptrag_error err;
    CHECK_INT(ptrag_evaluate(&grp, 1, NG, s.genes, NULL, NULL, &res, &err), 0);
    CHECK_INT(res.n_conditions, NCOND);
    CHECK_INT(res.n_pca_components, NG - 1 < NCOND * NCELL - 1 ? NG - 1 : 50);
    CHECK_INT(res.n_pearson_degenerate, 0);
    CHECK_INT(res.n_groups_pred_ctrl_fallback, 0);
    for (long i = 0; i < res.n_conditions; i++) {
        const double *v = res.conditions[i].v;
        CHECK_STR(res.conditions[i].cell_type, "K562");
        CHECK_NEAR(v[PTRAG_M_PEARSON_DELTA], 1, 1e-12);
        CHECK_NEAR(v[PTRAG_M_PEARSON_DELTA_PERT], 1, 1e-12);
        CHECK_NEAR(v[PTRAG_M_MSE], 0, 0);
        CHECK_NEAR(v[PTRAG_M_MAE], 0, 0);
        CHECK_NEAR(v[PTRAG_M_MSE_DELTA], 0, 0);
        CHECK_NEAR(v[PTRAG_M_DISCRIMINATION_L1], 1, 0);
        CHECK(v[PTRAG_M_DE_NSIG_REAL] >= 5);
        CHECK_NEAR(v[PTRAG_M_DE_NSIG_PRED], v[PTRAG_M_DE_NSIG_REAL], 0);
        CHECK_NEAR(v[PTRAG_M_OVERLAP_AT_N], 1, 0);
        CHECK_NEAR(v[PTRAG_M_PRECISION_AT_N], 1, 0);
        CHECK_NEAR(v[PTRAG_M_DE_DIRECTION_MATCH], 1, 0);
        CHECK_NEAR(v[PTRAG_M_DE_SIG_RECALL], 1, 0);
        CHECK_NEAR(v[PTRAG_M_W1_PCA], 0, 0);
        CHECK_NEAR(v[PTRAG_M_W2_PCA], 0, 0);
        CHECK_NEAR(v[PTRAG_M_MMD_PCA], 0, 0);
        CHECK_NEAR(v[PTRAG_M_ENERGY_PCA], 0, 1e-12);
        CHECK_NEAR(v[PTRAG_M_ENERGY_GENES], 0, 0);
    }
    /* Every metric with a defined best value hits it in the summary. */
    for (int m = 0; m < PTRAG_M_COUNT; m++) {
        const ptrag_metric_info *info = ptrag_metric_info_of(m);
        if (info->best == PTRAG_BEST_NONE) continue;
        CHECK_MSG(fabs(res.summary[m].mean - info->best_value) <= 1e-12, "%s: mean %g, best %g",
                  info->name, res.summary[m].mean, info->best_value);
        CHECK_INT(res.summary[m].n, NCOND);
    }
    ptrag_eval_result_free(&res);

    /* A wrong prediction is scored worse on every metric. */
    ptrag_eval_condition swapped[NCOND];
    for (int c = 0; c < NCOND; c++) {
        swapped[c] = s.conds[c];
        swapped[c].pred = s.cells[(c + 1) % NCOND];
    }
    grp.conds = swapped;
    CHECK_INT(ptrag_evaluate(&grp, 1, NG, s.genes, NULL, NULL, &res, &err), 0);
    for (int m = 0; m < PTRAG_M_COUNT; m++) {
        const ptrag_metric_info *info = ptrag_metric_info_of(m);
        if (info->best == PTRAG_BEST_NONE) continue;
        CHECK_MSG(fabs(res.summary[m].mean - info->best_value) > 1e-3, "%s: swapped prediction scored %g",
                  info->name, res.summary[m].mean);
    }
    CHECK(res.summary[PTRAG_M_DISCRIMINATION_L1].mean <= 0.5);
    ptrag_eval_result_free(&res);
    free_synthetic(&s);
}

static void test_control_mean_baseline_is_degenerate(void) {
    synthetic s;
    make_synthetic(&s, 12);
    /* Every predicted cell is the control mean (float32); no predicted
     * controls: the real controls stand in. */
    double mean[NG];
    ptrag_col_means(s.ctrl, NCTRL, NG, mean);
    float *pred = malloc(NCELL * NG * sizeof(float));
    for (int i = 0; i < NCELL; i++)
        for (int j = 0; j < NG; j++) pred[i * NG + j] = (float)mean[j];
    for (int c = 0; c < NCOND; c++) s.conds[c].pred = pred;
    ptrag_eval_group grp = {"K562", s.ctrl, NCTRL, NULL, 0, s.conds, NCOND, NULL};
    ptrag_eval_result res;
    ptrag_error err;
    CHECK_INT(ptrag_evaluate(&grp, 1, NG, s.genes, NULL, NULL, &res, &err), 0);
    CHECK_INT(res.n_pearson_degenerate, NCOND);
    CHECK_INT(res.n_groups_pred_ctrl_fallback, 1);
    for (long i = 0; i < res.n_conditions; i++) {
        CHECK_NEAR(res.conditions[i].v[PTRAG_M_PEARSON_DELTA], 0, 0);
        CHECK_NEAR(res.conditions[i].v[PTRAG_M_PEARSON_DELTA_DEGENERATE], 1, 0);
        CHECK(isfinite(res.conditions[i].v[PTRAG_M_MSE]));
    }
    CHECK_NEAR(res.summary[PTRAG_M_PEARSON_DELTA].mean, 0, 0);
    CHECK_INT(res.summary[PTRAG_M_PEARSON_DELTA].n, NCOND);
    CHECK_NEAR(res.summary[PTRAG_M_PEARSON_DELTA_DEGENERATE].mean, 1, 0);
    char *text;
    CHECK_INT(ptrag_eval_format_summary(&res, &text, &err), 0);
    CHECK_CONTAINS(text, "pearson_delta set to 0 for 4 of 4");
    CHECK_CONTAINS(text, "no predicted control cells");
    free(text);
    ptrag_eval_result_free(&res);
    free(pred);
    free_synthetic(&s);
}

static void test_results_do_not_depend_on_threads(void) {
    synthetic s;
    make_synthetic(&s, 13);
    float *pred[NCOND];
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 99);
    for (int c = 0; c < NCOND; c++) {
        pred[c] = malloc(NCELL * NG * sizeof(float));
        for (int i = 0; i < NCELL * NG; i++)
            pred[c][i] = s.cells[c][i] + (float)(0.2 * ptrag_rng_normal(&rng));
        s.conds[c].pred = pred[c];
    }
    ptrag_eval_group grp = {"K562", s.ctrl, NCTRL, NULL, 0, s.conds, NCOND, NULL};
    ptrag_eval_result a, b;
    ptrag_error err;
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK_INT(ptrag_evaluate(&grp, 1, NG, s.genes, NULL, NULL, &a, &err), 0);
    /* OpenBLAS's own threads must not matter either. */
    int saved_blas = openblas_get_num_threads();
    omp_set_num_threads(3);
    openblas_set_num_threads(2);
    CHECK_INT(ptrag_evaluate(&grp, 1, NG, s.genes, NULL, NULL, &b, &err), 0);
    CHECK_INT(openblas_get_num_threads(), 2); /* restored after the serial sections */
    omp_set_num_threads(saved);
    openblas_set_num_threads(saved_blas);
    for (long i = 0; i < a.n_conditions; i++)
        for (int m = 0; m < PTRAG_M_COUNT; m++) {
            double x = a.conditions[i].v[m], y = b.conditions[i].v[m];
            CHECK_MSG(memcmp(&x, &y, sizeof x) == 0, "condition %ld, %s: %.17g vs %.17g", i,
                      ptrag_metric_info_of(m)->name, x, y);
        }
    ptrag_eval_result_free(&a);
    ptrag_eval_result_free(&b);
    for (int c = 0; c < NCOND; c++) free(pred[c]);
    free_synthetic(&s);
}

static void test_bad_inputs_are_named(void) {
    synthetic s;
    make_synthetic(&s, 14);
    ptrag_eval_group grp = {"K562", s.ctrl, NCTRL, NULL, 0, s.conds, NCOND, NULL};
    ptrag_eval_result res;
    ptrag_error err;
    float saved = s.cells[2][3 * NG + 7];
    s.cells[2][3 * NG + 7] = NAN;
    s.conds[2].pred = s.cells[2];
    CHECK_INT(ptrag_evaluate(&grp, 1, NG, s.genes, NULL, NULL, &res, &err), PTRAG_E_NUMERIC);
    CHECK_CONTAINS(err.msg, "K562");
    CHECK_CONTAINS(err.msg, "G9+G13");
    CHECK_CONTAINS(err.msg, "real cells"); /* pred shares the buffer, real is checked first */
    CHECK_CONTAINS(err.msg, "row 3, gene 7 (G7)");
    s.cells[2][3 * NG + 7] = saved;

    s.conds[1].n_pred = 0;
    CHECK_INT(ptrag_evaluate(&grp, 1, NG, s.genes, NULL, NULL, &res, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "condition 'G5': predicted cells: need >= 1");
    s.conds[1].n_pred = NCELL;

    grp.n_real_ctrl = 0;
    CHECK_INT(ptrag_evaluate(&grp, 1, NG, s.genes, NULL, NULL, &res, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "real control cells");
    grp.n_real_ctrl = NCTRL;

    ptrag_pca pca;
    CHECK_INT(ptrag_pca_fit(s.ctrl, NCTRL, NG - 1, 5, &pca, &err), 0);
    CHECK_INT(ptrag_evaluate(&grp, 1, NG, s.genes, &pca, NULL, &res, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "PCA: fitted on 39 columns");
    ptrag_pca_free(&pca);
    CHECK(res.conditions == NULL && res.n_conditions == 0);

    /* building blocks name what was wrong */
    ptrag_de_reference *ref;
    CHECK_INT(ptrag_de_reference_new(s.ctrl, 0, NG, &ref, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "DE reference: control cells");
    CHECK(ref == NULL);
    ptrag_dist_scores mean;
    CHECK_INT(ptrag_feature_distances(s.ctrl, 2, s.ctrl, 2, 0, &mean, NULL, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "feature distances");
    CHECK(isnan(mean.w1));
    CHECK_INT(ptrag_pca_fit(s.ctrl, NCTRL, NG, 0, &pca, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "PCA: components");

    /* output directory that cannot be created: the path is named */
    ptrag_eval_result empty = {0};
    CHECK(ptrag_eval_write_csv(&empty, "/proc/ptrag_no_such_dir/out", &err) != 0);
    CHECK_CONTAINS(err.msg, "/proc/ptrag_no_such_dir");
    free_synthetic(&s);
}

/* ---------- files and tables ---------- */

static int starts_with(const char *s, const char *prefix) {
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static void test_csv_files_round_trip(void) {
    synthetic s;
    make_synthetic(&s, 15);
    s.conds[0].perturbation = "odd, \"name\"";
    ptrag_eval_group grp = {"K562", s.ctrl, NCTRL, NULL, 0, s.conds, NCOND, NULL};
    ptrag_eval_options opt;
    ptrag_eval_options_default(&opt);
    opt.skip_distributional = 1;
    ptrag_eval_result res;
    ptrag_error err;
    CHECK_INT(ptrag_evaluate(&grp, 1, NG, s.genes, NULL, &opt, &res, &err), 0);
    CHECK(isnan(res.conditions[0].v[PTRAG_M_W1_PCA]));
    CHECK_INT(res.summary[PTRAG_M_W1_PCA].n, 0);
    const char *dir = tl_tmp("test_metrics_csv/out");
    CHECK_INT(ptrag_eval_write_csv(&res, dir, &err), 0);
    char path[4200], *text;
    snprintf(path, sizeof path, "%s/per_condition.csv", dir);
    CHECK_INT(ptrag_read_file(path, &text, NULL, &err), 0);
    CHECK(starts_with(text, "cell_type,perturbation,n_real,n_pred,pearson_delta,"));
    CHECK_CONTAINS(text, "\nK562,\"odd, \"\"name\"\"\",30,30,");
    CHECK_CONTAINS(text, ",energy_genes,pearson_delta_pert\n");
    long lines = 0;
    for (char *p = text; *p; p++) lines += *p == '\n';
    CHECK_INT(lines, 1 + NCOND);
    free(text);

    snprintf(path, sizeof path, "%s/summary.csv", dir);
    ptrag_metric_summary back[PTRAG_M_COUNT];
    CHECK_INT(ptrag_eval_read_summary_csv(path, back, &err), 0);
    for (int m = 0; m < PTRAG_M_COUNT; m++) {
        CHECK_INT(back[m].n, res.summary[m].n);
        if (isnan(res.summary[m].mean))
            CHECK(isnan(back[m].mean));
        else
            CHECK_NEAR(back[m].mean, res.summary[m].mean, 1e-9 * (1 + fabs(res.summary[m].mean)));
        if (isnan(res.summary[m].sd))
            CHECK(isnan(back[m].sd));
        else
            CHECK_NEAR(back[m].sd, res.summary[m].sd, 1e-9 * (1 + fabs(res.summary[m].sd)));
    }
    const char *bad = tl_tmp("test_metrics_bad_summary.csv");
    const char *content = "metric,mean,sd,n\nmse,0.5,0.1,3\nmae,abc,0.1,3\n";
    CHECK_INT(ptrag_write_file_atomic(bad, content, strlen(content), &err), 0);
    CHECK_INT(ptrag_eval_read_summary_csv(bad, back, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, bad);
    CHECK_CONTAINS(err.msg, "line 3");
    const char *bad2 = tl_tmp("test_metrics_bad_header.csv");
    CHECK_INT(ptrag_write_file_atomic(bad2, "x,y\n", 4, &err), 0);
    CHECK_INT(ptrag_eval_read_summary_csv(bad2, back, &err), PTRAG_E_FORMAT);
    CHECK_CONTAINS(err.msg, "header");
    ptrag_eval_result_free(&res);
    free_synthetic(&s);
}

static void test_summary_and_comparison_tables(void) {
    double v[5] = {1, 2, NAN, 3, 6};
    ptrag_metric_summary s;
    ptrag_metric_summarize(v, 5, 1, &s);
    CHECK_INT(s.n, 4);
    CHECK_NEAR(s.mean, 3, 1e-15);
    CHECK_NEAR(s.sd, sqrt(14.0 / 3), 1e-14);
    ptrag_metric_summarize(v, 1, 1, &s);
    CHECK(s.n == 1 && s.mean == 1 && isnan(s.sd));

    ptrag_metric_summary a[PTRAG_M_COUNT], b[PTRAG_M_COUNT];
    for (int m = 0; m < PTRAG_M_COUNT; m++) {
        a[m] = (ptrag_metric_summary){0.5, 0.1, 3};
        b[m] = (ptrag_metric_summary){0.25, NAN, 1};
    }
    ptrag_model_summary models[2] = {{"ptrag", a}, {"control", b}};
    int cols[2] = {PTRAG_M_PEARSON_DELTA, PTRAG_M_MSE};
    char *t;
    ptrag_error err;
    CHECK_INT(ptrag_eval_format_comparison(models, 2, cols, 2, PTRAG_TABLE_TEXT, &t, &err), 0);
    CHECK_CONTAINS(t, "model    pearson_delta");
    CHECK_CONTAINS(t, "0.5 +- 0.1");
    CHECK_CONTAINS(t, "control");
    free(t);
    CHECK_INT(ptrag_eval_format_comparison(models, 2, cols, 2, PTRAG_TABLE_MARKDOWN, &t, &err), 0);
    /* pearson_delta: higher is better -> ptrag bold; mse: lower -> control bold */
    CHECK_CONTAINS(t, "| ptrag   |");
    CHECK_CONTAINS(t, "**0.5 \xc2\xb1 0.1**");
    CHECK_CONTAINS(t, "**0.25** |\n");
    CHECK_CONTAINS(t, "|---------|");
    free(t);
    CHECK_INT(ptrag_eval_format_comparison(models, 2, NULL, 0, PTRAG_TABLE_CSV, &t, &err), 0);
    CHECK(starts_with(t, "model,pearson_delta_mean,pearson_delta_sd,pearson_delta_n,"));
    CHECK_CONTAINS(t, "\ncontrol,0.25,nan,1,");
    free(t);
    int badcol = PTRAG_M_COUNT;
    CHECK_INT(ptrag_eval_format_comparison(models, 2, &badcol, 1, PTRAG_TABLE_TEXT, &t, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "metric id");

    CHECK_INT(ptrag_metric_by_name("overlap_at_N"), PTRAG_M_OVERLAP_AT_N);
    CHECK_INT(ptrag_metric_by_name("nope"), -1);
    CHECK(ptrag_metric_info_of(PTRAG_M_COUNT) == NULL);
}

/* pearson_delta_pert by hand: shifts from the reference, not from control. */
static void test_pearson_delta_pert_by_hand(void) {
    /* ref (1,1,1,1); real (2,1,0,1) -> shift (1,0,-1,0); pred (1.5,1,1,0.5)
     * -> shift (0.5,0,0,-0.5); Pearson = 0.5 / sqrt(2 * 0.5) = 0.5. From
     * control (0,1,2,3) the deltas are (2,0,-2,-2) and (1.5,0,-1,-2.5). */
    const double ref[4] = {1, 1, 1, 1}, mr[4] = {2, 1, 0, 1}, mp[4] = {1.5, 1, 1, 0.5};
    int deg = -1;
    CHECK_NEAR(ptrag_pearson_shift(mp, mr, ref, 4, &deg), 0.5, 1e-15);
    CHECK_INT(deg, 0);
    const double flat[4] = {1.25, 1.25, 1.25, 1.25}; /* ref + constant: degenerate, scored 0 */
    CHECK_NEAR(ptrag_pearson_shift(flat, mr, ref, 4, &deg), 0, 0);
    CHECK_INT(deg, 1);
    /* Through ptrag_evaluate, one cell each; no reference gives NaN. */
    const float real[4] = {2, 1, 0, 1}, pred[4] = {1.5f, 1, 1, 0.5f}, ctrl[4] = {0, 1, 2, 3};
    ptrag_eval_condition c = {"P", real, 1, pred, 1};
    ptrag_eval_group grp = {"ct", ctrl, 1, ctrl, 1, &c, 1, ref};
    ptrag_eval_options opt;
    ptrag_eval_options_default(&opt);
    opt.skip_de = opt.skip_distributional = 1;
    ptrag_eval_result res;
    ptrag_error err;
    CHECK_INT(ptrag_evaluate(&grp, 1, 4, NULL, NULL, &opt, &res, &err), 0);
    CHECK_NEAR(res.conditions[0].v[PTRAG_M_PEARSON_DELTA_PERT], 0.5, 1e-12);
    /* pearson_delta of (2,0,-2,-2) vs (1.5,0,-1,-2.5): means -0.5, -0.5. */
    double a[4] = {2.5, 0.5, -1.5, -1.5}, b[4] = {2, 0.5, -0.5, -2}, sab = 0, saa = 0, sbb = 0;
    for (int j = 0; j < 4; j++) sab += a[j] * b[j], saa += a[j] * a[j], sbb += b[j] * b[j];
    CHECK_NEAR(res.conditions[0].v[PTRAG_M_PEARSON_DELTA], sab / sqrt(saa * sbb), 1e-12);
    ptrag_eval_result_free(&res);
    grp.pert_ref = NULL;
    CHECK_INT(ptrag_evaluate(&grp, 1, 4, NULL, NULL, &opt, &res, &err), 0);
    CHECK(isnan(res.conditions[0].v[PTRAG_M_PEARSON_DELTA_PERT]));
    ptrag_eval_result_free(&res);
}

int main(void) {
    RUN(test_pearson_and_profile_scores);
    RUN(test_discrimination_l1);
    RUN(test_mann_whitney_hand_values);
    RUN(test_bh_fdr_hand_values);
    RUN(test_de_compare_hand_values);
    RUN(test_de_test_on_small_data);
    RUN(test_one_dimensional_distances);
    RUN(test_feature_and_energy_distances);
    RUN(test_pca_hand_case);
    RUN(test_perfect_prediction_scores_best);
    RUN(test_control_mean_baseline_is_degenerate);
    RUN(test_results_do_not_depend_on_threads);
    RUN(test_bad_inputs_are_named);
    RUN(test_csv_files_round_trip);
    RUN(test_summary_and_comparison_tables);
    RUN(test_pearson_delta_pert_by_hand);
    return TEST_SUMMARY();
}
