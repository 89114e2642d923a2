/* Stage src/sim of the pipeline (include/ptrag.h, README "Layout"): simulated experiments; uses run, data, io.
 *
 * Simulated Perturb-seq experiments with known truth (`ptrag simulate`).
 *
 * The generative model (docs/simulate.md has the formulas): per cell type,
 * per-gene control means and negative-binomial dispersions estimated from
 * the control cells of a real .h5ad; perturbation genes taken from an
 * embedding table and grouped into latent modules by spherical k-means on
 * their cosine-normalised vectors; a perturbation's log-fold change is its
 * module's program scaled by its knock-down strength and by a per-(module,
 * cell type) factor (zero: the module is silent there), plus an individual
 * part and a shared stress component; optional batch effects; counts drawn
 * gamma-Poisson with a per-cell library size, stored as counts or log1p.
 *
 * Output folder: sim.h5ad (or data/<cell type>.h5ad with per_celltype_files or
 * replogle_layout),
 * split_fewshot.toml, split_zeroshot.toml, truth.h5ad (one row per condition:
 * the true mean shift from control in the output expression space, module,
 * strength, factor), simulate.txt (the settings). Everything is seeded:
 * the same options give the same bytes. X is written in row blocks
 * (bounded memory whatever the cell count). */
#ifndef PTRAG_SIMULATE_H
#define PTRAG_SIMULATE_H

#include <stdint.h>

#include "ptrag/error.h"

typedef struct ptrag_sim_opts {
    /* inputs */
    const char *source;        /* .h5ad with control cells */
    const char *x_source;      /* X (NULL), layers/NAME */
    const char *pert_col;      /* source perturbation column (default "perturbation") */
    const char *control;       /* its control label (default "control") */
    const char *celltype_col;  /* source cell-type column (default "cell_type") */
    const char *source_scale;  /* "auto" | "counts" | "log1p" */
    const char *libsize_col;   /* obs column with the library size of a log1p source; NULL: each
                                  cell's smallest step (the least non-zero value is one count) */
    double source_target_sum;  /* the log1p source's normalisation total (1e4) */
    const char *embeddings;    /* gene embedding table: the perturbation genes */
    const char *out_dir;
    /* sizes */
    uint64_t seed;
    int n_celltypes;       /* 0: every source cell type with enough controls */
    int n_perts;           /* perturbations (the same genes in every cell type) */
    int n_modules;
    double cells_per_pert; /* mean cells per perturbed condition */
    double cells_spread;   /* sd of log(cells per condition) */
    long n_controls;       /* control cells per cell type */
    int n_genes;           /* 0: the source's genes */
    int per_celltype_files;
    int replogle_layout;   /* Replogle-Nadig's layout: data/<cell line>.h5ad, raw counts in a CSR X,
                              log1p in obsm/X_hvg (the first hvg_genes genes), obs cell_line;
                              output_log1p then applies to X_hvg and the truth */
    int hvg_genes;         /* obsm/X_hvg width in that layout (0: min(2000, genes)) */
    const char *celltype_names; /* comma-separated names of the simulated cell types, or NULL
                                   (replogle layout with 4: K562,RPE1,Jurkat,HepG2) */
    int no_truth;          /* 1: skip truth.h5ad (its cost grows with conditions x genes x batches) */
    int output_log1p;      /* 1: log1p(counts * target_sum / library); 0: raw counts */
    double target_sum;
    double depth;          /* library-size multiplier against the source */
    /* effects (log-fold changes of the mean) */
    double effect;          /* sd of a module program's non-zero entries */
    double program_density; /* share of genes a module program (and an individual part) touches */
    double individual;      /* sd of the individual part, relative to `effect` */
    double stress;          /* sd of the shared stress program's non-zero entries */
    double silent_frac;     /* probability that a module is silent in a cell type */
    double celltype_sd;     /* sd of log of a (module, cell type) factor */
    double strength_min;    /* knock-down strength ~ Uniform(strength_min, 1) */
    int n_batches;          /* 1: no batch effect */
    double batch_sd;        /* sd of a batch's per-gene log-fold change */
    double libsize_sd;      /* sd of log library size; < 0: fitted to the source controls */
    /* split */
    const char *heldout;    /* cell type held out (NULL: the last) */
    double test_frac, val_frac;
    int threads;            /* threads of the sampling and truth loops; 0: OpenMP default */
    /* progress: called after each written block (may be NULL) */
    void (*progress)(void *ctx, long cells_done, long cells_total);
    void *progress_ctx;
} ptrag_sim_opts;

