/* Metrics against independent values from /usr/bin/python3 with numpy/scipy
 * (tests/metrics_ref.py): per-feature W1/W2/energy/MMD (with ties),
 * Pearson delta and profile errors, Mann-Whitney p-values, BH FDR and log2
 * fold changes, energy distance in gene space, PCA (eigenvalues, components,
 * projections) and the per-PC distances of ptrag_evaluate. Skips (77) when
 * scipy is not installed. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ptrag.h"
#include "testlib.h"

enum { NR = 40, NP = 35, NCR = 50, NCP = 45, G = 60, FN = 23, FM = 31, FD = 7 };

static char dir[4096];

static void write_matrix(FILE *spec, const char *name, const float *x, long rows, long cols) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.f32", dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(x, sizeof(float), (size_t)(rows * cols), f) == (size_t)(rows * cols));
    fclose(f);
    fprintf(spec, "%s %ld %ld\n", name, rows, cols);
}

/* Reference values: "name v1 v2 ..." lines from out.txt. */
typedef struct {
    char name[64];
    long n;
    double *v;
} ref_entry;
static ref_entry refs[64];
static int n_refs;

static void load_refs(void) {
    char path[4200];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    char *text;
    ptrag_error err;
    if (ptrag_read_file(path, &text, NULL, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        CHECK(0);
        return;
    }
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && n_refs < 64;
         line = strtok_r(NULL, "\n", &save)) {
        ref_entry *e = &refs[n_refs++];
        char *s2 = NULL;
        char *tok = strtok_r(line, " ", &s2);
        snprintf(e->name, sizeof e->name, "%s", tok);
        long cap = 16;
        e->v = malloc((size_t)cap * sizeof(double));
        e->n = 0;
        while ((tok = strtok_r(NULL, " ", &s2))) {
            if (e->n == cap) e->v = realloc(e->v, (size_t)(cap *= 2) * sizeof(double));
            e->v[e->n++] = strtod(tok, NULL);
        }
    }
    free(text);
}

static const double *ref(const char *name, long expect_n) {
    for (int i = 0; i < n_refs; i++)
        if (strcmp(refs[i].name, name) == 0) {
            CHECK_MSG(refs[i].n == expect_n, "%s: %ld values, expected %ld", name, refs[i].n, expect_n);
            return refs[i].n == expect_n ? refs[i].v : NULL;
        }
    CHECK_MSG(0, "reference %s missing", name);
    return NULL;
}

/* |a - b| <= atol + rtol |b| for every element; reports the first miss. */
static void check_close(const char *what, const double *got, const double *want, long n,
                        double rtol, double atol) {
    if (!want) return;
    for (long i = 0; i < n; i++) {
        double a = got[i], b = want[i];
        int ok = (isnan(a) && isnan(b)) || fabs(a - b) <= atol + rtol * fabs(b);
        if (!ok) {
            CHECK_MSG(ok, "%s[%ld]: got %.12g, reference %.12g", what, i, a, b);
            return;
        }
    }
}

/* scRNA-like log1p values: many zeros and a coarse grid (ties). */
static float sc_value(ptrag_rng *rng, double mu) {
    double v = mu + 0.6 * ptrag_rng_normal(rng);
    if (v < 0.2) return 0.0f;
    return (float)(round(v * 4.0) / 4.0);
}

static float *fx, *fy, *R, *P, *Cr, *Cp, *PR, *PP;
static ptrag_pca pca;

