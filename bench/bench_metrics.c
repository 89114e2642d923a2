/* Micro-benchmark of the evaluation metrics at realistic sizes: G genes, one
 * cell type with C conditions of N cells, NC control cells. Prints the time
 * of each stage per condition, and the speed-up of the gene-parallel DE and
 * the component-parallel distances from 1 thread to all threads (ratios
 * within this run, so the numbers compare across machines).
 *
 *   bench_metrics [G=2000] [C=8] [N=300] [NC=1000] */
#define _POSIX_C_SOURCE 200809L
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ptrag.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static float *random_cells(ptrag_rng *rng, long n, long g, double shift) {
    float *x = malloc((size_t)n * (size_t)g * sizeof *x);
    for (long i = 0; i < n * g; i++) {
        double v = 0.8 + shift * (double)((i % g) % 7 == 0) + 0.5 * ptrag_rng_normal(rng);
        x[i] = v < 0.3 ? 0.0f : (float)v; /* zeros and ties like log1p counts */
    }
    return x;
}

int main(int argc, char **argv) {
    long g = argc > 1 ? atol(argv[1]) : 2000;
    long nc = argc > 2 ? atol(argv[2]) : 8;
    long n = argc > 3 ? atol(argv[3]) : 300;
    long nctrl = argc > 4 ? atol(argv[4]) : 1000;
    int threads = omp_get_max_threads();
    printf("bench_metrics: G=%ld conditions=%ld cells=%ld controls=%ld threads=%d\n", g, nc, n,
           nctrl, threads);
    ptrag_rng rng;
    ptrag_rng_seed(&rng, 1);
    float *ctrl = random_cells(&rng, nctrl, g, 0.0);
    ptrag_eval_condition *conds = calloc((size_t)nc, sizeof *conds);
    for (long c = 0; c < nc; c++) {
        conds[c].perturbation = "P";
        conds[c].real = random_cells(&rng, n, g, 0.3 + 0.1 * (double)c);
        conds[c].n_real = n;
        conds[c].pred = random_cells(&rng, n, g, 0.25 + 0.1 * (double)c);
        conds[c].n_pred = n;
    }
    ptrag_error err;

    /* Stage timings (all threads). */
    double t0 = now();
    ptrag_pca pca;
    ptrag_pca_accum *acc;
    ptrag_pca_accum_new(g, &acc, &err);
    for (long c = 0; c < nc; c++) ptrag_pca_accum_add(acc, conds[c].real, n, &err);
    if (ptrag_pca_accum_finish(acc, 50, &pca, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    ptrag_pca_accum_free(acc);
    double t_pca = now() - t0;

    ptrag_de_options opt;
    ptrag_de_options_default(&opt);
    ptrag_de_reference *ref;
    t0 = now();
    ptrag_de_reference_new(ctrl, nctrl, g, &ref, &err);
    double t_ref = now() - t0;

    double t_de[2] = {0, 0}, t_dist[2] = {0, 0};
    float *pr = malloc((size_t)n * (size_t)pca.k * sizeof *pr);
    float *pp = malloc((size_t)n * (size_t)pca.k * sizeof *pp);
    int thread_counts[2] = {1, threads};
    for (int t = 0; t < 2; t++) {
        omp_set_num_threads(thread_counts[t]);
        for (long c = 0; c < nc; c++) {
            ptrag_de_result r;
            t0 = now();
            ptrag_de_test(ref, conds[c].real, n, &opt, &r, &err);
            t_de[t] += now() - t0;
            ptrag_de_result_free(&r);
            ptrag_pca_project(&pca, conds[c].real, n, pr, &err);
            ptrag_pca_project(&pca, conds[c].pred, n, pp, &err);
            ptrag_dist_scores s;
            t0 = now();
            ptrag_feature_distances(pr, n, pp, n, pca.k, &s, NULL, &err);
            t_dist[t] += now() - t0;
        }
    }
    omp_set_num_threads(threads);
    t0 = now();
    double e;
    for (long c = 0; c < nc; c++) ptrag_energy_distance(conds[c].real, n, conds[c].pred, n, g, &e, &err);
    double t_energy = now() - t0;

    ptrag_eval_group grp = {"ct", ctrl, nctrl, NULL, 0, conds, nc, NULL};
    ptrag_eval_result res;
    t0 = now();
    if (ptrag_evaluate(&grp, 1, g, NULL, NULL, NULL, &res, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    double t_all = now() - t0;

    printf("PCA fit (%ld cells, %d comps):   %8.3f s\n", nc * n, pca.k, t_pca);
    printf("DE control reference:            %8.3f s\n", t_ref);
    printf("DE test per condition:           %8.3f s (1 thread %.3f s, speed-up %.2fx)\n",
           t_de[1] / (double)nc, t_de[0] / (double)nc, t_de[0] / t_de[1]);
    printf("per-PC distances per condition:  %8.3f s (1 thread %.3f s, speed-up %.2fx)\n",
           t_dist[1] / (double)nc, t_dist[0] / (double)nc, t_dist[0] / t_dist[1]);
    printf("energy (genes) per condition:    %8.3f s\n", t_energy / (double)nc);
    printf("ptrag_evaluate, whole:           %8.3f s (%.3f s per condition)\n", t_all,
           t_all / (double)nc);
    ptrag_eval_result_free(&res);
    ptrag_de_reference_free(ref);
    ptrag_pca_free(&pca);
    free(pr);
    free(pp);
    for (long c = 0; c < nc; c++) {
        free((void *)conds[c].real);
        free((void *)conds[c].pred);
    }
    free(conds);
    free(ctrl);
    return 0;
}
