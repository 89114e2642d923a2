/* Preprocessing without Python: raw-count detection, normalisation + log1p,
 * the local regression, and properties of highly-variable-gene selection.
 * The comparison with a numpy reference is in test_hvg_reference.c. */
#include <math.h>
#include <stdint.h>

#include "ptrag/preprocess.h"
#include "ptrag/rng.h"
#include "testlib.h"

static void test_count_detection(void) {
    float counts[6] = {0, 3, 12, 0, 1, 250};
    long r = 0, c = 0;
    CHECK(ptrag_looks_like_counts(counts, 2, 3, &r, &c) == 1);
    CHECK_INT(r, -1);
    float logged[6] = {0, 1.386294f, 2.564949f, 0, 0.693147f, 5.525453f};
    CHECK(ptrag_looks_like_counts(logged, 2, 3, &r, &c) == 0);
    CHECK_INT(r, 0);
    CHECK_INT(c, 1);
    float neg[6] = {0, 3, 12, 0, -1, 250};
    CHECK(ptrag_looks_like_counts(neg, 2, 3, &r, &c) == 0);
    CHECK(r == 1 && c == 1);
    float nan_[4] = {1, 2, NAN, 4};
    CHECK(ptrag_looks_like_counts(nan_, 2, 2, &r, &c) == 0);
    CHECK(r == 1 && c == 0);
    float zeros[4] = {0};
    CHECK(ptrag_looks_like_counts(zeros, 2, 2, NULL, NULL) == 1);

    long rows[10];
    CHECK_INT(ptrag_sample_rows(1000, 4, rows), 4);
    CHECK(rows[0] == 0 && rows[1] == 250 && rows[3] == 750);
    CHECK_INT(ptrag_sample_rows(3, 10, rows), 3);
    CHECK_INT(rows[2], 2);
    CHECK_INT(ptrag_sample_rows(0, 10, rows), 0);
}

static void test_normalize(void) {
    float x[2 * 4] = {1, 0, 3, 6, 0, 0, 0, 0};
    ptrag_error err = {0};
    CHECK(ptrag_normalize_log1p(x, 2, 4, 1e4, &err) == 0);
    double expect[4] = {log1p(1e4 / 10), 0, log1p(3e4 / 10), log1p(6e4 / 10)};
    for (int j = 0; j < 4; j++) CHECK_NEAR(x[j], expect[j], 1e-5);
    for (int j = 0; j < 4; j++) CHECK(x[4 + j] == 0.0f); /* empty cell stays zero */
    double total = 0;
    for (int j = 0; j < 4; j++) total += expm1((double)x[j]);
    CHECK_NEAR(total, 1e4, 1e-2);

    float bad[4] = {1, 2, -3, 4};
    CHECK(ptrag_normalize_log1p(bad, 2, 2, 1e4, &err) == PTRAG_E_NUMERIC);
    CHECK_CONTAINS(err.msg, "row 1, column 0");
    CHECK(bad[0] != 1.0f && bad[2] == -3.0f); /* row 0 done, row 1 untouched */
    CHECK(ptrag_normalize_log1p(bad, 1, 2, 0.0, &err) == PTRAG_E_ARG);
}

static void test_loess(void) {
    enum { N = 200 };
    double x[N], y[N], fit[N];
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 3);
    for (int i = 0; i < N; i++) {
        x[i] = ptrag_rng_uniform(&rng) * 4.0 - 1.0;
        y[i] = 1.0 + 2.0 * x[i] - 0.5 * x[i] * x[i];
    }
    ptrag_error err = {0};
    /* a quadratic is reproduced exactly by a local quadratic fit */
    CHECK(ptrag_loess_fit(x, y, N, 0.3, 2, fit, &err) == 0);
    double worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(fit[i] - y[i]));
    CHECK(worst < 1e-9);
    /* noise is smoothed: the fit is closer to the curve than the data */
    double e_data = 0, e_fit = 0;
    for (int i = 0; i < N; i++) {
        double truth = y[i];
        y[i] += 0.3 * ptrag_rng_normal(&rng);
        e_data += (y[i] - truth) * (y[i] - truth);
        x[i] = x[i]; /* unchanged */
    }
    CHECK(ptrag_loess_fit(x, y, N, 0.3, 2, fit, &err) == 0);
    for (int i = 0; i < N; i++) {
        double truth = 1.0 + 2.0 * x[i] - 0.5 * x[i] * x[i];
        e_fit += (fit[i] - truth) * (fit[i] - truth);
    }
    CHECK(e_fit < 0.3 * e_data);
    /* ties: every x equal -> the mean */
    double tx[5] = {1, 1, 1, 1, 1}, ty[5] = {1, 2, 3, 4, 5}, tf[5];
    CHECK(ptrag_loess_fit(tx, ty, 5, 0.5, 2, tf, &err) == 0);
    CHECK_NEAR(tf[0], 3.0, 1e-12);
    CHECK(ptrag_loess_fit(tx, ty, 1, 0.5, 2, tf, &err) == PTRAG_E_ARG);
}

/* Poisson draw (Knuth for small means, rounded normal for large). */
static float poisson(ptrag_rng *rng, double mu) {
    if (mu > 40) {
        double v = floor(mu + sqrt(mu) * ptrag_rng_normal(rng) + 0.5);
        return (float)(v < 0 ? 0 : v);
    }
    double l = exp(-mu), p = 1.0;
    int k = 0;
    do {
        k++;
        p *= ptrag_rng_uniform(rng);
    } while (p > l);
    return (float)(k - 1);
}

