/* The split-half ceiling (ptrag_eval_ceiling): on data whose cells are
 * perfect copies within each condition, both halves are identical and every
 * metric reaches its best value; with noise the ceiling falls short of it,
 * is reproducible for a seed and changes with the seed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ptrag/metrics.h"
#include "ptrag/rng.h"
#include "testlib.h"

enum { G = 24, NCOND = 4, NCELL = 40, NCTRL = 40 };

typedef struct data {
    float ctrl[NCTRL * G];
    float cells[NCOND][NCELL * G];
    ptrag_eval_condition conds[NCOND];
    double ref[G];
    const char *genes[G];
    char names[G][8];
} data;

/* Condition c shifts genes j with j % NCOND == c; noise sd `noise`. */
static void make(data *d, double noise, uint64_t seed) {
    static const char *perts[NCOND] = {"A", "B", "C", "D"};
    ptrag_rng rng;
    ptrag_rng_seed(&rng, seed);
    for (int j = 0; j < G; j++) {
        snprintf(d->names[j], sizeof d->names[j], "g%d", j);
        d->genes[j] = d->names[j];
        d->ref[j] = 0;
    }
    for (long i = 0; i < NCTRL; i++)
        for (int j = 0; j < G; j++) d->ctrl[i * G + j] = (float)(1.0 + 0.1 * j + noise * ptrag_rng_normal(&rng));
    for (int c = 0; c < NCOND; c++) {
        for (long i = 0; i < NCELL; i++)
            for (int j = 0; j < G; j++) {
                double shift = j % NCOND == c ? (j % 2 ? 1.5 : -0.7) * (1 + 0.2 * c) : 0.0;
                float v = (float)(1.0 + 0.1 * j + shift + noise * ptrag_rng_normal(&rng));
                d->cells[c][i * G + j] = v;
                d->ref[j] += v / (NCOND * NCELL);
            }
        d->conds[c] = (ptrag_eval_condition){perts[c], d->cells[c], NCELL, NULL, 0};
    }
}

static void test_perfect_copy_scores_best(void) {
    static data d;
    make(&d, 0.0, 1); /* every cell of a condition identical */
    ptrag_eval_group grp = {"ct", d.ctrl, NCTRL, NULL, 0, d.conds, NCOND, d.ref};
    ptrag_metric_summary m[PTRAG_M_COUNT];
    ptrag_error err;
    CHECK_INT(ptrag_eval_ceiling(&grp, 1, G, d.genes, NULL, 3, 42, m, &err), 0);
    for (int k = 0; k < PTRAG_M_COUNT; k++) {
        const ptrag_metric_info *info = ptrag_metric_info_of(k);
        if (info->best == PTRAG_BEST_NONE) continue;
        CHECK_MSG(fabs(m[k].mean - info->best_value) <= 1e-9, "%s: ceiling %g, best %g", info->name, m[k].mean,
                  info->best_value);
        CHECK_MSG(m[k].n == 3, "%s: %ld splits", info->name, m[k].n);
    }
}

static void test_noisy_ceiling_below_best(void) {
    static data d;
    make(&d, 0.8, 2);
    ptrag_eval_group grp = {"ct", d.ctrl, NCTRL, NULL, 0, d.conds, NCOND, d.ref};
    ptrag_metric_summary a[PTRAG_M_COUNT], b[PTRAG_M_COUNT], c[PTRAG_M_COUNT];
    ptrag_error err;
    CHECK_INT(ptrag_eval_ceiling(&grp, 1, G, d.genes, NULL, 5, 42, a, &err), 0);
    CHECK_INT(ptrag_eval_ceiling(&grp, 1, G, d.genes, NULL, 5, 42, b, &err), 0);
    CHECK_INT(ptrag_eval_ceiling(&grp, 1, G, d.genes, NULL, 5, 7, c, &err), 0);
    double pd = a[PTRAG_M_PEARSON_DELTA].mean;
    CHECK_MSG(pd > 0.5 && pd < 0.999, "noisy ceiling pearson_delta %g", pd);
    CHECK(a[PTRAG_M_MSE].mean > 1e-3);
    CHECK(a[PTRAG_M_PEARSON_DELTA].sd > 0);
    CHECK(isfinite(a[PTRAG_M_PEARSON_DELTA_PERT].mean) && a[PTRAG_M_PEARSON_DELTA_PERT].mean < 0.999);
    for (int k = 0; k < PTRAG_M_COUNT; k++)
        CHECK_MSG(a[k].mean == b[k].mean || (isnan(a[k].mean) && isnan(b[k].mean)), "%s not reproducible",
                  ptrag_metric_info_of(k)->name);
    CHECK(c[PTRAG_M_PEARSON_DELTA].mean != a[PTRAG_M_PEARSON_DELTA].mean);
    CHECK_INT(ptrag_eval_ceiling(&grp, 1, G, d.genes, NULL, 0, 42, a, &err), PTRAG_E_ARG);
    CHECK_CONTAINS(err.msg, "splits 0");
}

int main(void) {
    RUN(test_perfect_copy_scores_best);
    RUN(test_noisy_ceiling_below_best);
    return TEST_SUMMARY();
}