static void make_data(void) {
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 2024);
    fx = malloc(FN * FD * sizeof(float));
    fy = malloc(FM * FD * sizeof(float));
    for (int i = 0; i < FN * FD; i++) fx[i] = (float)(round(ptrag_rng_normal(&rng) * 3) / 3);
    for (int i = 0; i < FM * FD; i++) fy[i] = (float)(round((0.4 + 1.3 * ptrag_rng_normal(&rng)) * 3) / 3);
    fx[0 * FD + 6] = fx[1 * FD + 6] = 2.0f; /* column 6: heavy ties */
    for (int i = 0; i < FN; i++) fx[i * FD + 5] = 1.0f; /* column 5: constant in x */
    for (int i = 0; i < FM; i++) fy[i * FD + 5] = 1.0f; /* ... and identical in y */

    double base[G], shift[G], pshift[G];
    for (int j = 0; j < G; j++) {
        base[j] = 0.3 + 1.5 * ptrag_rng_uniform(&rng);
        shift[j] = j % 4 == 0 ? 1.2 * (ptrag_rng_uniform(&rng) - 0.4) : 0.0;
        pshift[j] = j % 3 == 0 ? shift[j] + (ptrag_rng_uniform(&rng) < 0.5 ? -0.7 : 0.7) : 0.3 * shift[j];
    }
    R = malloc(NR * G * sizeof(float));
    P = malloc(NP * G * sizeof(float));
    Cr = malloc(NCR * G * sizeof(float));
    Cp = malloc(NCP * G * sizeof(float));
    for (int i = 0; i < NR; i++)
        for (int j = 0; j < G; j++) R[i * G + j] = sc_value(&rng, base[j] + shift[j]);
    for (int i = 0; i < NP; i++)
        for (int j = 0; j < G; j++) P[i * G + j] = sc_value(&rng, base[j] + pshift[j]);
    for (int i = 0; i < NCR; i++)
        for (int j = 0; j < G; j++) Cr[i * G + j] = sc_value(&rng, base[j]);
    for (int i = 0; i < NCP; i++)
        for (int j = 0; j < G; j++) Cp[i * G + j] = sc_value(&rng, base[j] + 0.05);
    /* gene 7 constant zero everywhere (all-tied Mann-Whitney) */
    for (int i = 0; i < NR; i++) R[i * G + 7] = 0;
    for (int i = 0; i < NCR; i++) Cr[i * G + 7] = 0;
}