/* Counts where every 8th gene is strongly over-dispersed (cell-to-cell
 * lognormal factor), the rest Poisson. */
static float *make_counts(long n, long g, uint64_t seed) {
    float *x = malloc((size_t)(n * g) * sizeof *x);
    ptrag_rng rng;
    ptrag_rng_seed(&rng, seed);
    double *mu = malloc((size_t)g * sizeof *mu);
    for (long j = 0; j < g; j++) mu[j] = exp(1.2 * ptrag_rng_normal(&rng) - 0.5);
    for (long i = 0; i < n; i++)
        for (long j = 0; j < g; j++) {
            double m = mu[j];
            if (j % 8 == 0) m *= exp(1.5 * ptrag_rng_normal(&rng) - 1.125);
            x[i * g + j] = poisson(&rng, m);
        }
    free(mu);
    return x;
}

static int run_hvg(const float *x, long n, long g, long block, long ntop, long *genes,
                   double *scores) {
    ptrag_hvg *h = NULL;
    ptrag_error err = {0};
    int rc = ptrag_hvg_new(g, &h, &err);
    for (int pass = 0; pass < 2 && !rc; pass++) {
        for (long r = 0; r < n && !rc; r += block)
            rc = ptrag_hvg_add_block(h, x + r * g, r + block <= n ? block : n - r, &err);
        if (!rc && pass == 0) rc = ptrag_hvg_next_pass(h, &err);
    }
    if (!rc) rc = ptrag_hvg_finish(h, ntop, genes, &err);
    if (!rc) memcpy(scores, ptrag_hvg_scores(h), (size_t)g * sizeof *scores);
    CHECK_MSG(rc == 0, "%s", err.msg);
    ptrag_hvg_free(h);
    return rc;
}

static void test_hvg_properties(void) {
    long n = 600, g = 160, ntop = 20;
    float *x = make_counts(n, g, 11);
    long genes[20], genes2[20];
    double *s1 = malloc((size_t)g * sizeof *s1), *s2 = malloc((size_t)g * sizeof *s2);
    if (run_hvg(x, n, g, n, ntop, genes, s1) == 0 && run_hvg(x, n, g, 37, ntop, genes2, s2) == 0) {
        /* block boundaries do not change the answer */
        CHECK(memcmp(genes, genes2, sizeof genes) == 0);
        double worst = 0;
        for (long j = 0; j < g; j++) worst = fmax(worst, fabs(s1[j] - s2[j]) / fabs(s1[j]));
        CHECK(worst < 1e-10);
        /* the over-dispersed genes (every 8th: 20 of them) are the ones chosen */
        int hits = 0;
        for (int k = 0; k < 20; k++) {
            hits += genes[k] % 8 == 0;
            if (k) CHECK(genes[k] > genes[k - 1]);
        }
        CHECK(hits >= 18);
        /* Poisson genes have a standardised variance near 1 */
        double mean_poisson = 0;
        int np = 0;
        for (long j = 0; j < g; j++)
            if (j % 8) {
                mean_poisson += s1[j];
                np++;
            }
        mean_poisson /= np;
        CHECK(mean_poisson > 0.5 && mean_poisson < 1.5);
    }

    /* state and input errors */
    ptrag_hvg *h = NULL;
    ptrag_error err = {0};
    CHECK(ptrag_hvg_new(g, &h, &err) == 0);
    CHECK(ptrag_hvg_finish(h, 5, genes, &err) == PTRAG_E_STATE);
    CHECK(ptrag_hvg_add_block(h, x, 100, &err) == 0);
    CHECK(ptrag_hvg_next_pass(h, &err) == 0);
    CHECK(ptrag_hvg_means(h) != NULL && ptrag_hvg_scores(h) == NULL);
    CHECK(ptrag_hvg_add_block(h, x, 99, &err) == 0);
    CHECK(ptrag_hvg_finish(h, 5, genes, &err) == PTRAG_E_STATE);
    CHECK_CONTAINS(err.msg, "pass 2 saw 99 rows, pass 1 saw 100");
    CHECK(ptrag_hvg_add_block(h, x + 99 * g, 1, &err) == 0);
    CHECK(ptrag_hvg_finish(h, g + 1, genes, &err) == PTRAG_E_ARG);
    ptrag_hvg_free(h);
    CHECK(ptrag_hvg_new(g, &h, &err) == 0);
    x[5] = -1.0f;
    CHECK(ptrag_hvg_add_block(h, x, 10, &err) == PTRAG_E_NUMERIC);
    CHECK_CONTAINS(err.msg, "row 0, gene 5");
    ptrag_hvg_free(h);
    float flat[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(ptrag_hvg_new(4, &h, &err) == 0);
    CHECK(ptrag_hvg_add_block(h, flat, 2, &err) == 0);
    CHECK(ptrag_hvg_next_pass(h, &err) == PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "non-zero variance");
    ptrag_hvg_free(h);
    free(s1);
    free(s2);
    free(x);
}

int main(void) {
    RUN(test_count_detection);
    RUN(test_normalize);
    RUN(test_loess);
    RUN(test_hvg_properties);
    return TEST_SUMMARY();
}