void ptrag_sim_opts_default(ptrag_sim_opts *o);

typedef struct ptrag_sim_summary {
    int n_celltypes, n_perts, n_modules, n_genes;
    long n_cells;
    char heldout[256];
    int n_test, n_val;     /* perturbations of the held-out cell type */
    char data_path[4096];  /* the file (or folder) the split files name */
} ptrag_sim_summary;

/* Writes the experiment into o->out_dir (created if needed). */
int ptrag_simulate(const ptrag_sim_opts *o, ptrag_sim_summary *summary, ptrag_error *err);

/* ---- truth (truth.h5ad) ---- */

typedef struct ptrag_sim_truth {
    long n_cond;
    long n_genes;
    char **celltype;     /* per condition */
    char **pert;         /* per condition */
    int *module;         /* per condition: module of the perturbation */
    double *strength;    /* knock-down strength */
    double *factor;      /* the module's factor in the cell type (0: silent) */
    float *shift;        /* n_cond x n_genes, true mean shift from control */
    char **genes;        /* n_genes */
    int log1p;           /* 1: shifts in log1p space; 0: counts */
} ptrag_sim_truth;

int ptrag_sim_truth_load(const char *path, ptrag_sim_truth **out, ptrag_error *err);
void ptrag_sim_truth_free(ptrag_sim_truth *t);
/* Row of (cell type, perturbation), or -1. */
long ptrag_sim_truth_find(const ptrag_sim_truth *t, const char *celltype, const char *pert);
/* Module of a perturbation (any cell type), or -1 when unknown. */
int ptrag_sim_truth_module(const ptrag_sim_truth *t, const char *pert);

/* ---- retrieval against truth ---- */

typedef struct ptrag_retrieval_truth {
    long n_queries;          /* queries with a known module and a candidate */
    double stage1_precision; /* mean share of the top-K candidates in the query's module */
    double stage2_precision; /* mean keep-weighted share: sum(keep * same) / sum(keep) */
    double stage2_auc;       /* mean AUC of keep probability, same-module vs other candidates */
    long n_auc;              /* queries with both kinds of candidates */
    /* The query's own perturbation among its candidates (own_other_celltypes):
     * left out of the three scores above; its mean keep probability here. */
    long n_own;
    double own_kept; /* NaN if n_own = 0 or no keep probabilities */
} ptrag_retrieval_truth;

/* Scores retrieved candidates against the truth's modules: query q has
 * cand[q*k .. q*k+k) (perturbation names, NULL = no candidate) and keep[q*k..]
 * (stage-2 keep probabilities, NaN = none; keep == NULL: stage 1 only).
 * Queries whose module is unknown are skipped; NaN where nothing counted. */
int ptrag_retrieval_truth_score(const ptrag_sim_truth *t, const char *const *queries, long n_queries,
                                const char *const *cand, const double *keep, int k,
                                ptrag_retrieval_truth *out, ptrag_error *err);

/* The same over every explained condition of a rag/ptrag prediction (the
 * candidates and kept fractions of `ptrag explain`). */
struct ptrag_prediction_summary;
int ptrag_retrieval_truth_summary(const ptrag_sim_truth *t, const struct ptrag_prediction_summary *s,
                                  ptrag_retrieval_truth *out, ptrag_error *err);

/* ---- the truth as a predictor ---- */

/* `ptrag baseline --kind truth`: the test cells of the split predicted as
 * their input control cell plus the true shift of their condition (the same
 * plan, pairing and clip at 0 as the other baselines), written like
 * ptrag_baseline_write. The truth's genes are matched to the dataset's by
 * name; a condition or gene the truth lacks is an error naming it. */
struct ptrag_dataset;
struct ptrag_pred_plan_opts;
int ptrag_truth_baseline_write(const struct ptrag_dataset *d, const char *truth_path,
                               const struct ptrag_pred_plan_opts *plan, const char *pred_path, const char *real_path,
                               ptrag_error *err);

#endif
