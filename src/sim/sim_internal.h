/* Internals of the simulator (not public): the sampler, the source
 * statistics, the modules and the truth expectation. */
#ifndef PTRAG_SIM_INTERNAL_H
#define PTRAG_SIM_INTERNAL_H

#include <stdint.h>

#include "ptrag/error.h"
#include "ptrag/rng.h"
#include "ptrag/simulate.h"

/* ---- sampling (sim_sample.c) ---- */
/* Gamma(shape, scale = 1) by Marsaglia-Tsang (shape < 1 boosted by U^(1/shape)). */
double sim_gamma(ptrag_rng *r, double shape);
/* Poisson(lambda): inversion for small lambda, PTRS (Hoermann 1993) above. */
long sim_poisson(ptrag_rng *r, double lambda);
/* Negative binomial with mean m and dispersion phi (var = m + phi m^2) as
 * gamma-Poisson; phi <= 0 is Poisson. */
long sim_nb(ptrag_rng *r, double m, double phi);
/* E[log1p(k y)] for y ~ NB(m, phi), by summing the pmf (a second-order
 * expansion for very large means). */
double sim_nb_expect_log1p(double m, double phi, double k);

/* ---- control statistics of the source (sim_source.c) ---- */
typedef struct sim_source {
    int n_ct;
    char **ct_names;     /* source cell types with enough controls */
    long n_genes;
    char **gene_names;
    double *frac;        /* n_ct x n_genes: mean share of the library (q) */
    double *disp;        /* n_ct x n_genes: NB dispersion (phi) */
    double *loglib_mean; /* n_ct: mean of log library size */
    double *loglib_sd;
    long *n_controls;
    int scale_log1p;     /* what the source held (after "auto") */
    int had_libsize;     /* log1p source: library sizes from the libsize column */
} sim_source;

int sim_source_load(const ptrag_sim_opts *o, sim_source *s, ptrag_error *err);
void sim_source_free(sim_source *s);

/* ---- modules (sim_modules.c) ---- */
/* Spherical k-means of n unit-normalised rows (dim d) into k clusters,
 * k-means++ seeded from rng; assign[n]. Deterministic for a given rng. */
int sim_kmeans_cosine(const float *x, long n, int d, int k, ptrag_rng *rng, int *assign, ptrag_error *err);

#endif
