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
double ptrag_sim_gamma(ptrag_rng *r, double shape);
/* Poisson(lambda): inversion for small lambda, PTRS (Hoermann 1993) above. */
long ptrag_sim_poisson(ptrag_rng *r, double lambda);
/* Negative binomial with mean m and dispersion phi (var = m + phi m^2) as
 * gamma-Poisson; phi <= 0 is Poisson. */
long ptrag_sim_nb(ptrag_rng *r, double m, double phi);
/* E[log1p(k y)] for y ~ NB(m, phi), by summing the pmf (a second-order
 * expansion for very large means). */
double ptrag_sim_nb_expect_log1p(double m, double phi, double k);

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
    int had_libsize;     /* log1p source: library sizes from the libsize column (else: smallest step) */
} sim_source;

int ptrag_sim_source_load(const ptrag_sim_opts *o, sim_source *s, ptrag_error *err);
void ptrag_sim_source_free(sim_source *s);

/* ---- modules (sim_modules.c) ---- */
/* Spherical k-means of n unit-normalised rows (dim d) into k clusters,
 * k-means++ seeded from rng; assign[n]. Deterministic for a given rng. */
int ptrag_sim_kmeans_cosine(const float *x, long n, int d, int k, ptrag_rng *rng, int *assign, ptrag_error *err);

/* ---- the model (sim_model.c) and its outputs (sim_output.c) ---- */

/* Streams of the counter-based seeds (one per purpose). */
enum { S_PERTS = 1, S_MODULES, S_PROGRAMS, S_CT, S_BATCH, S_SPLIT, S_LAYOUT, S_CELLS, S_GENES };

static inline void sim_seed_rng(ptrag_rng *r, uint64_t seed, uint64_t stream, uint64_t index) {
    ptrag_rng_seed(r, ptrag_hash_u64(seed, stream, index));
}

typedef struct sim_model {
    int n_ct, P, K, G, B;
    char **ct_names;     /* n_ct (owned) */
    int *ct_src;         /* source cell type of each */
    char **pert_names;   /* P (owned) */
    int *module;         /* P */
    double *strength;    /* P */
    float *lfc;          /* n_ct x (P + 1) x G: row 0 of a cell type = control (zeros) */
    double *q;           /* n_ct x G: library shares */
    double *phi;         /* n_ct x G */
    double *lib_mu, *lib_sd; /* n_ct: log library size */
    double *factor;      /* K x n_ct */
    float *batch;        /* B x G */
    char **genes;        /* G (owned) */
    long *n_cells;       /* n_ct x (P + 1): cells per condition (index 0 = controls) */
    int *split_ct;       /* P: split in the held-out cell type (0 train, 1 val, 2 test) */
    int heldout;
} sim_model;

/* Replogle-Nadig's four cell lines, the default names of the replogle layout. */
#define SIM_REPLOGLE_LINES "K562,RPE1,Jurkat,HepG2"

static inline float *sim_lfc_row(const sim_model *m, int c, int p1) {
    return m->lfc + ((size_t)c * (size_t)(m->P + 1) + (size_t)p1) * (size_t)m->G;
}


/* Genes: the source's (n_genes = 0 or equal), its top-n by mean share
 * (fewer), or its genes followed by jittered copies (more). Fills q and phi. */
void ptrag_sim_model_free(sim_model *m);

/* Builders, in order: genes (q, phi), perturbations (+ their unit vectors),
 * effects (after the modules are assigned), cells per condition and split. */
struct ptrag_embeddings;
int ptrag_sim_build_genes(const ptrag_sim_opts *o, const sim_source *s, sim_model *m, ptrag_error *err);
int ptrag_sim_choose_perts(const ptrag_sim_opts *o, sim_model *m, const struct ptrag_embeddings *e, float **vecs_out,
                     ptrag_error *err);
int ptrag_sim_build_effects(const ptrag_sim_opts *o, sim_model *m, ptrag_error *err);
int ptrag_sim_build_layout(const ptrag_sim_opts *o, sim_model *m, ptrag_error *err);

/* Outputs: truth.h5ad, the cells of cell types [c0, c1) to one file (cell
 * indices continue from *cells_done), a split file, simulate.txt. */
int ptrag_sim_write_truth(const ptrag_sim_opts *o, const sim_model *m, const char *path, ptrag_error *err);
int ptrag_sim_write_cells(const ptrag_sim_opts *o, const sim_model *m, int c0, int c1, const char *path, long *cells_done,
                    long cells_total, ptrag_error *err);
int ptrag_sim_write_split(const ptrag_sim_opts *o, const sim_model *m, const char *path, const char *data_rel, int zeroshot,
                    ptrag_error *err);
int ptrag_sim_write_settings(const ptrag_sim_opts *o, const sim_model *m, const sim_source *s, const char *path,
                       ptrag_error *err);
/* Threads of the parallel loops: --threads, else OpenMP's default. */
int ptrag_sim_threads(const ptrag_sim_opts *o);

#endif