static int write_inputs(void) {
    ptrag_error err;
    int rc = ptrag_pca_fit(R, NR, G, 50, &pca, &err);
    CHECK_INT(rc, 0);
    if (rc) return rc;
    PR = malloc((size_t)NR * pca.k * sizeof(float));
    PP = malloc((size_t)NP * pca.k * sizeof(float));
    CHECK_INT(ptrag_pca_project(&pca, R, NR, PR, &err), 0);
    CHECK_INT(ptrag_pca_project(&pca, P, NP, PP, &err), 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/spec.txt", dir);
    FILE *spec = fopen(path, "w");
    CHECK(spec != NULL);
    if (!spec) return -1;
    write_matrix(spec, "fx", fx, FN, FD);
    write_matrix(spec, "fy", fy, FM, FD);
    write_matrix(spec, "R", R, NR, G);
    write_matrix(spec, "P", P, NP, G);
    write_matrix(spec, "Cr", Cr, NCR, G);
    write_matrix(spec, "Cp", Cp, NCP, G);
    write_matrix(spec, "PR", PR, NR, pca.k);
    write_matrix(spec, "PP", PP, NP, pca.k);
    fclose(spec);
    return 0;
}

static void check_features(const char *prefix, const float *x, long n, const float *y, long m, long d) {
    ptrag_dist_scores mean, *pf = malloc((size_t)d * sizeof *pf);
    double *v = malloc((size_t)d * sizeof(double));
    ptrag_error err;
    CHECK_INT(ptrag_feature_distances(x, n, y, m, d, &mean, pf, &err), 0);
    char name[64];
    const char *fields[4] = {"w1", "w2", "energy", "mmd"};
    for (int f = 0; f < 4; f++) {
        for (long c = 0; c < d; c++)
            v[c] = f == 0 ? pf[c].w1 : f == 1 ? pf[c].w2 : f == 2 ? pf[c].energy : pf[c].mmd;
        snprintf(name, sizeof name, "%s_%s", prefix, fields[f]);
        const double *want = ref(name, d);
        check_close(name, v, want, d, 1e-9, 1e-12);
        if (want) {
            double s = 0;
            for (long c = 0; c < d; c++) s += want[c];
            double got = f == 0 ? mean.w1 : f == 1 ? mean.w2 : f == 2 ? mean.energy : mean.mmd;
            CHECK_NEAR(got, s / (double)d, 1e-9 * (1 + fabs(s)));
        }
    }
    free(pf);
    free(v);
}

static void test_feature_distances_match_scipy(void) { check_features("feat", fx, FN, fy, FM, FD); }

static void test_profile_metrics_match_scipy(void) {
    double mr[G], mp[G], mcr[G], mcp[G];
    ptrag_col_means(R, NR, G, mr);
    ptrag_col_means(P, NP, G, mp);
    ptrag_col_means(Cr, NCR, G, mcr);
    ptrag_col_means(Cp, NCP, G, mcp);
    ptrag_profile_scores s;
    ptrag_profile_scores_compute(mp, mcp, mr, mcr, G, &s);
    CHECK_INT(s.pearson_degenerate, 0);
    check_close("pearson_delta", &s.pearson_delta, ref("pearson_delta", 1), 1, 1e-10, 1e-12);
    check_close("mse", &s.mse, ref("mse", 1), 1, 1e-10, 1e-14);
    check_close("mae", &s.mae, ref("mae", 1), 1, 1e-10, 1e-14);
    check_close("mse_delta", &s.mse_delta, ref("mse_delta", 1), 1, 1e-10, 1e-14);
    check_close("mae_delta", &s.mae_delta, ref("mae_delta", 1), 1, 1e-10, 1e-14);
}

static void check_de(const char *prefix, const float *x, long n, const float *ctrl, long nc) {
    ptrag_error err;
    ptrag_de_reference *ref_ctrl;
    CHECK_INT(ptrag_de_reference_new(ctrl, nc, G, &ref_ctrl, &err), 0);
    ptrag_de_options opt;
    ptrag_de_options_default(&opt);
    ptrag_de_result r;
    CHECK_INT(ptrag_de_test(ref_ctrl, x, n, &opt, &r, &err), 0);
    char name[64];
    snprintf(name, sizeof name, "%s_p", prefix);
    check_close(name, r.pvalue, ref(name, G), G, 1e-9, 1e-300);
    snprintf(name, sizeof name, "%s_q", prefix);
    const double *q = ref(name, G);
    check_close(name, r.fdr, q, G, 1e-9, 1e-300);
    snprintf(name, sizeof name, "%s_lfc", prefix);
    check_close(name, r.log2fc, ref(name, G), G, 1e-9, 1e-12);
    if (q) {
        long n_sig = 0;
        for (int j = 0; j < G; j++) n_sig += q[j] < 0.05;
        CHECK_INT(r.n_sig, n_sig);
        CHECK_MSG(n_sig > 3, "%s: only %ld significant genes: the test data need real effects", prefix, n_sig);
    }
    ptrag_de_result_free(&r);
    ptrag_de_reference_free(ref_ctrl);
}

static void test_de_matches_scipy(void) {
    check_de("de_real", R, NR, Cr, NCR);
    check_de("de_pred", P, NP, Cp, NCP);
}

static void test_energy_distance_matches_brute_force(void) {
    double e;
    ptrag_error err;
    CHECK_INT(ptrag_energy_distance(R, NR, P, NP, G, &e, &err), 0);
    const double *want = ref("energy_genes", 1);
    /* Gram matrices in float32: relative to the mean distance scale. */
    if (want) CHECK_NEAR(e, want[0], 2e-4 * (1 + want[0]) + 1e-4);
}

static void test_pca_matches_eigh(void) {
    long k = pca.k;
    CHECK_INT(k, NR - 1 < G - 1 ? NR - 1 : G - 1);
    const double *var = ref("pca_var", k);
    const double *total = ref("pca_total", 1);
    if (var) {
        for (long c = 0; c < k; c++)
            CHECK_NEAR(pca.variance[c], var[c], 1e-5 * var[0]);
        for (long c = 1; c < k; c++) CHECK(pca.variance[c] <= pca.variance[c - 1]);
    }
    if (total) CHECK_NEAR(pca.total_variance, total[0], 1e-6 * total[0]);
    /* Orthonormal columns. */
    for (long a = 0; a < k; a++)
        for (long b = a; b < k; b++) {
            double dot = 0;
            for (long j = 0; j < G; j++)
                dot += (double)pca.components[j * k + a] * pca.components[j * k + b];
            CHECK_NEAR(dot, a == b ? 1.0 : 0.0, 1e-5);
        }
    /* Leading components (well separated) and projections agree in sign too. */
    const double *comp = ref("pca_comp", G * k);
    const double *proj = ref("pca_proj_r", NR * k);
    int lead = 5;
    if (comp && var) {
        for (long c = 0; c < lead; c++) {
            CHECK_MSG(var[c] - var[c + 1] > 0.02 * var[0], "component %ld not separated", c);
            for (long j = 0; j < G; j++)
                CHECK_NEAR(pca.components[j * k + c], comp[j * k + c], 1e-3);
        }
    }
    if (proj)
        for (long i = 0; i < NR; i++)
            for (long c = 0; c < lead; c++) CHECK_NEAR(PR[i * k + c], proj[i * k + c], 1e-3);
    /* Reconstruction with all components recovers the centred data of the fit
     * rows (rank <= n - 1). */
    double worst = 0;
    for (long i = 0; i < NR; i++)
        for (long j = 0; j < G; j++) {
            double rec = pca.mean[j];
            for (long c = 0; c < k; c++) rec += (double)PR[i * k + c] * pca.components[j * k + c];
            double e = fabs(rec - R[i * G + j]);
            if (e > worst) worst = e;
        }
    CHECK_MSG(worst < 1e-4, "reconstruction error %g", worst);
}

static void test_pca_distances_match_scipy(void) {
    check_features("pcafeat", PR, NR, PP, NP, pca.k);
    /* ptrag_evaluate with the same basis gives the averages of those. */
    ptrag_eval_condition cond = {"GENE1", R, NR, P, NP};
    ptrag_eval_group grp = {"ct", Cr, NCR, Cp, NCP, &cond, 1, NULL};
    ptrag_eval_result res;
    ptrag_error err;
    CHECK_INT(ptrag_evaluate(&grp, 1, G, NULL, &pca, NULL, &res, &err), 0);
    const char *names[4] = {"pcafeat_w1", "pcafeat_w2", "pcafeat_mmd", "pcafeat_energy"};
    int ids[4] = {PTRAG_M_W1_PCA, PTRAG_M_W2_PCA, PTRAG_M_MMD_PCA, PTRAG_M_ENERGY_PCA};
    for (int f = 0; f < 4; f++) {
        const double *w = ref(names[f], pca.k);
        if (!w) continue;
        double s = 0;
        for (long c = 0; c < pca.k; c++) s += w[c];
        CHECK_NEAR(res.conditions[0].v[ids[f]], s / pca.k, 1e-9 * (1 + fabs(s)));
    }
    const double *pd = ref("pearson_delta", 1), *eg = ref("energy_genes", 1);
    if (pd) CHECK_NEAR(res.conditions[0].v[PTRAG_M_PEARSON_DELTA], pd[0], 1e-10);
    if (eg) CHECK_NEAR(res.conditions[0].v[PTRAG_M_ENERGY_GENES], eg[0], 2e-4 * (1 + eg[0]));
    ptrag_eval_result_free(&res);
}

int main(void) {
    if (system("/usr/bin/python3 -c 'import numpy, scipy.stats' >/dev/null 2>&1") != 0) {
        printf("SKIP: /usr/bin/python3 with numpy and scipy is not available\n");
        return 77;
    }
    snprintf(dir, sizeof dir, "%s", tl_tmp("test_metrics_ref"));
    mkdir(dir, 0755);
    make_data();
    if (write_inputs() != 0) return TEST_SUMMARY();
    char cmd[8400];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/metrics_ref.py %s", PTRAG_SOURCE_DIR, dir);
    int rc = system(cmd);
    CHECK_INT(rc, 0);
    if (rc != 0) return TEST_SUMMARY();
    load_refs();
    RUN(test_feature_distances_match_scipy);
    RUN(test_profile_metrics_match_scipy);
    RUN(test_de_matches_scipy);
    RUN(test_energy_distance_matches_brute_force);
    RUN(test_pca_matches_eigh);
    RUN(test_pca_distances_match_scipy);
    for (int i = 0; i < n_refs; i++) free(refs[i].v);
    free(fx);
    free(fy);
    free(R);
    free(P);
    free(Cr);
    free(Cp);
    free(PR);
    free(PP);
    ptrag_pca_free(&pca);
    return TEST_SUMMARY();
}
